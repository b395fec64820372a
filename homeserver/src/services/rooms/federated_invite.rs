//! Invites across servers. Inviting a user of another server: the event is
//! signed here, countersigned by the invitee's server (PUT /invite), then
//! enters the room like any event. Being invited from elsewhere: a room this
//! server is not in is kept as a stub (the invite and the room's public
//! state, as PDUs checked here) until the user joins it or declines.

use ruma::events::room::member::MembershipState;
use std::sync::Arc;

use ruma::{
    CanonicalJsonObject, EventId, RoomId, RoomVersionId, ServerName, UserId,
    api::federation::membership::{
        RawStrippedState, create_invite, create_knock_event, create_leave_event,
        prepare_knock_event, prepare_leave_event,
    },
    events::TimelineEventType,
};
use serde_json::value::RawValue;

use super::{
    EventDraft, Rooms,
    builder::{authorize, sign_event, template},
    head::RoomHead,
    outgoing::rules_of_version,
    pdu::Pdu,
    resolve::StateMap,
};
use crate::error::{Error, Result};

/// The state an invitee sees before joining (also what sync shows with an
/// invite).
pub const INVITE_STATE: [&str; 6] = [
    "m.room.create",
    "m.room.join_rules",
    "m.room.name",
    "m.room.avatar",
    "m.room.canonical_alias",
    "m.room.encryption",
];

impl Rooms {
    /// Invites a user of another server.
    pub(super) async fn invite_remote(
        &self,
        room_id: &RoomId,
        sender: &UserId,
        target: &UserId,
        reason: Option<&str>,
        is_direct: bool,
    ) -> Result<()> {
        let mut content = self.member_content(target, &MembershipState::Invite, reason).await?;
        if is_direct {
            content["is_direct"] = serde_json::json!(true);
        }
        let draft = EventDraft::state(TimelineEventType::RoomMember, target.as_str(), content);
        let (event, rules, version) = self
            .with_head(room_id, |head| {
                let event = template(head, Some(room_id), sender, draft);
                (event, head.rules.clone(), head.version.clone())
            })
            .await?;
        let own = &self.inner.config.server.server_name;
        let invite = sign_event(event?, Some(room_id), &rules, own, &self.inner.key)?;
        self.with_head(room_id, |head| authorize(head, &invite)).await??;
        let state = self.stub_state(room_id).await?;
        let request = create_invite::v2::Request::new(
            room_id.to_owned(),
            invite.event_id.clone(),
            version.clone(),
            self.outgoing(&rules, &invite)?,
            state,
        );
        let server = target.server_name();
        let answer = self.inner.federation.send(server, request).await?;
        let json: CanonicalJsonObject =
            serde_json::from_str(answer.event.get()).map_err(|e| Error::Upstream(e.to_string()))?;
        let countersigned = json
            .get("signatures")
            .and_then(|s| match s {
                ruma::CanonicalJsonValue::Object(map) => Some(map.contains_key(server.as_str())),
                _ => None,
            })
            .unwrap_or(false);
        let checked = self.inner.federation.check_pdu(json, &version).await?;
        if checked.event_id != invite.event_id || !countersigned {
            return Err(Error::Upstream(
                "the invitee's server did not countersign the invite".into(),
            ));
        }
        let signed = Pdu::from_json(checked.event_id, room_id.to_owned(), checked.json)?;
        self.process_remote(server, Arc::new(signed), 0, Some(server)).await?;
        Ok(())
    }

    /// The room's public state as PDUs, for an invitee or a knocker.
    async fn stub_state(&self, room_id: &RoomId) -> Result<Vec<RawStrippedState>> {
        let (rules, shown) = self
            .with_head(room_id, |head| {
                let shown: Vec<Arc<Pdu>> = head
                    .state()
                    .values()
                    .filter(|p| INVITE_STATE.contains(&p.kind.to_string().as_str()))
                    .cloned()
                    .collect();
                (head.rules.clone(), shown)
            })
            .await?;
        shown.iter().map(|pdu| Ok(RawStrippedState::Pdu(self.outgoing(&rules, pdu)?))).collect()
    }

    /// send_knock: takes a knock from `origin`'s user and answers the
    /// room's public state.
    pub async fn send_knock(
        &self,
        origin: &ServerName,
        room_id: &RoomId,
        event_id: &EventId,
        json: CanonicalJsonObject,
    ) -> Result<Vec<RawStrippedState>> {
        self.receive_membership(origin, room_id, event_id, json, &MembershipState::Knock).await?;
        self.stub_state(room_id).await
    }

    /// Knocks on a room this server is not in, through one of `servers`.
    pub(super) async fn knock_remote(
        &self,
        room_id: &RoomId,
        user_id: &UserId,
        servers: &[ruma::OwnedServerName],
        reason: Option<&str>,
    ) -> Result<()> {
        let own = self.inner.config.server.server_name.clone();
        let mut last_error = Error::not_found("no server to knock through");
        for server in servers.iter().filter(|s| **s != own).cloned().collect::<Vec<_>>() {
            let mut request =
                prepare_knock_event::v1::Request::new(room_id.to_owned(), user_id.to_owned());
            request.ver = super::supported_versions();
            let answer = match self.inner.federation.send(&server, request).await {
                Ok(answer) => answer,
                Err(error) => {
                    last_error = error;
                    continue;
                }
            };
            let version = answer.room_version;
            let knock = self
                .sign_template(
                    room_id,
                    user_id,
                    &MembershipState::Knock,
                    &version,
                    &answer.event,
                    reason,
                )
                .await?;
            let request = create_knock_event::v1::Request::new(
                room_id.to_owned(),
                knock.event_id.clone(),
                self.outgoing(&rules_of_version(&version)?, &knock)?,
            );
            let state = self.inner.federation.send(&server, request).await?.knock_room_state;
            return self.keep_invite_stub(room_id, &version, Arc::new(knock), &state).await;
        }
        Err(last_error)
    }

