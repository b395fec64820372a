//! E-mail addresses bound to accounts, and the validation sessions that
//! prove an address belongs to whoever asked to bind it.

use super::{Store, now_ms};
use crate::error::Result;

/// An address bound to an account.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ThreepidRow {
    pub medium: String,
    pub address: String,
    pub user_id: String,
    pub validated_at: i64,
    pub added_at: i64,
}

/// A validation session: a token mailed to an address, not yet or once
/// clicked.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ValidationRow {
    pub session_id: String,
    pub client_secret: String,
    pub medium: String,
    pub address: String,
    pub token_hash: String,
    pub send_attempt: i64,
    pub next_link: Option<String>,
    pub validated_at: Option<i64>,
    pub expires_at: i64,
}

impl Store {
    /// The addresses bound to a user, oldest first.
    pub async fn user_threepids(&self, user_id: &str) -> Result<Vec<ThreepidRow>> {
        Ok(sqlx::query_as(
            "SELECT medium, address, user_id, validated_at, added_at FROM user_threepids \
             WHERE user_id = $1 ORDER BY added_at, address",
        )
        .bind(user_id)
        .fetch_all(&self.pool)
        .await?)
    }

    /// The user an address is bound to.
    pub async fn threepid_owner(&self, medium: &str, address: &str) -> Result<Option<String>> {
        Ok(sqlx::query_scalar(
            "SELECT user_id FROM user_threepids WHERE medium = $1 AND address = $2",
        )
        .bind(medium)
        .bind(address)
        .fetch_optional(&self.pool)
        .await?)
    }

    /// Binds an address; false if it is bound already (to anyone).
    pub async fn add_threepid(&self, row: &ThreepidRow) -> Result<bool> {
        let done = sqlx::query(
            "INSERT INTO user_threepids (medium, address, user_id, validated_at, added_at) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (medium, address) DO NOTHING",
        )
        .bind(&row.medium)
        .bind(&row.address)
        .bind(&row.user_id)
        .bind(row.validated_at)
        .bind(row.added_at)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Unbinds a user's address; false if it was not theirs.
    pub async fn delete_threepid(
        &self,
        user_id: &str,
        medium: &str,
        address: &str,
    ) -> Result<bool> {
        let done = sqlx::query(
            "DELETE FROM user_threepids WHERE user_id = $1 AND medium = $2 AND address = $3",
        )
        .bind(user_id)
        .bind(medium)
        .bind(address)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// The live session a client already opened for this address with
    /// this secret (a retry reuses it).
    pub async fn open_validation(
        &self,
        client_secret: &str,
        medium: &str,
        address: &str,
    ) -> Result<Option<ValidationRow>> {
        Ok(sqlx::query_as(
            "SELECT session_id, client_secret, medium, address, token_hash, send_attempt, \
             next_link, validated_at, expires_at FROM threepid_validations \
             WHERE client_secret = $1 AND medium = $2 AND address = $3 AND expires_at > $4",
        )
        .bind(client_secret)
        .bind(medium)
        .bind(address)
        .bind(now_ms())
        .fetch_optional(&self.pool)
        .await?)
    }

    /// A live validation session.
    pub async fn validation(&self, session_id: &str) -> Result<Option<ValidationRow>> {
        Ok(sqlx::query_as(
            "SELECT session_id, client_secret, medium, address, token_hash, send_attempt, \
             next_link, validated_at, expires_at FROM threepid_validations \
             WHERE session_id = $1 AND expires_at > $2",
        )
        .bind(session_id)
        .bind(now_ms())
        .fetch_optional(&self.pool)
        .await?)
    }

    /// Opens a validation session or, for a new send attempt of the same
    /// one, replaces its token; expired sessions are swept on the way.
    pub async fn save_validation(&self, row: &ValidationRow) -> Result<()> {
        sqlx::query("DELETE FROM threepid_validations WHERE expires_at <= $1")
            .bind(now_ms())
            .execute(&self.pool)
            .await?;
        sqlx::query(
            "INSERT INTO threepid_validations (session_id, client_secret, medium, address, \
             token_hash, send_attempt, next_link, validated_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, NULL, $8) ON CONFLICT (session_id) DO UPDATE \
             SET token_hash = excluded.token_hash, send_attempt = excluded.send_attempt, \
             next_link = excluded.next_link, expires_at = excluded.expires_at",
        )
        .bind(&row.session_id)
        .bind(&row.client_secret)
        .bind(&row.medium)
        .bind(&row.address)
        .bind(&row.token_hash)
        .bind(row.send_attempt)
        .bind(&row.next_link)
        .bind(row.expires_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Marks a session validated if the token's hash is its own; false
    /// otherwise (wrong token, unknown or expired session).
    pub async fn mark_validated(
        &self,
        session_id: &str,
        client_secret: &str,
        token_hash: &str,
    ) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE threepid_validations SET validated_at = COALESCE(validated_at, $1) \
             WHERE session_id = $2 AND client_secret = $3 AND token_hash = $4 AND expires_at > $1",
        )
        .bind(now_ms())
        .bind(session_id)
        .bind(client_secret)
        .bind(token_hash)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Ends a validation session once it has been used.
    pub async fn delete_validation(&self, session_id: &str) -> Result<()> {
        sqlx::query("DELETE FROM threepid_validations WHERE session_id = $1")
            .bind(session_id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}
