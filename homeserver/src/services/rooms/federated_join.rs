//! Joins over federation, both ways. Serving: make_join hands a joining
//! server an event template built on our head; send_join takes the signed
//! event through the remote path and answers the room's state and its auth
//! chain. Joining: a user here joins a room only other servers are in by
//! asking one of them for a template, signing it, and building the room
//! from the state that server answers, after checking every event of it.

use ruma::events::room::member::MembershipState;
use std::sync::Arc;

use ruma::{
    CanonicalJsonObject, OwnedEventId, OwnedRoomId, OwnedServerName, RoomId, RoomVersionId,
    ServerName, UserId,
    api::federation::membership::{create_join_event, prepare_join_event},
    events::{StateEventType, TimelineEventType},
};
use serde_json::value::RawValue;

use super::{
    EventDraft, Rooms,
    builder::{sign_event, template},
    head::RoomHead,
    outgoing::rules_of_version,
    pdu::Pdu,
    remote::Received,
    resolve::{EventCache, StateMap, entries},
    restricted::AUTHORISED_VIA,
};
use crate::{
    error::{Error, Result},
    store::ResolvedState,
};

/// The room versions this server can join (those it can create too).
pub fn supported_versions() -> Vec<RoomVersionId> {
    super::create::SUPPORTED_VERSIONS.iter().rev().cloned().collect()
}

impl Rooms {
    /// make_join / make_leave: a template of `user_id`'s own membership
    /// event for server `origin` to sign, if the rules would allow it.
    pub async fn make_membership(
        &self,
        origin: &ServerName,
        room_id: &RoomId,
        user_id: &UserId,
        membership: &MembershipState,
        versions: &[RoomVersionId],
    ) -> Result<(RoomVersionId, Box<RawValue>)> {
        if user_id.server_name() != origin {
            return Err(Error::forbidden("the user does not belong to the requesting server"));
        }
        let mut content = serde_json::json!({"membership": membership});
        if *membership == MembershipState::Join
            && let Some(authoriser) = self.join_authoriser(room_id, user_id).await?
        {
            content[AUTHORISED_VIA] = authoriser.as_str().into();
        }
        let draft = EventDraft::state(TimelineEventType::RoomMember, user_id.as_str(), content);
        let (version, event) = self
            .with_head(room_id, |head| -> Result<_> {
                if !head.server_allowed(origin) {
                    return Err(Error::forbidden("the room's server ACL denies your server"));
                }
                if !versions.contains(&head.version) {
                    return Err(Error::IncompatibleRoomVersion(head.version.to_string()));
                }
                let event = template(head, Some(room_id), user_id, draft)?;
                // Would the event be allowed? Check a stand-in before answering.
                let probe = probe_pdu(room_id, event.clone())?;
                super::builder::authorize(head, &probe)?;
                Ok((head.version.clone(), event))
            })
            .await??;
        let text = serde_json::to_string(&event).map_err(Error::internal)?;
        Ok((version, RawValue::from_string(text).map_err(Error::internal)?))
    }

    /// send_join: takes a signed join from `origin` and answers the state
    /// before it with its auth chain.
    pub async fn send_join(
        &self,
        origin: &ServerName,
        room_id: &RoomId,
        event_id: &ruma::EventId,
        json: CanonicalJsonObject,
    ) -> Result<create_join_event::v2::RoomState> {
        let rules = self.rules_of(room_id).await?;
        let pdu = self
            .receive_membership(origin, room_id, event_id, json, &MembershipState::Join)
            .await?;
        let state = self.state_before_event(&rules, &pdu).await?;
        let mut cache = EventCache::new();
        let chain = self
            .auth_chain(&state.values().map(|p| p.event_id.clone()).collect::<Vec<_>>(), &mut cache)
            .await?;
        let mut room_state = create_join_event::v2::RoomState::new();
        for event in state.values() {
            room_state.state.push(self.outgoing(&rules, event)?);
        }
        for id in chain {
            if let Some(event) = self.known_event(&id, &mut cache).await? {
                room_state.auth_chain.push(self.outgoing(&rules, &event)?);
            }
        }
        room_state.event = Some(self.outgoing(&rules, &pdu)?);
        Ok(room_state)
    }

    /// send_join / send_leave: takes `origin`'s signed membership event of
    /// one of its users into the room (and on to the other servers).
    pub async fn receive_membership(
        &self,
        origin: &ServerName,
        room_id: &RoomId,
        event_id: &ruma::EventId,
        json: CanonicalJsonObject,
        membership: &MembershipState,
    ) -> Result<Arc<Pdu>> {
        let version = self.room_version(room_id).await?;
        let mut json = json;
        if *membership == MembershipState::Join {
            self.countersign_join(room_id, &rules_of_version(&version)?, &mut json).await?;
        }
        let checked = self.inner.federation.check_pdu(json, &version).await?;
        if checked.event_id != event_id {
            return Err(Error::BadJson("the event id does not match the event".into()));
        }
        let pdu = Arc::new(Pdu::from_json(checked.event_id, room_id.to_owned(), checked.json)?);
        let is_own = pdu.kind == TimelineEventType::RoomMember
            && pdu.content_str("membership").as_deref() == Some(membership.as_str())
            && pdu.state_key.as_deref() == Some(pdu.sender.as_str())
            && pdu.sender.server_name() == origin;
        if !is_own || pdu.room_id != room_id {
            return Err(Error::BadJson(format!("not a {membership} of the sending server's user")));
        }
        let received = self.process_remote(origin, pdu.clone(), 1, Some(origin)).await?;
        if received == Received::SoftFailed {
            return Err(Error::forbidden(format!("the {membership} is not allowed")));
        }
        Ok(pdu)
    }

