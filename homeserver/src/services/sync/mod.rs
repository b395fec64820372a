//! /sync: what changed for a user since their last token. Long polls wait on
//! the notifier and wake the moment something for them is durable.

mod e2ee;
mod unread;

use std::{
    collections::{BTreeMap, HashMap},
    sync::Arc,
    time::Duration,
};

use ruma::{
    OwnedRoomId, RoomId, UInt, UserId,
    api::client::filter::{FilterDefinition, RoomEventFilter},
    api::client::sync::sync_events::v3::{
        InviteState, InvitedRoom, JoinedRoom, KnockState, KnockedRoom, LeftRoom, Response,
        RoomAccountData, RoomSummary, Rooms as SyncRooms, State, StateEvents, Timeline,
    },
    events::{StateEventType, room::member::MembershipState},
    serde::Raw,
};
use serde_json::{Value as JsonValue, value::RawValue};

use self::unread::{Seen, UnreadMemos};
use super::{
    auth::Requester,
    ephemeral::{Presence, Typing, presence::PresenceStatus},
    keys::Keys,
    notifier::{Notifier, Positions},
    rooms::{
        Rooms,
        pdu::{ClientView, Pdu},
    },
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
}

/// The `next_batch` token for stream positions `p`.
pub fn since_token(p: Positions) -> String {
    format!(
        "s{}_{}_{}_{}_{}_{}_{}",
        p.events, p.account_data, p.receipts, p.typing, p.presence, p.to_device, p.device_lists
    )
}

