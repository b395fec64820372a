//! Sessions: issuing tokens at login, resolving them on every request,
//! refreshing and ending them.

use std::time::Duration;

use ruma::{DeviceId, OwnedDeviceId, UserId};

use super::{Auth, Requester, tokens};
use crate::{
    error::{Error, Result},
    store::NewSession,
};

/// The secrets a new session gets; shown to the client once, never stored.
#[derive(Debug, Clone)]
pub struct IssuedSession {
    pub device_id: OwnedDeviceId,
    pub access_token: String,
    pub refresh_token: Option<String>,
    pub expires_in: Option<Duration>,
}

impl Auth {
    /// Prepares a session (tokens and their hashes) for `user_id`. The caller
    /// persists the returned [`NewSession`], alone or with other writes.
    pub fn prepare_session(
        &self,
        user_id: &UserId,
        device_id: Option<&DeviceId>,
        display_name: Option<String>,
        with_refresh: bool,
    ) -> Result<(IssuedSession, NewSession)> {
        let device_id: OwnedDeviceId = match device_id {
            Some(id) => id.to_owned(),
            None => tokens::random_letters(10)?.into(),
        };
        let access_token = tokens::generate("lat_at_")?;
        let refresh_token = if with_refresh { Some(tokens::generate("lat_rt_")?) } else { None };
        let lifetime = self.config.auth.access_token_lifetime;
        let expires_in = with_refresh.then_some(lifetime);
        let row = NewSession {
            user_id: user_id.to_string(),
            device_id: device_id.to_string(),
            display_name,
            access_hash: tokens::hash(&access_token),
            access_expires_at: expires_in.map(|d| self.clock.now_ms() + d.as_millis() as i64),
            refresh_hash: refresh_token.as_deref().map(tokens::hash),
        };
        Ok((IssuedSession { device_id, access_token, refresh_token, expires_in }, row))
    }

    /// Creates a session for an existing account.
    pub async fn start_session(
        &self,
        user_id: &UserId,
        device_id: Option<&DeviceId>,
        display_name: Option<String>,
        with_refresh: bool,
    ) -> Result<IssuedSession> {
        let (issued, row) = self.prepare_session(user_id, device_id, display_name, with_refresh)?;
        self.store.create_session(&row).await?;
        // A login is a use: a device taken over is not idle.
        let now = self.clock.now_ms();
        self.store.touch_device(user_id.as_str(), issued.device_id.as_str(), now).await?;
        // Logging in on a known device replaced its previous tokens.
        self.forget_sessions(user_id);
        Ok(issued)
    }

    /// Resolves an access token to its user and device.
    pub async fn authenticate(&self, access_token: &str) -> Result<Requester> {
        let hash = tokens::hash(access_token);
        let now = self.clock.now_ms();
        match self.tokens.get(&hash, now) {
            Some(Ok(requester)) => return Ok(requester),
            Some(Err(())) => return Err(Error::UnknownToken { soft_logout: true }),
            None => {}
        }
        let found = self.store.lookup_access_token(&hash).await?;
        let Some(found) = found else {
            return Err(Error::UnknownToken { soft_logout: false });
        };
        if found.expires_at.is_some_and(|at| at <= now) {
            // The device still exists: the client may refresh or log in again.
            return Err(Error::UnknownToken { soft_logout: true });
        }
        let idle_ms = self.config.auth.session_idle_timeout.as_millis() as i64;
        if idle_ms > 0 && found.last_seen_at.is_some_and(|seen| now - seen > idle_ms) {
            // Forgotten for too long: the tokens go, the device (and its
            // encryption keys) stays for the user's next login.
            self.store.end_device_tokens(&found.user_id, &found.device_id).await?;
            return Err(Error::UnknownToken { soft_logout: true });
        }
        // Written at most once a minute per session: a request stays a read.
        if found.last_seen_at.is_none_or(|seen| now - seen > 60_000) {
            self.store.touch_device(&found.user_id, &found.device_id, now).await?;
        }
        if found.first_use != 0
            && let Some(refresh_hash) = &found.refresh_hash
        {
            self.store.confirm_refreshed_token(&hash, refresh_hash).await?;
        }
        let user_id = UserId::parse(&found.user_id).map_err(Error::internal)?;
        let requester = Requester::new(user_id, found.device_id.into());
        self.tokens.insert(hash, requester.clone(), found.expires_at, now);
        Ok(requester)
    }

    /// Swaps a refresh token for new tokens.
    pub async fn refresh(&self, refresh_token: &str) -> Result<IssuedSession> {
        let access_token = tokens::generate("lat_at_")?;
        let new_refresh = tokens::generate("lat_rt_")?;
        let lifetime = self.config.auth.access_token_lifetime;
        let found = self
            .store
            .refresh_session(
                &tokens::hash(refresh_token),
                &tokens::hash(&access_token),
                &tokens::hash(&new_refresh),
                Some(self.clock.now_ms() + lifetime.as_millis() as i64),
            )
            .await?;
        let Some((user, device_id)) = found else {
            return Err(Error::UnknownToken { soft_logout: false });
        };
        if let Ok(user) = UserId::parse(&user) {
            self.forget_sessions(&user);
        }
        Ok(IssuedSession {
            device_id: device_id.into(),
            access_token,
            refresh_token: Some(new_refresh),
            expires_in: Some(lifetime),
        })
    }
}
