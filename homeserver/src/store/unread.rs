//! Unread events: what a user has not read yet in their joined rooms, for
//! the notification counts of sync.

use super::{EventRow, Store};
use crate::error::Result;

/// A user has read up to the later of their read receipt and their own
/// latest event; the newest `limit` non-state events from others after
/// that, per room, in one query.
const UNREAD: &str = "WITH reads AS ( \
       SELECT room_id, MAX(stream) AS stream FROM ( \
         SELECT r.room_id AS room_id, e.stream AS stream FROM receipts r \
           JOIN events e ON e.event_id = r.event_id \
           WHERE r.user_id = $1 AND r.receipt_type IN ('m.read', 'm.read.private') \
         UNION ALL \
         SELECT room_id, MAX(stream) AS stream FROM events WHERE sender = $1 GROUP BY room_id \
       ) marks GROUP BY room_id) \
     SELECT stream, event_id, room_id, pdu, state_group, sender_device, txn_id, redacted_by FROM ( \
       SELECT e.stream, e.event_id, e.room_id, e.pdu, e.state_group, e.sender_device, e.txn_id, \
              e.redacted_by, ROW_NUMBER() OVER (PARTITION BY e.room_id ORDER BY e.stream DESC) AS rn \
       FROM events e LEFT JOIN reads ON reads.room_id = e.room_id \
       WHERE e.room_id IN (SELECT room_id FROM current_state WHERE event_type = 'm.room.member' \
             AND state_key = $1 AND membership = 'join') \
         AND e.stream > COALESCE(reads.stream, 0) AND e.sender <> $1 AND e.state_key IS NULL \
         AND e.redacted_by IS NULL \
     ) ranked WHERE rn <= $2";

impl Store {
    pub async fn unread_events(&self, user_id: &str, per_room: i64) -> Result<Vec<EventRow>> {
        Ok(sqlx::query_as(UNREAD).bind(user_id).bind(per_room).fetch_all(&self.pool).await?)
    }
}
