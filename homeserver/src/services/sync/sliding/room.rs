//! What a sliding sync answer says of each room: a room first sent (or
//! sent again after its membership changed) comes whole, its newest events
//! and the state the client asked for; a room sent before comes only when
//! something happened in it, with the events since and the state they
//! changed. The client reads state only from `required_state`, never from
//! the timeline, so every state change it asked for is there.

use std::{
    collections::{BTreeMap, BTreeSet, HashMap, HashSet},
    sync::Arc,
};

use ruma::{
    JsOption, OwnedMxcUri, OwnedRoomId, OwnedUserId, RoomId, UInt, UserId,
    api::client::sync::sync_events::v5::response::{Hero, Room},
    events::{StateEventType, room::member::MembershipState},
};
use serde::{Deserialize, Serialize};
use serde_json::Value as JsonValue;

use super::{
    Connection,
    lists::{Chosen, Membership, Selection},
};
use crate::{
    error::Result,
    services::{
        auth::Requester,
        notifier::Positions,
        rooms::{head::RoomHead, history_token, pdu::Pdu},
        sync::{SyncService, joined::heroes, raw, sync_event, unread::Seen},
    },
    store::{EventRow, SlidingRoomRow},
};

/// Above this many rooms needing a timeline, one query reads the newest
/// events of all the user's rooms instead of one query per room.
const BATCHED_TIMELINES: usize = 8;

/// The rooms of an answer, and what to remember of them.
#[derive(Default)]
pub(super) struct RoomUpdates {
    pub rooms: BTreeMap<OwnedRoomId, Room>,
    pub sent: Vec<SlidingRoomRow>,
    /// The timeline event ids of rooms sent whole (their receipts go along).
    pub fresh: BTreeMap<OwnedRoomId, Vec<String>>,
}

/// What a connection sent of a room's state, kept in the room's row.
#[derive(Debug, Default, Serialize, Deserialize)]
struct SentState {
    /// The required_state the room was sent with.
    #[serde(default)]
    asked: BTreeSet<(String, String)>,
    /// The members sent for `$LAZY` since the room was sent whole: a
    /// sender's member event goes once, not with each of their messages.
    #[serde(default)]
    lazy: BTreeSet<String>,
}

impl SentState {
    fn row(&self, room_id: &RoomId, membership: Membership, now: Positions) -> SlidingRoomRow {
        SlidingRoomRow {
            room_id: room_id.to_string(),
            membership: membership.as_str().to_owned(),
            stream: now.events,
            config: serde_json::to_string(self).unwrap_or_default(),
        }
    }
}

/// Whether a stored [`SentState`] was sent with the `asked` required_state
/// (given as JSON text): its text starts the same, no parsing needed.
fn same_request(stored: &str, asked: &str) -> bool {
    stored
        .strip_prefix("{\"asked\":")
        .is_some_and(|rest| rest.strip_prefix(asked).is_some_and(|rest| rest.starts_with(',')))
}

/// One joined room's part of an answer, before its events are bundled.
struct Planned<'a> {
    room_id: &'a OwnedRoomId,
    chosen: &'a Chosen,
    initial: bool,
    /// Send all the state asked for, not only what changed.
    all_state: bool,
    /// The timeline starts after this stream position.
    after: i64,
    /// The `$LAZY` members already sent.
    lazy_sent: BTreeSet<String>,
}

