//! Events from other servers. Each has passed the wire checks (format,
//! signatures, hash) in `services::federation`; here it is authorized the
//! way the spec asks: against its own auth events, against the state before
//! it (resolved over its prev_events; across a gap, the sender's claim is
//! resolved against what this server knows), and against the room's current
//! state (failing only that soft-fails it: kept, but not in the timeline).
//! Then it takes the same writer path as local events.

use std::{collections::HashSet, sync::Arc};

use ruma::{
    CanonicalJsonObject, CanonicalJsonValue, EventId, OwnedEventId, RoomId, RoomVersionId,
    ServerName, UInt,
    api::federation::event::{get_missing_events, get_room_state_ids},
    events::StateEventType,
    room_version_rules::RoomVersionRules,
    state_res::{check_state_dependent_auth_rules, check_state_independent_auth_rules},
};

use super::{
    Rooms,
    head::RoomHead,
    pdu::Pdu,
    resolve::{EventCache, StateMap, entries},
};
use crate::{
    error::{Error, Result},
    store::ResolvedState,
};

/// How many rounds of missing prev_events are fetched before giving up.
const MISSING_EVENTS_ROUNDS: usize = 3;
const MISSING_EVENTS_LIMIT: u32 = 20;
/// The largest state taken from another server to fill a gap.
const MAX_GAP_STATE: usize = 50_000;

/// What became of a received event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Received {
    /// In the timeline and the room's state.
    Accepted,
    /// Known already.
    Duplicate,
    /// Authorized by its own history but not by the current state: kept
    /// out of the timeline.
    SoftFailed,
}

impl Rooms {
    /// The room id a PDU names (every event but a v12 create carries one).
    pub fn pdu_room_id(json: &CanonicalJsonObject) -> Result<ruma::OwnedRoomId> {
        match json.get("room_id") {
            Some(CanonicalJsonValue::String(id)) => {
                RoomId::parse(id).map_err(|e| Error::BadJson(format!("room_id: {e}")))
            }
            _ => Err(Error::BadJson("PDU without room_id".into())),
        }
    }

    /// The version of a room this server knows.
    pub async fn room_version(&self, room_id: &RoomId) -> Result<RoomVersionId> {
        let version = self
            .store()
            .room_version(room_id.as_str())
            .await?
            .ok_or_else(|| Error::not_found("this server is not in that room"))?;
        RoomVersionId::try_from(version).map_err(Error::internal)
    }

    /// Handles one PDU of a transaction: its event id (when it could be
    /// derived) and what became of it.
    pub async fn receive_in_transaction(
        &self,
        origin: &ServerName,
        json: CanonicalJsonObject,
    ) -> (Option<OwnedEventId>, Result<Received>) {
        let id = match Self::pdu_room_id(&json) {
            Ok(room_id) => match self.room_version(&room_id).await.ok().and_then(|v| v.rules()) {
                Some(rules) => lattice_federation::pdu::event_id(&json, &rules).ok(),
                None => None,
            },
            Err(_) => None,
        };
        let result = self.receive_pdu(origin, json).await;
        if let Err(error) = &result {
            tracing::info!(%error, %origin, event = ?id, "refused a remote event");
        }
        (id, result)
    }

    /// The servers with joined members, this one first if it is among them.
    pub async fn servers_in_room(&self, room_id: &RoomId) -> Result<Vec<ruma::OwnedServerName>> {
        let own = self.inner.config.server.server_name.clone();
        let mut servers = self.with_head(room_id, |head| head.servers().to_vec()).await?;
        if let Some(at) = servers.iter().position(|s| *s == own) {
            servers.remove(at);
            servers.insert(0, own);
        }
        Ok(servers)
    }

    /// Queues an EDU for every other server in the room.
    pub async fn send_edu_to_room(&self, room_id: &RoomId, edu: &serde_json::Value) -> Result<()> {
        let own = &self.inner.config.server.server_name;
        let servers: Vec<String> = self
            .servers_in_room(room_id)
            .await?
            .into_iter()
            .filter(|s| s != own)
            .map(|s| s.to_string())
            .collect();
        self.inner.federation.send_edu(&servers, edu).await
    }

    /// Handles a PDU another server sent (in a transaction or a send_join).
    pub async fn receive_pdu(
        &self,
        origin: &ServerName,
        json: CanonicalJsonObject,
    ) -> Result<Received> {
        let room_id = Self::pdu_room_id(&json)?;
        let version = self.room_version(&room_id).await?;
        let checked = self.inner.federation.check_pdu(json, &version).await?;
        let pdu = Pdu::from_json(checked.event_id, room_id, checked.json)?;
        self.process_remote(origin, Arc::new(pdu), MISSING_EVENTS_ROUNDS, None).await
    }

