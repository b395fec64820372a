//! Typing notices live in memory: they expire within seconds and are not
//! worth a write. Each change takes a position on the typing stream.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::Duration,
};

use ruma::{OwnedRoomId, OwnedUserId, RoomId, UserId};
use tokio::time::Instant;

use tokio::sync::broadcast::error::RecvError;

use crate::{
    error::Result,
    services::{
        cluster::{Cluster, Message},
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
    cluster: Cluster,
    state: Arc<Mutex<HashMap<OwnedRoomId, RoomTyping>>>,
}

impl Typing {
    pub fn new(rooms: Rooms, notifier: Arc<Notifier>, cluster: Cluster) -> Self {
        let typing = Self { rooms, notifier, cluster, state: Arc::default() };
        typing.follow_cluster();
        typing
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
        let lasts = typing.then_some(timeout.min(MAX_TIMEOUT));
        let at = self.apply(room_id, user_id, lasts, members, 0);
        self.cluster.publish(Message::Typing {
            room: room_id.to_owned(),
            user: user_id.to_owned(),
            for_ms: lasts.map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX)),
            at,
        });
        if self.rooms.is_local(user_id) {
            let edu = serde_json::json!({
                "edu_type": "m.typing",
                "content": {"room_id": room_id, "user_id": user_id, "typing": typing},
            });
            self.rooms.send_edu_to_room(room_id, &edu).await?;
        }
        Ok(())
    }

    /// Records a notice lasting `lasts` (None: stopped), at a position past
    /// `at_least`, and wakes the members; returns the position.
    fn apply(
        &self,
        room_id: &RoomId,
        user_id: &UserId,
        lasts: Option<Duration>,
        members: Vec<OwnedUserId>,
        at_least: i64,
    ) -> i64 {
        let until = lasts.map(|lasts| Instant::now() + lasts);
        let position = self.update(room_id, user_id, until, &members, at_least);
        if let Some(until) = until {
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
                    this.update(&room_id, &user_id, None, &members, 0);
                }
            });
        }
        position
    }

    fn update(
        &self,
        room_id: &RoomId,
        user_id: &UserId,
        until: Option<Instant>,
        members: &[OwnedUserId],
        at_least: i64,
    ) -> i64 {
        let position = self.notifier.next_typing(at_least);
        {
            let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
            let room = state.entry(room_id.to_owned()).or_default();
            match until {
                Some(until) => room.until.insert(user_id.to_owned(), until),
                None => room.until.remove(user_id),
            };
            room.changed_at = position;
        }
        self.notifier.advance_here(Stream::Typing, position, members.iter().map(|u| &**u));
        position
    }

    /// Typing notices set on the other instances (typing is in memory).
    fn follow_cluster(&self) {
        if !self.cluster.enabled() {
            return;
        }
        let mut heard = self.cluster.subscribe();
        let typing = self.clone();
        tokio::spawn(async move {
            loop {
                match heard.recv().await {
                    Ok(Message::Typing { room, user, for_ms, at }) => {
                        // Apart: the room's head may be locked a while.
                        let typing = typing.clone();
                        tokio::spawn(async move {
                            let members = typing
                                .rooms
                                .with_head(&room, |head| head.joined().to_vec())
                                .await
                                .unwrap_or_default();
                            let lasts = for_ms.map(Duration::from_millis);
                            typing.apply(&room, &user, lasts, members, at);
                        });
                    }
                    Err(RecvError::Closed) => break,
                    _ => {}
                }
            }
        });
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
