//! What the push sender reads and writes: the event stream after its
//! position, the pushers of a room's members, and the notifications it
//! decided on (GET /notifications and badge counts).

use super::{EventRow, Store};
use crate::error::Result;

/// A pusher of one of a room's joined local members.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct RoomPusher {
    pub user_id: String,
    pub app_id: String,
    pub pushkey: String,
    pub url: Option<String>,
    /// The pusher as its client set it (JSON).
    pub pusher: String,
    /// When it was set (ms): gateways get it as `pushkey_ts`.
    pub created_at: i64,
    /// It pushes events after this stream position only.
    pub since_stream: i64,
}

/// An event that notified a user.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct NotificationRow {
    pub user_id: String,
    pub stream: i64,
    pub room_id: String,
    pub event_id: String,
    pub highlight: i64,
    /// The push rule actions that applied (JSON list).
    pub actions: String,
    pub ts: i64,
}

/// A notification with its event, for GET /notifications.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ListedNotification {
    #[sqlx(flatten)]
    pub notification: NotificationRow,
    pub pdu: String,
}

impl Store {
    /// Events after `after` up to `up_to`, oldest first, at most `limit`.
    pub async fn events_after(&self, after: i64, up_to: i64, limit: i64) -> Result<Vec<EventRow>> {
        let sql = concat!(
            "SELECT ",
            event_columns!(),
            " FROM events WHERE stream > $1 AND stream <= $2 ORDER BY stream LIMIT $3"
        );
        Ok(sqlx::query_as(sql).bind(after).bind(up_to).bind(limit).fetch_all(&self.pool).await?)
    }

    /// The pushers of a room's joined members (only local users have any).
    pub async fn room_pushers(&self, room_id: &str) -> Result<Vec<RoomPusher>> {
        Ok(sqlx::query_as(
            "SELECT p.user_id, p.app_id, p.pushkey, p.url, p.pusher, p.created_at, p.since_stream \
             FROM pushers p JOIN current_state m ON m.state_key = p.user_id \
             WHERE m.room_id = $1 AND m.event_type = 'm.room.member' AND m.membership = 'join' \
             ORDER BY p.user_id, p.created_at",
        )
        .bind(room_id)
        .fetch_all(&self.pool)
        .await?)
    }

    /// A user's pushers, oldest first (listed to them, and badge updates).
    pub async fn user_pushers(&self, user_id: &str) -> Result<Vec<RoomPusher>> {
        Ok(sqlx::query_as(
            "SELECT user_id, app_id, pushkey, url, pusher, created_at, since_stream \
             FROM pushers WHERE user_id = $1 ORDER BY created_at, app_id, pushkey",
        )
        .bind(user_id)
        .fetch_all(&self.pool)
        .await?)
    }

    /// Stores what notified whom and moves the sender's position past it,
    /// in one transaction: a restart resumes after what was decided.
    pub async fn record_push(&self, rows: &[NotificationRow], position: i64) -> Result<()> {
        let mut tx = self.begin().await?;
        for row in rows {
            sqlx::query(
                "INSERT INTO push_notifications \
                 (user_id, stream, room_id, event_id, highlight, actions, ts) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (user_id, stream) DO NOTHING",
            )
            .bind(&row.user_id)
            .bind(row.stream)
            .bind(&row.room_id)
            .bind(&row.event_id)
            .bind(row.highlight)
            .bind(&row.actions)
            .bind(row.ts)
            .execute(&mut *tx)
            .await?;
        }
        sqlx::query("UPDATE stream_counters SET value = $1 WHERE name = 'push_sender'")
            .bind(position)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// A user's newest notifications as (room, position), at most `limit`:
    /// what a badge count is made of.
    pub async fn recent_notifications(
        &self,
        user_id: &str,
        limit: i64,
    ) -> Result<Vec<(String, i64)>> {
        Ok(sqlx::query_as(
            "SELECT room_id, stream FROM push_notifications WHERE user_id = $1 \
             ORDER BY stream DESC LIMIT $2",
        )
        .bind(user_id)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?)
    }

    /// A page of a user's notifications, newest first, below position
    /// `before`; only highlights when asked.
    pub async fn notifications(
        &self,
        user_id: &str,
        before: i64,
        limit: i64,
        only_highlight: bool,
    ) -> Result<Vec<ListedNotification>> {
        Ok(sqlx::query_as(
            "SELECT n.user_id, n.stream, n.room_id, n.event_id, n.highlight, n.actions, n.ts, e.pdu \
             FROM push_notifications n JOIN events e ON e.event_id = n.event_id \
             WHERE n.user_id = $1 AND n.stream < $2 AND ($3 = 0 OR n.highlight = 1) \
             ORDER BY n.stream DESC LIMIT $4",
        )
        .bind(user_id)
        .bind(before)
        .bind(i64::from(only_highlight))
        .bind(limit)
        .fetch_all(&self.pool)
        .await?)
    }
}
