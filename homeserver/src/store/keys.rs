//! The server's own signing keys.

use super::{Store, now_ms};
use crate::error::Result;

impl Store {
    /// The oldest signing key (id, base64 PKCS#8), if one was ever made.
    pub async fn signing_key(&self) -> Result<Option<(String, String)>> {
        Ok(sqlx::query_as(
            "SELECT key_id, secret FROM server_signing_keys ORDER BY created_at, key_id LIMIT 1",
        )
        .fetch_optional(&self.pool)
        .await?)
    }

    /// Stores a new key unless one with this id exists.
    pub async fn insert_signing_key(&self, key_id: &str, secret: &str) -> Result<()> {
        sqlx::query(
            "INSERT INTO server_signing_keys (key_id, secret, created_at) VALUES ($1, $2, $3) \
             ON CONFLICT (key_id) DO NOTHING",
        )
        .bind(key_id)
        .bind(secret)
        .bind(now_ms())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Replaces a key's stored form (sealed once an at-rest key is set).
    pub async fn set_signing_key_secret(&self, key_id: &str, secret: &str) -> Result<()> {
        sqlx::query("UPDATE server_signing_keys SET secret = $2 WHERE key_id = $1")
            .bind(key_id)
            .bind(secret)
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}
