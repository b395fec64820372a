//! Room aliases and the public room directory.

use ruma::{OwnedRoomAliasId, RoomAliasId, RoomId, UserId, events::room::member::MembershipState};

use super::Rooms;
use crate::error::{Error, Result};

impl Rooms {
    /// PUT /directory/room/{alias}: joined members may add local aliases.
    pub async fn create_alias(
        &self,
        user_id: &UserId,
        alias: &RoomAliasId,
        room_id: &RoomId,
    ) -> Result<()> {
        if alias.server_name() != self.inner.config.server.server_name {
            return Err(Error::invalid_param("aliases must be on this server"));
        }
        let membership = self.with_head(room_id, |head| head.membership(user_id)).await?;
        if membership != Some(MembershipState::Join) {
            return Err(Error::forbidden("you are not in this room"));
        }
        if !self.store().create_alias(alias.as_str(), room_id.as_str(), user_id.as_str()).await? {
            return Err(Error::Conflict("room alias already exists".into()));
        }
        Ok(())
    }

    /// DELETE /directory/room/{alias}: its creator, or a room moderator.
    pub async fn delete_alias(&self, user_id: &UserId, alias: &RoomAliasId) -> Result<()> {
        let (room_id, creator) = self
            .store()
            .alias(alias.as_str())
            .await?
            .ok_or_else(|| Error::not_found("unknown alias"))?;
        if creator != user_id.as_str() {
            let room_id = RoomId::parse(&room_id).map_err(Error::internal)?;
            let allowed = self
                .with_head(&room_id, |head| {
                    head.power_of(user_id) >= head.state_power("m.room.canonical_alias")
                })
                .await?;
            if !allowed {
                return Err(Error::forbidden("you may not remove this alias"));
            }
        }
        self.store().delete_alias(alias.as_str()).await
    }

    /// GET /rooms/{id}/aliases, for members.
    pub async fn aliases(
        &self,
        room_id: &RoomId,
        user_id: &UserId,
    ) -> Result<Vec<OwnedRoomAliasId>> {
        let membership = self.with_head(room_id, |head| head.membership(user_id)).await?;
        if membership != Some(MembershipState::Join) {
            return Err(Error::forbidden("you are not in this room"));
        }
        Ok(self
            .store()
            .room_aliases(room_id.as_str())
            .await?
            .into_iter()
            .filter_map(|a| OwnedRoomAliasId::try_from(a).ok())
            .collect())
    }

    pub async fn is_published(&self, room_id: &RoomId) -> Result<bool> {
        self.with_head(room_id, |_| ()).await?;
        self.store().is_room_public(room_id.as_str()).await
    }

    /// PUT /directory/list/room/{id}: for those who may set the canonical alias.
    pub async fn publish(&self, room_id: &RoomId, user_id: &UserId, public: bool) -> Result<()> {
        let allowed = self
            .with_head(room_id, |head| {
                head.membership(user_id) == Some(MembershipState::Join)
                    && head.power_of(user_id) >= head.state_power("m.room.canonical_alias")
            })
            .await?;
        if !allowed {
            return Err(Error::forbidden("you may not change this room's visibility"));
        }
        self.store().set_room_public(room_id.as_str(), public).await
    }
}