    /// Authorizes and persists a checked remote event. `forward_to_room`
    /// makes this server pass it on to the other servers in the room (a
    /// join this server accepted through send_join).
    pub(super) async fn process_remote(
        &self,
        origin: &ServerName,
        pdu: Arc<Pdu>,
        rounds: usize,
        forward: Option<&ServerName>,
    ) -> Result<Received> {
        if self.store().has_timeline_event(pdu.event_id.as_str()).await? {
            return Ok(Received::Duplicate);
        }
        if rounds > 0 && !self.missing_prev_events(&pdu).await?.is_empty() {
            self.fetch_missing(origin, &pdu, rounds).await;
        }
        // A gap that missing events did not close: take the state before
        // the event from the sending server instead.
        let gap_state = match self.missing_prev_events(&pdu).await?.is_empty() {
            true => None,
            false => Some(self.remote_state_before(origin, &pdu).await?),
        };
        let mut cache = EventCache::new();
        let auth = self.auth_events_of(origin, &pdu, &mut cache).await?;
        let mut guard = self.lock_for_write(&pdu.room_id, false).await?;
        let head = Self::loaded(&mut guard, self.store(), &pdu.room_id).await?;
        if !head.server_allowed(origin) || !head.server_allowed(pdu.sender.server_name()) {
            return Err(Error::forbidden("the room's server ACL denies this server"));
        }
        let mut auth = auth;
        // Since v12 the create event is implied by the room id, not listed.
        if let Some(create) = head.get(&StateEventType::RoomCreate, "") {
            auth.entry((StateEventType::RoomCreate, String::new()))
                .or_insert_with(|| create.clone());
        }
        authorize_against(head, &pdu, &auth)?;
        let linear = gap_state.is_none() && same_set(&pdu.prev_events, &head.extremities);
        let state_before = match (gap_state, linear) {
            (Some(claimed), _) => self.state_across_gap(&head.rules, &pdu, claimed).await?,
            (None, true) => head.state().clone(),
            (None, false) => self.state_before_event(&head.rules, &pdu).await?,
        };
        authorize_state(head, &pdu, &state_before)?;
        if authorize_state(head, &pdu, head.state()).is_err() {
            tracing::info!(event = %pdu.event_id, %origin, "event soft-failed");
            let row = (pdu.event_id.to_string(), pdu.room_id.to_string(), pdu.to_stored());
            self.store().insert_outliers(&[row]).await?;
            return Ok(Received::SoftFailed);
        }
        let mut state_after = state_before;
        if let Some(key) = &pdu.state_key {
            state_after.insert((pdu.kind.to_string().into(), key.clone()), pdu.clone());
        }
        let mut extremities: Vec<OwnedEventId> =
            head.extremities.iter().filter(|e| !pdu.prev_events.contains(e)).cloned().collect();
        extremities.push(pdu.event_id.clone());
        let resolved = match (linear, extremities.len()) {
            (true, _) => None,
            (false, 1) => Some(ResolvedState {
                after_event: entries(&state_after),
                current: entries(&state_after),
            }),
            (false, _) => {
                let rules = head.rules.clone();
                let current = self
                    .resolve_states(&rules, vec![head.state().clone(), state_after.clone()])
                    .await?;
                Some(ResolvedState {
                    after_event: entries(&state_after),
                    current: entries(&current),
                })
            }
        };
        let redacted_target = self.remote_redaction(head, &pdu).await?;
        let state = match &resolved {
            None => state_after,
            Some(resolved) => {
                self.state_from_entries(&resolved.current, &state_after, head).await?
            }
        };
        head.set_state(state);
        head.set_extremities(extremities, &pdu);
        head.depth = head.depth.max(u64::from(pdu.depth));
        let members = head.joined();
        let destinations = match forward {
            Some(origin) => self.destinations(head, &pdu, Some(origin)),
            None => Vec::new(),
        };
        let version = head.version.clone();
        let built = self.built(
            members,
            pdu.clone(),
            None,
            redacted_target,
            resolved.map(Arc::new),
            destinations,
            &version,
        );
        let pending = self.submit(vec![built]).await?;
        drop(guard);
        self.durable(&pdu.room_id, pending).await?;
        Ok(Received::Accepted)
    }

