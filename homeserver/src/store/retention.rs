//! Message retention: each room's policy, the events past it, and what
//! the purge job did.

use super::Store;
use crate::error::Result;

/// What the purge job last did in a room.
#[derive(Debug, Clone, sqlx::FromRow, serde::Serialize)]
pub struct RetentionRow {
    pub room_id: String,
    pub max_lifetime: i64,
    pub purged_events: i64,
    pub purged_media: i64,
    pub last_run_at: i64,
}

impl Store {
    /// Every room this server is in, with the content of its
    /// `m.room.retention` event if it has one.
    pub async fn retention_policies(&self) -> Result<Vec<(String, Option<String>)>> {
        Ok(sqlx::query_as(
            "SELECT r.room_id, COALESCE(e.pdu, o.pdu) FROM rooms r \
             LEFT JOIN current_state c ON c.room_id = r.room_id \
                 AND c.event_type = 'm.room.retention' AND c.state_key = '' \
             LEFT JOIN events e ON e.event_id = c.event_id \
             LEFT JOIN outlier_events o ON o.event_id = c.event_id \
             ORDER BY r.room_id",
        )
        .fetch_all(&self.pool)
        .await?)
    }

    /// Up to `limit` message events (not state) of a room sent before
    /// `before` (ms), oldest first, as (event id, PDU). The room's newest
    /// events (its forward extremities) are never among them: new events
    /// are built on them.
    pub async fn expired_events(
        &self,
        room_id: &str,
        before: i64,
        limit: i64,
    ) -> Result<Vec<(String, String)>> {
        Ok(sqlx::query_as(
            "SELECT event_id, pdu FROM events WHERE room_id = $1 AND origin_server_ts < $2 \
             AND state_key IS NULL AND event_id NOT IN \
                 (SELECT event_id FROM forward_extremities WHERE room_id = $1) \
             ORDER BY origin_server_ts, stream LIMIT $3",
        )
        .bind(room_id)
        .bind(before)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?)
    }

    /// Deletes events by id (leaving the search index first).
    pub async fn delete_events(&self, event_ids: &[String]) -> Result<u64> {
        let mut tx = self.begin().await?;
        let mut removed = 0;
        for id in event_ids {
            sqlx::query("UPDATE events SET search_text = NULL WHERE event_id = $1")
                .bind(id)
                .execute(&mut *tx)
                .await?;
            removed += sqlx::query("DELETE FROM events WHERE event_id = $1")
                .bind(id)
                .execute(&mut *tx)
                .await?
                .rows_affected();
        }
        tx.commit().await?;
        // A deleted event may have been where someone had read up to.
        self.read_positions.changed();
        Ok(removed)
    }

    /// Adds a run's figures to a room's record.
    pub async fn record_retention_run(
        &self,
        room_id: &str,
        max_lifetime: i64,
        events: i64,
        media: i64,
        at: i64,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO retention_purges (room_id, max_lifetime, purged_events, purged_media, \
             last_run_at) VALUES ($1, $2, $3, $4, $5) ON CONFLICT (room_id) DO UPDATE SET \
             max_lifetime = excluded.max_lifetime, \
             purged_events = retention_purges.purged_events + excluded.purged_events, \
             purged_media = retention_purges.purged_media + excluded.purged_media, \
             last_run_at = excluded.last_run_at",
        )
        .bind(room_id)
        .bind(max_lifetime)
        .bind(events)
        .bind(media)
        .bind(at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// What the purge job did, room by room.
    pub async fn retention_runs(&self) -> Result<Vec<RetentionRow>> {
        Ok(sqlx::query_as("SELECT * FROM retention_purges ORDER BY room_id")
            .fetch_all(&self.pool)
            .await?)
    }
}
