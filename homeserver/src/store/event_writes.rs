//! Persisting room events: one transaction per writer batch with its state
//! groups, current state, forward extremities and federation outbox rows.

use std::collections::{HashMap, HashSet};

use sqlx::{Any, Transaction, any::AnyArguments, pool::PoolConnection};

use super::{Backend, Store, extremities::update_extremities};
use crate::error::{Error, Result};

/// Full snapshots are written after this many deltas, bounding lookups.
const MAX_STATE_CHAIN: i64 = 64;

/// One event to persist, as the writer hands it over.
#[derive(Debug, Clone)]
pub struct NewEvent {
    pub event_id: String,
    pub room_id: String,
    pub sender: String,
    pub event_type: String,
    pub state_key: Option<String>,
    /// `content.membership` for member events.
    pub membership: Option<String>,
    pub depth: i64,
    pub origin_server_ts: i64,
    pub pdu: String,
    pub prev_events: Vec<String>,
    /// The event this one redacts, to mark it.
    pub redacts: Option<String>,
    /// Redacted JSON of the target, when this event redacts one.
    pub redacted_target_pdu: Option<String>,
    pub txn: Option<(String, String)>,
    /// `content.m.relates_to`: (parent event, relation type).
    pub relation: Option<(String, String)>,
    /// Text for full-text search (body, name or topic).
    pub search_text: Option<String>,
    /// For a join: the member's profile, for the user directory.
    pub directory: Option<super::DirectoryEntry>,
    pub is_new_room: bool,
    pub room_version: String,
    /// Set when the state after this event is not the room's state plus
    /// this event (events from other servers on another branch, joins).
    pub resolved_state: Option<std::sync::Arc<ResolvedState>>,
    /// Servers this event is to be sent to, queued in the same transaction.
    pub destinations: Vec<String>,
}

impl NewEvent {
    /// The event this one relates to, if any.
    pub(super) fn relation_target(&self) -> Option<&str> {
        self.relation.as_ref().map(|(parent, _)| parent.as_str())
    }

    /// A message-like event: a row in `events` and nothing else to change
    /// (no state, no redaction, no new room).
    pub(super) fn is_plain(&self) -> bool {
        !self.is_new_room
            && self.resolved_state.is_none()
            && self.state_key.is_none()
            && self.redacts.is_none()
    }
}

/// Most event rows one INSERT writes (few statement shapes to prepare).
pub(super) const ROWS_PER_INSERT: usize = 32;

/// One piece of state: (type, state_key, event_id, membership).
pub type StateEntry = (String, String, String, Option<String>);

/// Full states written as snapshots instead of a delta.
#[derive(Debug, Clone, PartialEq)]
pub struct ResolvedState {
    /// The state after the event.
    pub after_event: Vec<StateEntry>,
    /// The room's current state once the event is in (its branches resolved).
    pub current: Vec<StateEntry>,
}

/// The writer's memory of each room's latest state group: (group, chain length).
pub type StateGroupCache = HashMap<String, (i64, i64)>;

impl Store {
    /// Persists a batch in one transaction (one fsync for all of it) on the
    /// writer's own connection and returns each event's stream position.
    pub async fn persist_events(
        &self,
        conn: &mut PoolConnection<Any>,
        events: &[NewEvent],
        groups: &mut StateGroupCache,
    ) -> Result<Vec<i64>> {
        self.relation_targets.add(events.iter().filter_map(NewEvent::relation_target));
        if let Some(done) = self.persist_in_one_round_trip(conn, events, groups).await {
            return done;
        }
        let rooms: HashSet<&str> = events.iter().map(|e| e.room_id.as_str()).collect();
        // Messages leave a room's state group as it was: only a changed
        // group is written back.
        let groups_before: HashMap<&str, i64> =
            rooms.iter().filter_map(|room| Some((*room, groups.get(*room)?.0))).collect();
        let mut tx = self.begin_on(conn).await?;
        let room_list: Vec<&str> = rooms.iter().copied().collect();
        super::cluster::lock_event_stream(
            &mut tx,
            self.backend,
            self.writer_instance.get().copied(),
            &room_list,
        )
        .await?;
        let mut streams = Vec::with_capacity(events.len());
        let mut next = 0;
        while next < events.len() {
            // Runs of plain messages share one INSERT: fewer statements per
            // message is what group commit is for.
            let run =
                events[next..].iter().take_while(|e| e.is_plain()).take(ROWS_PER_INSERT).count();
            if run > 1 {
                streams.extend(
                    persist_plain(&mut tx, self.backend, &events[next..next + run], groups).await?,
                );
                next += run;
            } else {
                streams.push(persist_one(&mut tx, self.backend, &events[next], groups).await?);
                next += 1;
            }
        }
        update_extremities(&mut tx, self.backend, events).await?;
        for room_id in rooms {
            if let Some((group, _)) = groups.get(room_id)
                && groups_before.get(room_id) != Some(group)
            {
                sqlx::query("UPDATE rooms SET current_group = $1 WHERE room_id = $2")
                    .bind(group)
                    .bind(room_id)
                    .execute(&mut *tx)
                    .await?;
            }
        }
        tx.commit().await?;
        self.events_committed(events, &streams);
        Ok(streams)
    }

