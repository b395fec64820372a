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
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LimitClass {
    /// Login and registration: few, per address.
    Login,
    /// Everything else the spec marks as rate limited.
    Client,
    /// Media uploads: each one costs disk, so they have their own budget.
    Upload,
    /// Requests from another server, per origin.
    Federation,
}

/// A user's own budget, set by an admin.
enum Override {
    /// No limit at all (a bridge, a trusted bot).
    Exempt,
    Budget(DefaultDirectRateLimiter),
}

pub struct RateLimiter {
    enabled: bool,
    /// Per-user budgets that replace the client budget.
    overrides: std::sync::RwLock<std::collections::HashMap<String, Override>>,
    login: DefaultKeyedRateLimiter<String>,
    client: DefaultKeyedRateLimiter<String>,
    upload: DefaultKeyedRateLimiter<String>,
    federation: DefaultKeyedRateLimiter<String>,
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
        let login = per_minute(config.login_per_minute, config.login_burst);
        let upload = per_minute(config.upload_per_minute, config.upload_burst);
        let client = Quota::per_second(nonzero(config.client_per_second))
            .allow_burst(nonzero(config.client_burst));
        let federation = Quota::per_second(nonzero(config.federation_per_second))
            .allow_burst(nonzero(config.federation_burst));
        Self {
            enabled: config.enabled,
            login: DefaultKeyedRateLimiter::keyed(login),
            client: DefaultKeyedRateLimiter::keyed(client),
            overrides: Default::default(),
            upload: DefaultKeyedRateLimiter::keyed(upload),
            federation: DefaultKeyedRateLimiter::keyed(federation),
            clock: DefaultClock::default(),
        }
    }

    /// Takes one request from `key`'s budget, or answers M_LIMIT_EXCEEDED
    /// with how long to wait.
    pub fn check(&self, class: LimitClass, key: &str) -> Result<()> {
        if !self.enabled {
            return Ok(());
        }
        if class == LimitClass::Client
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
        let limiter = match class {
            LimitClass::Login => &self.login,
            LimitClass::Client => &self.client,
            LimitClass::Upload => &self.upload,
            LimitClass::Federation => &self.federation,
        };
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
        let class = match class {
            LimitClass::Login => "login",
            LimitClass::Client => "client",
            LimitClass::Upload => "upload",
            LimitClass::Federation => "federation",
        };
        metrics::counter!("lattice_rate_limited_total", "class" => class).increment(1);
        let wait = not_until.wait_time_from(self.clock.now());
        Error::LimitExceeded { retry_after_ms: wait.as_millis().max(1) as u64 }
    }
}
