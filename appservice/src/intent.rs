//! [`Intent`]: one user of the service (a "ghost" of someone on the other
//! network, or the service's bot) doing things in Matrix. An intent
//! registers its user and joins rooms by itself before it acts, and the
//! state store remembers both so the homeserver is asked once.

use lattice_sdk::{Client, Room};
use ruma::{
    EventId, OwnedEventId, OwnedMxcUri, OwnedRoomId, RoomId, UserId,
    api::{client::room::create_room, error::ErrorKind},
};

use crate::{appservice::Appservice, error::Result};

/// A user of the service, acting; see [`Appservice::intent`].
#[derive(Clone, Debug)]
pub struct Intent {
    service: Appservice,
    client: Client,
}

impl Intent {
    pub(crate) fn new(service: Appservice, client: Client) -> Self {
        Self { service, client }
    }

    /// The user this intent acts as.
    pub fn user_id(&self) -> &UserId {
        self.client.asserted_user().unwrap_or(self.service.bot_user_id())
    }

    /// The lattice-sdk client behind the intent, for calls it lacks.
    pub fn client(&self) -> &Client {
        &self.client
    }

    fn is_bot(&self) -> bool {
        self.user_id() == self.service.bot_user_id()
    }

    /// Registers the user if the service has not yet (the homeserver
    /// creates the service's bot itself).
    pub async fn ensure_registered(&self) -> Result<()> {
        let store = self.service.store();
        if self.is_bot() || store.is_registered(self.user_id()).await? {
            return Ok(());
        }
        self.client.register_appservice_user().await?;
        store.set_registered(self.user_id()).await
    }

    /// Joins the room if the user is not in it. A room that needs an
    /// invitation gets one from the service's bot, when the bot is in it.
    pub async fn ensure_joined(&self, room_id: &RoomId) -> Result<()> {
        if self.service.store().is_joined(room_id, self.user_id()).await? {
            return Ok(());
        }
        self.ensure_registered().await?;
        match self.room(room_id).join().await {
            Ok(()) => {}
            Err(error) if !self.is_bot() && matches!(error.kind(), Some(ErrorKind::Forbidden)) => {
                let bot = self.service.bot();
                bot.join_once(room_id).await?;
                bot.room(room_id).invite_user(self.user_id()).await?;
                self.room(room_id).join().await?;
            }
            Err(error) => return Err(error.into()),
        }
        self.service.store().set_joined(room_id, self.user_id(), true).await
    }

    /// Joins without asking anyone for an invitation.
    async fn join_once(&self, room_id: &RoomId) -> Result<()> {
        if !self.service.store().is_joined(room_id, self.user_id()).await? {
            self.room(room_id).join().await?;
            self.service.store().set_joined(room_id, self.user_id(), true).await?;
        }
        Ok(())
    }

    /// Joins a room by id or alias (a portal the homeserver asked for,
    /// say), and returns its id.
    pub async fn join(&self, room: &str) -> Result<OwnedRoomId> {
        self.ensure_registered().await?;
        let joined = self.client.join_room_by_id_or_alias(room).await?;
        self.service.store().set_joined(joined.room_id(), self.user_id(), true).await?;
        Ok(joined.room_id().to_owned())
    }

    /// Leaves a room.
    pub async fn leave(&self, room_id: &RoomId) -> Result<()> {
        self.room(room_id).leave().await?;
        self.service.store().set_joined(room_id, self.user_id(), false).await
    }

    /// Creates a room, with this user in it.
    pub async fn create_room(&self, request: create_room::v3::Request) -> Result<OwnedRoomId> {
        self.ensure_registered().await?;
        let room = self.client.create_room(request).await?;
        self.service.store().set_joined(room.room_id(), self.user_id(), true).await?;
        Ok(room.room_id().to_owned())
    }

    /// Sends a plain-text message (joining first if need be).
    pub async fn send_text(&self, room_id: &RoomId, body: &str) -> Result<OwnedEventId> {
        Ok(self.joined(room_id).await?.send_text(body).await?)
    }

    /// Sends a notice (a message from a bot, which other bots ignore).
    pub async fn send_notice(&self, room_id: &RoomId, body: &str) -> Result<OwnedEventId> {
        Ok(self.joined(room_id).await?.send_notice(body).await?)
    }

    /// Sends an emote (`/me waves`).
    pub async fn send_emote(&self, room_id: &RoomId, body: &str) -> Result<OwnedEventId> {
        Ok(self.joined(room_id).await?.send_emote(body).await?)
    }

    /// Uploads a file and posts it: `image/*` types as an image
    /// (`m.image`), others as a file (`m.file`).
    pub async fn send_media(
        &self,
        room_id: &RoomId,
        filename: &str,
        content_type: &str,
        bytes: Vec<u8>,
    ) -> Result<OwnedEventId> {
        let room = self.joined(room_id).await?;
        let sent = match content_type.starts_with("image/") {
            true => room.send_image(filename, content_type, bytes).await?,
            false => room.send_file(filename, content_type, bytes).await?,
        };
        Ok(sent)
    }

    /// Reacts to an event with `key` (an emoji, usually).
    pub async fn react(
        &self,
        room_id: &RoomId,
        event_id: &EventId,
        key: &str,
    ) -> Result<OwnedEventId> {
        Ok(self.joined(room_id).await?.react(event_id, key).await?)
    }

    /// Redacts an event (the user's own, or any with the power to).
    pub async fn redact(
        &self,
        room_id: &RoomId,
        event_id: &EventId,
        reason: Option<&str>,
    ) -> Result<OwnedEventId> {
        Ok(self.joined(room_id).await?.redact(event_id, reason).await?)
    }

    /// Shows the user typing in a room, or not.
    pub async fn typing(&self, room_id: &RoomId, typing: bool) -> Result<()> {
        Ok(self.joined(room_id).await?.typing(typing).await?)
    }

    /// Marks an event (and all before it) read by the user.
    pub async fn read_receipt(&self, room_id: &RoomId, event_id: &EventId) -> Result<()> {
        Ok(self.joined(room_id).await?.send_read_receipt(event_id).await?)
    }

    /// Sets the user's display name, if it is not that already.
    pub async fn set_display_name(&self, name: &str) -> Result<()> {
        let store = self.service.store();
        if store.display_name(self.user_id()).await?.as_deref() == Some(name) {
            return Ok(());
        }
        self.ensure_registered().await?;
        self.client.set_display_name(name).await?;
        store.set_display_name(self.user_id(), name).await
    }

    /// Sets the user's avatar to an image uploaded with
    /// [`upload`](Self::upload).
    pub async fn set_avatar_url(&self, url: OwnedMxcUri) -> Result<()> {
        self.ensure_registered().await?;
        Ok(self.client.set_avatar_url(url).await?)
    }

    /// Uploads media as this user; returns its `mxc://` URI.
    pub async fn upload(&self, content_type: &str, bytes: Vec<u8>) -> Result<OwnedMxcUri> {
        self.ensure_registered().await?;
        Ok(self.client.media().upload(content_type, None, bytes).await?)
    }

    /// The room as this user sees it (no join).
    pub fn room(&self, room_id: &RoomId) -> Room {
        self.client.room(room_id.to_owned())
    }

    async fn joined(&self, room_id: &RoomId) -> Result<Room> {
        self.ensure_joined(room_id).await?;
        Ok(self.room(room_id))
    }
}
