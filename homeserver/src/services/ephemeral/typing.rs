//! Typing notices live in memory: they expire within seconds and are not
//! worth a write. Each change takes a position on the typing stream.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::Duration,
};

use ruma::{OwnedRoomId, OwnedUserId, RoomId, UserId};
use tokio::time::Instant;

use crate::{
    error::Result,
    services::{
        notifier::{Notifier, Stream},
        rooms::Rooms,
    },
};

/// Longest a typing notice lasts without being renewed.
const MAX_TIMEOUT: Duration = Duration::from_secs(120);

#[derive(Default)]
struct RoomTyping {
    until: HashMap<OwnedUserId, Instant>,
    changed_at: i64,
}

#[derive(Clone)]
pub struct Typing {
    rooms: Rooms,
    notifier: Arc<Notifier>,
    state: Arc<Mutex<HashMap<OwnedRoomId, RoomTyping>>>,
}

impl Typing {
    pub fn new(rooms: Rooms, notifier: Arc<Notifier>) -> Self {
        Self { rooms, notifier, state: Arc::default() }
    }

    /// PUT /rooms/{id}/typing/{user}: only joined members, only for themselves.
    pub async fn set(
        &self,
        room_id: &RoomId,
        user_id: &UserId,
        typing: bool,
        timeout: Duration,
    ) -> Result<()> {
        let members = self.rooms.joined_audience(room_id, user_id).await?;
        let until = Instant::now() + timeout.min(MAX_TIMEOUT);
        self.update(room_id, user_id, typing.then_some(until), &members);
        if self.rooms.is_local(user_id) {
            let edu = serde_json::json!({
                "edu_type": "m.typing",
                "content": {"room_id": room_id, "user_id": user_id, "typing": typing},
            });
            self.rooms.send_edu_to_room(room_id, &edu).await?;
        }
        if typing {
            // One timer per notice ends it unless it was renewed meanwhile.
            let this = self.clone();
            let (room_id, user_id) = (room_id.to_owned(), user_id.to_owned());
            tokio::spawn(async move {
                tokio::time::sleep_until(until).await;
                let expired = {
                    let state = this.state.lock().unwrap_or_else(|e| e.into_inner());
                    state
                        .get(&room_id)
                        .and_then(|r| r.until.get(&user_id))
                        .is_some_and(|u| *u <= until)
                };
                if expired {
                    this.update(&room_id, &user_id, None, &members);
                }
            });
        }
        Ok(())
    }

    fn update(
        &self,
        room_id: &RoomId,
        user_id: &UserId,
        until: Option<Instant>,
        members: &[OwnedUserId],
    ) {
        let position = self.notifier.next_typing();
        {
            let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
            let room = state.entry(room_id.to_owned()).or_default();
            match until {
                Some(until) => room.until.insert(user_id.to_owned(), until),
                None => room.until.remove(user_id),
            };
            room.changed_at = position;
        }
        self.notifier.advance(Stream::Typing, position, members.iter().map(|u| &**u));
    }

    /// For each of `rooms` whose typing changed after `since`: who types now.
    pub fn changes_since(
        &self,
        since: i64,
        rooms: &[OwnedRoomId],
    ) -> Vec<(OwnedRoomId, Vec<OwnedUserId>)> {
        let now = Instant::now();
        let state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        rooms
            .iter()
            .filter_map(|room_id| Some((room_id.clone(), state.get(room_id)?.typing(since, now)?)))
            .collect()
    }

    /// Every room whose typing changed after `since`, with who types now
    /// (for application services, which see many rooms).
    pub fn all_changes_since(&self, since: i64) -> Vec<(OwnedRoomId, Vec<OwnedUserId>)> {
        let now = Instant::now();
        let state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        state
            .iter()
            .filter_map(|(room_id, room)| Some((room_id.clone(), room.typing(since, now)?)))
            .collect()
    }
}

impl RoomTyping {
    /// Who types at `now`, if the room changed after `since`.
    fn typing(&self, since: i64, now: Instant) -> Option<Vec<OwnedUserId>> {
        if self.changed_at <= since {
            return None;
        }
        let mut users: Vec<_> =
            self.until.iter().filter(|(_, until)| **until > now).map(|(u, _)| u.clone()).collect();
        users.sort();
        Some(users)
    }
}