impl SyncService {
    pub(super) async fn room_updates(
        &self,
        requester: &Requester,
        connection: &Connection,
        selection: &Selection,
        own_receipts: &HashSet<String>,
        now: Positions,
    ) -> Result<RoomUpdates> {
        let user = &requester.user_id;
        let mut updates = RoomUpdates::default();
        let mut planned = Vec::new();
        for (room_id, chosen) in &selection.rooms {
            let sent = connection.sent.get(room_id);
            let initial = sent.is_none_or(|s| s.membership != chosen.membership.as_str());
            let asked =
                || SentState { asked: chosen.required_state.state.clone(), lazy: BTreeSet::new() };
            match chosen.membership {
                Membership::Invite if initial => {
                    let mut room = Room::new();
                    room.initial = Some(true);
                    room.invite_state = Some(self.invite_state(user, room_id).await?);
                    room.bump_stamp = UInt::try_from(chosen.bump).ok();
                    updates.rooms.insert(room_id.clone(), room);
                    updates.sent.push(asked().row(room_id, chosen.membership, now));
                }
                Membership::Invite => {}
                Membership::Leave => {
                    updates.rooms.insert(room_id.clone(), self.left_room(user, room_id).await?);
                    updates.sent.push(asked().row(room_id, chosen.membership, now));
                }
                Membership::Join => {
                    let after = sent.filter(|_| !initial).map_or(0, |s| s.stream);
                    let news = chosen.latest > after || own_receipts.contains(room_id.as_str());
                    // Most rooms of a long list have no news and were sent
                    // with the same required_state: told by comparing text.
                    let unchanged = || {
                        sent.is_some_and(|s| same_request(&s.config, &chosen.required_state.text))
                    };
                    if !initial && !news && unchanged() {
                        continue;
                    }
                    let sent_state: SentState = sent
                        .filter(|_| !initial)
                        .and_then(|s| serde_json::from_str(&s.config).ok())
                        .unwrap_or_default();
                    let widened = !chosen.required_state.state.is_subset(&sent_state.asked);
                    if !initial && !widened && !news {
                        continue;
                    }
                    let all_state = initial || widened;
                    planned.push(Planned {
                        room_id,
                        chosen,
                        initial,
                        all_state,
                        after,
                        lazy_sent: if all_state { BTreeSet::new() } else { sent_state.lazy },
                    });
                }
            }
        }
        self.joined_updates(requester, connection, &planned, now, &mut updates).await?;
        Ok(updates)
    }

