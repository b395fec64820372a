//! Forgetting rooms and history, as Synapse's admin API does: purging a
//! room's old messages (its state stays), and purging a shut-down room
//! entirely.

use ruma::{EventId, RoomId, UserId};
use serde_json::json;

use super::Admin;
use crate::error::{Error, Result};

/// Where a history purge stops.
pub enum PurgePoint<'a> {
    /// Everything before this event.
    Event(&'a EventId),
    /// Everything sent before this time (ms since the epoch).
    Timestamp(i64),
}

impl Admin {
    /// Deletes a room's messages before a point; state events stay, and so
    /// do this server's users' messages unless `delete_local`. Returns the
    /// purge id its status is asked by (it is done when this returns).
    pub async fn purge_history(
        &self,
        admin: &UserId,
        room_id: &RoomId,
        up_to: PurgePoint<'_>,
        delete_local: bool,
    ) -> Result<String> {
        self.room(room_id).await?;
        let row = match up_to {
            PurgePoint::Event(event_id) => self.store.event(event_id.as_str()).await?,
            PurgePoint::Timestamp(ts) => {
                self.store.event_near_time(room_id.as_str(), ts, true).await?
            }
        };
        let before = match row {
            Some(row) if row.room_id == room_id.as_str() => row.stream,
            Some(_) => return Err(Error::not_found("that event is not in this room")),
            // A time after the last event: everything before it goes.
            None if matches!(up_to, PurgePoint::Timestamp(_)) => i64::MAX,
            None => return Err(Error::not_found("no such event")),
        };
        let local = format!(":{}", self.config.server.server_name);
        let removed =
            self.store.purge_history(room_id.as_str(), before, delete_local, &local).await?;
        let purge_id = crate::services::auth::tokens::random_letters(16)?;
        self.purges.lock().unwrap_or_else(|e| e.into_inner()).insert(purge_id.clone(), "complete");
        let details = json!({"room_id": room_id, "removed_events": removed, "delete_local_events": delete_local});
        self.auth.security().audit("purge_history", Some(admin.as_str()), details).await?;
        Ok(purge_id)
    }

    /// The status of a purge this process ran.
    pub fn purge_status(&self, purge_id: &str) -> Result<&'static str> {
        let purges = self.purges.lock().unwrap_or_else(|e| e.into_inner());
        purges.get(purge_id).copied().ok_or_else(|| Error::not_found("no such purge"))
    }

    /// Deletes everything of a room (after it was shut down).
    pub(super) async fn purge_room(&self, admin: &UserId, room_id: &RoomId) -> Result<()> {
        self.store.purge_room(room_id.as_str()).await?;
        self.rooms.evict(room_id).await;
        let details = json!({"room_id": room_id});
        self.auth.security().audit("purge_room", Some(admin.as_str()), details).await
    }
}
