//! Relations between events: children of an event, summaries for bundling,
//! and thread roots.

use std::{
    collections::HashSet,
    hash::{BuildHasher, RandomState},
    sync::Mutex,
};

use sqlx::AssertSqlSafe;

use super::{EventRow, Store};
use crate::error::Result;

/// The events something relates to (hashes of their ids), so that a page
/// of events none of which has a child (nearly every page) needs no query.
/// Kept with SQLite only, where this process is the only writer; with
/// PostgreSQL every page asks. A hash collision or a redacted child only
/// costs a query.
#[derive(Debug, Default)]
pub(super) struct RelationTargets {
    hasher: RandomState,
    /// None when not kept (PostgreSQL).
    ids: Option<Mutex<HashSet<u64>>>,
}

impl RelationTargets {
    /// Remembers that events relate to `parents`; called before the
    /// transaction that stores them commits, so that no read misses them.
    pub(super) fn add<'a>(&self, parents: impl IntoIterator<Item = &'a str>) {
        if let Some(ids) = &self.ids {
            let mut ids = ids.lock().unwrap_or_else(|e| e.into_inner());
            ids.extend(parents.into_iter().map(|id| self.hasher.hash_one(id)));
        }
    }

    fn may_have_children(&self, event_id: &str) -> bool {
        match &self.ids {
            Some(ids) => ids
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .contains(&self.hasher.hash_one(event_id)),
            None => true,
        }
    }
}

/// A child relation of one of the events asked about.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct RelationRow {
    /// The parent's event id.
    pub relates_to: String,
    pub rel_type: String,
    /// The child.
    #[sqlx(flatten)]
    pub event: EventRow,
}

impl Store {
    /// Loads the events something relates to (SQLite; see [`RelationTargets`]).
    pub(super) async fn load_relation_targets(&self) -> Result<RelationTargets> {
        let mut targets = RelationTargets::default();
        if self.backend == super::Backend::Sqlite {
            let parents: Vec<String> = sqlx::query_scalar(
                "SELECT DISTINCT relates_to FROM events WHERE relates_to IS NOT NULL",
            )
            .fetch_all(&self.pool)
            .await?;
            let ids = parents.iter().map(|id| targets.hasher.hash_one(id)).collect();
            targets.ids = Some(Mutex::new(ids));
        }
        Ok(targets)
    }

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
            concat!(
                "SELECT ",
                event_columns!(),
                " FROM events WHERE relates_to = $1 AND ($2 IS NULL OR rel_type = $2) \
             AND ($3 IS NULL OR event_type = $3) AND stream > $4 AND stream <= $5 \
             ORDER BY stream ASC LIMIT $6"
            )
        } else {
            concat!(
                "SELECT ",
                event_columns!(),
                " FROM events WHERE relates_to = $1 AND ($2 IS NULL OR rel_type = $2) \
             AND ($3 IS NULL OR event_type = $3) AND stream > $4 AND stream <= $5 \
             ORDER BY stream DESC LIMIT $6"
            )
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
        let parents: Vec<&String> =
            parents.iter().filter(|id| self.relation_targets.may_have_children(id)).collect();
        if parents.is_empty() {
            return Ok(Vec::new());
        }
        // Only numbered placeholders are formatted in; the ids are bound.
        let placeholders: Vec<String> = (1..=parents.len()).map(|i| format!("${i}")).collect();
        let sql = format!(
            concat!(
                "SELECT relates_to, rel_type, ",
                event_columns!(),
                " FROM events WHERE relates_to IN ({}) AND rel_type IS NOT NULL \
             ORDER BY stream ASC"
            ),
            placeholders.join(", ")
        );
        let mut query = sqlx::query_as::<_, RelationRow>(AssertSqlSafe(sql));
        for parent in parents {
            query = query.bind(parent);
        }
        Ok(query.fetch_all(&self.pool).await?)
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
