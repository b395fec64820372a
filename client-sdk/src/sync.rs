//! Syncing: one request at a time, its result stored with the new token in
//! one transaction, then handed to the event handlers. A restarted client
//! continues from the stored token; it never repeats an initial sync.

use std::time::Duration;

use ruma::{
    OwnedRoomId,
    api::client::{
        filter::FilterDefinition,
        sync::sync_events::{
            self,
            v3::{State, Timeline},
        },
    },
    presence::PresenceState,
    serde::Raw,
};
use serde::Deserialize;
use serde_json::value::RawValue;

use crate::{
    client::Client,
    error::{Error, Result},
    event_handler::EventSource,
    room::Room,
    store::{RoomChanges, SyncChanges},
};

/// How one attempt of [`Client::sync_with`] went.
#[derive(Debug)]
pub enum SyncReport {
    /// The server answered; the store and the handlers have it.
    Synced(Box<sync_events::v3::Response>),
    /// The server could not be reached or failed: the next try comes
    /// after `wait`.
    Retrying {
        /// What went wrong.
        error: Error,
        /// The pause before the next try.
        wait: Duration,
    },
}

/// How to sync.
#[derive(Clone, Debug)]
pub struct SyncSettings {
    timeout: Duration,
    filter: Option<sync_events::v3::Filter>,
    full_state: bool,
    presence: PresenceState,
}

impl Default for SyncSettings {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(30),
            filter: None,
            full_state: false,
            presence: PresenceState::Online,
        }
    }
}

impl SyncSettings {
    /// Default settings: long-poll for 30 seconds.
    pub fn new() -> Self {
        Self::default()
    }

    /// How long the server may hold a sync open waiting for news.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// What syncing says of the user: online (the default), unavailable
    /// (away) or offline (not marked at all).
    pub fn presence(mut self, presence: PresenceState) -> Self {
        self.presence = presence;
        self
    }

    /// A filter for what the server sends (timeline limits, lazy-loaded
    /// members, rooms).
    pub fn filter(mut self, filter: FilterDefinition) -> Self {
        self.filter = Some(sync_events::v3::Filter::FilterDefinition(filter));
        self
    }

    /// Ask for the complete state of every room, not just what changed.
    pub fn full_state(mut self, full_state: bool) -> Self {
        self.full_state = full_state;
        self
    }
}

/// The fields of an event the store and the handlers sort by.
#[derive(Deserialize)]
struct EventKeys<'a> {
    #[serde(rename = "type", borrow)]
    event_type: std::borrow::Cow<'a, str>,
    #[serde(borrow)]
    state_key: Option<std::borrow::Cow<'a, str>>,
}

fn keys(raw: &RawValue) -> Option<EventKeys<'_>> {
    serde_json::from_str(raw.get()).ok()
}

/// What a room's events change in the store.
fn room_changes<'a>(
    room_id: &str,
    membership: &'static str,
    state: impl IntoIterator<Item = &'a RawValue>,
    timeline: &[&'a RawValue],
    limited: bool,
) -> RoomChanges {
    let mut changes = RoomChanges {
        room_id: room_id.to_owned(),
        membership,
        state: Vec::new(),
        timeline: timeline.iter().map(|raw| raw.get().to_owned()).collect(),
        limited,
    };
    for raw in state.into_iter().chain(timeline.iter().copied()) {
        if let Some(EventKeys { event_type, state_key: Some(state_key) }) = keys(raw) {
            changes.state.push((event_type.into_owned(), state_key.into_owned(), raw.get().into()));
        }
    }
    changes
}

fn state_events(state: &State) -> &[Raw<ruma::events::AnySyncStateEvent>] {
    match state {
        State::Before(events) | State::After(events) => &events.events,
        _ => &[],
    }
}

fn raws<T>(events: &[Raw<T>]) -> Vec<&RawValue> {
    events.iter().map(Raw::json).collect()
}

/// The rooms of a response that have a timeline (joined and left), with
/// the user's membership, their timeline and their state.
fn with_timelines(
    response: &sync_events::v3::Response,
) -> impl Iterator<Item = (&OwnedRoomId, &'static str, &Timeline, &State)> {
    let rooms = &response.rooms;
    let joined = rooms.join.iter().map(|(id, room)| (id, "join", &room.timeline, &room.state));
    let left = rooms.leave.iter().map(|(id, room)| (id, "leave", &room.timeline, &room.state));
    joined.chain(left)
}

