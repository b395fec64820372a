//! State resolution where branches of a room's event graph meet (ruma's
//! state-res: v2, and v2.1 for room version 12; version 1 rooms have their
//! own, in resolve_v1.rs), and the auth chains it needs. Every state computation that merges branches comes here.

use std::{
    collections::{HashMap, HashSet},
    sync::Arc,
};

use ruma::{
    EventId, OwnedEventId, RoomId,
    room_version_rules::RoomVersionRules,
    state_res::{self, utils::event_id_set::EventIdSet},
};

use super::{Rooms, head::StateKey, pdu::Pdu};
use crate::{
    error::{Error, Result},
    store::StateEntry,
};

/// A full room state: one event per (type, state key).
pub type StateMap = HashMap<StateKey, Arc<Pdu>>;

/// Events loaded for a resolution, by id.
pub type EventCache = HashMap<OwnedEventId, Arc<Pdu>>;

impl Rooms {
    /// Any event this server knows (timeline or outlier), cached in `cache`.
    pub(super) async fn known_event(
        &self,
        id: &EventId,
        cache: &mut EventCache,
    ) -> Result<Option<Arc<Pdu>>> {
        if let Some(pdu) = cache.get(id) {
            return Ok(Some(pdu.clone()));
        }
        let Some((room_id, text)) = self.store().any_event(id.as_str()).await? else {
            return Ok(None);
        };
        let pdu = Arc::new(Pdu::from_stored(id.as_str(), &room_id, &text)?);
        cache.insert(id.to_owned(), pdu.clone());
        Ok(Some(pdu))
    }

    /// The full auth chain of `start` (not including `start` itself unless
    /// it is reached), every event loaded into `cache`.
    pub(super) async fn auth_chain(
        &self,
        start: &[OwnedEventId],
        cache: &mut EventCache,
    ) -> Result<HashSet<OwnedEventId>> {
        let mut chain = HashSet::new();
        let mut todo: Vec<OwnedEventId> = Vec::new();
        for id in start {
            if let Some(pdu) = self.known_event(id, cache).await? {
                todo.extend(pdu.auth_events.iter().cloned());
            }
        }
        while let Some(id) = todo.pop() {
            if !chain.insert(id.clone()) {
                continue;
            }
            if let Some(pdu) = self.known_event(&id, cache).await? {
                todo.extend(pdu.auth_events.iter().filter(|a| !chain.contains(*a)).cloned());
            }
        }
        Ok(chain)
    }

    /// Resolves several states of a room into one.
    pub(super) async fn resolve_states(
        &self,
        rules: &RoomVersionRules,
        maps: Vec<StateMap>,
    ) -> Result<StateMap> {
        if maps.len() <= 1 {
            return Ok(maps.into_iter().next().unwrap_or_default());
        }
        let Some(v2) = rules.state_res.v2_rules() else {
            return Ok(super::resolve_v1::resolve_v1(&rules.authorization, &maps));
        };
        let mut cache: EventCache = HashMap::new();
        for map in &maps {
            for pdu in map.values() {
                cache.insert(pdu.event_id.clone(), pdu.clone());
            }
        }
        let mut auth_chains = Vec::with_capacity(maps.len());
        for map in &maps {
            let ids: Vec<OwnedEventId> = map.values().map(|p| p.event_id.clone()).collect();
            let chain = self.auth_chain(&ids, &mut cache).await?;
            auth_chains.push(chain.into_iter().collect::<EventIdSet<OwnedEventId>>());
        }
        let id_maps: Vec<state_res::StateMap<OwnedEventId>> = maps
            .iter()
            .map(|map| map.iter().map(|(k, p)| (k.clone(), p.event_id.clone())).collect())
            .collect();
        let resolved = state_res::resolve(
            &rules.authorization,
            v2,
            id_maps.iter(),
            auth_chains,
            |id| cache.get(id).map(|pdu| (**pdu).clone()),
            |conflicted| Some(conflicted_subgraph(conflicted, &cache)),
        )
        .map_err(|e| Error::internal(format!("state resolution failed: {e}")))?;
        resolved
            .into_iter()
            .map(|(key, id)| {
                cache
                    .get(&id)
                    .cloned()
                    .map(|pdu| (key, pdu))
                    .ok_or_else(|| Error::internal("resolved to an unknown event"))
            })
            .collect()
    }

    /// The state before an event: the states after its prev_events, resolved.
    pub(super) async fn state_before_event(
        &self,
        rules: &RoomVersionRules,
        pdu: &Pdu,
    ) -> Result<StateMap> {
        let mut maps = Vec::with_capacity(pdu.prev_events.len());
        for prev in &pdu.prev_events {
            maps.push(self.state_after(&pdu.room_id, prev).await?);
        }
        self.resolve_states(rules, maps).await
    }

    /// The state after a timeline event.
    pub(super) async fn state_after(
        &self,
        room_id: &RoomId,
        event_id: &EventId,
    ) -> Result<StateMap> {
        let group = self
            .store()
            .event_state_group(event_id.as_str())
            .await?
            .ok_or_else(|| Error::not_found("unknown event"))?;
        let mut state = StateMap::new();
        for row in self.store().state_at_group(group).await? {
            let pdu = Pdu::from_stored(&row.event_id, room_id.as_str(), &row.pdu)?;
            state.insert((row.event_type.into(), row.state_key), Arc::new(pdu));
        }
        Ok(state)
    }
}

/// The events on auth paths from one conflicted event to another (state
/// resolution v2.1 adds them to the full conflicted set).
fn conflicted_subgraph(
    conflicted: &state_res::StateMap<Vec<OwnedEventId>>,
    cache: &EventCache,
) -> EventIdSet<OwnedEventId> {
    let targets: HashSet<&EventId> = conflicted.values().flatten().map(|id| &**id).collect();
    // Memo: does this event reach a conflicted event through auth_events?
    let mut reaches: HashMap<&EventId, bool> = HashMap::new();
    fn visit<'a>(
        id: &'a EventId,
        cache: &'a EventCache,
        targets: &HashSet<&EventId>,
        reaches: &mut HashMap<&'a EventId, bool>,
    ) -> bool {
        if let Some(known) = reaches.get(id) {
            return *known;
        }
        reaches.insert(id, false);
        let mut found = false;
        if let Some(pdu) = cache.get(id) {
            for auth in &pdu.auth_events {
                let hit = targets.contains(&**auth) | visit(auth, cache, targets, reaches);
                found |= hit;
            }
        }
        reaches.insert(id, found);
        found
    }
    let mut subgraph = EventIdSet::new();
    for start in &targets {
        let mut todo = vec![*start];
        let mut seen = HashSet::new();
        while let Some(id) = todo.pop() {
            if !seen.insert(id) {
                continue;
            }
            if targets.contains(id) || visit(id, cache, &targets, &mut reaches) {
                subgraph.insert(id.to_owned());
            }
            if let Some(pdu) = cache.get(id) {
                todo.extend(pdu.auth_events.iter().map(|a| &**a));
            }
        }
    }
    subgraph
}

/// A state map as store rows.
pub(super) fn entries(state: &StateMap) -> Vec<StateEntry> {
    let mut rows: Vec<StateEntry> = state
        .iter()
        .map(|((kind, key), pdu)| {
            let membership = pdu.membership.as_ref().map(|m| m.as_str().to_owned());
            (kind.to_string(), key.clone(), pdu.event_id.to_string(), membership)
        })
        .collect();
    rows.sort();
    rows
}
