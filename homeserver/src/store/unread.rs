//! Unread events: what a user has not read yet, for the notification
//! counts of sync.

use super::{EventRow, Store};
use crate::error::Result;

impl Store {
    /// Per room, how far a user has read: the later of their read receipt
    /// and their own latest event.
    pub async fn read_positions(&self, user_id: &str) -> Result<Vec<(String, i64)>> {
        self.read_positions
            .get_or_read(user_id.to_owned(), || self.read_positions_now(user_id))
            .await
    }

    async fn read_positions_now(&self, user_id: &str) -> Result<Vec<(String, i64)>> {
        Ok(sqlx::query_as(
            "SELECT room_id, MAX(stream) FROM ( \
               SELECT r.room_id AS room_id, e.stream AS stream FROM receipts r \
                 JOIN events e ON e.event_id = r.event_id \
                 WHERE r.user_id = $1 AND r.receipt_type IN ('m.read', 'm.read.private') \
               UNION ALL \
               SELECT room_id, MAX(stream) AS stream FROM events WHERE sender = $1 GROUP BY room_id \
             ) marks GROUP BY room_id",
        )
        .bind(user_id)
        .fetch_all(&self.pool)
        .await?)
    }

    /// The newest `limit` events from others in (after, up_to] that could
    /// notify: not state, not redacted.
    pub async fn unread_in_room(
        &self,
        user_id: &str,
        room_id: &str,
        after: i64,
        up_to: i64,
        limit: i64,
    ) -> Result<Vec<EventRow>> {
        Ok(sqlx::query_as(concat!(
            "SELECT ",
            event_columns!(),
            " FROM events WHERE room_id = $1 AND stream > $2 AND stream <= $3 AND sender <> $4 \
             AND state_key IS NULL AND redacted_by IS NULL ORDER BY stream DESC LIMIT $5"
        ))
        .bind(room_id)
        .bind(after)
        .bind(up_to)
        .bind(user_id)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?)
    }
}
