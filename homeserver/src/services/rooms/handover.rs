//! Rooms among several instances: an event is built on a room's head only
//! in the instance that writes the room now (`cluster::writers`); the head
//! another instance keeps for reading is dropped when that room is written
//! elsewhere, and read again when next needed.

use ruma::{OwnedRoomId, RoomId};
use tokio::sync::{OwnedMutexGuard, broadcast::error::RecvError};

use super::{Rooms, head::RoomHead};
use crate::{
    error::Result,
    services::cluster::{Cluster, Message},
};

impl Rooms {
    /// Locks a room's head to build events on it: with other instances on
    /// the database, this one first becomes the room's writer (and reads
    /// again what the previous writer changed). `new_room`: the room is
    /// being created or joined, so the database may not know it yet.
    pub(super) async fn lock_for_write(
        &self,
        room_id: &RoomId,
        new_room: bool,
    ) -> Result<OwnedMutexGuard<Option<RoomHead>>> {
        // The lock first: a request for the room from another instance
        // (`release`) waits for it, so a room that just moved here is
        // written here at least once before it can move on (no two
        // instances handing a busy room back and forth unused).
        let mut guard = self.slot(room_id).lock_owned().await;
        if self.inner.cluster.become_writer(room_id, new_room).await? {
            guard.take();
            self.inner.writer.forget_room(room_id.as_str());
        }
        Ok(guard)
    }

    /// Follows what the other instances say about rooms.
    pub(super) fn follow_cluster(&self, cluster: &Cluster) {
        if !cluster.enabled() {
            return;
        }
        let mut heard = cluster.subscribe();
        let rooms = self.clone();
        tokio::spawn(async move {
            loop {
                match heard.recv().await {
                    Ok(Message::Release { room, owner, to }) if owner == rooms.cluster().id() => {
                        let rooms = rooms.clone();
                        tokio::spawn(async move { rooms.release(&room, to).await });
                    }
                    Ok(Message::Handed { room, to }) if to == rooms.cluster().id() => {
                        rooms.cluster().room_handed(&room);
                    }
                    Ok(Message::Advance { rooms: written, .. }) => {
                        rooms.written_elsewhere(written);
                    }
                    Ok(Message::Resync) | Err(RecvError::Lagged(_)) => {
                        rooms.cluster().forget_all_writers();
                        rooms.written_elsewhere(None);
                    }
                    Ok(_) => {}
                    Err(RecvError::Closed) => break,
                }
            }
        });
    }

    fn cluster(&self) -> &Cluster {
        &self.inner.cluster
    }

    /// Hands a room this instance writes to another that asked for it,
    /// once every event already built on its head is committed.
    async fn release(&self, room_id: &RoomId, to: i32) {
        let mut guard = self.slot(room_id).lock_owned().await;
        let flushed = self.inner.writer.flush().await;
        guard.take();
        if let Err(error) = flushed.and(self.cluster().hand_over(room_id, to).await) {
            tracing::warn!(%error, room = %room_id, "could not hand the room over");
        }
    }

    /// Drops the heads of rooms another instance wrote (of every room this
    /// instance does not write, when `written` is absent).
    fn written_elsewhere(&self, written: Option<Vec<OwnedRoomId>>) {
        let slots: Vec<_> = {
            let heads = self.inner.heads.lock().unwrap_or_else(|e| e.into_inner());
            match &written {
                Some(rooms) => rooms
                    .iter()
                    .filter_map(|room| Some((room.clone(), heads.get(room)?.clone())))
                    .collect(),
                None => heads.iter().map(|(room, slot)| (room.clone(), slot.clone())).collect(),
            }
        };
        for (room, slot) in slots {
            // Never waits here: a write holding the lock may be waiting for
            // a handover this task must hear of.
            match slot.clone().try_lock_owned() {
                Ok(mut head) => self.drop_unless_writer(&room, &mut head),
                Err(_) => {
                    let rooms = self.clone();
                    tokio::spawn(async move {
                        let mut head = slot.lock_owned().await;
                        rooms.drop_unless_writer(&room, &mut head);
                    });
                }
            }
        }
    }

    /// Drops a head (held locked) unless this instance writes the room:
    /// then the head is the truth, with events perhaps not committed yet.
    fn drop_unless_writer(&self, room_id: &RoomId, head: &mut Option<RoomHead>) {
        if !self.cluster().writes(room_id) {
            head.take();
        }
    }
}
