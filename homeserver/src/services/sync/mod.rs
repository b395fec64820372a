//! /sync: what changed for a user since their last token. Long polls wait on
//! the notifier and wake the moment something for them is durable.

mod e2ee;
mod joined;
mod peek;
mod sliding;
mod token;
mod unread;

use std::{
    collections::{BTreeMap, HashMap},
    sync::Arc,
    time::Duration,
};

use ruma::{
    OwnedRoomId, RoomId, UserId,
    api::client::filter::{FilterDefinition, RoomEventFilter},
    api::client::sync::sync_events::v3::{
        InviteState, InvitedRoom, KnockState, KnockedRoom, LeftRoom, Response, Rooms as SyncRooms,
    },
    events::{StateEventType, room::member::MembershipState},
    serde::Raw,
};
use serde_json::{Value as JsonValue, value::RawValue};

use self::unread::UnreadMemos;
pub use self::{
    sliding::SlidingRequest,
    token::{parse_since, since_token},
};
use super::{
    auth::Requester,
    cache::TtlCache,
    ephemeral::{Presence, Typing, presence::PresenceStatus},
    keys::Keys,
    notifier::{Notifier, Positions},
    rooms::{Rooms, pdu::Pdu},
    user_data::UserData,
};
use crate::{
    error::{Error, Result},
    store::{EventRow, Store},
};

/// What a sync request asked for.
#[derive(Debug, Clone, Default)]
pub struct SyncOptions {
    pub since: Option<String>,
    pub timeout: Duration,
    pub full_state: bool,
    pub filter: FilterDefinition,
}

impl SyncOptions {
    fn timeline_limit(&self) -> i64 {
        self.filter.room.timeline.limit.map_or(10, |l| u64::from(l).clamp(1, 100) as i64)
    }

    /// Whether the room filter lets this room through.
    fn wants_room(&self, room_id: &str) -> bool {
        let room = &self.filter.room;
        room.rooms.as_ref().is_none_or(|rooms| rooms.iter().any(|r| r.as_str() == room_id))
            && !room.not_rooms.iter().any(|r| r.as_str() == room_id)
    }

    fn lazy_members(&self) -> bool {
        !self.filter.room.state.lazy_load_options.is_disabled()
    }
}

/// Whether an event passes a room event filter's type and sender lists
/// (`*` ends a type prefix).
fn passes(filter: &RoomEventFilter, event: &JsonValue) -> bool {
    let kind = event["type"].as_str().unwrap_or_default();
    let sender = event["sender"].as_str().unwrap_or_default();
    let type_matches = |pattern: &String| match pattern.strip_suffix('*') {
        Some(prefix) => kind.starts_with(prefix),
        None => kind == pattern,
    };
    filter.types.as_ref().is_none_or(|types| types.iter().any(type_matches))
        && !filter.not_types.iter().any(type_matches)
        && filter
            .senders
            .as_ref()
            .is_none_or(|senders| senders.iter().any(|s| s.as_str() == sender))
        && !filter.not_senders.iter().any(|s| s.as_str() == sender)
}

/// Counts a sync request as open until it answers (or its client leaves).
struct OpenSync;

impl OpenSync {
    fn new() -> Self {
        metrics::gauge!("lattice_sync_connections").increment(1.0);
        Self
    }
}

impl Drop for OpenSync {
    fn drop(&mut self) {
        metrics::gauge!("lattice_sync_connections").decrement(1.0);
    }
}

#[derive(Clone)]
pub struct SyncService {
    unread: Arc<UnreadMemos>,
    store: Store,
    rooms: Rooms,
    user_data: UserData,
    typing: Typing,
    presence: Presence,
    keys: Keys,
    notifier: Arc<Notifier>,
    /// Sliding sync positions known in memory.
    positions: Arc<TtlCache<String, Arc<sliding::KnownPosition>>>,
}

fn raw<T>(value: &JsonValue) -> Result<Raw<T>> {
    let text = serde_json::to_string(value).map_err(Error::internal)?;
    Ok(Raw::from_json(RawValue::from_string(text).map_err(Error::internal)?))
}

/// Sync's event format leaves out the room id.
fn sync_event(mut event: JsonValue) -> JsonValue {
    if let Some(object) = event.as_object_mut() {
        object.remove("room_id");
    }
    event
}

impl SyncService {
    pub fn new(
        store: Store,
        rooms: Rooms,
        user_data: UserData,
        typing: Typing,
        presence: Presence,
        keys: Keys,
        notifier: Arc<Notifier>,
    ) -> Self {
        let positions = Arc::new(sliding::position_cache());
        Self {
            unread: Arc::default(),
            store,
            rooms,
            user_data,
            typing,
            presence,
            keys,
            notifier,
            positions,
        }
    }