    /// What a committed batch changes beyond the database: checkpoints and
    /// the memos of memberships and read positions.
    pub(super) fn events_committed(&self, events: &[NewEvent], streams: &[i64]) {
        self.batch_committed();
        let mut memberships_changed = false;
        for (event, stream) in events.iter().zip(streams) {
            if event.membership.is_some() {
                self.members_moved_to(*stream);
            }
            // Resolved state can change memberships without a member event.
            memberships_changed |= event.membership.is_some() || event.resolved_state.is_some();
        }
        if memberships_changed {
            self.memberships.changed();
        }
        // A user's own events move their read positions.
        let senders: HashSet<&str> = events.iter().map(|e| e.sender.as_str()).collect();
        self.read_positions.forget(senders);
    }
}

async fn persist_one(
    tx: &mut Transaction<'_, Any>,
    backend: Backend,
    e: &NewEvent,
    groups: &mut StateGroupCache,
) -> Result<i64> {
    if e.is_new_room {
        sqlx::query("INSERT INTO rooms (room_id, room_version, created_at) VALUES ($1, $2, $3)")
            .bind(&e.room_id)
            .bind(&e.room_version)
            .bind(e.origin_server_ts)
            .execute(&mut **tx)
            .await?;
    }
    if let Some(entry) = &e.directory {
        super::user_directory::upsert_entries(tx, std::slice::from_ref(entry)).await?;
    }
    let (mut group, mut chain) = match groups.get(&e.room_id) {
        Some(known) => *known,
        None => latest_group(tx, &e.room_id).await?,
    };
    let mut event_group = None;
    if let Some(resolved) = &e.resolved_state {
        let after = insert_snapshot(tx, &e.room_id, &resolved.after_event).await?;
        group = match resolved.current == resolved.after_event {
            true => after,
            false => insert_snapshot(tx, &e.room_id, &resolved.current).await?,
        };
        chain = 0;
        event_group = Some(after);
        replace_current_state(tx, &e.room_id, &resolved.current).await?;
    } else if let Some(state_key) = &e.state_key {
        sqlx::query(
            "INSERT INTO current_state (room_id, event_type, state_key, event_id, membership) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (room_id, event_type, state_key) \
             DO UPDATE SET event_id = excluded.event_id, membership = excluded.membership",
        )
        .bind(&e.room_id)
        .bind(&e.event_type)
        .bind(state_key)
        .bind(&e.event_id)
        .bind(e.membership.as_deref())
        .execute(&mut **tx)
        .await?;
        let snapshot = group == 0 || chain >= MAX_STATE_CHAIN;
        let parent = if snapshot { None } else { Some(group) };
        chain = if snapshot { 0 } else { chain + 1 };
        group = sqlx::query_scalar(
            "INSERT INTO state_groups (room_id, parent, chain_len) VALUES ($1, $2, $3) RETURNING group_id",
        )
        .bind(&e.room_id)
        .bind(parent)
        .bind(chain)
        .fetch_one(&mut **tx)
        .await?;
        if snapshot {
            sqlx::query(
                "INSERT INTO state_group_entries (group_id, event_type, state_key, event_id) \
                 SELECT $1, event_type, state_key, event_id FROM current_state WHERE room_id = $2",
            )
            .bind(group)
            .bind(&e.room_id)
            .execute(&mut **tx)
            .await?;
        } else {
            sqlx::query(
                "INSERT INTO state_group_entries (group_id, event_type, state_key, event_id) \
                 VALUES ($1, $2, $3, $4)",
            )
            .bind(group)
            .bind(&e.event_type)
            .bind(state_key)
            .bind(&e.event_id)
            .execute(&mut **tx)
            .await?;
        }
    }
    let stream = insert_event_rows(tx, backend, &[(e, event_group.unwrap_or(group))]).await?[0];
    if let (Some(target), Some(redacted)) = (&e.redacts, &e.redacted_target_pdu) {
        // A redacted event loses its content, and so its relation.
        sqlx::query(
            "UPDATE events SET pdu = $1, redacted_by = $2, relates_to = NULL, rel_type = NULL, \
             search_text = NULL WHERE event_id = $3",
        )
        .bind(redacted)
        .bind(&e.event_id)
        .bind(target)
        .execute(&mut **tx)
        .await?;
    }
    queue_for_destinations(tx, e).await?;
    groups.insert(e.room_id.clone(), (group, chain));
    Ok(stream)
}

