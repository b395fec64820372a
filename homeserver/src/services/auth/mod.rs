//! Who is asking: passwords, access and refresh tokens, sessions and
//! user-interactive authentication.

mod appservice;
mod login;
pub mod password;
pub mod second_factor;
mod sessions;
mod token_cache;
pub mod tokens;
pub mod totp;
mod uia;
mod web_login;
mod web_session;
mod webauthn;

use std::sync::Arc;

use ruma::{OwnedDeviceId, OwnedUserId};

pub use self::{
    login::user_from_input,
    password::PasswordHasher,
    sessions::IssuedSession,
    uia::{UiaFlows, UiaOutcome},
    web_login::WebSignIn,
    web_session::WebSession,
};
use crate::{config::Config, error::Result, store::Store};

/// An authenticated user and the device the request came from.
#[derive(Debug, Clone)]
pub struct Requester {
    pub user_id: OwnedUserId,
    /// Empty for an application service acting without a device.
    pub device_id: OwnedDeviceId,
    /// The application service acting as this user, if one is.
    pub appservice: Option<Arc<str>>,
}

impl Requester {
    /// A user on one of their devices (not an application service).
    pub fn new(user_id: OwnedUserId, device_id: OwnedDeviceId) -> Self {
        Self { user_id, device_id, appservice: None }
    }
}

/// Authentication: turns credentials into sessions and sessions into users.
#[derive(Clone)]
pub struct Auth {
    store: Store,
    config: Arc<Config>,
    passwords: PasswordHasher,
    tokens: Arc<token_cache::TokenCache>,
    security: crate::services::security::Security,
    clock: crate::services::clock::Clock,
    /// The WebAuthn relying party; None when the config gives no usable one.
    webauthn: Option<Arc<::webauthn_rs::Webauthn>>,
    /// Seals TOTP secrets and passkeys with the at-rest key, if one is set.
    secrets: crate::services::encryption::Secrets,
    /// The other instances, told when a user's sessions end.
    cluster: Arc<std::sync::OnceLock<crate::services::cluster::Cluster>>,
}

impl Auth {
    pub fn new(
        store: Store,
        config: Arc<Config>,
        secrets: crate::services::encryption::Secrets,
    ) -> Result<Self> {
        let passwords = PasswordHasher::new(&config.auth.argon2)?;
        let security = crate::services::security::Security::new(store.clone(), config.clone());
        let clock = crate::services::clock::Clock::default();
        let webauthn = webauthn::relying_party(&config)?.map(Arc::new);
        Ok(Self {
            store,
            config,
            passwords,
            tokens: Arc::default(),
            cluster: Arc::default(),
            security,
            clock,
            webauthn,
            secrets,
        })
    }

    pub fn passwords(&self) -> &PasswordHasher {
        &self.passwords
    }

    /// The clock sessions expire by.
    pub fn clock(&self) -> &crate::services::clock::Clock {
        &self.clock
    }

    pub fn security(&self) -> &crate::services::security::Security {
        &self.security
    }

    /// Call after deleting any of a user's tokens, so that none stays
    /// usable from the cache.
    pub fn forget_sessions(&self, user_id: &ruma::UserId) {
        self.tokens.forget_user(user_id);
        if let Some(cluster) = self.cluster.get() {
            let user = user_id.to_owned();
            cluster.publish(crate::services::cluster::Message::SessionsEnded { user });
        }
    }

    /// Tells the other instances when sessions end here, and forgets the
    /// tokens of sessions that ended there.
    pub fn follow_cluster(&self, cluster: &crate::services::cluster::Cluster) {
        use crate::services::cluster::Message;
        use tokio::sync::broadcast::error::RecvError;
        if !cluster.enabled() {
            return;
        }
        let _ = self.cluster.set(cluster.clone());
        let mut heard = cluster.subscribe();
        let tokens = self.tokens.clone();
        tokio::spawn(async move {
            loop {
                match heard.recv().await {
                    Ok(Message::SessionsEnded { user }) => tokens.forget_user(&user),
                    Ok(Message::Resync) | Err(RecvError::Lagged(_)) => tokens.forget_all(),
                    Ok(_) => {}
                    Err(RecvError::Closed) => break,
                }
            }
        });
    }
}
