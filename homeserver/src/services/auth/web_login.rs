//! The web login page's steps, and m.login.token: the short-lived,
//! single-use token the page hands to the client it redirects back to.

use ruma::{OwnedUserId, UserId};
use serde_json::{Map, Value};

use super::{Auth, login::user_from_input, second_factor::FactorChallenge, tokens};
use crate::error::{Error, Result};

/// Where a web sign-in stands after a step.
pub enum WebSignIn {
    /// Signed in: the login token to hand to the client.
    Done(String),
    /// The password was right; a second factor is due.
    SecondFactor(FactorChallenge),
}

impl Auth {
    /// The page's password step.
    pub async fn web_password_step(&self, user: &str, password: &str) -> Result<WebSignIn> {
        let refused = || Error::forbidden("invalid username or password");
        let user_id = user_from_input(user.trim(), self.server_name()).ok_or_else(refused)?;
        self.check_password(&user_id, password).await?;
        if let Some(challenge) = self.second_factor_challenge(&user_id).await? {
            return Ok(WebSignIn::SecondFactor(challenge));
        }
        Ok(WebSignIn::Done(self.issue_login_token(&user_id).await?))
    }

    /// The page's second-factor step: a login token once the factor holds.
    pub async fn web_factor_step(
        &self,
        session: &str,
        stage: &str,
        answer: &Map<String, Value>,
    ) -> Result<String> {
        let user_id = self.finish_second_factor(session, stage, answer).await?;
        self.issue_login_token(&user_id).await
    }

    /// The second step again after a wrong answer, with a fresh WebAuthn
    /// challenge; None once the session has ended or expired.
    pub async fn resume_factor_challenge(&self, session: &str) -> Result<Option<FactorChallenge>> {
        let Some(user_id) = self.password_checked(session).await? else { return Ok(None) };
        let stages = self.second_factor_stages(&user_id).await?;
        let webauthn_options = self.webauthn_challenge(session, &user_id).await?;
        Ok(Some(FactorChallenge { session: session.to_owned(), stages, webauthn_options }))
    }

    /// Issues a login token for a user who just signed in on the web page.
    pub async fn issue_login_token(&self, user_id: &UserId) -> Result<String> {
        let token = tokens::generate("lat_lt_")?;
        let expires =
            self.clock.now_ms() + self.config.auth.login_token_lifetime.as_millis() as i64;
        self.store.create_login_token(&tokens::hash(&token), user_id.as_str(), expires).await?;
        Ok(token)
    }

    /// Redeems a login token: good once, and only until it expires.
    pub async fn redeem_login_token(&self, token: &str) -> Result<OwnedUserId> {
        let refused = || Error::forbidden("invalid, used or expired login token");
        let user = self.store.take_login_token(&tokens::hash(token), self.clock.now_ms()).await?;
        let user_id = user.and_then(|u| UserId::parse(u).ok()).ok_or_else(refused)?;
        match self.store.get_user(user_id.as_str()).await? {
            Some(user) if !user.is_deactivated() => Ok(user_id),
            Some(_) => Err(Error::UserDeactivated),
            None => Err(refused()),
        }
    }
}
