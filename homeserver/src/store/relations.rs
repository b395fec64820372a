//! Relations between events: children of an event, summaries for bundling,
//! and thread roots.

use sqlx::AssertSqlSafe;

use super::{EventRow, Store};
use crate::error::Result;

/// A child relation of one of the events asked about:
/// (parent, rel_type, child event row).
pub type RelationRow = (String, String, EventRow);

#[derive(sqlx::FromRow)]
struct ChildRow {
    relates_to: String,
    rel_type: String,
    #[sqlx(flatten)]
    event: EventRow,
}

impl Store {
    /// Children of `parent`, optionally of one relation and event type,
    /// within (after, up_to], newest first unless `forward`.
    #[allow(clippy::too_many_arguments)]
    pub async fn relations(
        &self,
        parent: &str,
        rel_type: Option<&str>,
        event_type: Option<&str>,
        after: i64,
        up_to: i64,
        forward: bool,
        limit: i64,
    ) -> Result<Vec<EventRow>> {
        let sql = if forward {
            "SELECT stream, event_id, room_id, pdu, state_group, sender_device, txn_id, redacted_by \
             FROM events WHERE relates_to = $1 AND ($2 IS NULL OR rel_type = $2) \
             AND ($3 IS NULL OR event_type = $3) AND stream > $4 AND stream <= $5 \
             ORDER BY stream ASC LIMIT $6"
        } else {
            "SELECT stream, event_id, room_id, pdu, state_group, sender_device, txn_id, redacted_by \
             FROM events WHERE relates_to = $1 AND ($2 IS NULL OR rel_type = $2) \
             AND ($3 IS NULL OR event_type = $3) AND stream > $4 AND stream <= $5 \
             ORDER BY stream DESC LIMIT $6"
        };
        Ok(sqlx::query_as(sql)
            .bind(parent)
            .bind(rel_type)
            .bind(event_type)
            .bind(after)
            .bind(up_to)
            .bind(limit)
            .fetch_all(&self.pool)
            .await?)
    }

    /// Every child of any of `parents`, oldest first: one query for a page.
    pub async fn children_of(&self, parents: &[String]) -> Result<Vec<RelationRow>> {
        if parents.is_empty() {
            return Ok(Vec::new());
        }
        // Only numbered placeholders are formatted in; the ids are bound.
        let placeholders: Vec<String> = (1..=parents.len()).map(|i| format!("${i}")).collect();
        let sql = format!(
            "SELECT relates_to, rel_type, stream, event_id, room_id, pdu, state_group, sender_device, \
             txn_id, redacted_by FROM events WHERE relates_to IN ({}) AND rel_type IS NOT NULL \
             ORDER BY stream ASC",
            placeholders.join(", ")
        );
        let mut query = sqlx::query_as::<_, ChildRow>(AssertSqlSafe(sql));
        for parent in parents {
            query = query.bind(parent);
        }
        Ok(query
            .fetch_all(&self.pool)
            .await?
            .into_iter()
            .map(|row| (row.relates_to, row.rel_type, row.event))
            .collect())
    }

    /// Thread roots of a room by latest activity, newest first, below
    /// `before` (a stream position); only threads `participant` took part
    /// in when given. Returns (root event id, latest activity).
    pub async fn thread_roots(
        &self,
        room_id: &str,
        participant: Option<&str>,
        before: i64,
        limit: i64,
    ) -> Result<Vec<(String, i64)>> {
        Ok(sqlx::query_as(
            "SELECT t.relates_to, MAX(t.stream) AS latest FROM events t \
             WHERE t.room_id = $1 AND t.rel_type = 'm.thread' \
             GROUP BY t.relates_to \
             HAVING MAX(t.stream) < $3 AND ($2 IS NULL \
               OR MAX(CASE WHEN t.sender = $2 THEN 1 ELSE 0 END) = 1 \
               OR t.relates_to IN (SELECT r.event_id FROM events r WHERE r.sender = $2)) \
             ORDER BY latest DESC LIMIT $4",
        )
        .bind(room_id)
        .bind(participant)
        .bind(before)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?)
    }
}
