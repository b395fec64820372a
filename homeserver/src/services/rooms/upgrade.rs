//! Room upgrades: a new room of another version that carries the old
//! room's settings, a tombstone in the old room pointing to it, and the old
//! room muted so conversation moves on.

use ruma::{
    OwnedRoomId, RoomId, RoomVersionId, UserId,
    events::{StateEventType, TimelineEventType},
};
use serde_json::{Value as JsonValue, json};

use super::{CreateRoom, EventDraft, Rooms, create::SUPPORTED_VERSIONS};
use crate::error::{Error, Result};

/// State that moves to the replacement room.
const CARRIED_STATE: [&str; 8] = [
    "m.room.name",
    "m.room.topic",
    "m.room.avatar",
    "m.room.join_rules",
    "m.room.history_visibility",
    "m.room.guest_access",
    "m.room.encryption",
    "m.room.server_acl",
];

impl Rooms {
    pub async fn upgrade(
        &self,
        room_id: &RoomId,
        user_id: &UserId,
        version: RoomVersionId,
    ) -> Result<OwnedRoomId> {
        if !SUPPORTED_VERSIONS.contains(&version) {
            return Err(Error::UnsupportedRoomVersion(version.to_string()));
        }
        let (allowed, state, levels) = self
            .with_head(room_id, |head| {
                let allowed = head.power_of(user_id) >= head.state_power("m.room.tombstone");
                let state: Vec<(String, JsonValue)> = CARRIED_STATE
                    .iter()
                    .filter_map(|kind| {
                        let pdu = head.get(&StateEventType::from(*kind), "")?;
                        Some(((*kind).to_owned(), pdu.content_value()))
                    })
                    .collect();
                let levels =
                    head.get(&StateEventType::RoomPowerLevels, "").map(|p| p.content_value());
                (allowed, state, levels)
            })
            .await?;
        if !allowed {
            return Err(Error::forbidden("you may not upgrade this room"));
        }
        let mut levels_override = levels.clone().unwrap_or_else(|| json!({}));
        if matches!(version, RoomVersionId::V12) {
            // Creators are privileged by role in v12 and must not be listed.
            if let Some(users) = levels_override["users"].as_object_mut() {
                users.remove(user_id.as_str());
            }
        }
        let request = CreateRoom {
            room_version: Some(version),
            creation_content: Some(json!({"predecessor": {"room_id": room_id}})),
            initial_state: state
                .into_iter()
                .map(|(kind, content)| (kind, String::new(), content))
                .collect(),
            power_level_content_override: Some(levels_override),
            ..CreateRoom::default()
        };
        let (new_room, _) = self.create_room(user_id, request).await?;

        let tombstone =
            json!({"body": "This room has been replaced", "replacement_room": new_room});
        self.append(
            room_id,
            user_id,
            EventDraft::state(TimelineEventType::RoomTombstone, "", tombstone),
            None,
        )
        .await?;
        // Mute the old room: sending and inviting now need moderator rights.
        if let Some(mut levels) = levels {
            let floor = 50.max(levels["users_default"].as_i64().unwrap_or(0) + 1);
            for key in ["events_default", "invite"] {
                let current = levels[key].as_i64().unwrap_or(0);
                levels[key] = json!(current.max(floor));
            }
            self.append(
                room_id,
                user_id,
                EventDraft::state(TimelineEventType::RoomPowerLevels, "", levels),
                None,
            )
            .await?;
        }
        // Local aliases follow the room.
        for alias in self.store().room_aliases(room_id.as_str()).await? {
            self.store().move_alias(&alias, new_room.as_str()).await?;
        }
        tracing::info!(old = %room_id, new = %new_room, "room upgraded");
        Ok(new_room)
    }
}
