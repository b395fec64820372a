//! Per-user data: account data, stored filters and push rules.

use sqlx::{Any, Transaction};

use super::Store;
use crate::error::Result;

/// Takes the next account-data position. The counter's row lock orders
/// concurrent writers, so positions become visible in the order they were
/// taken.
async fn next_account_data_position(tx: &mut Transaction<'_, Any>) -> Result<i64> {
    Ok(sqlx::query_scalar(
        "UPDATE stream_counters SET value = value + 1 WHERE name = 'account_data' RETURNING value",
    )
    .fetch_one(&mut **tx)
    .await?)
}

/// Writes one piece of account data, keyed (user, room or "", type).
async fn upsert_account_data(
    tx: &mut Transaction<'_, Any>,
    (user_id, room_id, data_type): (&str, &str, &str),
    content: &str,
    position: i64,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO account_data (user_id, room_id, data_type, content, stream_id) \
         VALUES ($1, $2, $3, $4, $5) ON CONFLICT (user_id, room_id, data_type) \
         DO UPDATE SET content = excluded.content, stream_id = excluded.stream_id",
    )
    .bind(user_id)
    .bind(room_id)
    .bind(data_type)
    .bind(content)
    .bind(position)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

impl Store {
    /// Account data content as JSON text; `room_id` is "" for global data.
    pub async fn account_data(
        &self,
        user_id: &str,
        room_id: &str,
        data_type: &str,
    ) -> Result<Option<String>> {
        Ok(sqlx::query_scalar(
            "SELECT content FROM account_data WHERE user_id = $1 AND room_id = $2 AND data_type = $3",
        )
        .bind(user_id)
        .bind(room_id)
        .bind(data_type)
        .fetch_optional(&self.pool)
        .await?)
    }

    /// Stores account data and returns its new position on the account
    /// data stream (which sync follows).
    pub async fn set_account_data(
        &self,
        user_id: &str,
        room_id: &str,
        data_type: &str,
        content: &str,
    ) -> Result<i64> {
        let mut tx = self.begin().await?;
        let position = next_account_data_position(&mut tx).await?;
        let key = (user_id, room_id, data_type);
        upsert_account_data(&mut tx, key, content, position).await?;
        tx.commit().await?;
        Ok(position)
    }

    /// Replaces account data with what `change` makes of the current content
    /// (`None`: leave it), with no other writer in between; returns the new
    /// position when it changed.
    pub async fn update_account_data(
        &self,
        user_id: &str,
        room_id: &str,
        data_type: &str,
        change: impl FnOnce(Option<&str>) -> Result<Option<String>>,
    ) -> Result<Option<i64>> {
        let mut tx = self.begin().await?;
        // Taken first: its lock makes the read below see the last writer's content.
        let position = next_account_data_position(&mut tx).await?;
        let current: Option<String> = sqlx::query_scalar(
            "SELECT content FROM account_data WHERE user_id = $1 AND room_id = $2 AND data_type = $3",
        )
        .bind(user_id)
        .bind(room_id)
        .bind(data_type)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(content) = change(current.as_deref())? else {
            return Ok(None);
        };
        upsert_account_data(&mut tx, (user_id, room_id, data_type), &content, position).await?;
        tx.commit().await?;
        Ok(Some(position))
    }

    /// Stores a filter and returns its id.
    pub async fn create_filter(&self, user_id: &str, definition: &str) -> Result<i64> {
        Ok(sqlx::query_scalar(
            "INSERT INTO filters (user_id, definition) VALUES ($1, $2) RETURNING filter_id",
        )
        .bind(user_id)
        .bind(definition)
        .fetch_one(&self.pool)
        .await?)
    }

    pub async fn filter(&self, user_id: &str, filter_id: i64) -> Result<Option<String>> {
        Ok(sqlx::query_scalar(
            "SELECT definition FROM filters WHERE user_id = $1 AND filter_id = $2",
        )
        .bind(user_id)
        .bind(filter_id)
        .fetch_optional(&self.pool)
        .await?)
    }

    /// The user's push ruleset as JSON, if they ever changed it.
    pub async fn push_rules(&self, user_id: &str) -> Result<Option<String>> {
        Ok(sqlx::query_scalar("SELECT ruleset FROM push_rules WHERE user_id = $1")
            .bind(user_id)
            .fetch_optional(&self.pool)
            .await?)
    }

    pub async fn set_push_rules(&self, user_id: &str, ruleset: &str) -> Result<()> {
        sqlx::query(
            "INSERT INTO push_rules (user_id, ruleset) VALUES ($1, $2) \
             ON CONFLICT (user_id) DO UPDATE SET ruleset = excluded.ruleset",
        )
        .bind(user_id)
        .bind(ruleset)
        .execute(&self.pool)
        .await?;
        Ok(())
    }
}
