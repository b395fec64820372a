//! Which rooms this instance writes. A room's events are built on its head
//! in one instance's memory, so one instance at a time may write it: the
//! `room_writers` row says which. Another instance that needs the room
//! asks for it and waits until it is handed over (or until the owner is
//! found dead: its advisory lock is gone); the writer's batches check the
//! rows, so a room taken from a stalled instance is never written twice.

use std::{
    collections::{HashMap, HashSet},
    sync::{Arc, Mutex},
    time::Duration,
};

use ruma::{OwnedRoomId, RoomId};
use tokio::sync::Notify;

use super::{Cluster, Message};
use crate::error::{Error, Result};

/// How long a request for a room waits for an answer before asking again
/// (the owner may have died without a word).
const ASK_AGAIN: Duration = Duration::from_millis(250);
/// How long a write waits for its room before giving up.
const GIVE_UP: Duration = Duration::from_secs(10);

#[derive(Default)]
pub(super) struct RoomWriters {
    /// The rooms this instance writes (as far as it knows: the batch
    /// check has the last word).
    owned: Mutex<HashSet<OwnedRoomId>>,
    /// Writes waiting for a room to be handed here.
    waiting: Mutex<HashMap<OwnedRoomId, Arc<Notify>>>,
}

impl Cluster {
    /// Makes sure this instance writes the room before an event is built
    /// on its head; true when it was not so (the head in memory, if any,
    /// is out of date and must be read again). M_NOT_FOUND for a room the
    /// server does not know, unless `new_room` (being created or joined).
    pub async fn become_writer(&self, room_id: &RoomId, new_room: bool) -> Result<bool> {
        let inner = &self.inner;
        if !inner.enabled || self.writes(room_id) {
            return Ok(false);
        }
        let deadline = tokio::time::Instant::now() + GIVE_UP;
        loop {
            let waiter = {
                let mut waiting = inner.writers.waiting.lock().unwrap_or_else(|e| e.into_inner());
                waiting.entry(room_id.to_owned()).or_default().clone()
            };
            let handed = waiter.notified();
            tokio::pin!(handed);
            handed.as_mut().enable();
            let writer = inner
                .store
                .take_room_writer(room_id.as_str(), inner.id, new_room)
                .await?
                .ok_or_else(|| Error::not_found("unknown room"))?;
            if writer == inner.id {
                self.owned().insert(room_id.to_owned());
                inner.writers.waiting.lock().unwrap_or_else(|e| e.into_inner()).remove(room_id);
                metrics::counter!("lattice_room_writer_moves_total").increment(1);
                return Ok(true);
            }
            self.publish(Message::Release {
                room: room_id.to_owned(),
                owner: writer,
                to: inner.id,
            });
            if tokio::time::Instant::now() >= deadline {
                tracing::warn!(room = %room_id, writer, "the room's writer did not hand it over in time");
                return Err(Error::RoomMoving(room_id.to_string()));
            }
            let _ = tokio::time::timeout(ASK_AGAIN, handed).await;
        }
    }

    /// Whether this instance writes the room (always, on SQLite).
    pub fn writes(&self, room_id: &RoomId) -> bool {
        !self.inner.enabled || self.owned().contains(room_id)
    }

    /// Stops counting the room as this instance's (handed over, or its
    /// batch check failed); the next write asks the database again.
    pub fn forget_writer(&self, room_id: &RoomId) {
        self.owned().remove(room_id);
    }

    /// Forgets every room (after a lost connection, when another instance
    /// may have taken any of them).
    pub fn forget_all_writers(&self) {
        self.owned().clear();
    }

    /// Wakes the writes waiting for a room another instance handed here.
    pub fn room_handed(&self, room_id: &RoomId) {
        let waiting = self.inner.writers.waiting.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(waiter) = waiting.get(room_id) {
            waiter.notify_waiters();
        }
    }

    /// Hands a room this instance writes to instance `to` (the caller has
    /// finished every write of it) and tells it so.
    pub async fn hand_over(&self, room_id: &RoomId, to: i32) -> Result<()> {
        self.forget_writer(room_id);
        let result = self.inner.store.hand_room_writer(room_id.as_str(), self.inner.id, to).await;
        // Told even when it was not ours to give: the asker looks again.
        self.publish(Message::Handed { room: room_id.to_owned(), to });
        result.map(|_| ())
    }

    fn owned(&self) -> std::sync::MutexGuard<'_, HashSet<OwnedRoomId>> {
        self.inner.writers.owned.lock().unwrap_or_else(|e| e.into_inner())
    }
}