    async fn joined_updates(
        &self,
        requester: &Requester,
        connection: &Connection,
        planned: &[Planned<'_>],
        now: Positions,
        updates: &mut RoomUpdates,
    ) -> Result<()> {
        if planned.is_empty() {
            return Ok(());
        }
        let user = &requester.user_id;
        let device = requester.device_id.as_str();
        let mut timelines = self.timelines(user, planned, now).await?;
        let ignored = self.user_data.ignored_users(user).await?;
        let unread = self.unread_context(user).await?;
        let since_events = connection.since.map(|s| s.events);

        let mut events = Vec::new();
        let mut shaped = Vec::new();
        for plan in planned {
            let mut rows = timelines.remove(plan.room_id.as_str()).unwrap_or_default();
            let limit = plan.chosen.timeline_limit as usize;
            let limited = rows.len() > limit;
            rows.drain(..rows.len().saturating_sub(limit));
            let mut room = Room::new();
            room.limited = limited;
            room.prev_batch =
                Some(history_token(rows.first().map_or(now.events, |r| r.stream - 1)));
            room.num_live = since_events
                .map(|since| rows.iter().filter(|row| row.stream > since).count() as u64)
                .and_then(|n| UInt::try_from(n).ok());
            let mut seen = Seen { latest: rows.last().map(|row| row.stream), ..Seen::default() };
            let mut senders = BTreeSet::new();
            let mut changed_state = BTreeSet::new();
            let mut ids = Vec::new();
            let first = events.len();
            let shown = self.rooms.client_events_for(&rows, user, Some(device)).await?;
            for (row, event) in rows.iter().zip(shown) {
                let sender = event["sender"].as_str().unwrap_or_default().to_owned();
                if ignored.contains(&sender) {
                    continue;
                }
                if let Some(key) = event["state_key"].as_str() {
                    changed_state.insert((
                        event["type"].as_str().unwrap_or_default().to_owned(),
                        key.to_owned(),
                    ));
                }
                let countable = sender != user.as_str()
                    && event.get("state_key").is_none()
                    && row.redacted_by.is_none();
                seen.events.push((row.stream, countable));
                ids.push(row.event_id.clone());
                senders.insert(sender);
                events.push(event);
            }
            if !limited && seen.events.len() == rows.len() {
                seen.complete_after = Some(plan.after);
            }
            let fresh_senders: BTreeSet<String> =
                senders.difference(&plan.lazy_sent).cloned().collect();
            let wanted = Wanted {
                user,
                config: &plan.chosen.required_state.state,
                senders: &senders,
                fresh_senders: &fresh_senders,
                // Limited: what changed in the gap is unknown, all is sent.
                only: (!plan.all_state && !limited).then_some(&changed_state),
            };
            self.describe(plan.room_id, &wanted, &mut room).await?;
            let mut lazy = plan.lazy_sent.clone();
            lazy.extend(senders);
            let sent = SentState { asked: plan.chosen.required_state.state.clone(), lazy };
            updates.sent.push(sent.row(plan.room_id, Membership::Join, now));
            room.initial = plan.initial.then_some(true);
            room.bump_stamp = UInt::try_from(plan.chosen.bump).ok();
            if plan.initial {
                updates.fresh.insert(plan.room_id.clone(), ids);
            }
            shaped.push((plan.room_id, room, first..events.len(), seen));
        }
        self.rooms.bundle_relations(&mut events, user).await?;
        for (room_id, mut room, range, seen) in shaped {
            for event in &events[range] {
                room.timeline.push(raw(&sync_event(event.clone()))?);
            }
            let (notify, highlight) = self
                .room_unread(&unread, user, room_id, Some(&seen), &room.timeline, now.events)
                .await?;
            room.unread_notifications.notification_count = UInt::try_from(notify).ok();
            room.unread_notifications.highlight_count = UInt::try_from(highlight).ok();
            updates.rooms.insert(room_id.clone(), room);
        }
        Ok(())
    }

    /// The newest `timeline_limit + 1` events after each plan's start (one
    /// more than sent, to tell a limited timeline), oldest first, by room.
    async fn timelines(
        &self,
        user: &UserId,
        planned: &[Planned<'_>],
        now: Positions,
    ) -> Result<HashMap<String, Vec<EventRow>>> {
        let mut by_room: HashMap<String, Vec<EventRow>> = HashMap::new();
        if planned.len() > BATCHED_TIMELINES {
            let after = planned.iter().map(|p| p.after).min().unwrap_or(0);
            let limit = planned.iter().map(|p| p.chosen.timeline_limit).max().unwrap_or(0);
            let rows = self
                .store
                .recent_events_for_user(
                    user.as_str(),
                    &MembershipState::Join,
                    after,
                    now.events,
                    limit as i64 + 1,
                )
                .await?;
            for row in rows {
                by_room.entry(row.room_id.clone()).or_default().push(row);
            }
            for plan in planned {
                if let Some(rows) = by_room.get_mut(plan.room_id.as_str()) {
                    rows.retain(|row| row.stream > plan.after);
                    let keep = plan.chosen.timeline_limit as usize + 1;
                    rows.drain(..rows.len().saturating_sub(keep));
                }
            }
        } else {
            for plan in planned {
                let mut rows = self
                    .store
                    .room_events(
                        plan.room_id.as_str(),
                        plan.after,
                        now.events,
                        false,
                        plan.chosen.timeline_limit as i64 + 1,
                    )
                    .await?;
                rows.reverse();
                by_room.insert(plan.room_id.to_string(), rows);
            }
        }
        Ok(by_room)
    }

    /// Fills in a joined room's state, name, avatar, heroes and member
    /// counts from its current state.
    async fn describe(&self, room_id: &RoomId, wanted: &Wanted<'_>, room: &mut Room) -> Result<()> {
        let (state, heroes, avatar, name, joined, invited) = self
            .rooms
            .with_head(room_id, |head| {
                let state: Vec<JsonValue> = wanted
                    .pick(head)
                    .into_iter()
                    .map(|pdu| sync_event(pdu.to_client_event(None)))
                    .collect();
                let heroes: Vec<Hero> =
                    heroes(head, wanted.user).iter().map(|id| hero(head, id)).collect();
                let avatar = head
                    .get(&StateEventType::RoomAvatar, "")
                    .and_then(|pdu| pdu.content_str("url"))
                    .map(OwnedMxcUri::from);
                let name = head
                    .get(&StateEventType::RoomName, "")
                    .and_then(|pdu| pdu.content_str("name"))
                    .filter(|name| !name.is_empty());
                let invited = head.members_with(&[MembershipState::Invite]).len();
                (state, heroes, avatar, name, head.joined().len(), invited)
            })
            .await?;
        room.required_state = state.iter().map(raw).collect::<Result<_>>()?;
        room.heroes = (!heroes.is_empty()).then_some(heroes);
        room.avatar = avatar.map_or(JsOption::Null, JsOption::Some);
        room.name = name;
        room.joined_count = UInt::try_from(joined as u64).ok();
        room.invited_count = UInt::try_from(invited as u64).ok();
        Ok(())
    }

    /// A room the user left (or was removed from) since the connection
    /// last sent it: their membership, in the timeline and in the state.
    async fn left_room(&self, user: &UserId, room_id: &RoomId) -> Result<Room> {
        let member = self
            .rooms
            .with_head(room_id, |head| {
                head.get(&StateEventType::RoomMember, user.as_str())
                    .map(|pdu| sync_event(pdu.to_client_event(None)))
            })
            .await
            .ok()
            .flatten();
        let mut room = Room::new();
        if let Some(member) = member {
            room.timeline.push(raw(&member)?);
            room.required_state.push(raw(&member)?);
        }
        room.limited = true;
        Ok(room)
    }
}

/// Which state of a room the client asked for.
struct Wanted<'a> {
    user: &'a UserId,
    config: &'a BTreeSet<(String, String)>,
    /// The senders of the timeline sent (for `$LAZY` members).
    senders: &'a BTreeSet<String>,
    /// Those of them whose member event the connection was not sent yet.
    fresh_senders: &'a BTreeSet<String>,
    /// Only these (type, state key) pairs: those the timeline changed.
    only: Option<&'a BTreeSet<(String, String)>>,
}

impl Wanted<'_> {
    /// The state events asked for, looked up by key where the request
    /// names one (a room's thousands of members are walked only for `*`).
    fn pick<'h>(&self, head: &'h RoomHead) -> Vec<&'h Arc<Pdu>> {
        let mut picked: BTreeMap<(String, String), &Arc<Pdu>> = BTreeMap::new();
        let mut keep = |pdu: &'h Arc<Pdu>| {
            let key = (pdu.kind.to_string(), pdu.state_key.clone().unwrap_or_default());
            picked.insert(key, pdu);
        };
        for (kind, key) in self.config {
            let typed = StateEventType::from(kind.as_str());
            let every_key = key == "*";
            match (kind.as_str(), key.as_str()) {
                ("*", _) => head
                    .state()
                    .iter()
                    .filter(|((_, state_key), _)| every_key || state_key == key)
                    .for_each(|(_, pdu)| keep(pdu)),
                (_, "*") => head
                    .state()
                    .iter()
                    .filter(|((state_type, _), _)| *state_type == typed)
                    .for_each(|(_, pdu)| keep(pdu)),
                ("m.room.member", "$LAZY") => self
                    .senders
                    .iter()
                    .filter_map(|sender| head.get(&typed, sender))
                    .for_each(&mut keep),
                (_, "$ME") => head.get(&typed, self.user.as_str()).into_iter().for_each(&mut keep),
                (_, key) => head.get(&typed, key).into_iter().for_each(&mut keep),
            }
        }
        picked
            .into_iter()
            .filter(|((kind, key), _)| {
                self.only.is_none_or(|only| {
                    only.contains(&(kind.clone(), key.clone()))
                        || (kind == "m.room.member" && self.fresh_senders.contains(key))
                })
            })
            .map(|(_, pdu)| pdu)
            .collect()
    }
}

