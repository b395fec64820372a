//! The ids of the keys data at rest is encrypted with.

use super::{Store, now_ms};
use crate::error::Result;

impl Store {
    pub async fn encryption_key_ids(&self) -> Result<Vec<String>> {
        Ok(sqlx::query_scalar("SELECT key_id FROM encryption_keys ORDER BY created_at")
            .fetch_all(&self.pool)
            .await?)
    }

    pub async fn record_encryption_key(&self, key_id: &str) -> Result<()> {
        sqlx::query(
            "INSERT INTO encryption_keys (key_id, created_at) VALUES ($1, $2) \
             ON CONFLICT (key_id) DO NOTHING",
        )
        .bind(key_id)
        .bind(now_ms())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Whether every media file was found under `key_id` by a finished pass.
    pub async fn media_encrypted_under(&self, key_id: &str) -> Result<bool> {
        let done: Option<Option<i64>> =
            sqlx::query_scalar("SELECT media_done_at FROM encryption_keys WHERE key_id = $1")
                .bind(key_id)
                .fetch_optional(&self.pool)
                .await?;
        Ok(matches!(done, Some(Some(_))))
    }

    /// Everything is under `key_id` now: earlier keys are forgotten (a
    /// server started with one of them alone is refused from now on).
    pub async fn finish_key_rotation(&self, key_id: &str) -> Result<()> {
        let mut tx = self.begin().await?;
        sqlx::query("UPDATE encryption_keys SET media_done_at = $2 WHERE key_id = $1")
            .bind(key_id)
            .bind(now_ms())
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM encryption_keys WHERE key_id <> $1")
            .bind(key_id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }
}
