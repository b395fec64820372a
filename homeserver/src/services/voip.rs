//! Calls: short-lived TURN credentials in coturn's REST API scheme, so
//! that a TURN server sharing our secret lets our users relay through it.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::{Engine, engine::general_purpose::STANDARD};
use hmac::{Hmac, KeyInit, Mac};
use ruma::UserId;
use sha1::Sha1;

use crate::config::TurnConfig;

/// What a client needs to use the TURN server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TurnCredentials {
    /// `<expiry in Unix seconds>:<user id>`: coturn checks the expiry.
    pub username: String,
    /// Base64 of HMAC-SHA1(shared secret, username).
    pub password: String,
    pub uris: Vec<String>,
    pub ttl: Duration,
}

/// Credentials for `user_id` from `now` on; `None` when no TURN server is
/// configured (no URIs or no secret).
pub fn turn_credentials(
    config: &TurnConfig,
    user_id: &UserId,
    now: SystemTime,
) -> Option<TurnCredentials> {
    if config.uris.is_empty() || config.shared_secret.is_empty() {
        return None;
    }
    let expiry = now.duration_since(UNIX_EPOCH).unwrap_or_default() + config.user_lifetime;
    let username = format!("{}:{user_id}", expiry.as_secs());
    let mut mac = Hmac::<Sha1>::new_from_slice(config.shared_secret.as_bytes()).ok()?;
    mac.update(username.as_bytes());
    let password = STANDARD.encode(mac.finalize().into_bytes());
    Some(TurnCredentials {
        username,
        password,
        uris: config.uris.clone(),
        ttl: config.user_lifetime,
    })
}

#[cfg(test)]
mod tests {
    use ruma::user_id;

    use super::*;

    #[test]
    fn credentials_follow_coturns_rest_api_scheme() {
        let config = TurnConfig {
            uris: vec!["turn:turn.example.org:3478?transport=udp".into()],
            shared_secret: "north-wind".into(),
            user_lifetime: Duration::from_secs(86_400),
        };
        let now = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let credentials =
            turn_credentials(&config, user_id!("@alice:example.org"), now).expect("configured");
        assert_eq!(credentials.username, "1700086400:@alice:example.org");
        // Worked out with Python's hmac module, not with this code.
        assert_eq!(credentials.password, "ZreYvrol8WGy+Ri9EoclmO+5Vac=");
        assert_eq!(credentials.ttl, Duration::from_secs(86_400));
        assert_eq!(credentials.uris, config.uris);
    }

    #[test]
    fn no_server_no_credentials() {
        let user = user_id!("@alice:example.org");
        let no_uris = TurnConfig { shared_secret: "s".into(), ..TurnConfig::default() };
        assert_eq!(turn_credentials(&no_uris, user, SystemTime::now()), None);
        let no_secret = TurnConfig { uris: vec!["turn:x".into()], ..TurnConfig::default() };
        assert_eq!(turn_credentials(&no_secret, user, SystemTime::now()), None);
    }
}
