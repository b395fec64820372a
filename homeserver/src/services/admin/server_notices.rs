//! Server notices: messages from the server to a user (terms changed, an
//! account limit reached), in a room of their own that only the server
//! writes to.

use ruma::{
    OwnedEventId, OwnedUserId, RoomId, UserId, api::client::room::create_room::v3::RoomPreset,
};
use serde_json::{Value as JsonValue, json};

use super::Admin;
use crate::{
    error::{Error, Result},
    services::{auth::Requester, rooms::CreateRoom},
};

impl Admin {
    /// The account notices come from, made on first use (it has no password).
    async fn notices_account(&self) -> Result<OwnedUserId> {
        let localpart = &self.config.server_notices.localpart;
        let user_id = UserId::parse(format!("@{localpart}:{}", self.config.server.server_name))
            .map_err(|e| Error::internal(format!("server_notices.localpart: {e}")))?;
        if self.store.get_user(user_id.as_str()).await?.is_none() {
            self.store.create_user(user_id.as_str(), None, localpart, None).await?;
        }
        Ok(user_id)
    }

    /// Sends `content` (an m.room.message content) to `user` in their
    /// notices room, creating the room or inviting them back as needed.
    pub async fn send_server_notice(
        &self,
        user: &UserId,
        content: JsonValue,
    ) -> Result<OwnedEventId> {
        if user.server_name() != self.config.server.server_name
            || self.store.get_user(user.as_str()).await?.is_none_or(|u| u.is_deactivated())
        {
            return Err(Error::not_found("no such local user"));
        }
        if !content.is_object() || content["body"].as_str().is_none() {
            return Err(Error::BadJson("content needs a body".into()));
        }
        let sender = self.notices_account().await?;
        let room_id = match self.store.server_notice_room(user.as_str()).await? {
            Some(room) => {
                let room = RoomId::parse(room).map_err(Error::internal)?;
                let membership = self.store.membership_of(room.as_str(), user.as_str()).await?;
                if !matches!(membership.as_deref(), Some("join" | "invite")) {
                    self.rooms.invite(&room, &sender, user, None).await?;
                }
                room
            }
            None => {
                let name = self.config.server_notices.room_name.clone();
                let request = CreateRoom {
                    preset: Some(RoomPreset::PrivateChat),
                    name: Some(name),
                    invite: vec![user.to_owned()],
                    // The user reads; only the server writes.
                    power_level_content_override: Some(json!({"events_default": 100})),
                    ..CreateRoom::default()
                };
                let (room, _) = self.rooms.create_room(&sender, request).await?;
                self.store.set_server_notice_room(user.as_str(), room.as_str()).await?;
                room
            }
        };
        let requester = Requester::new(sender, "SERVER".into());
        let txn = crate::services::auth::tokens::random_letters(16)?;
        self.rooms.send_message(&room_id, &requester, "m.room.message", content, &txn).await
    }

    /// Delivers security alerts to every admin as server notices, for as
    /// long as the server runs.
    pub fn deliver_alerts(&self, mut alerts: tokio::sync::mpsc::UnboundedReceiver<String>) {
        let admin = self.clone();
        tokio::spawn(async move {
            while let Some(text) = alerts.recv().await {
                let admins = match admin.store.admin_users().await {
                    Ok(admins) => admins,
                    Err(error) => {
                        tracing::error!(%error, "cannot list admins for an alert");
                        continue;
                    }
                };
                for user in admins.iter().filter_map(|u| UserId::parse(u.as_str()).ok()) {
                    let content = json!({"msgtype": "m.text", "body": text});
                    if let Err(error) = admin.send_server_notice(&user, content).await {
                        tracing::error!(%error, %user, "alert notice failed");
                    }
                }
            }
        });
    }
}