/// Persists plain events (see [`NewEvent::is_plain`]) with one INSERT:
/// each takes its room's current state group.
async fn persist_plain(
    tx: &mut Transaction<'_, Any>,
    backend: Backend,
    events: &[NewEvent],
    groups: &mut StateGroupCache,
) -> Result<Vec<i64>> {
    let mut rows = Vec::with_capacity(events.len());
    for e in events {
        let group = match groups.get(&e.room_id) {
            Some((group, _)) => *group,
            None => {
                let known = latest_group(tx, &e.room_id).await?;
                groups.insert(e.room_id.clone(), known);
                known.0
            }
        };
        rows.push((e, group));
    }
    let streams = insert_event_rows(tx, backend, &rows).await?;
    for e in events {
        queue_for_destinations(tx, e).await?;
    }
    Ok(streams)
}

/// Inserts event rows (each with its state group) in one statement and
/// returns their stream positions, in the order given.
async fn insert_event_rows(
    tx: &mut Transaction<'_, Any>,
    backend: Backend,
    rows: &[(&NewEvent, i64)],
) -> Result<Vec<i64>> {
    let sql = insert_events_sql(backend, rows.len());
    // Only placeholders are generated; every value is bound.
    let query = sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str()));
    let returned = bind_event_rows(query, rows).fetch_all(&mut **tx).await?;
    streams_in_order(rows.iter().map(|(e, _)| *e), returned)
}

/// An INSERT of event rows returning (event_id, stream).
pub(super) type EventInsert<'q> = sqlx::query::QueryAs<'q, Any, (String, i64), AnyArguments>;

/// The INSERT of `rows` event rows, returning each one's event id and
/// stream position (and, on SQLite, their full-text indexing).
pub(super) fn insert_events_sql(backend: Backend, rows: usize) -> String {
    const COLUMNS: usize = 14;
    // SQLite: OR FAIL, so that SQLite keeps no statement journal (a copy of
    // every page the INSERT touches) to undo a failed statement alone: a
    // failure rolls the whole batch back anyway.
    let verb = match backend {
        Backend::Sqlite => "INSERT OR FAIL",
        Backend::Postgres => "INSERT",
    };
    let mut sql = format!(
        "{verb} INTO events (event_id, room_id, sender, event_type, state_key, depth, \
         origin_server_ts, pdu, state_group, sender_device, txn_id, relates_to, rel_type, \
         search_text) VALUES "
    );
    sql.push_str(&values_list(backend, rows, COLUMNS));
    sql.push_str(" RETURNING event_id, stream");
    if backend == Backend::Sqlite {
        // Indexed for search in the same round trip. The rows just inserted
        // are the last `rows` stream positions: one writer, and
        // AUTOINCREMENT numbers a statement's rows one after the other.
        sql.push_str(&format!(
            "; INSERT INTO event_search (rowid, body) SELECT stream, search_text FROM events \
             WHERE stream > last_insert_rowid() - {rows} AND search_text IS NOT NULL"
        ));
    }
    sql
}