    /// Joins `user_id` to a room this server is not in, through one of `via`.
    pub async fn join_remote(
        &self,
        room_id: &RoomId,
        user_id: &UserId,
        via: &[OwnedServerName],
        reason: Option<&str>,
    ) -> Result<OwnedRoomId> {
        let mut last_error = Error::not_found("no server to join the room through");
        let own = self.inner.config.server.server_name.clone();
        let servers: Vec<OwnedServerName> = via.iter().filter(|s| **s != own).cloned().collect();
        for server in &servers {
            match self.join_through(server, room_id, user_id, reason).await {
                Ok(()) => return Ok(room_id.to_owned()),
                Err(error) => {
                    tracing::info!(%error, %server, %room_id, "remote join failed");
                    last_error = error;
                }
            }
        }
        Err(last_error)
    }

    async fn join_through(
        &self,
        server: &ServerName,
        room_id: &RoomId,
        user_id: &UserId,
        reason: Option<&str>,
    ) -> Result<()> {
        let mut request =
            prepare_join_event::v1::Request::new(room_id.to_owned(), user_id.to_owned());
        request.ver = supported_versions();
        let answer = self.inner.federation.send(server, request).await?;
        let version = answer.room_version.unwrap_or(RoomVersionId::V1);
        let join = self
            .sign_template(
                room_id,
                user_id,
                &MembershipState::Join,
                &version,
                &answer.event,
                reason,
            )
            .await?;
        let request = create_join_event::v2::Request::new(
            room_id.to_owned(),
            join.event_id.clone(),
            self.outgoing(&rules_of_version(&version)?, &join)?,
        );
        let answer = self.inner.federation.send(server, request).await?.room_state;
        let mut cache = EventCache::new();
        let state = self.checked_join_state(room_id, &version, &answer, &mut cache).await?;
        let mut head = RoomHead::new(version.clone())?;
        head.set_state(state);
        let join = Arc::new(self.countersigned(room_id, &version, join, answer.event).await?);
        super::builder::authorize(&head, &join)?;
        self.persist_joined_room(room_id, head, join, cache).await
    }

    /// Fills in and signs the template a make_join / make_leave answered,
    /// after checking it is the membership event that was asked for.
    pub(super) async fn sign_template(
        &self,
        room_id: &RoomId,
        user_id: &UserId,
        membership: &MembershipState,
        version: &RoomVersionId,
        template: &RawValue,
        reason: Option<&str>,
    ) -> Result<Pdu> {
        let rules = rules_of_version(version)?;
        let mut event: serde_json::Value =
            serde_json::from_str(template.get()).map_err(|e| Error::BadJson(e.to_string()))?;
        let valid_template = event["type"] == "m.room.member"
            && event["state_key"] == user_id.as_str()
            && event["sender"] == user_id.as_str()
            && event["room_id"] == room_id.as_str()
            && event["content"]["membership"] == membership.as_str();
        if !valid_template {
            return Err(Error::Upstream(format!("make_{membership} answered another template")));
        }
        let mut content = self.member_content(user_id, membership, reason).await?;
        // A restricted room's resident names who vouches for the join.
        if let Some(authoriser) = event["content"].get(AUTHORISED_VIA) {
            content[AUTHORISED_VIA] = authoriser.clone();
        }
        event["content"] = content;
        event["origin_server_ts"] = serde_json::json!(ruma::MilliSecondsSinceUnixEpoch::now());
        if let Some(object) = event.as_object_mut() {
            for field in ["hashes", "signatures", "unsigned", "event_id"] {
                object.remove(field);
            }
        }
        let server_name = &self.inner.config.server.server_name;
        sign_event(event, Some(room_id), &rules, server_name, &self.inner.key)
    }

    /// Our join as the resident server sent it on: with its signature when
    /// it vouched for a restricted join (the same event, signed once more).
    async fn countersigned(
        &self,
        room_id: &RoomId,
        version: &RoomVersionId,
        join: Pdu,
        answered: Option<Box<RawValue>>,
    ) -> Result<Pdu> {
        let Some(answered) =
            answered.filter(|_| join.content_value().get(AUTHORISED_VIA).is_some())
        else {
            return Ok(join);
        };
        let json: CanonicalJsonObject =
            serde_json::from_str(answered.get()).map_err(|e| Error::BadJson(e.to_string()))?;
        let checked = self.inner.federation.check_pdu(json, version).await?;
        if checked.event_id != join.event_id {
            return Err(Error::Upstream("send_join answered another event".into()));
        }
        Pdu::from_json(checked.event_id, room_id.to_owned(), checked.json)
    }