/// A hero as the client shows them: their name and avatar in the room.
fn hero(head: &RoomHead, user_id: &OwnedUserId) -> Hero {
    let member = head.get(&StateEventType::RoomMember, user_id.as_str());
    let mut hero = Hero::new(user_id.clone());
    hero.name = member.and_then(|pdu| pdu.content_str("displayname"));
    hero.avatar = member.and_then(|pdu| pdu.content_str("avatar_url")).map(OwnedMxcUri::from);
    hero
}

#[cfg(test)]
mod tests {
    use super::{BTreeSet, SentState, same_request};

    #[test]
    fn a_stored_state_tells_its_request_by_text() {
        let asked: BTreeSet<(String, String)> =
            [("m.room.name".into(), String::new()), ("m.room.member".into(), "$LAZY".into())]
                .into();
        let lazy = ["@a:x".to_owned()].into();
        let stored =
            serde_json::to_string(&SentState { asked: asked.clone(), lazy }).expect("json");
        let text = serde_json::to_string(&asked).expect("json");
        assert!(same_request(&stored, &text));
        let mut wider = asked;
        wider.insert(("m.room.topic".into(), String::new()));
        assert!(!same_request(&stored, &serde_json::to_string(&wider).expect("json")));
        assert!(!same_request("{}", &text));
    }
}
