//! The head of a room's event graph, kept in memory: the state, extremities
//! and depth the next local event builds on, so that a send reads nothing
//! from the database.

use std::{
    collections::HashMap,
    sync::{Arc, OnceLock},
};

use ruma::{
    OwnedEventId, OwnedServerName, OwnedUserId, RoomId, RoomVersionId, UserId,
    events::{StateEventType, TimelineEventType, room::member::MembershipState},
    room_version_rules::{EventsReferenceFormatVersion, RoomVersionRules},
};

use super::pdu::Pdu;
use crate::{
    error::{Error, Result},
    store::Store,
};

pub type StateKey = (StateEventType, String);

/// The state a local non-state event's authorization depends on: the
/// create event, the power levels and the sender's member event.
pub type AuthBasis = [Option<Arc<Pdu>>; 3];

#[derive(Debug, Clone)]
pub struct RoomHead {
    pub version: RoomVersionId,
    pub rules: RoomVersionRules,
    /// Private so that every change goes through the methods that forget
    /// what was derived from it (`joined`, `authorized`).
    state: HashMap<StateKey, Arc<Pdu>>,
    /// The joined members, worked out once per state: every send wakes
    /// them and every sync counts them.
    joined: OnceLock<Arc<[OwnedUserId]>>,
    /// Their servers, sorted: where every event of the room goes.
    servers: OnceLock<Arc<[OwnedServerName]>>,
    pub extremities: Vec<OwnedEventId>,
    /// Room versions 1 and 2 reference events as (id, reference hash)
    /// pairs: the hashes of the extremities, for the next event's
    /// prev_events. Empty in later versions.
    pub extremity_hashes: HashMap<OwnedEventId, String>,
    pub depth: u64,
    /// (sender, type) pairs of local non-state events that passed the auth
    /// rules, with the basis they passed on (see `builder::authorize_local`).
    pub authorized: HashMap<(OwnedUserId, TimelineEventType), AuthBasis>,
}

impl RoomHead {
    /// The head of a room about to be created.
    pub fn new(version: RoomVersionId) -> Result<Self> {
        let rules = version
            .rules()
            .ok_or_else(|| Error::BadRequest(format!("unsupported room version {version}")))?;
        Ok(Self {
            version,
            rules,
            state: HashMap::new(),
            joined: OnceLock::new(),
            servers: OnceLock::new(),
            extremities: Vec::new(),
            extremity_hashes: HashMap::new(),
            depth: 0,
            authorized: HashMap::new(),
        })
    }

    /// Loads a room's head from the database; None if the room is unknown.
    pub async fn load(store: &Store, room_id: &RoomId) -> Result<Option<Self>> {
        let Some(version) = store.room_version(room_id.as_str()).await? else {
            return Ok(None);
        };
        let mut head = Self::new(RoomVersionId::try_from(version).map_err(Error::internal)?)?;
        for row in store.current_state(room_id.as_str()).await? {
            let pdu = Pdu::from_stored(&row.event_id, room_id.as_str(), &row.pdu)?;
            head.put_state((StateEventType::from(row.event_type), row.state_key), Arc::new(pdu));
        }
        head.extremities = store
            .forward_extremities(room_id.as_str())
            .await?
            .into_iter()
            .filter_map(|id| OwnedEventId::try_from(id).ok())
            .collect();
        head.depth = u64::try_from(store.max_depth(room_id.as_str()).await?).unwrap_or(0);
        if head.uses_reference_pairs() {
            for id in head.extremities.clone() {
                if let Some(row) = store.event(id.as_str()).await? {
                    let pdu = Pdu::from_stored(id.as_str(), room_id.as_str(), &row.pdu)?;
                    head.remember_extremity(&pdu);
                }
            }
        }
        Ok(Some(head))
    }

    /// Moves the head past a new event.
    pub fn apply(&mut self, pdu: &Arc<Pdu>) {
        if let Some(key) = &pdu.state_key {
            self.put_state((pdu.kind.to_string().into(), key.clone()), pdu.clone());
        }
        self.set_extremities(vec![pdu.event_id.clone()], pdu);
        self.depth = self.depth.max(u64::from(pdu.depth));
    }

    /// Makes `extremities` the head's, `newest` being the one event among
    /// them the head has not seen as an extremity before.
    pub fn set_extremities(&mut self, extremities: Vec<OwnedEventId>, newest: &Pdu) {
        self.extremities = extremities;
        self.remember_extremity(newest);
        let current = &self.extremities;
        self.extremity_hashes.retain(|id, _| current.contains(id));
    }

    fn uses_reference_pairs(&self) -> bool {
        self.rules.events_reference_format == EventsReferenceFormatVersion::V1
    }

    fn remember_extremity(&mut self, pdu: &Pdu) {
        if self.uses_reference_pairs()
            && let Ok(hash) = ruma::signatures::reference_hash(&pdu.json, &self.rules)
        {
            self.extremity_hashes.insert(pdu.event_id.clone(), hash);
        }
    }

    /// How the next event references `id` in prev_events or auth_events:
    /// the id, or (versions 1 and 2) an [id, {"sha256": hash}] pair.
    /// `pdu` is the referenced event when at hand.
    pub fn reference(&self, id: &OwnedEventId, pdu: Option<&Pdu>) -> serde_json::Value {
        if !self.uses_reference_pairs() {
            return serde_json::json!(id);
        }
        let hash = match pdu {
            Some(pdu) => ruma::signatures::reference_hash(&pdu.json, &self.rules).ok(),
            None => self.extremity_hashes.get(id).cloned(),
        };
        serde_json::json!([id, {"sha256": hash.unwrap_or_default()}])
    }

