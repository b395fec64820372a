//! Reading room events back: by id, by position, a room's timeline, the
//! newest events of a user's rooms, and sends by transaction id.

use super::{Backend, Store};
use crate::error::Result;
use ruma::events::room::member::MembershipState;

/// A stored event row.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct EventRow {
    pub stream: i64,
    pub event_id: String,
    pub room_id: String,
    pub pdu: String,
    pub state_group: i64,
    pub sender_device: Option<String>,
    pub txn_id: Option<String>,
    pub redacted_by: Option<String>,
}

impl Store {
    pub async fn max_event_stream(&self) -> Result<i64> {
        Ok(sqlx::query_scalar::<_, Option<i64>>("SELECT MAX(stream) FROM events")
            .fetch_one(&self.pool)
            .await?
            .unwrap_or(0))
    }

    pub async fn event(&self, event_id: &str) -> Result<Option<EventRow>> {
        let sql = concat!("SELECT ", event_columns!(), " FROM events WHERE event_id = $1");
        Ok(sqlx::query_as(sql).bind(event_id).fetch_optional(&self.pool).await?)
    }

    /// The room's last event at or before stream position `at`.
    pub async fn event_at(&self, room_id: &str, at: i64) -> Result<Option<EventRow>> {
        let sql = concat!(
            "SELECT ",
            event_columns!(),
            " FROM events WHERE room_id = $1 AND stream <= $2 \
                   ORDER BY stream DESC LIMIT 1"
        );
        Ok(sqlx::query_as(sql).bind(room_id).bind(at).fetch_optional(&self.pool).await?)
    }

    /// Events of a room in stream order, between two positions (exclusive
    /// `from`, inclusive `to`), oldest first when `forward`.
    pub async fn room_events(
        &self,
        room_id: &str,
        after: i64,
        up_to: i64,
        forward: bool,
        limit: i64,
    ) -> Result<Vec<EventRow>> {
        let sql = if forward {
            concat!(
                "SELECT ",
                event_columns!(),
                " FROM events WHERE room_id = $1 AND stream > $2 AND stream <= $3 \
             ORDER BY stream ASC LIMIT $4"
            )
        } else {
            concat!(
                "SELECT ",
                event_columns!(),
                " FROM events WHERE room_id = $1 AND stream > $2 AND stream <= $3 \
             ORDER BY stream DESC LIMIT $4"
            )
        };
        Ok(sqlx::query_as(sql)
            .bind(room_id)
            .bind(after)
            .bind(up_to)
            .bind(limit)
            .fetch_all(&self.pool)
            .await?)
    }

    /// The newest `limit` events of each of `user`'s rooms with the given
    /// membership, after `since` and up to `up_to`: one query for all rooms.
    pub async fn recent_events_for_user(
        &self,
        user_id: &str,
        membership: &MembershipState,
        since: i64,
        up_to: i64,
        limit: i64,
    ) -> Result<Vec<EventRow>> {
        // Since a recent token, few events are in range: rank them all. From
        // the start (initial sync), ranking would read every room's whole
        // history, so each room's newest events are found on its
        // (room, stream) index instead: `limit` index entries per room.
        let sql = match (since > 0, self.backend) {
            (true, _) => {
                concat!(
                    "SELECT ",
                    event_columns!(),
                    " FROM ( \
                   SELECT e.*, ROW_NUMBER() OVER (PARTITION BY e.room_id ORDER BY e.stream DESC) AS rn \
                   FROM events e \
                   WHERE e.stream > $2 AND e.stream <= $3 AND e.room_id IN ( \
                     SELECT room_id FROM current_state \
                     WHERE event_type = 'm.room.member' AND state_key = $1 AND membership = $4) \
                 ) ranked WHERE rn <= $5 ORDER BY stream ASC"
                )
            }
            // SQLite has no LATERAL: each room's cutoff is a scalar subquery.
            (false, Backend::Sqlite) => {
                concat!(
                    "SELECT ",
                    event_columns!(e),
                    " FROM ( \
                   SELECT c.room_id AS room_id, COALESCE(( \
                     SELECT x.stream FROM events x \
                     WHERE x.room_id = c.room_id AND x.stream > $2 AND x.stream <= $3 \
                     ORDER BY x.stream DESC LIMIT 1 OFFSET $5 - 1), $2 + 1) AS cutoff \
                   FROM current_state c \
                   WHERE c.event_type = 'm.room.member' AND c.state_key = $1 AND c.membership = $4 \
                 ) r JOIN events e ON e.room_id = r.room_id \
                 WHERE e.stream >= r.cutoff AND e.stream <= $3 \
                 ORDER BY e.stream ASC"
                )
            }
            // PostgreSQL would run that subquery per joined row: LATERAL it is.
            (false, Backend::Postgres) => {
                concat!(
                    "SELECT ",
                    event_columns!(e),
                    " FROM current_state c CROSS JOIN LATERAL ( \
                   SELECT * FROM events x \
                   WHERE x.room_id = c.room_id AND x.stream > $2 AND x.stream <= $3 \
                   ORDER BY x.stream DESC LIMIT $5) e \
                 WHERE c.event_type = 'm.room.member' AND c.state_key = $1 AND c.membership = $4 \
                 ORDER BY e.stream ASC"
                )
            }
        };
        Ok(sqlx::query_as(sql)
            .bind(user_id)
            .bind(since)
            .bind(up_to)
            .bind(membership.as_str())
            .bind(limit)
            .fetch_all(&self.pool)
            .await?)
    }

