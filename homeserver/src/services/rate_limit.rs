//! Rate limits (governor's GCRA), per user once logged in and per address
//! before: a flood from one client slows that client, not the server.

use std::{num::NonZeroU32, time::Duration};

use governor::{
    DefaultKeyedRateLimiter, Quota,
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
}

pub struct RateLimiter {
    enabled: bool,
    login: DefaultKeyedRateLimiter<String>,
    client: DefaultKeyedRateLimiter<String>,
    upload: DefaultKeyedRateLimiter<String>,
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
        Self {
            enabled: config.enabled,
            login: DefaultKeyedRateLimiter::keyed(login),
            client: DefaultKeyedRateLimiter::keyed(client),
            upload: DefaultKeyedRateLimiter::keyed(upload),
            clock: DefaultClock::default(),
        }
    }

    /// Takes one request from `key`'s budget, or answers M_LIMIT_EXCEEDED
    /// with how long to wait.
    pub fn check(&self, class: LimitClass, key: &str) -> Result<()> {
        if !self.enabled {
            return Ok(());
        }
        let limiter = match class {
            LimitClass::Login => &self.login,
            LimitClass::Client => &self.client,
            LimitClass::Upload => &self.upload,
        };
        limiter.check_key(&key.to_owned()).map_err(|not_until| {
            let class = match class {
                LimitClass::Login => "login",
                LimitClass::Client => "client",
                LimitClass::Upload => "upload",
            };
            metrics::counter!("lattice_rate_limited_total", "class" => class).increment(1);
            let wait = not_until.wait_time_from(self.clock.now());
            Error::LimitExceeded { retry_after_ms: wait.as_millis().max(1) as u64 }
        })
    }
}
