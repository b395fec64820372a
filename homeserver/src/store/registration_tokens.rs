//! Registration tokens created through the admin API.

use super::{Store, now_ms};
use crate::error::Result;

/// A registration token: how often it may be used (None: without limit),
/// how often it was, and when it expires (ms; None: never).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct TokenRow {
    pub token: String,
    pub uses_allowed: Option<i64>,
    pub completed: i64,
    pub expiry_time: Option<i64>,
}

impl Store {
    pub async fn registration_tokens(&self) -> Result<Vec<TokenRow>> {
        Ok(sqlx::query_as(
            "SELECT token, uses_allowed, completed, expiry_time FROM registration_tokens ORDER BY token",
        )
        .fetch_all(&self.pool)
        .await?)
    }

    pub async fn registration_token(&self, token: &str) -> Result<Option<TokenRow>> {
        Ok(sqlx::query_as(
            "SELECT token, uses_allowed, completed, expiry_time FROM registration_tokens WHERE token = $1",
        )
        .bind(token)
        .fetch_optional(&self.pool)
        .await?)
    }

    /// Creates a token; false if it exists.
    pub async fn create_registration_token(
        &self,
        token: &str,
        uses_allowed: Option<i64>,
        expiry_time: Option<i64>,
    ) -> Result<bool> {
        let done = sqlx::query(
            "INSERT INTO registration_tokens (token, uses_allowed, completed, expiry_time) \
             VALUES ($1, $2, 0, $3) ON CONFLICT (token) DO NOTHING",
        )
        .bind(token)
        .bind(uses_allowed)
        .bind(expiry_time)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Replaces a token's limits; false if there is no such token.
    pub async fn update_registration_token(
        &self,
        token: &str,
        uses_allowed: Option<i64>,
        expiry_time: Option<i64>,
    ) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE registration_tokens SET uses_allowed = $2, expiry_time = $3 WHERE token = $1",
        )
        .bind(token)
        .bind(uses_allowed)
        .bind(expiry_time)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() > 0)
    }

    pub async fn delete_registration_token(&self, token: &str) -> Result<bool> {
        let done = sqlx::query("DELETE FROM registration_tokens WHERE token = $1")
            .bind(token)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Whether a stored token still admits a registration.
    pub async fn registration_token_usable(&self, token: &str) -> Result<bool> {
        let found: Option<i64> = sqlx::query_scalar(
            "SELECT completed FROM registration_tokens WHERE token = $1 \
             AND (uses_allowed IS NULL OR completed < uses_allowed) \
             AND (expiry_time IS NULL OR expiry_time > $2)",
        )
        .bind(token)
        .bind(now_ms())
        .fetch_optional(&self.pool)
        .await?;
        Ok(found.is_some())
    }

    /// Counts a registration made with a stored token.
    pub async fn consume_registration_token(&self, token: &str) -> Result<()> {
        sqlx::query("UPDATE registration_tokens SET completed = completed + 1 WHERE token = $1")
            .bind(token)
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}