    /// The room's state at the head.
    pub fn state(&self) -> &HashMap<StateKey, Arc<Pdu>> {
        &self.state
    }

    /// The state, given up (for a throwaway head).
    pub fn into_state(self) -> HashMap<StateKey, Arc<Pdu>> {
        self.state
    }

    /// Replaces the whole state.
    pub fn set_state(&mut self, state: HashMap<StateKey, Arc<Pdu>>) {
        self.state = state;
        self.state_changed();
    }

    /// Sets one entry of the state.
    pub fn put_state(&mut self, key: StateKey, pdu: Arc<Pdu>) {
        self.state.insert(key, pdu);
        self.state_changed();
    }

    /// Adds or replaces several entries of the state.
    pub fn extend_state(&mut self, entries: impl IntoIterator<Item = (StateKey, Arc<Pdu>)>) {
        self.state.extend(entries);
        self.state_changed();
    }

    fn state_changed(&mut self) {
        self.joined = OnceLock::new();
        self.servers = OnceLock::new();
        self.authorized.clear();
    }

    /// The joined members (local and remote), shared until the state changes.
    pub fn joined(&self) -> Arc<[OwnedUserId]> {
        self.joined.get_or_init(|| self.members_with(&[MembershipState::Join]).into()).clone()
    }

    /// The servers of the joined members (ours included), sorted, shared
    /// until the state changes.
    pub fn servers(&self) -> Arc<[OwnedServerName]> {
        self.servers
            .get_or_init(|| {
                let mut servers: Vec<OwnedServerName> =
                    self.joined().iter().map(|user| user.server_name().to_owned()).collect();
                servers.sort();
                servers.dedup();
                servers.into()
            })
            .clone()
    }

    pub fn get(&self, kind: &StateEventType, key: &str) -> Option<&Arc<Pdu>> {
        self.state.get(&(kind.clone(), key.to_owned()))
    }

    /// The state events a non-state event of `sender` is authorized by.
    pub fn auth_basis(&self, sender: &UserId) -> AuthBasis {
        [
            self.get(&StateEventType::RoomCreate, "").cloned(),
            self.get(&StateEventType::RoomPowerLevels, "").cloned(),
            self.get(&StateEventType::RoomMember, sender.as_str()).cloned(),
        ]
    }

    /// Whether the room's server ACL (m.room.server_acl) lets `server` take
    /// part; rooms without one allow everyone.
    pub fn server_allowed(&self, server: &ruma::ServerName) -> bool {
        let Some(acl) = self.get(&StateEventType::RoomServerAcl, "") else { return true };
        match serde_json::from_str::<ruma::events::room::server_acl::RoomServerAclEventContent>(
            acl.content.get(),
        ) {
            Ok(content) => content.is_allowed(server),
            // An ACL we cannot read denies nobody rather than everybody.
            Err(_) => true,
        }
    }

    /// A user's current membership, if any.
    pub fn membership(&self, user_id: &UserId) -> Option<MembershipState> {
        self.get(&StateEventType::RoomMember, user_id.as_str())
            .and_then(|pdu| pdu.membership.clone())
    }

    /// Users whose membership is one of `states`.
    pub fn members_with(&self, states: &[MembershipState]) -> Vec<OwnedUserId> {
        self.state
            .iter()
            .filter(|((kind, _), _)| *kind == StateEventType::RoomMember)
            .filter_map(|((_, key), pdu)| {
                let membership = pdu.membership.as_ref()?;
                states.contains(membership).then(|| OwnedUserId::try_from(key.as_str()).ok())?
            })
            .collect()
    }
}

impl RoomHead {
    fn is_creator(&self, user_id: &UserId) -> bool {
        let Some(create) = self.get(&StateEventType::RoomCreate, "") else {
            return false;
        };
        if create.sender == user_id {
            return true;
        }
        let content = create.content_value();
        content["additional_creators"]
            .as_array()
            .is_some_and(|list| list.iter().any(|u| u.as_str() == Some(user_id.as_str())))
    }

    fn power_levels(&self) -> Option<serde_json::Value> {
        self.get(&StateEventType::RoomPowerLevels, "").map(|pdu| pdu.content_value())
    }

    /// A user's power level; creators of a v12 room outrank everyone.
    pub fn power_of(&self, user_id: &UserId) -> i64 {
        if self.rules.authorization.explicitly_privilege_room_creators && self.is_creator(user_id) {
            return i64::MAX;
        }
        match self.power_levels() {
            Some(levels) => levels["users"][user_id.as_str()]
                .as_i64()
                .or_else(|| levels["users_default"].as_i64())
                .unwrap_or(0),
            None if self.is_creator(user_id) => 100,
            None => 0,
        }
    }

    /// The level needed to send a state event of this type.
    pub fn state_power(&self, kind: &str) -> i64 {
        self.power_levels()
            .and_then(|levels| {
                levels["events"][kind].as_i64().or_else(|| levels["state_default"].as_i64())
            })
            .unwrap_or(50)
    }

    /// The level an action (`redact`, `kick`, ...) needs.
    pub fn required_power(&self, action: &str, default: i64) -> i64 {
        self.power_levels().and_then(|levels| levels[action].as_i64()).unwrap_or(default)
    }
}
