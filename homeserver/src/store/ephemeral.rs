//! Receipts and presence.

use super::{Store, now_ms};
use crate::error::Result;

/// A stored receipt (`thread_id` is empty for an unthreaded one).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ReceiptRow {
    pub room_id: String,
    pub user_id: String,
    pub receipt_type: String,
    pub thread_id: String,
    pub event_id: String,
    pub ts: i64,
}

/// A user's presence.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct PresenceRow {
    pub user_id: String,
    pub state: String,
    pub status_msg: Option<String>,
    pub last_active_at: i64,
}

impl Store {
    pub async fn stream_position(&self, name: &'static str) -> Result<i64> {
        Ok(sqlx::query_scalar("SELECT value FROM stream_counters WHERE name = $1")
            .bind(name)
            .fetch_one(&self.pool)
            .await?)
    }

    /// Stores a receipt (replacing the user's previous one of this type and
    /// thread); returns its position on the receipts stream.
    pub async fn set_receipt(
        &self,
        room_id: &str,
        user_id: &str,
        receipt_type: &str,
        thread_id: &str,
        event_id: &str,
    ) -> Result<i64> {
        let mut tx = self.begin().await?;
        let position: i64 = sqlx::query_scalar(
            "UPDATE stream_counters SET value = value + 1 WHERE name = 'receipts' RETURNING value",
        )
        .fetch_one(&mut *tx)
        .await?;
        sqlx::query(
            "INSERT INTO receipts (room_id, user_id, receipt_type, thread_id, event_id, ts, stream_id) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) \
             ON CONFLICT (room_id, user_id, receipt_type, thread_id) \
             DO UPDATE SET event_id = excluded.event_id, ts = excluded.ts, stream_id = excluded.stream_id",
        )
        .bind(room_id)
        .bind(user_id)
        .bind(receipt_type)
        .bind(thread_id)
        .bind(event_id)
        .bind(now_ms())
        .bind(position)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        self.read_positions.forget([user_id]);
        Ok(position)
    }

    /// Receipts in the user's joined rooms that changed in (since, up_to].
    pub async fn receipts_since(
        &self,
        user_id: &str,
        since: i64,
        up_to: i64,
    ) -> Result<Vec<ReceiptRow>> {
        Ok(sqlx::query_as(
            "SELECT room_id, user_id, receipt_type, thread_id, event_id, ts FROM receipts \
             WHERE stream_id > $2 AND stream_id <= $3 AND room_id IN ( \
               SELECT room_id FROM current_state WHERE event_type = 'm.room.member' \
               AND state_key = $1 AND membership = 'join') \
             ORDER BY stream_id",
        )
        .bind(user_id)
        .bind(since)
        .bind(up_to)
        .fetch_all(&self.pool)
        .await?)
    }

    /// Every receipt that changed in (since, up_to], in any room (for
    /// application services, which pick their rooms themselves).
    pub async fn receipts_between(&self, since: i64, up_to: i64) -> Result<Vec<ReceiptRow>> {
        Ok(sqlx::query_as(
            "SELECT room_id, user_id, receipt_type, thread_id, event_id, ts FROM receipts \
             WHERE stream_id > $1 AND stream_id <= $2 ORDER BY stream_id",
        )
        .bind(since)
        .bind(up_to)
        .fetch_all(&self.pool)
        .await?)
    }

    /// Sets presence; returns the new stream position, or None when nothing changed.
    pub async fn set_presence(
        &self,
        user_id: &str,
        state: &str,
        status_msg: Option<&str>,
    ) -> Result<Option<i64>> {
        let mut tx = self.begin().await?;
        let current: Option<(String, Option<String>)> =
            sqlx::query_as("SELECT state, status_msg FROM presence WHERE user_id = $1")
                .bind(user_id)
                .fetch_optional(&mut *tx)
                .await?;
        if current.as_ref().is_some_and(|(s, m)| s == state && m.as_deref() == status_msg) {
            return Ok(None);
        }
        let position: i64 = sqlx::query_scalar(
            "UPDATE stream_counters SET value = value + 1 WHERE name = 'presence' RETURNING value",
        )
        .fetch_one(&mut *tx)
        .await?;
        sqlx::query(
            "INSERT INTO presence (user_id, state, status_msg, last_active_at, stream_id) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (user_id) DO UPDATE SET state = excluded.state, \
             status_msg = excluded.status_msg, last_active_at = excluded.last_active_at, \
             stream_id = excluded.stream_id",
        )
        .bind(user_id)
        .bind(state)
        .bind(status_msg)
        .bind(now_ms())
        .bind(position)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(Some(position))
    }

    pub async fn presence(&self, user_id: &str) -> Result<Option<PresenceRow>> {
        Ok(sqlx::query_as(
            "SELECT user_id, state, status_msg, last_active_at FROM presence WHERE user_id = $1",
        )
        .bind(user_id)
        .fetch_optional(&self.pool)
        .await?)
    }

    /// Presence changes in (since, up_to] of users who share a room with `user_id`.
    pub async fn presence_since(
        &self,
        user_id: &str,
        since: i64,
        up_to: i64,
    ) -> Result<Vec<PresenceRow>> {
        Ok(sqlx::query_as(
            "SELECT user_id, state, status_msg, last_active_at FROM presence \
             WHERE stream_id > $2 AND stream_id <= $3 AND user_id IN ( \
               SELECT b.state_key FROM current_state a JOIN current_state b ON a.room_id = b.room_id \
               WHERE a.event_type = 'm.room.member' AND a.state_key = $1 AND a.membership = 'join' \
               AND b.event_type = 'm.room.member' AND b.membership = 'join')",
        )
        .bind(user_id)
        .bind(since)
        .bind(up_to)
        .fetch_all(&self.pool)
        .await?)
    }

    /// Every presence change in (since, up_to] (for application services).
    pub async fn presence_between(&self, since: i64, up_to: i64) -> Result<Vec<PresenceRow>> {
        Ok(sqlx::query_as(
            "SELECT user_id, state, status_msg, last_active_at FROM presence \
             WHERE stream_id > $1 AND stream_id <= $2",
        )
        .bind(since)
        .bind(up_to)
        .fetch_all(&self.pool)
        .await?)
    }

    /// The rooms each of `users` is joined to, as (user, room): one query.
    pub async fn joined_rooms_of(&self, users: &[String]) -> Result<Vec<(String, String)>> {
        if users.is_empty() {
            return Ok(Vec::new());
        }
        let list = (1..=users.len()).map(|i| format!("${i}")).collect::<Vec<_>>().join(", ");
        let sql = format!(
            "SELECT state_key, room_id FROM current_state WHERE event_type = 'm.room.member' \
             AND membership = 'join' AND state_key IN ({list})"
        );
        let mut query = sqlx::query_as(sqlx::AssertSqlSafe(sql));
        for user in users {
            query = query.bind(user);
        }
        Ok(query.fetch_all(&self.pool).await?)
    }

    /// The room an event belongs to.
    pub async fn event_room(&self, event_id: &str) -> Result<Option<String>> {
        Ok(sqlx::query_scalar("SELECT room_id FROM events WHERE event_id = $1")
            .bind(event_id)
            .fetch_optional(&self.pool)
            .await?)
    }
}
