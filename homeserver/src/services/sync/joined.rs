//! The joined rooms of a sync: each room's timeline (limited, with a gap
//! token), state, ephemeral events, account data, summary and unread
//! counts.

use std::collections::{BTreeMap, HashMap};

use ruma::{
    OwnedRoomId, OwnedUserId, RoomId, UInt, UserId,
    api::client::sync::sync_events::v3::{
        JoinedRoom, RoomAccountData, RoomSummary, Rooms as SyncRooms, State, StateEvents, Timeline,
    },
    events::{StateEventType, room::member::MembershipState},
};

use super::{SyncOptions, SyncService, passes, raw, sync_event, unread::Seen};
use crate::{
    error::{Error, Result},
    services::{
        auth::Requester,
        ephemeral::receipt_contents,
        notifier::Positions,
        rooms::{head::RoomHead, pdu::ClientView},
    },
    store::EventRow,
};

impl SyncService {
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn joined_rooms(
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
            .recent_events_for_user(
                user.as_str(),
                &MembershipState::Join,
                since_events,
                now.events,
                limit + 1,
            )
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
            for (room_id, event_id, pdu) in self
                .store
                .current_state_for_user_rooms(user.as_str(), &MembershipState::Join)
                .await?
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
            let shown = self.rooms.client_events_for(&rows, user, Some(device)).await?;
            for (row, event) in rows.iter().zip(shown) {
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
    pub(super) async fn ephemeral(
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
        let receipts =
            self.store.receipts_since(user.as_str(), since_receipts, now.receipts).await?;
        let by_room = receipt_contents(receipts, |reader| reader == user.as_str());
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
                summary.heroes = heroes(head, user);
                summary
            })
            .await
    }
}

/// The members a client names an unnamed room after (no name, no alias):
/// five, others than the user, picked without sorting (or copying) every
/// member of a large room. Empty for a named room.
pub(super) fn heroes(head: &RoomHead, user: &UserId) -> Vec<OwnedUserId> {
    let named = head.get(&StateEventType::RoomName, "").is_some()
        || head.get(&StateEventType::RoomCanonicalAlias, "").is_some();
    if named {
        return Vec::new();
    }
    let joined = head.joined();
    let invited = head.members_with(&[MembershipState::Invite]);
    let mut heroes: Vec<_> = joined.iter().chain(&invited).filter(|u| *u != user).collect();
    if heroes.len() > 5 {
        heroes.select_nth_unstable(5);
        heroes.truncate(5);
    }
    heroes.sort_unstable();
    heroes.into_iter().cloned().collect()
}