    pub fn notifier(&self) -> &Arc<Notifier> {
        &self.notifier
    }

    pub async fn sync(&self, requester: &Requester, options: SyncOptions) -> Result<Response> {
        let since = options.since.as_deref().map(parse_since).transpose()?;
        let (response, _) = self
            .long_poll(
                &requester.user_id,
                options.timeout,
                |now| self.build(requester, since, now, &options),
                |response| {
                    let empty = response.rooms.is_empty()
                        && response.account_data.is_empty()
                        && response.presence.is_empty()
                        && response.to_device.events.is_empty()
                        && response.device_lists.changed.is_empty()
                        && response.device_lists.left.is_empty();
                    since.is_none() || !empty || options.full_state
                },
            )
            .await?;
        Ok(response)
    }

    /// A long poll: builds an answer at the streams' positions now, gives
    /// it at once when `ready` says so, else waits for the user's next
    /// wake-up (or `timeout`) and builds again. Returns the answer and the
    /// positions it was built at.
    async fn long_poll<T, Fut>(
        &self,
        user: &UserId,
        timeout: Duration,
        mut build: impl FnMut(Positions) -> Fut,
        ready: impl Fn(&T) -> bool,
    ) -> Result<(T, Positions)>
    where
        Fut: Future<Output = Result<T>>,
    {
        let _open = OpenSync::new();
        let deadline = tokio::time::Instant::now() + timeout;
        let listener = self.notifier.listener(user);
        loop {
            // Armed before looking, so that a wake-up in between is kept.
            let notified = listener.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let now = self.notifier.positions();
            let answer = build(now).await?;
            if ready(&answer)
                || tokio::time::Instant::now() >= deadline
                || tokio::time::timeout_at(deadline, notified).await.is_err()
            {
                return Ok((answer, now));
            }
        }
    }

    async fn build(
        &self,
        requester: &Requester,
        since: Option<Positions>,
        now: Positions,
        options: &SyncOptions,
    ) -> Result<Response> {
        let user = &requester.user_id;
        let since_events = since.map_or(0, |s| s.events);
        let mut response = Response::new(since_token(now));
        let memberships = self.store.memberships(user.as_str()).await?;
        let ignored = self.user_data.ignored_users(user).await?;
        let rooms_with = |membership: MembershipState| -> Vec<String> {
            let wanted = membership.as_str();
            memberships.iter().filter(|(_, m)| m == wanted).map(|(r, _)| r.clone()).collect()
        };

        // Rooms whose membership changed in the window start afresh.
        let changes = match since {
            Some(_) => {
                self.store.membership_changes(user.as_str(), since_events, now.events).await?
            }
            None => Vec::new(),
        };
        let fresh: Vec<String> = changes.iter().map(|row| row.room_id.clone()).collect();

        let joined = rooms_with(MembershipState::Join);
        let mut seen = HashMap::new();
        response.rooms = self
            .joined_rooms(requester, since, now, options, &fresh, &joined, &ignored, &mut seen)
            .await?;
        // Invites and knocks are new only where the membership changed.
        if since.is_none() || !changes.is_empty() {
            for (room_id, events) in self
                .pending_rooms(
                    user,
                    &rooms_with(MembershipState::Invite),
                    since.is_some(),
                    &changes,
                )
                .await?
            {
                if self.invited_by_ignored(&room_id, user, &ignored).await? {
                    continue;
                }
                let mut state = InviteState::new();
                state.events = events;
                response.rooms.invite.insert(room_id, InvitedRoom::from(state));
            }
            for (room_id, events) in self
                .pending_rooms(user, &rooms_with(MembershipState::Knock), since.is_some(), &changes)
                .await?
            {
                let mut state = KnockState::new();
                state.events = events;
                response.rooms.knock.insert(room_id, KnockedRoom::from(state));
            }
        }
        self.leaves(user, since, now, options, &changes, &mut response.rooms).await?;

        self.ephemeral(user, since, now, &joined, &mut response.rooms).await?;
        self.unread_counts(user, now.events, &seen, &mut response.rooms).await?;
        // Each stream is read only when it moved.
        if self.presence.enabled() && since.is_none_or(|s| s.presence < now.presence) {
            let since_presence = since.map_or(0, |s| s.presence);
            for row in
                self.store.presence_since(user.as_str(), since_presence, now.presence).await?
            {
                response.presence.events.push(raw(&PresenceStatus::event(&row))?);
            }
        }

        let since_data = since.map_or(0, |s| s.account_data);
        let data_moved = since.is_none_or(|s| s.account_data < now.account_data);
        let changed_data = match data_moved {
            true => self.store.account_data_since(user.as_str(), since_data).await?,
            false => Vec::new(),
        };
        for (room_id, kind, content) in changed_data {
            let event = serde_json::json!({
                "type": kind,
                "content": serde_json::from_str::<JsonValue>(&content).unwrap_or_default(),
            });
            if room_id.is_empty() {
                response.account_data.events.push(raw(&event)?);
            } else if joined.contains(&room_id)
                && let Ok(room_id) = OwnedRoomId::try_from(room_id)
            {
                // A room whose only news is its account data (tags) is listed for it.
                let room = response.rooms.join.entry(room_id).or_default();
                room.account_data.events.push(raw(&event)?);
            }
        }
        self.e2ee(requester, since, now, &mut response).await?;
        Ok(response)
    }

