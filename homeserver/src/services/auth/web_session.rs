//! Sessions of the server's account page, where users manage their second
//! factors (Element has no screen for them). A session opens only after a
//! full sign-in on the page (password, then a factor if there is one),
//! lives as long as a user-interactive auth session, and every change made
//! in it carries the session's form token.

use ruma::{OwnedUserId, UserId};

use super::{Auth, tokens};
use crate::error::{Error, Result};

/// The signed-in user of an account page request.
#[derive(Debug, Clone)]
pub struct WebSession {
    pub user_id: OwnedUserId,
    /// The form token every change must carry.
    pub csrf: String,
}

impl WebSession {
    /// Refuses a change whose form token is not the session's.
    pub fn check_csrf(&self, sent: Option<&str>) -> Result<()> {
        match sent {
            Some(sent) if tokens::hash(sent) == tokens::hash(&self.csrf) => Ok(()),
            _ => Err(Error::forbidden("this form has expired; reload the page")),
        }
    }
}

impl Auth {
    /// Turns a just-issued login token into an account page session;
    /// returns the cookie's token and the session.
    pub async fn open_web_session(&self, login_token: &str) -> Result<(String, WebSession)> {
        let user_id = self.redeem_login_token(login_token).await?;
        let token = tokens::random_letters(40)?;
        let csrf = tokens::random_letters(32)?;
        let expires =
            self.clock.now_ms() + self.config.auth.uia_session_lifetime.as_millis() as i64;
        self.store
            .create_web_session(&tokens::hash(&token), user_id.as_str(), &csrf, expires)
            .await?;
        Ok((token, WebSession { user_id, csrf }))
    }

    /// The session a cookie's token belongs to, if it is live.
    pub async fn web_session(&self, token: &str) -> Result<Option<WebSession>> {
        let Some((user, csrf)) = self.store.web_session(&tokens::hash(token)).await? else {
            return Ok(None);
        };
        Ok(UserId::parse(user).ok().map(|user_id| WebSession { user_id, csrf }))
    }

    pub async fn close_web_session(&self, token: &str) -> Result<()> {
        self.store.delete_web_session(&tokens::hash(token)).await
    }
}
