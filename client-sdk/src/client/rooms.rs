//! The user's rooms: listing what the store knows, creating rooms and
//! direct chats, joining.

use ruma::{
    OwnedRoomId, OwnedRoomOrAliasId, RoomId, UserId,
    api::client::{
        config::set_global_account_data, membership::join_room_by_id_or_alias, room::create_room,
    },
    events::{
        GlobalAccountDataEventType,
        direct::{DirectEventContent, OwnedDirectUserIdentifier},
    },
    serde::Raw,
};

use super::Client;
use crate::{
    error::{Error, Result},
    room::{Membership, Room},
};

impl Client {
    /// A handle on a room the store knows.
    pub async fn get_room(&self, room_id: &RoomId) -> Result<Option<Room>> {
        Ok(self
            .inner
            .store
            .membership(room_id.as_str())
            .await?
            .map(|_| Room::new(self.clone(), room_id.to_owned())))
    }

    /// Every room the store knows, with any membership.
    pub async fn rooms(&self) -> Result<Vec<Room>> {
        self.rooms_where(|_| true).await
    }

    /// Rooms the user is joined to.
    pub async fn joined_rooms(&self) -> Result<Vec<Room>> {
        self.rooms_where(|membership| membership == Membership::Join).await
    }

    /// Rooms the user is invited to.
    pub async fn invited_rooms(&self) -> Result<Vec<Room>> {
        self.rooms_where(|membership| membership == Membership::Invite).await
    }

    async fn rooms_where(&self, keep: impl Fn(Membership) -> bool) -> Result<Vec<Room>> {
        let rooms = self.inner.store.rooms().await?;
        Ok(rooms
            .into_iter()
            .filter(|(_, membership)| keep(Membership::from_stored(membership)))
            .filter_map(|(room_id, _)| RoomId::parse(room_id).ok())
            .map(|room_id| Room::new(self.clone(), room_id))
            .collect())
    }

    /// Creates a room as `request` describes (name, preset, invites, ...).
    pub async fn create_room(&self, request: create_room::v3::Request) -> Result<Room> {
        let response = self.send(request).await?;
        Ok(Room::new(self.clone(), response.room_id))
    }

    /// Creates a direct chat with `user_id`, invites them, and records it
    /// in the `m.direct` account data so every client of the user shows it
    /// as a DM.
    pub async fn create_dm(&self, user_id: &UserId) -> Result<Room> {
        let mut request = create_room::v3::Request::new();
        request.is_direct = true;
        request.invite = vec![user_id.to_owned()];
        request.preset = Some(create_room::v3::RoomPreset::TrustedPrivateChat);
        let room = self.create_room(request).await?;
        self.mark_direct(user_id, room.room_id()).await?;
        Ok(room)
    }

    /// Creates a [space](https://spec.matrix.org/latest/client-server-api/#spaces)
    /// (a room of type `m.space`) called `name`; rooms join it with
    /// [`Room::add_space_child`].
    pub async fn create_space(&self, name: &str, public: bool) -> Result<Room> {
        let mut creation = create_room::v3::CreationContent::new();
        creation.room_type = Some(ruma::room::RoomType::Space);
        let mut request = create_room::v3::Request::new();
        request.name = Some(name.to_owned());
        request.creation_content = Some(Raw::new(&creation)?);
        request.preset = Some(if public {
            create_room::v3::RoomPreset::PublicChat
        } else {
            create_room::v3::RoomPreset::PrivateChat
        });
        self.create_room(request).await
    }

    /// Adds `room_id` to the direct chats with `user_id` in `m.direct`.
    pub async fn mark_direct(&self, user_id: &UserId, room_id: &RoomId) -> Result<()> {
        let mut direct = self.direct_rooms().await?;
        let rooms = direct.entry(OwnedDirectUserIdentifier::from(user_id.to_owned())).or_default();
        if !rooms.iter().any(|known| known == room_id) {
            rooms.push(room_id.to_owned());
        }
        let me = self.require_user_id()?;
        let raw = Raw::new(&direct)?.cast_unchecked();
        let request = set_global_account_data::v3::Request::new_raw(
            me,
            GlobalAccountDataEventType::Direct,
            raw,
        );
        self.send(request).await?;
        // Stored now, not at the next sync: a second call builds on this one.
        self.inner.store.save_account_data("m.direct", &serde_json::to_string(&direct)?).await
    }

    /// The `m.direct` account data: direct chats by user.
    pub async fn direct_rooms(&self) -> Result<DirectEventContent> {
        match self.inner.store.account_data("m.direct").await? {
            Some(json) => Ok(serde_json::from_str(&json)?),
            None => Ok(DirectEventContent::default()),
        }
    }

    /// Joins a room by id or alias.
    pub async fn join_room_by_id_or_alias(&self, room: &str) -> Result<Room> {
        let room = OwnedRoomOrAliasId::try_from(room)
            .map_err(|e| Error::Invalid(format!("not a room id or alias: {e}")))?;
        let response = self.send(join_room_by_id_or_alias::v3::Request::new(room)).await?;
        Ok(Room::new(self.clone(), response.room_id))
    }

    /// A handle on any room id, known to the store or not.
    pub fn room(&self, room_id: OwnedRoomId) -> Room {
        Room::new(self.clone(), room_id)
    }
}