/// Everything a sync response changes in the store.
fn changes_of(response: &sync_events::v3::Response) -> SyncChanges {
    let mut changes =
        SyncChanges { next_batch: response.next_batch.clone(), ..SyncChanges::default() };
    let rooms = &response.rooms;
    for (room_id, membership, timeline, state) in with_timelines(response) {
        let events = raws(&timeline.events);
        let state = raws(state_events(state));
        changes.rooms.push(room_changes(
            room_id.as_str(),
            membership,
            state,
            &events,
            timeline.limited,
        ));
    }
    for (room_id, room) in &rooms.invite {
        let state = raws(&room.invite_state.events);
        changes.rooms.push(room_changes(room_id.as_str(), "invite", state, &[], false));
    }
    for (room_id, room) in &rooms.knock {
        let state = raws(&room.knock_state.events);
        changes.rooms.push(room_changes(room_id.as_str(), "knock", state, &[], false));
    }
    for raw in &response.account_data.events {
        #[derive(Deserialize)]
        struct AccountData<'a> {
            #[serde(rename = "type")]
            event_type: String,
            #[serde(borrow)]
            content: &'a RawValue,
        }
        if let Ok(event) = serde_json::from_str::<AccountData<'_>>(raw.json().get()) {
            changes.account_data.push((event.event_type, event.content.get().to_owned()));
        }
    }
    changes
}

impl Client {
    /// Syncs once: waits up to the settings' timeout for news, stores it,
    /// runs the event handlers, and returns the server's response.
    pub async fn sync_once(&self, settings: SyncSettings) -> Result<sync_events::v3::Response> {
        let _one_at_a_time = self.inner.sync_lock.lock().await;
        let mut request = sync_events::v3::Request::new();
        request.since = self.inner.store.sync_token().await?;
        request.timeout = Some(settings.timeout);
        request.filter = settings.filter;
        request.full_state = settings.full_state;
        request.set_presence = settings.presence;
        let mut response = self.send(request).await?;
        // Room keys and decryption come first: the store and the handlers
        // see decrypted events.
        self.receive_sync(&mut response).await?;
        self.inner.store.apply_sync(&changes_of(&response)).await?;
        self.dispatch(&response).await;
        Ok(response)
    }

    /// Syncs forever, backing off (1 s doubling to a minute) while the
    /// server cannot be reached or fails; returns when the server refuses
    /// the session (logged out elsewhere, say) or the store fails.
    pub async fn sync(&self, settings: SyncSettings) -> Result<()> {
        self.sync_with(|| settings.clone(), |_| std::future::ready(true)).await
    }

    /// Syncs like [`Client::sync`], with the settings `settings` gives for
    /// each request (presence may change meanwhile), telling `report` how
    /// each attempt went; when its future says false, syncing stops (`Ok`).
    pub async fn sync_with<F, Fut>(
        &self,
        mut settings: impl FnMut() -> SyncSettings,
        mut report: F,
    ) -> Result<()>
    where
        F: FnMut(SyncReport) -> Fut,
        Fut: Future<Output = bool>,
    {
        let mut backoff = Duration::from_secs(1);
        loop {
            match self.sync_once(settings()).await {
                Ok(response) => {
                    backoff = Duration::from_secs(1);
                    if !report(SyncReport::Synced(Box::new(response))).await {
                        return Ok(());
                    }
                }
                Err(error) if retryable(&error) => {
                    tracing::warn!(%error, wait = ?backoff, "sync failed; trying again");
                    if !report(SyncReport::Retrying { error, wait: backoff }).await {
                        return Ok(());
                    }
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(60));
                }
                Err(error) => return Err(error),
            }
        }
    }

    /// Hands each event of the response to the handlers that want it.
    async fn dispatch(&self, response: &sync_events::v3::Response) {
        let handlers = match self.inner.handlers.read() {
            Ok(handlers) if !handlers.is_empty() => handlers.clone(),
            _ => return,
        };
        let rooms = &response.rooms;
        let mut batches: Vec<(EventSource, Room, Vec<&RawValue>)> = Vec::new();
        for (room_id, _, timeline, state) in with_timelines(response) {
            let mut events = raws(state_events(state));
            events.extend(raws(&timeline.events));
            batches.push((EventSource::Room, self.room(room_id.clone()), events));
        }
        for (room_id, room) in &rooms.join {
            let events = raws(&room.ephemeral.events);
            batches.push((EventSource::Ephemeral, self.room(room_id.clone()), events));
        }
        for (room_id, room) in &rooms.invite {
            let events = raws(&room.invite_state.events);
            batches.push((EventSource::Invite, self.room(room_id.clone()), events));
        }
        for (source, room, events) in batches {
            for raw in events {
                let Some(EventKeys { event_type, .. }) = keys(raw) else { continue };
                for handler in &handlers {
                    if let Some(work) = handler.call(source, &event_type, raw, &room) {
                        work.await;
                    }
                }
            }
        }
    }
}

/// Failures that may pass: the network, the server's own errors, limits.
fn retryable(error: &Error) -> bool {
    match error {
        Error::Http(_) | Error::Response(_) => true,
        Error::Api(_) => error.status().is_some_and(|status| status >= 500 || status == 429),
        _ => false,
    }
}