    /// Checks the state and auth chain a send_join answered: signatures of
    /// every event, each state event authorized by its auth events, one
    /// create event of this very room.
    async fn checked_join_state(
        &self,
        room_id: &RoomId,
        version: &RoomVersionId,
        answer: &create_join_event::v2::RoomState,
        cache: &mut EventCache,
    ) -> Result<StateMap> {
        let mut checked = Vec::new();
        for text in answer.auth_chain.iter().chain(&answer.state) {
            let json: CanonicalJsonObject =
                serde_json::from_str(text.get()).map_err(|e| Error::BadJson(e.to_string()))?;
            let ok = self.inner.federation.check_pdu(json, version).await?;
            let pdu = Arc::new(Pdu::from_json(ok.event_id, room_id.to_owned(), ok.json)?);
            if pdu.room_id != room_id {
                return Err(Error::forbidden("the join answer mixes in another room"));
            }
            cache.insert(pdu.event_id.clone(), pdu.clone());
            checked.push(pdu);
        }
        let state_ids: Vec<OwnedEventId> = answer
            .state
            .iter()
            .filter_map(|t| serde_json::from_str::<CanonicalJsonObject>(t.get()).ok())
            .filter_map(|json| lattice_federation::pdu::event_id(&json, &version.rules()?).ok())
            .collect();
        let rules =
            version.rules().ok_or_else(|| Error::UnsupportedRoomVersion(version.to_string()))?;
        let create = state_ids
            .iter()
            .filter_map(|id| cache.get(id))
            .find(|p| p.kind == TimelineEventType::RoomCreate && p.state_key.as_deref() == Some(""))
            .cloned()
            .ok_or_else(|| Error::Upstream("the join answer has no create event".into()))?;
        let mut state = StateMap::new();
        for id in &state_ids {
            let Some(pdu) = cache.get(id).cloned() else { continue };
            let Some(key) = &pdu.state_key else { continue };
            let auth: StateMap = pdu
                .auth_events
                .iter()
                .filter_map(|a| cache.get(a))
                .filter_map(|a| {
                    Some(((a.kind.to_string().into(), a.state_key.clone()?), a.clone()))
                })
                .collect();
            let mut probe = RoomHead::new(version.clone())?;
            let mut auth = auth;
            // Since v12 the create event is implied by the room id, not listed.
            auth.entry((StateEventType::RoomCreate, String::new()))
                .or_insert_with(|| create.clone());
            probe.set_state(auth);
            if let Err(error) = super::builder::authorize(&probe, &pdu) {
                tracing::info!(%error, event = %pdu.event_id, "dropping a state event that fails auth");
                continue;
            }
            state.insert((pdu.kind.to_string().into(), key.clone()), pdu);
        }
        if rules.authorization.room_create_event_id_as_room_id
            && create.event_id.localpart() != room_id.strip_sigil()
        {
            return Err(Error::forbidden("the create event is not this room's"));
        }
        Ok(state)
    }

    /// Stores a room joined (or left) over federation: its state and auth
    /// chain as outliers, then the event as the latest of our timeline.
    pub(super) async fn persist_joined_room(
        &self,
        room_id: &RoomId,
        mut head: RoomHead,
        join: Arc<Pdu>,
        cache: EventCache,
    ) -> Result<()> {
        let outliers: Vec<(String, String, String)> = cache
            .values()
            .map(|p| (p.event_id.to_string(), room_id.to_string(), p.to_stored()))
            .collect();
        self.store().insert_outliers(&outliers).await?;
        let is_new = self.store().room_version(room_id.as_str()).await?.is_none();
        head.apply(&join);
        // The room's members become findable by the users who now share it.
        let profiles: Vec<_> = head.state().values().filter_map(|p| p.directory_entry()).collect();
        self.store().upsert_directory(&profiles).await?;
        let members = head.joined();
        let state = entries(head.state());
        let resolved = ResolvedState { after_event: state.clone(), current: state };
        let version = head.version.clone();
        let mut built = self.built(
            members,
            join.clone(),
            None,
            None,
            Some(Arc::new(resolved)),
            Vec::new(),
            &version,
        );
        built.row.is_new_room = is_new;
        let mut guard = self.lock_for_write(room_id, true).await?;
        let pending = self.submit(vec![built]).await?;
        *guard = None;
        drop(guard);
        self.durable(room_id, pending).await?;
        Ok(())
    }
}

/// The template as a PDU, to run the auth rules on before it is signed.
fn probe_pdu(room_id: &RoomId, mut event: serde_json::Value) -> Result<Pdu> {
    event["hashes"] = serde_json::json!({"sha256": ""});
    event["signatures"] = serde_json::json!({});
    let object = match ruma::CanonicalJsonValue::try_from(event) {
        Ok(ruma::CanonicalJsonValue::Object(object)) => object,
        _ => return Err(Error::internal("template is not an object")),
    };
    let id = ruma::EventId::parse("$probe").map_err(Error::internal)?;
    Pdu::from_json(id, room_id.to_owned(), object)
}
