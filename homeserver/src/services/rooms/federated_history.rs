//! What other servers may read of a room: single events, the state at an
//! event, history before some events (backfill) and the gap between two
//! sets of events. Only servers with a member in the room may read it
//! (or anyone, for a world-readable room), and events from before their
//! users could see them go out redacted.

use std::{
    collections::{BTreeMap, HashSet},
    sync::Arc,
};

use ruma::{EventId, OwnedEventId, RoomId, ServerName, events::room::member::MembershipState};
use serde_json::value::RawValue;

use super::{Rooms, pdu::Pdu, resolve::EventCache, visibility::ServerVisibility};
use crate::error::{Error, Result};

/// Most events answered for one backfill or missing-events request.
const MAX_EVENTS: usize = 100;

impl Rooms {
    /// Refuses servers that have no member in the room (world-readable
    /// rooms excepted).
    pub async fn ensure_server_in_room(&self, room_id: &RoomId, server: &ServerName) -> Result<()> {
        let allowed = self
            .with_head(room_id, |head| {
                let member = head
                    .members_with(&[MembershipState::Join, MembershipState::Invite])
                    .iter()
                    .any(|user| user.server_name() == server);
                let world_readable = head
                    .get(&ruma::events::StateEventType::RoomHistoryVisibility, "")
                    .and_then(|p| p.content_str("history_visibility"))
                    .is_some_and(|v| v == "world_readable");
                (member || world_readable) && head.server_allowed(server)
            })
            .await?;
        if !allowed {
            return Err(Error::forbidden("your server has no member in this room"));
        }
        Ok(())
    }

    /// One event, for a server in its room.
    pub async fn event_for_server(
        &self,
        server: &ServerName,
        event_id: &EventId,
    ) -> Result<Box<RawValue>> {
        let (room_id, text) = self
            .store()
            .any_event(event_id.as_str())
            .await?
            .ok_or_else(|| Error::not_found("unknown event"))?;
        let pdu = Arc::new(Pdu::from_stored(event_id.as_str(), &room_id, &text)?);
        self.ensure_server_in_room(&pdu.room_id, server).await?;
        let mut answer = self.visible_to(server, &pdu.room_id, [&pdu]).await?;
        answer.pop().ok_or_else(|| Error::not_found("unknown event"))
    }

    /// Events as `server` may see them: those its users could not see (by
    /// the history visibility at each event), and those of erased users
    /// when none of its users was joined, go out redacted, so that the
    /// event graph stays whole while their content stays here.
    async fn visible_to<'a>(
        &self,
        server: &ServerName,
        room_id: &RoomId,
        pdus: impl IntoIterator<Item = &'a Arc<Pdu>>,
    ) -> Result<Vec<Box<RawValue>>> {
        let rules = self.rules_of(room_id).await?;
        let mut visibility = ServerVisibility::new(self, server);
        let erased = self.erased_users().await?;
        let mut answer = Vec::new();
        for pdu in pdus {
            let shown = visibility.allows(&pdu.event_id).await?
                && (!erased.contains(pdu.sender.as_str())
                    || visibility.had_member_joined(&pdu.event_id).await?);
            if shown {
                answer.push(self.outgoing(&rules, pdu)?);
                continue;
            }
            let redacted = ruma::canonical_json::redact(pdu.json.clone(), &rules.redaction, None)
                .map_err(Error::internal)?;
            let redacted = Pdu::from_json(pdu.event_id.clone(), room_id.to_owned(), redacted)?;
            answer.push(self.outgoing(&rules, &redacted)?);
        }
        Ok(answer)
    }

    /// The state before an event, and the auth chain of that state
    /// (GET /state and /state_ids).
    pub async fn state_at(
        &self,
        server: &ServerName,
        room_id: &RoomId,
        event_id: &EventId,
    ) -> Result<(Vec<Arc<Pdu>>, Vec<Arc<Pdu>>)> {
        self.ensure_server_in_room(room_id, server).await?;
        let row = self
            .store()
            .event(event_id.as_str())
            .await?
            .ok_or_else(|| Error::not_found("unknown event"))?;
        if row.room_id != room_id.as_str() {
            return Err(Error::not_found("unknown event"));
        }
        let pdu = Pdu::from_stored(&row.event_id, &row.room_id, &row.pdu)?;
        let rules = self.with_head(room_id, |head| head.rules.clone()).await?;
        let state = self.state_before_event(&rules, &pdu).await?;
        let mut cache = EventCache::new();
        let ids: Vec<OwnedEventId> = state.values().map(|p| p.event_id.clone()).collect();
        let mut chain = Vec::new();
        for id in self.auth_chain(&ids, &mut cache).await? {
            chain.extend(self.known_event(&id, &mut cache).await?);
        }
        Ok((state.into_values().collect(), chain))
    }

    /// Events before `from` (inclusive), newest first, walking prev_events.
    pub async fn backfill(
        &self,
        server: &ServerName,
        room_id: &RoomId,
        from: &[OwnedEventId],
        limit: usize,
    ) -> Result<Vec<Box<RawValue>>> {
        self.ensure_server_in_room(room_id, server).await?;
        let events =
            self.walk_back(room_id, from.to_vec(), &HashSet::new(), limit.min(MAX_EVENTS)).await?;
        self.visible_to(server, room_id, events.values().rev()).await
    }

    /// The events between `earliest` and `latest` (exclusive of both), oldest first.
    pub async fn missing_events(
        &self,
        server: &ServerName,
        room_id: &RoomId,
        earliest: &[OwnedEventId],
        latest: &[OwnedEventId],
        limit: usize,
    ) -> Result<Vec<Box<RawValue>>> {
        self.ensure_server_in_room(room_id, server).await?;
        let mut start = Vec::new();
        let mut cache = EventCache::new();
        for id in latest {
            if let Some(pdu) = self.known_event(id, &mut cache).await? {
                start.extend(pdu.prev_events.iter().cloned());
            }
        }
        let stop: HashSet<OwnedEventId> = earliest.iter().cloned().collect();
        let events = self.walk_back(room_id, start, &stop, limit.min(MAX_EVENTS)).await?;
        self.visible_to(server, room_id, events.values()).await
    }

    /// Walks prev_events back from `start` (breadth first, `start`
    /// included), never past `stop`; events keyed by (depth, id) so that they come out in order.
    async fn walk_back(
        &self,
        room_id: &RoomId,
        start: Vec<OwnedEventId>,
        stop: &HashSet<OwnedEventId>,
        limit: usize,
    ) -> Result<BTreeMap<(u64, OwnedEventId), Arc<Pdu>>> {
        let mut found = BTreeMap::new();
        let mut seen: HashSet<OwnedEventId> = HashSet::new();
        let mut queue: std::collections::VecDeque<OwnedEventId> = start.into();
        let mut cache = EventCache::new();
        while let Some(id) = queue.pop_front() {
            if found.len() >= limit {
                break;
            }
            if stop.contains(&id) || !seen.insert(id.clone()) {
                continue;
            }
            if !self.store().has_timeline_event(id.as_str()).await? {
                continue;
            }
            let Some(pdu) = self.known_event(&id, &mut cache).await? else { continue };
            if pdu.room_id != room_id {
                continue;
            }
            queue.extend(pdu.prev_events.iter().cloned());
            found.insert((u64::from(pdu.depth), pdu.event_id.clone()), pdu);
        }
        Ok(found)
    }
}