/// The positions a `since` token names; M_INVALID_PARAM for anything that
/// is not one (tokens of older formats, with fewer parts, still parse).
pub fn parse_since(token: &str) -> Result<Positions> {
    let invalid = || Error::invalid_param("invalid since token");
    let rest = token.strip_prefix('s').ok_or_else(invalid)?;
    let mut parts = rest.split('_').map(|p| p.parse::<i64>().map_err(|_| invalid()));
    let events = parts.next().ok_or_else(invalid)??;
    let mut next = || parts.next().transpose().map(Option::unwrap_or_default);
    Ok(Positions {
        events,
        account_data: next()?,
        receipts: next()?,
        typing: next()?,
        presence: next()?,
        to_device: next()?,
        device_lists: next()?,
    })
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
        Self { unread: Arc::default(), store, rooms, user_data, typing, presence, keys, notifier }
    }

    pub fn notifier(&self) -> &Arc<Notifier> {
        &self.notifier
    }

    pub async fn sync(&self, requester: &Requester, options: SyncOptions) -> Result<Response> {
        let since = options.since.as_deref().map(parse_since).transpose()?;
        let _open = OpenSync::new();
        let deadline = tokio::time::Instant::now() + options.timeout;
        let listener = self.notifier.listener(&requester.user_id);
        loop {
            // Armed before looking, so that a wake-up in between is kept.
            let notified = listener.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let now = self.notifier.positions();
            let response = self.build(requester, since, now, &options).await?;
            let empty = response.rooms.is_empty()
                && response.account_data.is_empty()
                && response.presence.is_empty()
                && response.to_device.events.is_empty()
                && response.device_lists.changed.is_empty()
                && response.device_lists.left.is_empty();
            if since.is_none()
                || !empty
                || options.full_state
                || tokio::time::Instant::now() >= deadline
            {
                return Ok(response);
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return Ok(response);
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
        let rooms_with = |membership: &str| -> Vec<String> {
            memberships.iter().filter(|(_, m)| m == membership).map(|(r, _)| r.clone()).collect()
        };

        // Rooms whose membership changed in the window start afresh.
        let changes = match since {
            Some(_) => {
                self.store.membership_changes(user.as_str(), since_events, now.events).await?
            }
            None => Vec::new(),
        };
        let fresh: Vec<String> = changes.iter().map(|row| row.room_id.clone()).collect();

        let joined = rooms_with("join");
        let mut seen = HashMap::new();
        response.rooms = self
            .joined_rooms(requester, since, now, options, &fresh, &joined, &ignored, &mut seen)
            .await?;
        // Invites and knocks are new only where the membership changed.
        if since.is_none() || !changes.is_empty() {
            for (room_id, events) in
                self.pending_rooms(user, &rooms_with("invite"), since.is_some(), &changes).await?
            {
                if self.invited_by_ignored(&room_id, user, &ignored).await? {
                    continue;
                }
                let mut state = InviteState::new();
                state.events = events;
                response.rooms.invite.insert(room_id, InvitedRoom::from(state));
            }
            for (room_id, events) in
                self.pending_rooms(user, &rooms_with("knock"), since.is_some(), &changes).await?
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
                let status = PresenceStatus::from_row(&row);
                let mut content = serde_json::json!({
                    "presence": status.state.as_str(),
                    "last_active_ago": status.last_active_ago_ms,
                });
                if let Some(msg) = status.status_msg {
                    content["status_msg"] = JsonValue::from(msg);
                }
                let event =
                    serde_json::json!({"type": "m.presence", "sender": row.0, "content": content});
                response.presence.events.push(raw(&event)?);
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
            } else if let Ok(room_id) = OwnedRoomId::try_from(room_id)
                && let Some(joined) = response.rooms.join.get_mut(&room_id)
            {
                joined.account_data.events.push(raw(&event)?);
            }
        }
        self.e2ee(requester, since, now, &mut response).await?;
        Ok(response)
    }

    #[allow(clippy::too_many_arguments)]
    async fn joined_rooms(
        &self,
        requester: &Requester,
        since: Option<Positions>,
        now: Positions,
        options: &SyncOptions,
        fresh: &[String],
        joined: &[String],
        ignored: &[String],
        seen: &mut HashMap<OwnedRoomId, Seen>,
    ) -> Result<SyncRooms> {
        let user = &requester.user_id;
        let limit = options.timeline_limit();
        let since_events = since.map_or(0, |s| s.events);
        let rows = self
            .store
            .recent_events_for_user(user.as_str(), "join", since_events, now.events, limit + 1)
            .await?;
        let mut timelines: BTreeMap<String, Vec<EventRow>> = BTreeMap::new();
        for row in rows {
            timelines.entry(row.room_id.clone()).or_default().push(row);
        }
        let joined: Vec<String> =
            joined.iter().filter(|room| options.wants_room(room)).cloned().collect();
        let needs_state =
            |room: &String| since.is_none() || options.full_state || fresh.contains(room);
        let limited_somewhere = timelines.values().any(|rows| rows.len() as i64 > limit);
        // (event id, stored text) of each room's state.
        let mut states: BTreeMap<String, Vec<(String, String)>> = BTreeMap::new();
        if limited_somewhere || joined.iter().any(needs_state) {
            for (room_id, event_id, pdu) in
                self.store.current_state_for_user_rooms(user.as_str(), "join").await?
            {
                states.entry(room_id).or_default().push((event_id, pdu));
            }
        }

        let mut rooms = SyncRooms::new();
        // Timelines are gathered first so that relations are bundled with
        // one query for all rooms.
        let mut timeline_events = Vec::new();
        let mut timeline_rooms = Vec::new();
        let mut order = Vec::new();
        for room_id in joined {
            let mut rows = timelines.remove(&room_id).unwrap_or_default();
            let initial = needs_state(&room_id);
            if rows.is_empty() && !initial {
                continue;
            }
            let limited = rows.len() as i64 > limit;
            if limited {
                rows.remove(0);
            }
            let mut room = JoinedRoom::new();
            room.timeline = Timeline::new();
            room.timeline.limited = limited;
            room.timeline.prev_batch = Some(match rows.first() {
                Some(first) => crate::services::rooms::history_token(first.stream - 1),
                None => crate::services::rooms::history_token(now.events),
            });
            let device = requester.device_id.as_str();
            let mut in_timeline: Vec<String> = Vec::new();
            let mut senders = vec![user.to_string()];
            let mut room_seen =
                Seen { latest: rows.last().map(|row| row.stream), ..Seen::default() };
            for row in &rows {
                let event = self.rooms.client_event(row, Some((user, device)))?;
                let sender = event["sender"].as_str();
                let from_ignored = sender.is_some_and(|s| ignored.iter().any(|i| i == s));
                if passes(&options.filter.room.timeline, &event) && !from_ignored {
                    let countable = sender != Some(user.as_str())
                        && event.get("state_key").is_none()
                        && row.redacted_by.is_none();
                    room_seen.events.push((row.stream, countable));
                    senders.extend(sender.map(str::to_owned));
                    in_timeline.push(row.event_id.clone());
                    timeline_events.push(event);
                }
            }
            if !limited && room_seen.events.len() == rows.len() {
                room_seen.complete_after = Some(since_events);
            }
            timeline_rooms.push(in_timeline.len());
            if initial || limited {
                let mut events = Vec::new();
                for (event_id, text) in states.get(&room_id).into_iter().flatten() {
                    let view = ClientView::from_stored(event_id, &room_id, text)?;
                    // Lazy loading sends only the members the timeline needs.
                    let needless_member = options.lazy_members()
                        && view.kind == "m.room.member"
                        && !view.state_key.as_ref().is_some_and(|k| senders.iter().any(|s| s == k));
                    let shown = in_timeline.iter().any(|id| id == event_id);
                    if !shown && !needless_member {
                        events.push(raw(&sync_event(view.to_json(None)))?);
                    }
                }
                let mut state = StateEvents::new();
                state.events = events;
                room.state = State::Before(state);
            }
            let room_id = RoomId::parse(&room_id).map_err(Error::internal)?;
            room.summary = self.summary(&room_id, user).await?;
            room.account_data = RoomAccountData::new();
            seen.insert(room_id.clone(), room_seen);
            order.push(room_id.clone());
            rooms.join.insert(room_id, room);
        }
        self.rooms.bundle_relations(&mut timeline_events, user).await?;
        let mut events = timeline_events.into_iter();
        for (room_id, count) in order.into_iter().zip(timeline_rooms) {
            if let Some(room) = rooms.join.get_mut(&room_id) {
                for event in events.by_ref().take(count) {
                    room.timeline.events.push(raw(&sync_event(event))?);
                }
            }
        }
        Ok(rooms)
    }

    /// Typing notices and receipts of the user's joined rooms.
    async fn ephemeral(
        &self,
        user: &UserId,
        since: Option<Positions>,
        now: Positions,
        joined: &[String],
        rooms: &mut SyncRooms,
    ) -> Result<()> {
        let joined: Vec<OwnedRoomId> =
            joined.iter().filter_map(|r| OwnedRoomId::try_from(r.as_str()).ok()).collect();
        // Typing positions restart with the server: an older token sees all.
        let since_typing = since.map_or(0, |s| if s.typing > now.typing { 0 } else { s.typing });
        for (room_id, users) in self.typing.changes_since(since_typing, &joined) {
            let event = serde_json::json!({"type": "m.typing", "content": {"user_ids": users}});
            rooms.join.entry(room_id).or_default().ephemeral.events.push(raw(&event)?);
        }
        if since.is_some_and(|s| s.receipts >= now.receipts) {
            return Ok(());
        }
        let since_receipts = since.map_or(0, |s| s.receipts);
        let mut by_room: BTreeMap<String, JsonValue> = BTreeMap::new();
        for (room_id, reader, kind, thread, event_id, ts) in
            self.store.receipts_since(user.as_str(), since_receipts, now.receipts).await?
        {
            if kind == "m.read.private" && reader != user.as_str() {
                continue;
            }
            let mut receipt = serde_json::json!({"ts": ts});
            if !thread.is_empty() {
                receipt["thread_id"] = JsonValue::from(thread);
            }
            let content = by_room.entry(room_id).or_insert_with(|| serde_json::json!({}));
            content[&event_id][&kind][&reader] = receipt;
        }
        for (room_id, content) in by_room {
            let Ok(room_id) = OwnedRoomId::try_from(room_id) else { continue };
            let event = serde_json::json!({"type": "m.receipt", "content": content});
            rooms.join.entry(room_id).or_default().ephemeral.events.push(raw(&event)?);
        }
        Ok(())
    }

    async fn summary(&self, room_id: &RoomId, user: &UserId) -> Result<RoomSummary> {
        self.rooms
            .with_head(room_id, |head| {
                let joined = head.joined();
                let invited = head.members_with(&[MembershipState::Invite]);
                let mut summary = RoomSummary::new();
                summary.joined_member_count = UInt::try_from(joined.len() as u64).ok();
                summary.invited_member_count = UInt::try_from(invited.len() as u64).ok();
                let has_name = head.get(&StateEventType::RoomName, "").is_some()
                    || head.get(&StateEventType::RoomCanonicalAlias, "").is_some();
                if !has_name {
                    // The five first by id, picked without sorting (or
                    // copying) every member of a large room.
                    let mut heroes: Vec<_> =
                        joined.iter().chain(&invited).filter(|u| *u != user).collect();
                    if heroes.len() > 5 {
                        heroes.select_nth_unstable(5);
                        heroes.truncate(5);
                    }
                    heroes.sort_unstable();
                    summary.heroes = heroes.into_iter().cloned().collect();
                }
                summary
            })
            .await
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
            let events = self
                .rooms
                .with_head(&room_id, |head| {
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
            rooms.push((room_id, events.iter().map(raw).collect::<Result<_>>()?));
        }
        Ok(rooms)
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
                || forgotten.contains(&room_id)
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
