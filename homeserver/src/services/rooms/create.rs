//! POST /createRoom: the create event, the creator's join, power levels,
//! the preset's rules, initial state, name, topic and invites, built in
//! order and committed together.

use ruma::events::room::member::MembershipState;
use ruma::{
    OwnedRoomAliasId, OwnedRoomId, OwnedUserId, RoomAliasId, RoomVersionId, UserId,
    api::client::room::create_room::v3::RoomPreset,
    events::{StateEventType, TimelineEventType},
};
use serde_json::{Value as JsonValue, json};

use super::{EventDraft, Rooms, head::RoomHead};
use crate::error::{Error, Result};

/// The room versions this server creates and joins rooms in (1 and 2 only
/// for the rooms of the wider network that still use them).
pub const SUPPORTED_VERSIONS: [RoomVersionId; 12] = [
    RoomVersionId::V1,
    RoomVersionId::V2,
    RoomVersionId::V3,
    RoomVersionId::V4,
    RoomVersionId::V5,
    RoomVersionId::V6,
    RoomVersionId::V7,
    RoomVersionId::V8,
    RoomVersionId::V9,
    RoomVersionId::V10,
    RoomVersionId::V11,
    RoomVersionId::V12,
];
pub const DEFAULT_VERSION: RoomVersionId = RoomVersionId::V12;

/// What a client asked for in POST /createRoom.
#[derive(Debug, Default)]
pub struct CreateRoom {
    pub preset: Option<RoomPreset>,
    pub public: bool,
    pub name: Option<String>,
    pub topic: Option<String>,
    pub alias_localpart: Option<String>,
    pub invite: Vec<OwnedUserId>,
    /// (type, state_key, content)
    pub initial_state: Vec<(String, String, JsonValue)>,
    pub power_level_content_override: Option<JsonValue>,
    pub is_direct: bool,
    pub room_version: Option<RoomVersionId>,
    pub creation_content: Option<JsonValue>,
}

fn merge(base: &mut JsonValue, over: &JsonValue) {
    if let (Some(base), Some(over)) = (base.as_object_mut(), over.as_object()) {
        for (key, value) in over {
            base.insert(key.clone(), value.clone());
        }
    }
}

fn power_levels(
    request: &CreateRoom,
    creator: &UserId,
    version: &RoomVersionId,
    preset: &RoomPreset,
) -> JsonValue {
    let mut users = serde_json::Map::new();
    // Since v12 creators hold power by being creators and must not be listed.
    if !matches!(version, RoomVersionId::V12) {
        users.insert(creator.to_string(), json!(100));
    }
    if *preset == RoomPreset::TrustedPrivateChat {
        for invitee in &request.invite {
            users.insert(invitee.to_string(), json!(100));
        }
    }
    let mut content = json!({
        "users": users,
        "users_default": 0,
        "events": {
            "m.room.name": 50,
            "m.room.power_levels": 100,
            "m.room.history_visibility": 100,
            "m.room.canonical_alias": 50,
            "m.room.avatar": 50,
            "m.room.tombstone": 100,
            "m.room.server_acl": 100,
            "m.room.encryption": 100,
        },
        "events_default": 0,
        "state_default": 50,
        "ban": 50,
        "kick": 50,
        "redact": 50,
        "invite": if *preset == RoomPreset::PublicChat { 50 } else { 0 },
        "notifications": {"room": 50},
    });
    if let Some(over) = &request.power_level_content_override {
        merge(&mut content, over);
    }
    content
}

