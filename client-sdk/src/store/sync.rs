//! Writing a sync response into the store: all of it in one transaction
//! with the new sync token, so a client that stops at any point resumes
//! from a state that matches its token.

use super::{RECENT_EVENTS, Store, put_account_data, put_value};
use crate::error::Result;

/// What one sync changed, ready to store.
#[derive(Debug, Default)]
pub(crate) struct SyncChanges {
    pub next_batch: String,
    pub rooms: Vec<RoomChanges>,
    /// Global account data: (type, content JSON).
    pub account_data: Vec<(String, String)>,
}

/// What one sync changed in one room.
#[derive(Debug)]
pub(crate) struct RoomChanges {
    pub room_id: String,
    pub membership: &'static str,
    /// State events: (type, state_key, event JSON).
    pub state: Vec<(String, String, String)>,
    /// New timeline events, oldest first, as JSON.
    pub timeline: Vec<String>,
    /// The timeline has a gap before these events: older stored events
    /// are no longer adjacent, so they are dropped.
    pub limited: bool,
}

impl Store {
    pub(crate) async fn apply_sync(&self, changes: &SyncChanges) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        for room in &changes.rooms {
            sqlx::query(
                "INSERT INTO rooms (room_id, membership) VALUES (?, ?) \
                 ON CONFLICT (room_id) DO UPDATE SET membership = excluded.membership",
            )
            .bind(&room.room_id)
            .bind(room.membership)
            .execute(&mut *tx)
            .await?;
            for (event_type, state_key, event) in &room.state {
                sqlx::query(
                    "INSERT INTO room_state (room_id, event_type, state_key, event) \
                     VALUES (?, ?, ?, ?) ON CONFLICT (room_id, event_type, state_key) \
                     DO UPDATE SET event = excluded.event",
                )
                .bind(&room.room_id)
                .bind(event_type)
                .bind(state_key)
                .bind(event)
                .execute(&mut *tx)
                .await?;
            }
            if room.limited {
                sqlx::query("DELETE FROM timeline WHERE room_id = ?")
                    .bind(&room.room_id)
                    .execute(&mut *tx)
                    .await?;
            }
            for event in &room.timeline {
                sqlx::query("INSERT INTO timeline (room_id, event) VALUES (?, ?)")
                    .bind(&room.room_id)
                    .bind(event)
                    .execute(&mut *tx)
                    .await?;
            }
            if !room.timeline.is_empty() {
                sqlx::query(
                    "DELETE FROM timeline WHERE room_id = ? AND seq <= \
                     (SELECT seq FROM timeline WHERE room_id = ? ORDER BY seq DESC LIMIT 1 OFFSET ?)",
                )
                .bind(&room.room_id)
                .bind(&room.room_id)
                .bind(RECENT_EVENTS)
                .execute(&mut *tx)
                .await?;
            }
        }
        for (event_type, content) in &changes.account_data {
            put_account_data(&mut *tx, event_type, content).await?;
        }
        put_value(&mut *tx, "sync_token", &changes.next_batch).await?;
        tx.commit().await?;
        Ok(())
    }
}
