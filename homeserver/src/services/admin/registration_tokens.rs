//! Registration tokens for servers with closed registration: admins hand
//! them out (how many uses, until when) through Synapse's admin API.

use serde_json::{Value as JsonValue, json};

use super::Admin;
use crate::{
    error::{Error, Result},
    services::auth::tokens::random_letters,
    store::{TokenRow, now_ms},
};

fn view(row: &TokenRow) -> JsonValue {
    json!({
        "token": row.token, "uses_allowed": row.uses_allowed, "pending": 0,
        "completed": row.completed, "expiry_time": row.expiry_time,
    })
}

fn usable(row: &TokenRow, now: i64) -> bool {
    row.uses_allowed.is_none_or(|uses| row.completed < uses)
        && row.expiry_time.is_none_or(|at| at > now)
}

fn check_limits(uses_allowed: Option<i64>, expiry_time: Option<i64>) -> Result<()> {
    if uses_allowed.is_some_and(|uses| uses < 0) {
        return Err(Error::invalid_param("uses_allowed must be a non-negative integer or null"));
    }
    if expiry_time.is_some_and(|at| at <= now_ms()) {
        return Err(Error::invalid_param("expiry_time must be in the future"));
    }
    Ok(())
}

impl Admin {
    /// Every token; with `valid`, only those that still do (or no longer do) admit registrations.
    pub async fn registration_tokens(&self, valid: Option<bool>) -> Result<Vec<JsonValue>> {
        let now = now_ms();
        let rows = self.store.registration_tokens().await?;
        Ok(rows
            .iter()
            .filter(|row| valid.is_none_or(|v| usable(row, now) == v))
            .map(view)
            .collect())
    }

    pub async fn registration_token(&self, token: &str) -> Result<JsonValue> {
        let row = self.store.registration_token(token).await?;
        row.as_ref().map(view).ok_or_else(|| Error::not_found("no such registration token"))
    }

    /// Creates a token (random, of `length` characters, unless given).
    pub async fn create_registration_token(
        &self,
        token: Option<String>,
        length: Option<usize>,
        uses_allowed: Option<i64>,
        expiry_time: Option<i64>,
    ) -> Result<JsonValue> {
        check_limits(uses_allowed, expiry_time)?;
        let token = match token {
            Some(token) => token,
            None => random_letters(length.unwrap_or(16).clamp(1, 64))?,
        };
        let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '~' | '-');
        if token.is_empty() || token.len() > 64 || !token.chars().all(allowed) {
            return Err(Error::invalid_param("a token is 1 to 64 of [A-Za-z0-9._~-]"));
        }
        if !self.store.create_registration_token(&token, uses_allowed, expiry_time).await? {
            return Err(Error::invalid_param("this token already exists"));
        }
        self.registration_token(&token).await
    }

    /// Changes a token's limits; `None` leaves a limit as it is, `Some(None)` lifts it.
    pub async fn update_registration_token(
        &self,
        token: &str,
        uses_allowed: Option<Option<i64>>,
        expiry_time: Option<Option<i64>>,
    ) -> Result<JsonValue> {
        let old = self
            .store
            .registration_token(token)
            .await?
            .ok_or_else(|| Error::not_found("no such registration token"))?;
        let uses_allowed = uses_allowed.unwrap_or(old.uses_allowed);
        let expiry_time = expiry_time.unwrap_or(old.expiry_time);
        check_limits(uses_allowed, expiry_time)?;
        self.store.update_registration_token(token, uses_allowed, expiry_time).await?;
        self.registration_token(token).await
    }

    pub async fn delete_registration_token(&self, token: &str) -> Result<()> {
        if !self.store.delete_registration_token(token).await? {
            return Err(Error::not_found("no such registration token"));
        }
        Ok(())
    }
}