    /// Whether a room has events after `since` (up to `up_to`) beyond `count`.
    pub async fn count_room_events(&self, room_id: &str, since: i64, up_to: i64) -> Result<i64> {
        Ok(sqlx::query_scalar(
            "SELECT COUNT(*) FROM events WHERE room_id = $1 AND stream > $2 AND stream <= $3",
        )
        .bind(room_id)
        .bind(since)
        .bind(up_to)
        .fetch_one(&self.pool)
        .await?)
    }

    /// A user's membership events (in any room) after `since`, up to `up_to`.
    pub async fn membership_changes(
        &self,
        user_id: &str,
        since: i64,
        up_to: i64,
    ) -> Result<Vec<EventRow>> {
        if self.no_member_events_after(since) {
            return Ok(Vec::new());
        }
        let sql = concat!(
            "SELECT ",
            event_columns!(),
            " FROM events WHERE event_type = 'm.room.member' AND state_key = $1 \
                   AND stream > $2 AND stream <= $3 ORDER BY stream ASC"
        );
        Ok(sqlx::query_as(sql).bind(user_id).bind(since).bind(up_to).fetch_all(&self.pool).await?)
    }

    /// The transaction ids a device has sent events with (up to `limit`).
    pub async fn device_txn_ids(
        &self,
        user_id: &str,
        device_id: &str,
        limit: usize,
    ) -> Result<Vec<String>> {
        Ok(sqlx::query_scalar(
            "SELECT txn_id FROM events WHERE sender = $1 AND sender_device = $2 \
             AND txn_id IS NOT NULL LIMIT $3",
        )
        .bind(user_id)
        .bind(device_id)
        .bind(limit as i64)
        .fetch_all(&self.pool)
        .await?)
    }

    /// Looks up an event sent with a transaction id.
    pub async fn txn_event(
        &self,
        user_id: &str,
        device_id: &str,
        txn_id: &str,
    ) -> Result<Option<String>> {
        Ok(sqlx::query_scalar(
            "SELECT event_id FROM events WHERE sender = $1 AND sender_device = $2 AND txn_id = $3",
        )
        .bind(user_id)
        .bind(device_id)
        .bind(txn_id)
        .fetch_optional(&self.pool)
        .await?)
    }
}

impl Store {
    /// The first event at or after `ts` (or at or before, backwards).
    pub async fn event_near_time(
        &self,
        room_id: &str,
        ts: i64,
        forward: bool,
    ) -> Result<Option<EventRow>> {
        let sql = if forward {
            concat!(
                "SELECT ",
                event_columns!(),
                " FROM events WHERE room_id = $1 AND origin_server_ts >= $2 \
             ORDER BY origin_server_ts ASC, stream ASC LIMIT 1"
            )
        } else {
            concat!(
                "SELECT ",
                event_columns!(),
                " FROM events WHERE room_id = $1 AND origin_server_ts <= $2 \
             ORDER BY origin_server_ts DESC, stream DESC LIMIT 1"
            )
        };
        Ok(sqlx::query_as(sql).bind(room_id).bind(ts).fetch_optional(&self.pool).await?)
    }
}