    /// The head's state after a resolution, as PDUs.
    async fn state_from_entries(
        &self,
        entries: &[crate::store::StateEntry],
        state_after: &StateMap,
        head: &RoomHead,
    ) -> Result<StateMap> {
        let mut cache: EventCache = head
            .state()
            .values()
            .chain(state_after.values())
            .map(|p| (p.event_id.clone(), p.clone()))
            .collect();
        let mut state = StateMap::new();
        for (kind, key, id, _) in entries {
            let id = EventId::parse(id).map_err(Error::internal)?;
            let pdu = self
                .known_event(&id, &mut cache)
                .await?
                .ok_or_else(|| Error::internal("resolved state names an unknown event"))?;
            state.insert((StateEventType::from(kind.as_str()), key.clone()), pdu);
        }
        Ok(state)
    }

    /// The redacted form of what a remote redaction removes, if it may:
    /// the redacter has the power to, or is on the target sender's server.
    async fn remote_redaction(&self, head: &RoomHead, pdu: &Pdu) -> Result<Option<String>> {
        let Some(target) = &pdu.redacts else { return Ok(None) };
        let Some(row) = self.store().event(target.as_str()).await? else { return Ok(None) };
        let target_pdu = Pdu::from_stored(&row.event_id, &row.room_id, &row.pdu)?;
        let allowed = target_pdu.sender.server_name() == pdu.sender.server_name()
            || head.power_of(&pdu.sender) >= head.required_power("redact", 50);
        if !allowed || row.room_id != pdu.room_id.as_str() {
            return Ok(None);
        }
        let redacted = ruma::canonical_json::redact(target_pdu.json, &head.rules.redaction, None)
            .map_err(Error::internal)?;
        Ok(Some(serde_json::to_string(&redacted).map_err(Error::internal)?))
    }

    /// The state before `pdu` as `origin` sees it (/state_ids), each event
    /// we lack fetched and checked.
    async fn remote_state_before(&self, origin: &ServerName, pdu: &Pdu) -> Result<StateMap> {
        let request =
            get_room_state_ids::v1::Request::new(pdu.event_id.clone(), pdu.room_id.clone());
        let answer = self.inner.federation.send(origin, request).await?;
        if answer.pdu_ids.len() > MAX_GAP_STATE {
            return Err(Error::Upstream("the state to fill a gap with is too large".into()));
        }
        let mut cache = EventCache::new();
        let mut state = StateMap::new();
        for id in &answer.pdu_ids {
            let event = match self.known_event(id, &mut cache).await? {
                Some(event) => event,
                None => self.fetch_outlier(origin, &pdu.room_id, id).await?,
            };
            if event.room_id != pdu.room_id {
                return Err(Error::forbidden("the gap's state mixes in another room"));
            }
            if let Some(key) = &event.state_key {
                state.insert((event.kind.to_string().into(), key.clone()), event);
            }
        }
        tracing::info!(event = %pdu.event_id, %origin, size = state.len(), "filled a gap in the room's history with remote state");
        Ok(state)
    }

    /// The state before an event whose prev_events are not all known: the
    /// sender's word for it (`claimed`) resolved against the state after
    /// each prev event this server has. Taken alone, the claim would let a
    /// peer roll the room's state back, or slip in state it signed itself,
    /// by naming an event it never hands over; resolved, whatever the two
    /// disagree on passes the authorization rules first.
    async fn state_across_gap(
        &self,
        rules: &RoomVersionRules,
        pdu: &Pdu,
        claimed: StateMap,
    ) -> Result<StateMap> {
        let mut states = vec![claimed];
        for prev in &pdu.prev_events {
            if self.store().has_timeline_event(prev.as_str()).await? {
                states.push(self.state_after(&pdu.room_id, prev).await?);
            }
        }
        self.resolve_states(rules, states).await
    }

    async fn missing_prev_events(&self, pdu: &Pdu) -> Result<Vec<OwnedEventId>> {
        let mut missing = Vec::new();
        for prev in &pdu.prev_events {
            if !self.store().has_timeline_event(prev.as_str()).await? {
                missing.push(prev.clone());
            }
        }
        Ok(missing)
    }

