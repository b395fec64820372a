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
}
