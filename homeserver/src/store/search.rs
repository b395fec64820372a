//! Full-text search: the only queries whose text differs per backend
//! (SQLite FTS5 MATCH, PostgreSQL tsvector @@ tsquery).

use super::{Backend, EventRow, Store};
use crate::error::Result;

/// Results newest first or best first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SearchOrder {
    Recent,
    Rank,
}

const SQLITE_RECENT: &str = concat!(
    "SELECT ",
    event_columns!(e),
    " FROM event_search s JOIN events e ON e.stream = s.rowid \
     WHERE event_search MATCH $1 AND e.room_id IN (SELECT room_id FROM current_state \
     WHERE event_type = 'm.room.member' AND state_key = $2 AND membership = 'join') \
     ORDER BY e.stream DESC LIMIT $3 OFFSET $4"
);
const SQLITE_RANK: &str = concat!(
    "SELECT ",
    event_columns!(e),
    " FROM event_search s JOIN events e ON e.stream = s.rowid \
     WHERE event_search MATCH $1 AND e.room_id IN (SELECT room_id FROM current_state \
     WHERE event_type = 'm.room.member' AND state_key = $2 AND membership = 'join') \
     ORDER BY s.rank, e.stream DESC LIMIT $3 OFFSET $4"
);
const POSTGRES_RECENT: &str = concat!(
    "SELECT ",
    event_columns!(e),
    " FROM events e \
     WHERE to_tsvector('simple', COALESCE(e.search_text, '')) @@ plainto_tsquery('simple', $1) \
     AND e.room_id IN (SELECT room_id FROM current_state \
     WHERE event_type = 'm.room.member' AND state_key = $2 AND membership = 'join') \
     ORDER BY e.stream DESC LIMIT $3 OFFSET $4"
);
const POSTGRES_RANK: &str = concat!(
    "SELECT ",
    event_columns!(e),
    " FROM events e \
     WHERE to_tsvector('simple', COALESCE(e.search_text, '')) @@ plainto_tsquery('simple', $1) \
     AND e.room_id IN (SELECT room_id FROM current_state \
     WHERE event_type = 'm.room.member' AND state_key = $2 AND membership = 'join') \
     ORDER BY ts_rank(to_tsvector('simple', COALESCE(e.search_text, '')), plainto_tsquery('simple', $1)) DESC, \
     e.stream DESC LIMIT $3 OFFSET $4"
);

/// Every word as a quoted FTS5 phrase: user input can never be FTS syntax.
fn fts5_query(term: &str) -> String {
    term.split_whitespace()
        .map(|word| format!("\"{}\"", word.replace('"', "")))
        .collect::<Vec<_>>()
        .join(" ")
}

impl Store {
    /// Events matching `term` in the rooms `user_id` is joined to.
    pub async fn search_events(
        &self,
        user_id: &str,
        term: &str,
        order: SearchOrder,
        limit: i64,
        offset: i64,
    ) -> Result<Vec<EventRow>> {
        let (sql, term) = match (self.backend, order) {
            (Backend::Sqlite, SearchOrder::Recent) => (SQLITE_RECENT, fts5_query(term)),
            (Backend::Sqlite, SearchOrder::Rank) => (SQLITE_RANK, fts5_query(term)),
            (Backend::Postgres, SearchOrder::Recent) => (POSTGRES_RECENT, term.to_owned()),
            (Backend::Postgres, SearchOrder::Rank) => (POSTGRES_RANK, term.to_owned()),
        };
        if term.trim().is_empty() {
            return Ok(Vec::new());
        }
        Ok(sqlx::query_as(sql)
            .bind(term)
            .bind(user_id)
            .bind(limit)
            .bind(offset)
            .fetch_all(&self.pool)
            .await?)
    }
}
