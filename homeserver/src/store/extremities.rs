//! Forward extremities (the events with no children yet, the next event's
//! prev_events), moved past each committed batch.

use std::collections::{HashMap, HashSet};

use sqlx::{Any, Transaction};

use super::{
    Backend,
    event_writes::{NewEvent, values_list},
};
use crate::error::Result;

/// Moves each room's forward extremities past a batch: once per batch, not
/// once per event, since a busy room's events mostly point at each other.
pub(super) async fn update_extremities(
    tx: &mut Transaction<'_, Any>,
    backend: Backend,
    events: &[NewEvent],
) -> Result<()> {
    let (mut gone, mut new) = extremity_changes(events);
    // The usual case, rooms each moving from one extremity to the next, is
    // one statement for the whole batch (then an insert for a room whose
    // old row was never there).
    let moves: Vec<(&str, &str, &str)> = new
        .iter()
        .filter_map(|(room_id, new_ids)| {
            match (gone.get(room_id)?.as_slice(), new_ids.as_slice()) {
                ([old], [new_id]) => Some((*room_id, *old, *new_id)),
                _ => None,
            }
        })
        .collect();
    if !moves.is_empty() {
        let sql = format!(
            "UPDATE forward_extremities SET event_id = v.column3 FROM (VALUES {}) AS v \
             WHERE forward_extremities.room_id = v.column1 \
             AND forward_extremities.event_id = v.column2 RETURNING room_id",
            values_list(backend, moves.len(), 3)
        );
        // Only placeholders are generated; every value is bound.
        let mut query = sqlx::query_scalar::<_, String>(sqlx::AssertSqlSafe(sql));
        for (room_id, old, new_id) in &moves {
            query = query.bind(*room_id).bind(*old).bind(*new_id);
        }
        let moved: HashSet<String> = query.fetch_all(&mut **tx).await?.into_iter().collect();
        for (room_id, _, _) in moves {
            gone.remove(room_id);
            if moved.contains(room_id) {
                new.remove(room_id);
            }
        }
    }
    for (sql, rows) in [
        (delete_extremities_sql(backend, gone.len()), pairs(gone)),
        (insert_extremities_sql(backend, new.len()), pairs(new)),
    ] {
        if rows.is_empty() {
            continue;
        }
        // Only placeholders are generated; every value is bound.
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
        for (room_id, event_id) in rows {
            query = query.bind(room_id).bind(event_id);
        }
        query.execute(&mut **tx).await?;
    }
    Ok(())
}

/// Removes `rows` (room, event) pairs from the forward extremities.
pub(super) fn delete_extremities_sql(backend: Backend, rows: usize) -> String {
    format!(
        "DELETE FROM forward_extremities WHERE (room_id, event_id) IN (VALUES {})",
        values_list(backend, rows, 2)
    )
}

/// Adds `rows` (room, event) pairs to the forward extremities.
pub(super) fn insert_extremities_sql(backend: Backend, rows: usize) -> String {
    format!(
        "INSERT INTO forward_extremities (room_id, event_id) VALUES {} ON CONFLICT DO NOTHING",
        values_list(backend, rows, 2)
    )
}

/// Per room, the forward extremities a batch replaces (referenced by its
/// events) and the ones it adds (its events nothing in it points at).
pub(super) type ByRoom<'a> = HashMap<&'a str, Vec<&'a str>>;

pub(super) fn extremity_changes(events: &[NewEvent]) -> (ByRoom<'_>, ByRoom<'_>) {
    let added: HashSet<(&str, &str)> =
        events.iter().map(|e| (e.room_id.as_str(), e.event_id.as_str())).collect();
    let referenced: HashSet<(&str, &str)> = events
        .iter()
        .flat_map(|e| e.prev_events.iter().map(|p| (e.room_id.as_str(), p.as_str())))
        .collect();
    let mut gone = ByRoom::new();
    for (room_id, event_id) in referenced.difference(&added) {
        gone.entry(room_id).or_default().push(event_id);
    }
    let mut new = ByRoom::new();
    for (room_id, event_id) in added.difference(&referenced) {
        new.entry(room_id).or_default().push(event_id);
    }
    (gone, new)
}

/// (room, event) pairs of a [`ByRoom`].
pub(super) fn pairs(by_room: ByRoom<'_>) -> Vec<(&str, &str)> {
    by_room.into_iter().flat_map(|(r, ids)| ids.into_iter().map(move |e| (r, e))).collect()
}