    /// Asks `origin` for the events between our extremities and `pdu`, and
    /// takes them in oldest first. Failures leave the gap for the caller.
    async fn fetch_missing(&self, origin: &ServerName, pdu: &Pdu, rounds: usize) {
        let Ok(earliest) = self.with_head(&pdu.room_id, |head| head.extremities.clone()).await
        else {
            return;
        };
        let mut request = get_missing_events::v1::Request::new(
            pdu.room_id.clone(),
            earliest,
            vec![pdu.event_id.clone()],
        );
        request.limit = UInt::from(MISSING_EVENTS_LIMIT);
        let events = match self.inner.federation.send(origin, request).await {
            Ok(response) => response.events,
            Err(error) => {
                tracing::info!(%error, %origin, "could not fetch missing events");
                return;
            }
        };
        let version = match self.room_version(&pdu.room_id).await {
            Ok(version) => version,
            Err(_) => return,
        };
        let mut fetched = Vec::new();
        for raw in events {
            let Ok(json) = serde_json::from_str::<CanonicalJsonObject>(raw.get()) else { continue };
            match self.inner.federation.check_pdu(json, &version).await {
                Ok(checked) => {
                    if let Ok(p) =
                        Pdu::from_json(checked.event_id, pdu.room_id.clone(), checked.json)
                    {
                        fetched.push(Arc::new(p));
                    }
                }
                Err(error) => tracing::info!(%error, %origin, "a missing event failed its checks"),
            }
        }
        fetched.sort_by_key(|p| p.depth);
        for missing in fetched {
            let result =
                Box::pin(self.process_remote(origin, missing.clone(), rounds - 1, None)).await;
            if let Err(error) = result {
                tracing::info!(%error, event = %missing.event_id, "a missing event was refused");
            }
        }
    }

    /// The auth events of `pdu`, fetched from `origin` when unknown (kept
    /// as outliers once their own checks pass).
    pub(super) async fn auth_events_of(
        &self,
        origin: &ServerName,
        pdu: &Pdu,
        cache: &mut EventCache,
    ) -> Result<StateMap> {
        let mut auth = StateMap::new();
        for id in &pdu.auth_events {
            let event = match self.known_event(id, cache).await? {
                Some(event) => event,
                None => self.fetch_outlier(origin, &pdu.room_id, id).await?,
            };
            if event.room_id != pdu.room_id {
                return Err(Error::forbidden("an auth event belongs to another room"));
            }
            if let Some(key) = &event.state_key {
                auth.insert((event.kind.to_string().into(), key.clone()), event.clone());
            }
        }
        Ok(auth)
    }

    /// Fetches one event from `origin`, checks it and keeps it as an outlier.
    async fn fetch_outlier(
        &self,
        origin: &ServerName,
        room_id: &RoomId,
        id: &EventId,
    ) -> Result<Arc<Pdu>> {
        let response = self
            .inner
            .federation
            .send(origin, ruma::api::federation::event::get_event::v1::Request::new(id.to_owned()))
            .await?;
        let json: CanonicalJsonObject =
            serde_json::from_str(response.pdu.get()).map_err(|e| Error::BadJson(e.to_string()))?;
        let version = self.room_version(room_id).await?;
        let checked = self.inner.federation.check_pdu(json, &version).await?;
        if checked.event_id != id {
            return Err(Error::forbidden("the server sent another event than asked for"));
        }
        let pdu = Pdu::from_json(checked.event_id, room_id.to_owned(), checked.json)?;
        let row = (pdu.event_id.to_string(), room_id.to_string(), pdu.to_stored());
        self.store().insert_outliers(&[row]).await?;
        Ok(Arc::new(pdu))
    }
}

/// The room version's rules against the event's own auth events.
pub(super) fn authorize_against(head: &RoomHead, pdu: &Pdu, auth: &StateMap) -> Result<()> {
    let rules = &head.rules.authorization;
    let by_id: std::collections::HashMap<&EventId, &Pdu> =
        auth.values().map(|p| (&*p.event_id, p.as_ref())).collect();
    check_state_independent_auth_rules(rules, pdu, |id: &EventId| by_id.get(id).copied())
        .map_err(Error::Forbidden)?;
    check_state_dependent_auth_rules(rules, pdu, |kind: &StateEventType, key: &str| {
        auth.get(&(kind.clone(), key.to_owned())).map(|p| p.as_ref())
    })
    .map_err(Error::Forbidden)
}

/// The state-dependent rules against a given state.
fn authorize_state(head: &RoomHead, pdu: &Pdu, state: &StateMap) -> Result<()> {
    check_state_dependent_auth_rules(
        &head.rules.authorization,
        pdu,
        |kind: &StateEventType, key: &str| {
            state.get(&(kind.clone(), key.to_owned())).map(|p| p.as_ref())
        },
    )
    .map_err(Error::Forbidden)
}

fn same_set(a: &[OwnedEventId], b: &[OwnedEventId]) -> bool {
    let a: HashSet<&OwnedEventId> = a.iter().collect();
    let b: HashSet<&OwnedEventId> = b.iter().collect();
    a == b
}
