//! WebAuthn credentials, ceremonies in progress, and m.login.token tokens.

use super::{Store, now_ms};
use crate::error::Result;

/// A registered WebAuthn credential, as listed to its owner.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct WebauthnCredentialRow {
    pub credential_id: String,
    pub name: String,
    /// The webauthn-rs `Passkey`, serialised.
    pub passkey: String,
    pub created_ts: i64,
}

impl Store {
    /// Stores a new credential; false if its id is already registered (to
    /// anyone: a credential must not serve two accounts).
    pub async fn add_webauthn_credential(
        &self,
        user_id: &str,
        credential: &WebauthnCredentialRow,
    ) -> Result<bool> {
        let done = sqlx::query(
            "INSERT INTO webauthn_credentials (credential_id, user_id, name, passkey, created_ts) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (credential_id) DO NOTHING",
        )
        .bind(&credential.credential_id)
        .bind(user_id)
        .bind(&credential.name)
        .bind(&credential.passkey)
        .bind(credential.created_ts)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() > 0)
    }

    pub async fn webauthn_credentials(&self, user_id: &str) -> Result<Vec<WebauthnCredentialRow>> {
        Ok(sqlx::query_as(
            "SELECT credential_id, name, passkey, created_ts FROM webauthn_credentials \
             WHERE user_id = $1 ORDER BY created_ts, credential_id",
        )
        .bind(user_id)
        .fetch_all(&self.pool)
        .await?)
    }

    /// Every credential's stored passkey: (user, credential id, passkey).
    pub async fn webauthn_passkeys(&self) -> Result<Vec<(String, String, String)>> {
        Ok(sqlx::query_as("SELECT user_id, credential_id, passkey FROM webauthn_credentials")
            .fetch_all(&self.pool)
            .await?)
    }

    /// Replaces a credential's stored passkey if it is still `old`: after a
    /// sign-in (its signature counter), or sealed with the at-rest key; one
    /// must not undo the other made meanwhile.
    pub async fn replace_webauthn_passkey(
        &self,
        credential_id: &str,
        old: &str,
        new: &str,
    ) -> Result<()> {
        sqlx::query(
            "UPDATE webauthn_credentials SET passkey = $3 \
             WHERE credential_id = $1 AND passkey = $2",
        )
        .bind(credential_id)
        .bind(old)
        .bind(new)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Removes one of the user's credentials; false if they have no such one.
    pub async fn remove_webauthn_credential(
        &self,
        user_id: &str,
        credential_id: &str,
    ) -> Result<bool> {
        let done = sqlx::query(
            "DELETE FROM webauthn_credentials WHERE user_id = $1 AND credential_id = $2",
        )
        .bind(user_id)
        .bind(credential_id)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Starts (or restarts) a ceremony under `id`, replacing any earlier
    /// challenge there: only the newest one can be answered.
    pub async fn put_webauthn_ceremony(
        &self,
        id: &str,
        user_id: &str,
        state: &str,
        expires_ts: i64,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO webauthn_ceremonies (id, user_id, state, expires_ts) \
             VALUES ($1, $2, $3, $4) ON CONFLICT (id) DO UPDATE SET \
             user_id = excluded.user_id, state = excluded.state, expires_ts = excluded.expires_ts",
        )
        .bind(id)
        .bind(user_id)
        .bind(state)
        .bind(expires_ts)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Takes a live ceremony's state for `user_id` out of the store: each
    /// challenge can be answered once, right or wrong.
    pub async fn take_webauthn_ceremony(&self, id: &str, user_id: &str) -> Result<Option<String>> {
        let mut tx = self.begin().await?;
        let state: Option<String> = sqlx::query_scalar(
            "SELECT state FROM webauthn_ceremonies \
             WHERE id = $1 AND user_id = $2 AND expires_ts > $3",
        )
        .bind(id)
        .bind(user_id)
        .bind(now_ms())
        .fetch_optional(&mut *tx)
        .await?;
        sqlx::query("DELETE FROM webauthn_ceremonies WHERE id = $1 OR expires_ts <= $2")
            .bind(id)
            .bind(now_ms())
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(state)
    }

    pub async fn create_login_token(
        &self,
        token_hash: &str,
        user_id: &str,
        expires_ts: i64,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO login_tokens (token_hash, user_id, expires_ts) VALUES ($1, $2, $3)",
        )
        .bind(token_hash)
        .bind(user_id)
        .bind(expires_ts)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Redeems a login token: its user if it is live at `now`; used up
    /// either way.
    pub async fn take_login_token(&self, token_hash: &str, now: i64) -> Result<Option<String>> {
        let mut tx = self.begin().await?;
        // Taken by the DELETE itself: of two redemptions at once, the one
        // that waits for the other's row lock finds nothing left.
        let taken: Option<(String, i64)> = sqlx::query_as(
            "DELETE FROM login_tokens WHERE token_hash = $1 RETURNING user_id, expires_ts",
        )
        .bind(token_hash)
        .fetch_optional(&mut *tx)
        .await?;
        sqlx::query("DELETE FROM login_tokens WHERE expires_ts <= $1")
            .bind(now)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(taken.filter(|(_, expires)| *expires > now).map(|(user, _)| user))
    }
}