    async fn invited_by_ignored(
        &self,
        room_id: &RoomId,
        user: &UserId,
        ignored: &[String],
    ) -> Result<bool> {
        if ignored.is_empty() {
            return Ok(false);
        }
        self.rooms
            .with_head(room_id, |head| {
                head.get(&StateEventType::RoomMember, user.as_str())
                    .is_some_and(|invite| ignored.iter().any(|i| i == invite.sender.as_str()))
            })
            .await
    }

    /// Rooms the user is invited to or knocking on, with the stripped state
    /// a client shows before joining (new ones only, when incremental).
    async fn pending_rooms(
        &self,
        user: &UserId,
        candidates: &[String],
        incremental: bool,
        changes: &[EventRow],
    ) -> Result<Vec<(OwnedRoomId, Vec<Raw<ruma::events::AnyStrippedStateEvent>>)>> {
        let mut rooms = Vec::new();
        for room_id in candidates {
            if incremental && !changes.iter().any(|row| &row.room_id == room_id) {
                continue;
            }
            let room_id = OwnedRoomId::try_from(room_id.as_str()).map_err(Error::internal)?;
            let events = self.invite_state(user, &room_id).await?;
            rooms.push((room_id, events));
        }
        Ok(rooms)
    }

    /// The stripped state a client shows of a room before joining it: the
    /// room's name, avatar, join rule and the like, and the user's own
    /// membership.
    async fn invite_state(
        &self,
        user: &UserId,
        room_id: &RoomId,
    ) -> Result<Vec<Raw<ruma::events::AnyStrippedStateEvent>>> {
        let events = self
            .rooms
            .with_head(room_id, |head| {
                let mut events: Vec<JsonValue> = head
                    .state()
                    .values()
                    .filter(|pdu| {
                        crate::services::rooms::INVITE_STATE
                            .contains(&pdu.kind.to_string().as_str())
                    })
                    .map(|pdu| stripped(pdu))
                    .collect();
                if let Some(member) = head.get(&StateEventType::RoomMember, user.as_str()) {
                    events.push(stripped(member));
                }
                events
            })
            .await?;
        events.iter().map(raw).collect()
    }

    #[allow(clippy::too_many_arguments)]
    async fn leaves(
        &self,
        user: &UserId,
        since: Option<Positions>,
        now: Positions,
        options: &SyncOptions,
        changes: &[EventRow],
        rooms: &mut SyncRooms,
    ) -> Result<()> {
        let candidates: Vec<EventRow> = if since.is_some() {
            changes.to_vec()
        } else if options.filter.room.include_leave {
            self.store.membership_changes(user.as_str(), 0, now.events).await?
        } else {
            return Ok(());
        };
        if candidates.is_empty() {
            return Ok(());
        }
        let forgotten = self.store.forgotten_rooms(user.as_str()).await?;
        // The last change of each room decides.
        let mut last: BTreeMap<String, EventRow> = BTreeMap::new();
        for row in candidates {
            last.insert(row.room_id.clone(), row);
        }
        for (room_id, row) in last.into_iter().filter(|(room, _)| options.wants_room(room)) {
            let membership =
                crate::services::rooms::pdu::stored_content_str(&row.pdu, "membership");
            if !matches!(membership.as_deref(), Some("leave" | "ban"))
                || forgotten.iter().any(|room| room.as_str() == room_id)
            {
                continue;
            }
            let room_id = RoomId::parse(&room_id).map_err(Error::internal)?;
            let mut left = LeftRoom::new();
            left.timeline.events.push(raw(&sync_event(self.rooms.client_event(&row, None)?))?);
            left.timeline.prev_batch = Some(crate::services::rooms::history_token(row.stream - 1));
            rooms.leave.insert(room_id, left);
        }
        Ok(())
    }
}

/// The stripped form of a state event shown with invites.
fn stripped(pdu: &Pdu) -> JsonValue {
    serde_json::json!({
        "type": pdu.kind.to_string(),
        "state_key": pdu.state_key,
        "sender": pdu.sender,
        "content": pdu.content_value(),
    })
}
