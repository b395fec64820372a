//! EDUs from other servers: typing notices and read receipts. An EDU
//! speaks for users, and a server may only speak for its own; one about a
//! room is dropped when the room's server ACL denies the sender.

use std::time::Duration;

use ruma::{EventId, OwnedRoomId, OwnedUserId, ServerName, serde::Raw};
use serde::Deserialize;

use crate::services::Services;

#[derive(Deserialize)]
struct AnyEdu {
    edu_type: String,
    content: serde_json::Value,
}

#[derive(Deserialize)]
struct TypingContent {
    room_id: OwnedRoomId,
    user_id: OwnedUserId,
    typing: bool,
}

/// How long a remote typing notice lasts unless renewed (the spec's 30 s).
const REMOTE_TYPING: Duration = Duration::from_secs(30);

impl Services {
    /// Applies one EDU from `origin`; malformed or foreign ones are dropped.
    pub async fn receive_edu<T>(&self, origin: &ServerName, edu: &Raw<T>) {
        let Ok(edu) = serde_json::from_str::<AnyEdu>(edu.json().get()) else { return };
        match edu.edu_type.as_str() {
            "m.typing" => {
                let Ok(typing) = serde_json::from_value::<TypingContent>(edu.content) else {
                    return;
                };
                if typing.user_id.server_name() != origin {
                    tracing::warn!(%origin, user = %typing.user_id, "typing EDU for another server's user");
                    return;
                }
                if !self.rooms.admits_server(&typing.room_id, origin).await {
                    return;
                }
                let result = self
                    .typing
                    .set(&typing.room_id, &typing.user_id, typing.typing, REMOTE_TYPING)
                    .await;
                if let Err(error) = result {
                    tracing::debug!(%error, "remote typing notice refused");
                }
            }
            "m.receipt" => self.receive_receipts(origin, edu.content).await,
            "m.presence" => self.receive_presence(origin, edu.content).await,
            "m.direct_to_device" => {
                if let Err(error) = self.keys.receive_to_device(origin, edu.content).await {
                    tracing::warn!(%error, %origin, "could not queue remote to-device messages");
                }
            }
            "m.device_list_update" => {
                if let Err(error) = self.keys.receive_device_list_update(origin, edu.content).await
                {
                    tracing::warn!(%error, %origin, "could not record a device list update");
                }
            }
            other => tracing::debug!(edu_type = other, "EDU type not handled"),
        }
    }

    /// `m.presence`: {push: [{user_id, presence, status_msg}]}.
    async fn receive_presence(&self, origin: &ServerName, content: serde_json::Value) {
        for update in content["push"].as_array().into_iter().flatten() {
            let Some(user_id) =
                update["user_id"].as_str().and_then(|u| ruma::UserId::parse(u).ok())
            else {
                continue;
            };
            if user_id.server_name() != origin {
                tracing::warn!(%origin, user = %user_id, "presence EDU for another server's user");
                continue;
            }
            let Some(state) = update["presence"].as_str() else { continue };
            let state = ruma::presence::PresenceState::from(state);
            let message = update["status_msg"].as_str();
            if let Err(error) = self.presence.set(&user_id, &state, message).await {
                tracing::debug!(%error, "remote presence refused");
            }
        }
    }

    /// `m.receipt`: {room_id: {receipt type: {user_id: {event_ids, data}}}}.
    async fn receive_receipts(&self, origin: &ServerName, content: serde_json::Value) {
        let Some(rooms) = content.as_object() else { return };
        for (room_id, types) in rooms {
            let Ok(room_id) = ruma::RoomId::parse(room_id) else { continue };
            if !self.rooms.admits_server(&room_id, origin).await {
                continue;
            }
            let Some(read) = types.get("m.read").and_then(|r| r.as_object()) else { continue };
            for (user_id, receipt) in read {
                let Ok(user_id) = ruma::UserId::parse(user_id) else { continue };
                if user_id.server_name() != origin {
                    tracing::warn!(%origin, user = %user_id, "receipt EDU for another server's user");
                    continue;
                }
                let thread = receipt["data"]["thread_id"].as_str();
                let Some(ids) = receipt["event_ids"].as_array() else { continue };
                for id in ids.iter().filter_map(|id| id.as_str()) {
                    let Ok(event_id) = EventId::parse(id) else { continue };
                    let result =
                        self.receipts.set(&room_id, &user_id, "m.read", &event_id, thread).await;
                    if let Err(error) = result {
                        tracing::debug!(%error, "remote receipt refused");
                    }
                }
            }
        }
    }
}
