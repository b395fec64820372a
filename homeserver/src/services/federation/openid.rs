//! OpenID tokens: a user asks for one and hands it to a third party (an
//! integration manager, a widget host), which asks this server who it
//! stands for. Only the token's hash is kept; it lives an hour.

use std::time::Duration;

use ruma::{OwnedUserId, UserId};

use super::Federation;
use crate::{
    error::{Error, Result},
    services::auth::tokens,
    store::now_ms,
};

/// How long an OpenID token is good for.
pub const OPENID_LIFETIME: Duration = Duration::from_secs(3600);

impl Federation {
    /// A new token for `user_id`.
    pub async fn issue_openid_token(&self, user_id: &UserId) -> Result<String> {
        let token = tokens::generate("lat_oi_")?;
        let expires_at = now_ms() + OPENID_LIFETIME.as_millis() as i64;
        self.inner
            .store
            .insert_openid_token(&tokens::hash(&token), user_id.as_str(), expires_at)
            .await?;
        Ok(token)
    }

    /// Whom a token stands for; M_UNKNOWN_TOKEN when unknown or expired.
    pub async fn openid_userinfo(&self, token: &str) -> Result<OwnedUserId> {
        let user = self
            .inner
            .store
            .openid_user(&tokens::hash(token), now_ms())
            .await?
            .ok_or(Error::UnknownToken { soft_logout: false })?;
        UserId::parse(user).map_err(Error::internal)
    }
}