/// Binds the values of [`insert_events_sql`]'s rows, in order.
pub(super) fn bind_event_rows<'q>(
    mut query: EventInsert<'q>,
    rows: &'q [(&'q NewEvent, i64)],
) -> EventInsert<'q> {
    for (e, group) in rows {
        let (device, txn) = match &e.txn {
            Some((device, txn)) => (Some(device.as_str()), Some(txn.as_str())),
            None => (None, None),
        };
        query = query
            .bind(&e.event_id)
            .bind(&e.room_id)
            .bind(&e.sender)
            .bind(&e.event_type)
            .bind(e.state_key.as_deref())
            .bind(e.depth)
            .bind(e.origin_server_ts)
            .bind(&e.pdu)
            .bind(*group)
            .bind(device)
            .bind(txn)
            .bind(e.relation.as_ref().map(|(parent, _)| parent.as_str()))
            .bind(e.relation.as_ref().map(|(_, kind)| kind.as_str()))
            .bind(e.search_text.as_deref());
    }
    query
}

/// The stream positions of `events` from the (event_id, stream) pairs
/// their INSERT returned.
pub(super) fn streams_in_order<'a>(
    events: impl Iterator<Item = &'a NewEvent>,
    returned: Vec<(String, i64)>,
) -> Result<Vec<i64>> {
    let streams: HashMap<String, i64> = returned.into_iter().collect();
    events
        .map(|e| {
            streams.get(&e.event_id).copied().ok_or_else(|| Error::internal("event row not stored"))
        })
        .collect()
}

/// `($1, $2), ($3, $4)`: the placeholders of `rows` rows of `columns`
/// values, bound in order. SQLite gets anonymous `?`s: to bind a numbered
/// one, sqlx asks SQLite its name, a linear search, so a multi-row INSERT
/// spent quadratic time binding (6% of the event writer's thread).
pub(super) fn values_list(backend: Backend, rows: usize, columns: usize) -> String {
    let mut list = String::with_capacity(rows * columns * 5);
    for row in 0..rows {
        list.push_str(if row == 0 { "(" } else { ", (" });
        for column in 1..=columns {
            let separator = if column == 1 { "" } else { ", " };
            match backend {
                Backend::Sqlite => list.push_str(&format!("{separator}?")),
                Backend::Postgres => {
                    list.push_str(&format!("{separator}${}", row * columns + column))
                }
            }
        }
        list.push(')');
    }
    list
}

/// Queues the event for the servers it goes to, in the event's transaction.
async fn queue_for_destinations(tx: &mut Transaction<'_, Any>, e: &NewEvent) -> Result<()> {
    for destination in &e.destinations {
        sqlx::query(
            "INSERT INTO federation_outbox (destination, kind, payload) VALUES ($1, 'pdu', $2)",
        )
        .bind(destination)
        .bind(&e.pdu)
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}

/// Writes a full state as a new snapshot group and returns its id.
pub(super) async fn insert_snapshot(
    tx: &mut Transaction<'_, Any>,
    room_id: &str,
    state: &[StateEntry],
) -> Result<i64> {
    let group: i64 = sqlx::query_scalar(
        "INSERT INTO state_groups (room_id, parent, chain_len) VALUES ($1, NULL, 0) RETURNING group_id",
    )
    .bind(room_id)
    .fetch_one(&mut **tx)
    .await?;
    for (kind, key, event_id, _) in state {
        sqlx::query(
            "INSERT INTO state_group_entries (group_id, event_type, state_key, event_id) \
             VALUES ($1, $2, $3, $4)",
        )
        .bind(group)
        .bind(kind)
        .bind(key)
        .bind(event_id)
        .execute(&mut **tx)
        .await?;
    }
    Ok(group)
}

/// Replaces a room's current state (after a state resolution).
async fn replace_current_state(
    tx: &mut Transaction<'_, Any>,
    room_id: &str,
    state: &[StateEntry],
) -> Result<()> {
    sqlx::query("DELETE FROM current_state WHERE room_id = $1")
        .bind(room_id)
        .execute(&mut **tx)
        .await?;
    for (kind, key, event_id, membership) in state {
        sqlx::query(
            "INSERT INTO current_state (room_id, event_type, state_key, event_id, membership) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(room_id)
        .bind(kind)
        .bind(key)
        .bind(event_id)
        .bind(membership.as_deref())
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}

/// The state group after a room's latest event, and its chain length.
async fn latest_group(tx: &mut Transaction<'_, Any>, room_id: &str) -> Result<(i64, i64)> {
    let found: Option<(i64, i64)> = sqlx::query_as(
        "SELECT g.group_id, g.chain_len FROM rooms r JOIN state_groups g ON g.group_id = r.current_group \
         WHERE r.room_id = $1",
    )
    .bind(room_id)
    .fetch_optional(&mut **tx)
    .await?;
    Ok(found.unwrap_or((0, 0)))
}
