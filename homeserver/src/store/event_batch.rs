//! The common batch in one round trip: plain messages into rooms whose
//! state group the writer knows, on SQLite. Each statement is a hand-off
//! to the connection's thread and back; a batch through the general path
//! takes four (BEGIN, INSERT, extremities, COMMIT), this one takes one.

use sqlx::{AnyConnection, Executor};

use super::{
    Backend, Store,
    event_writes::{
        NewEvent, ROWS_PER_INSERT, StateGroupCache, bind_event_rows, insert_events_sql,
        streams_in_order,
    },
    extremities::{delete_extremities_sql, extremity_changes, insert_extremities_sql, pairs},
};
use crate::error::Result;

impl Store {
    /// Persists `events` in one command if they qualify (SQLite, plain
    /// messages, no federation destinations, every room's state group
    /// known); None when they do not, for the general path to take them.
    pub(super) async fn persist_in_one_round_trip(
        &self,
        conn: &mut AnyConnection,
        events: &[NewEvent],
        groups: &StateGroupCache,
    ) -> Option<Result<Vec<i64>>> {
        if self.backend != Backend::Sqlite
            || !events.iter().all(|e| e.is_plain() && e.destinations.is_empty())
        {
            return None;
        }
        let rows = events
            .iter()
            .map(|e| Some((e, groups.get(&e.room_id)?.0)))
            .collect::<Option<Vec<_>>>()?;
        let (gone, new) = extremity_changes(events);
        let (gone, new) = (pairs(gone), pairs(new));

        let mut sql = String::from("BEGIN IMMEDIATE; ");
        for chunk in rows.chunks(ROWS_PER_INSERT) {
            sql.push_str(&insert_events_sql(Backend::Sqlite, chunk.len()));
            sql.push_str("; ");
        }
        if !gone.is_empty() {
            sql.push_str(&delete_extremities_sql(Backend::Sqlite, gone.len()));
            sql.push_str("; ");
        }
        if !new.is_empty() {
            sql.push_str(&insert_extremities_sql(Backend::Sqlite, new.len()));
            sql.push_str("; ");
        }
        sql.push_str("COMMIT");

        // Only placeholders are generated; every value is bound, in the
        // order the statements use them.
        let mut query = bind_event_rows(sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str())), &rows);
        for (room_id, event_id) in gone.iter().chain(&new) {
            query = query.bind(*room_id).bind(*event_id);
        }
        let result = match query.fetch_all(&mut *conn).await {
            Ok(returned) => streams_in_order(events.iter(), returned),
            Err(error) => {
                // A statement failed inside the transaction this command
                // opened: end it here (an error if none is open is fine).
                let _ = conn.execute("ROLLBACK").await;
                Err(error.into())
            }
        };
        if let Ok(streams) = &result {
            self.events_committed(events, streams);
        }
        Some(result)
    }
}