    /// Declines an invite to a room this server is not in: the leave goes
    /// through the inviting server (make_leave, then send_leave).
    pub(super) async fn leave_remote(
        &self,
        room_id: &RoomId,
        user_id: &UserId,
        server: &ServerName,
        reason: Option<&str>,
    ) -> Result<()> {
        let request = prepare_leave_event::v1::Request::new(room_id.to_owned(), user_id.to_owned());
        let answer = self.inner.federation.send(server, request).await?;
        let version = match answer.room_version {
            Some(version) => version,
            None => self.room_version(room_id).await?,
        };
        let leave = self
            .sign_template(
                room_id,
                user_id,
                &MembershipState::Leave,
                &version,
                &answer.event,
                reason,
            )
            .await?;
        let request = create_leave_event::v2::Request::new(
            room_id.to_owned(),
            leave.event_id.clone(),
            self.outgoing(&rules_of_version(&version)?, &leave)?,
        );
        self.inner.federation.send(server, request).await?;
        let head = self.with_head(room_id, |head| head.clone()).await?;
        self.persist_joined_room(room_id, head, Arc::new(leave), Default::default()).await
    }

    /// PUT /invite from `origin`: checks the invite, countersigns it and
    /// keeps it for the invitee.
    pub async fn receive_invite(
        &self,
        origin: &ServerName,
        room_id: &RoomId,
        event_id: &EventId,
        version: &RoomVersionId,
        event: &RawValue,
        invite_state: &[RawStrippedState],
    ) -> Result<Box<RawValue>> {
        let rules =
            version.rules().ok_or_else(|| Error::IncompatibleRoomVersion(version.to_string()))?;
        let json: CanonicalJsonObject =
            serde_json::from_str(event.get()).map_err(|e| Error::BadJson(e.to_string()))?;
        let checked = self.inner.federation.check_pdu(json, version).await?;
        if checked.event_id != event_id {
            return Err(Error::BadJson("the event id does not match the event".into()));
        }
        let mut json = checked.json;
        let invite = Pdu::from_json(checked.event_id, room_id.to_owned(), json.clone())?;
        let target = invite.state_key.as_deref().and_then(|k| UserId::parse(k).ok());
        let valid = invite.kind == TimelineEventType::RoomMember
            && invite.membership == Some(MembershipState::Invite)
            && invite.sender.server_name() == origin
            && invite.room_id == room_id
            && target.as_ref().is_some_and(|t| self.is_local(t));
        let Some(target) = target.filter(|_| valid) else {
            return Err(Error::BadJson("not an invite from that server for a user here".into()));
        };
        if self.store().get_user(target.as_str()).await?.is_none_or(|u| u.is_deactivated()) {
            return Err(Error::not_found("no such user"));
        }
        if self.store().is_room_blocked(room_id.as_str()).await? {
            return Err(Error::forbidden("this room has been shut down on this server"));
        }
        let own = self.inner.config.server.server_name.clone();
        ruma::signatures::sign_event(
            own.as_str(),
            &*self.inner.key.key_pair,
            &mut json,
            &rules.redaction,
        )
        .map_err(Error::internal)?;
        let signed = Arc::new(Pdu::from_json(invite.event_id.clone(), room_id.to_owned(), json)?);
        let known = self.store().room_version(room_id.as_str()).await?.is_some();
        let in_room = known
            && self
                .with_head(room_id, |head| head.joined().iter().any(|u| self.is_local(u)))
                .await?;
        if in_room {
            self.process_remote(origin, signed.clone(), 1, None).await?;
        } else {
            self.keep_invite_stub(room_id, version, signed.clone(), invite_state).await?;
        }
        self.outgoing(&rules, &signed)
    }

    /// A room known only through an invite or a knock: its public state
    /// and that membership event.
    async fn keep_invite_stub(
        &self,
        room_id: &RoomId,
        version: &RoomVersionId,
        invite: Arc<Pdu>,
        invite_state: &[RawStrippedState],
    ) -> Result<()> {
        let mut state = StateMap::new();
        for entry in invite_state {
            let RawStrippedState::Pdu(text) = entry else { continue };
            let Ok(json) = serde_json::from_str::<CanonicalJsonObject>(text.get()) else {
                continue;
            };
            match self.inner.federation.check_pdu(json, version).await {
                Ok(checked) => {
                    let pdu = Pdu::from_json(checked.event_id, room_id.to_owned(), checked.json)?;
                    let shown = INVITE_STATE.contains(&pdu.kind.to_string().as_str());
                    if let (true, Some(key)) =
                        (shown && pdu.room_id == room_id, pdu.state_key.clone())
                    {
                        state.insert((pdu.kind.to_string().into(), key), Arc::new(pdu));
                    }
                }
                Err(error) => tracing::info!(%error, "dropping invite state that fails its checks"),
            }
        }
        let is_new = self.store().room_version(room_id.as_str()).await?.is_none();
        // A second invite to the same stub keeps what the first one brought.
        let mut head = match is_new {
            true => RoomHead::new(version.clone())?,
            false => self.with_head(room_id, |head| head.clone()).await?,
        };
        let cache = state.values().map(|p| (p.event_id.clone(), p.clone())).collect();
        head.extend_state(state);
        self.persist_joined_room(room_id, head, invite, cache).await
    }
}
