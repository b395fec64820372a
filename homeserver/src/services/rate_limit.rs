//! Rate limits (governor's GCRA), per user once logged in and per address
//! before: a flood from one client slows that client, not the server.

use std::{num::NonZeroU32, time::Duration};

use governor::{
    DefaultDirectRateLimiter, DefaultKeyedRateLimiter, Quota,
    clock::{Clock, DefaultClock},
};

use crate::{
    config::RateLimitConfig,
    error::{Error, Result},
};

/// Which budget a request draws on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LimitClass {
    /// Login attempts: few, per address.
    Login,
    /// Registrations: few, per address.
    Registration,
    /// Everything else the spec marks as rate limited.
    Client,
    /// Sending events (messages and state).
    Messages,
    /// Joining and knocking on rooms.
    Joins,
    /// Claiming one-time keys (each claim uses a key up).
    KeyClaims,
    /// Media uploads: each one costs disk, so they have their own budget.
    Upload,
    /// Requests from another server, per origin.
    Federation,
}

impl LimitClass {
    /// The budget a client-server request path draws on.
    pub fn for_path(path: &str) -> Self {
        // A token request mails someone: as scarce as login attempts.
        if path.ends_with("/login") || path.ends_with("/requestToken") {
            Self::Login
        } else if path.ends_with("/register") {
            Self::Registration
        } else if path.contains("/send/") || path.contains("/state/") || path.contains("/redact/") {
            Self::Messages
        } else if path.contains("/join/") || path.ends_with("/join") || path.contains("/knock/") {
            Self::Joins
        } else if path.ends_with("/keys/claim") {
            Self::KeyClaims
        } else {
            Self::Client
        }
    }

    /// Whether a logged-in user's budget is their own (else the address's).
    pub fn per_user(self) -> bool {
        !matches!(self, Self::Login | Self::Registration | Self::Federation)
    }

    fn name(self) -> &'static str {
        match self {
            Self::Login => "login",
            Self::Registration => "registration",
            Self::Client => "client",
            Self::Messages => "messages",
            Self::Joins => "joins",
            Self::KeyClaims => "key_claims",
            Self::Upload => "upload",
            Self::Federation => "federation",
        }
    }
}

/// A user's own budget, set by an admin.
enum Override {
    /// No limit at all (a bridge, a trusted bot).
    Exempt,
    Budget(DefaultDirectRateLimiter),
}

pub struct RateLimiter {
    enabled: bool,
    /// Per-user budgets that replace the per-user classes' budgets.
    overrides: std::sync::RwLock<std::collections::HashMap<String, Override>>,
    budgets: std::collections::HashMap<LimitClass, DefaultKeyedRateLimiter<String>>,
    clock: DefaultClock,
}

fn nonzero(n: u32) -> NonZeroU32 {
    NonZeroU32::new(n).unwrap_or(NonZeroU32::MIN)
}

fn per_minute(per_minute: u32, burst: u32) -> Quota {
    Quota::with_period(Duration::from_secs(60) / per_minute.max(1))
        .unwrap_or_else(|| Quota::per_minute(NonZeroU32::MIN))
        .allow_burst(nonzero(burst))
}

impl RateLimiter {
    pub fn new(config: &RateLimitConfig) -> Self {
        let per_second =
            |rate: u32, burst: u32| Quota::per_second(nonzero(rate)).allow_burst(nonzero(burst));
        let budgets = [
            (LimitClass::Login, per_minute(config.login_per_minute, config.login_burst)),
            (
                LimitClass::Registration,
                per_minute(config.registration_per_minute, config.registration_burst),
            ),
            (LimitClass::Client, per_second(config.client_per_second, config.client_burst)),
            (LimitClass::Messages, per_second(config.messages_per_second, config.messages_burst)),
            (LimitClass::Joins, per_minute(config.joins_per_minute, config.joins_burst)),
            (
                LimitClass::KeyClaims,
                per_minute(config.key_claims_per_minute, config.key_claims_burst),
            ),
            (LimitClass::Upload, per_minute(config.upload_per_minute, config.upload_burst)),
            (
                LimitClass::Federation,
                per_second(config.federation_per_second, config.federation_burst),
            ),
        ]
        .into_iter()
        .map(|(class, quota)| (class, DefaultKeyedRateLimiter::keyed(quota)))
        .collect();
        Self {
            enabled: config.enabled,
            overrides: Default::default(),
            budgets,
            clock: DefaultClock::default(),
        }
    }

    /// Takes one request from `key`'s budget, or answers M_LIMIT_EXCEEDED
    /// with how long to wait.
    pub fn check(&self, class: LimitClass, key: &str) -> Result<()> {
        if !self.enabled {
            return Ok(());
        }
        if class.per_user()
            && class != LimitClass::Upload
            && let Ok(overrides) = self.overrides.read()
            && let Some(own) = overrides.get(key)
        {
            return match own {
                Override::Exempt => Ok(()),
                Override::Budget(limiter) => {
                    limiter.check().map_err(|not_until| self.refusal(class, &not_until))
                }
            };
        }
        let Some(limiter) = self.budgets.get(&class) else { return Ok(()) };
        limiter.check_key(&key.to_owned()).map_err(|not_until| self.refusal(class, &not_until))
    }

    /// Gives `user` their own client budget; 0 and 0 exempts them.
    pub fn set_override(&self, user: &str, per_second: u32, burst: u32) {
        let own = match (per_second, burst) {
            (0, 0) => Override::Exempt,
            _ => Override::Budget(DefaultDirectRateLimiter::direct(
                Quota::per_second(nonzero(per_second)).allow_burst(nonzero(burst.max(per_second))),
            )),
        };
        if let Ok(mut overrides) = self.overrides.write() {
            overrides.insert(user.to_owned(), own);
        }
    }

    pub fn remove_override(&self, user: &str) {
        if let Ok(mut overrides) = self.overrides.write() {
            overrides.remove(user);
        }
    }

    fn refusal(
        &self,
        class: LimitClass,
        not_until: &governor::NotUntil<<DefaultClock as Clock>::Instant>,
    ) -> Error {
        metrics::counter!("lattice_rate_limited_total", "class" => class.name()).increment(1);
        let wait = not_until.wait_time_from(self.clock.now());
        Error::LimitExceeded { retry_after_ms: wait.as_millis().max(1) as u64 }
    }
}