impl Rooms {
    pub async fn create_room(
        &self,
        creator: &UserId,
        request: CreateRoom,
    ) -> Result<(OwnedRoomId, Option<OwnedRoomAliasId>)> {
        let version = request.room_version.clone().unwrap_or(DEFAULT_VERSION);
        if !SUPPORTED_VERSIONS.contains(&version) {
            return Err(Error::UnsupportedRoomVersion(version.to_string()));
        }
        let server_name = self.inner.config.server.server_name.clone();
        let alias = match &request.alias_localpart {
            Some(local) => {
                let alias = RoomAliasId::parse(format!("#{local}:{server_name}"))
                    .map_err(|e| Error::invalid_param(format!("invalid alias: {e}")))?;
                self.check_alias_allowed(creator, &alias)?;
                if self.store().alias(alias.as_str()).await?.is_some() {
                    return Err(Error::RoomInUse);
                }
                Some(alias)
            }
            None => None,
        };
        let preset = request.preset.clone().unwrap_or(if request.public {
            RoomPreset::PublicChat
        } else {
            RoomPreset::PrivateChat
        });
        for invitee in &request.invite {
            if invitee.server_name() == server_name
                && self.store().get_user(invitee.as_str()).await?.is_none()
            {
                return Err(Error::not_found(format!("unknown user {invitee}")));
            }
        }

        let mut head = RoomHead::new(version.clone())?;
        let mut create = json!({"room_version": version.as_str()});
        if let Some(extra) = &request.creation_content {
            merge(&mut create, extra);
            create["room_version"] = json!(version.as_str());
        }
        // Before v11 the creator is named in the content.
        if !head.rules.authorization.use_room_create_sender {
            create["creator"] = json!(creator);
        }
        let room_id_for_create = if matches!(version, RoomVersionId::V12) {
            None
        } else {
            let local = crate::services::auth::tokens::random_letters(18)?;
            Some(ruma::RoomId::parse(format!("!{local}:{server_name}")).map_err(Error::internal)?)
        };
        let create_event = self.build(
            &mut head,
            room_id_for_create.as_deref(),
            creator,
            EventDraft::state(TimelineEventType::RoomCreate, "", create),
            None,
            None,
        )?;
        let room_id = create_event.pdu.room_id.clone();

        let mut drafts = vec![EventDraft::state(
            TimelineEventType::RoomMember,
            creator.as_str(),
            self.member_content(creator, &MembershipState::Join, None).await?,
        )];
        drafts.push(EventDraft::state(
            TimelineEventType::RoomPowerLevels,
            "",
            power_levels(&request, creator, &version, &preset),
        ));
        if let Some(alias) = &alias {
            drafts.push(EventDraft::state(
                TimelineEventType::RoomCanonicalAlias,
                "",
                json!({"alias": alias}),
            ));
        }
        let (join_rule, guest) = match preset {
            RoomPreset::PublicChat => ("public", "forbidden"),
            _ => ("invite", "can_join"),
        };
        let mut state: Vec<(String, String, JsonValue)> = vec![
            ("m.room.join_rules".into(), String::new(), json!({"join_rule": join_rule})),
            (
                "m.room.history_visibility".into(),
                String::new(),
                json!({"history_visibility": "shared"}),
            ),
            ("m.room.guest_access".into(), String::new(), json!({"guest_access": guest})),
        ];
        for (kind, key, content) in &request.initial_state {
            if kind == StateEventType::RoomCreate.to_string().as_str() {
                return Err(Error::BadJson("initial_state cannot hold m.room.create".into()));
            }
            state.retain(|(k, s, _)| !(k == kind && s == key));
            state.push((kind.clone(), key.clone(), content.clone()));
        }
        if let Some(name) = &request.name {
            state.retain(|(k, _, _)| k != "m.room.name");
            state.push(("m.room.name".into(), String::new(), json!({"name": name})));
        }
        if let Some(topic) = &request.topic {
            state.retain(|(k, _, _)| k != "m.room.topic");
            state.push(("m.room.topic".into(), String::new(), json!({"topic": topic})));
        }
        drafts.extend(
            state.into_iter().map(|(kind, key, content)| EventDraft::state(kind, key, content)),
        );
        let federating = self.inner.federation.enabled();
        let (local, remote): (Vec<&OwnedUserId>, Vec<&OwnedUserId>) =
            request.invite.iter().partition(|u| self.is_local(u) || !federating);
        for invitee in local {
            let mut content = self.member_content(invitee, &MembershipState::Invite, None).await?;
            if request.is_direct {
                content["is_direct"] = json!(true);
            }
            drafts.push(EventDraft::state(
                TimelineEventType::RoomMember,
                invitee.as_str(),
                content,
            ));
        }

        let mut built = vec![create_event];
        for draft in drafts {
            built.push(self.build(&mut head, Some(&room_id), creator, draft, None, None)?);
        }
        let mut guard = self.lock_for_write(&room_id, true).await?;
        *guard = Some(head);
        let pending = self.submit(built).await?;
        drop(guard);
        self.durable(&room_id, pending).await?;

        if let Some(alias) = &alias
            && !self
                .store()
                .create_alias(alias.as_str(), room_id.as_str(), creator.as_str())
                .await?
        {
            return Err(Error::RoomInUse);
        }
        if request.public {
            self.store().set_room_public(room_id.as_str(), true).await?;
        }
        // Other servers' users are invited once the room exists: their
        // servers countersign each invite.
        for invitee in remote {
            let invited =
                self.invite_remote(&room_id, creator, invitee, None, request.is_direct).await;
            if let Err(error) = invited {
                tracing::warn!(%error, %invitee, "could not invite a user of another server");
            }
        }
        tracing::info!(room = %room_id, %version, "room created");
        Ok((room_id, alias))
    }
}
