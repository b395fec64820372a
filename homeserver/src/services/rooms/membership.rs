//! Joining, leaving, inviting, kicking, banning and forgetting.

use ruma::{
    OwnedRoomId, OwnedServerName, RoomId, RoomOrAliasId, UserId,
    api::federation::query::get_room_information,
    events::{TimelineEventType, room::member::MembershipState},
};
use serde_json::{Value as JsonValue, json};

use super::{EventDraft, Rooms};
use crate::error::{Error, Result};

impl Rooms {
    /// A member event's content, with the user's current profile.
    pub(super) async fn member_content(
        &self,
        user_id: &UserId,
        membership: &MembershipState,
        reason: Option<&str>,
    ) -> Result<JsonValue> {
        let mut content = json!({"membership": membership});
        if user_id.server_name() == self.inner.config.server.server_name {
            for (field, value) in self.store().profile_fields(user_id.as_str()).await? {
                if field == "displayname" || field == "avatar_url" {
                    content[field] = serde_json::from_str(&value).unwrap_or(JsonValue::Null);
                }
            }
        }
        if let Some(reason) = reason {
            content["reason"] = json!(reason);
        }
        Ok(content)
    }

    /// Joined, invited or knocking: someone a leave or kick applies to.
    async fn is_present(&self, room_id: &RoomId, user_id: &UserId) -> Result<bool> {
        let current = self.with_head(room_id, |head| head.membership(user_id)).await?;
        Ok(matches!(
            current,
            Some(MembershipState::Join | MembershipState::Invite | MembershipState::Knock)
        ))
    }

    /// The room's joined members, if `user_id` is one of them (M_FORBIDDEN
    /// otherwise): who an ephemeral update from this user goes to.
    pub async fn joined_audience(
        &self,
        room_id: &RoomId,
        user_id: &UserId,
    ) -> Result<Vec<ruma::OwnedUserId>> {
        let (membership, members) =
            self.with_head(room_id, |head| (head.membership(user_id), head.joined())).await?;
        if membership != Some(MembershipState::Join) {
            return Err(Error::forbidden("you are not in this room"));
        }
        Ok(members.to_vec())
    }

    /// Resolves a room id or an alias; a remote alias is asked of its
    /// server, which also names servers to join through.
    pub async fn resolve_room_and_servers(
        &self,
        room: &RoomOrAliasId,
    ) -> Result<(OwnedRoomId, Vec<OwnedServerName>)> {
        if let Err(alias) = <&RoomId>::try_from(room)
            && alias.server_name() != self.inner.config.server.server_name
        {
            let request = get_room_information::v1::Request::new(alias.to_owned());
            let answer = self.inner.federation.send(alias.server_name(), request).await?;
            let mut servers = answer.servers;
            servers.insert(0, alias.server_name().to_owned());
            return Ok((answer.room_id, servers));
        }
        Ok((self.resolve_room(room).await?, Vec::new()))
    }

    /// Resolves a room id or a local alias.
    pub async fn resolve_room(&self, room: &RoomOrAliasId) -> Result<OwnedRoomId> {
        match <&RoomId>::try_from(room) {
            Ok(room_id) => Ok(room_id.to_owned()),
            Err(alias) => {
                let mut found = self.store().alias(alias.as_str()).await?;
                // An application service may make the room when asked.
                if found.is_none() && self.inner.appservices.query_alias(alias).await {
                    found = self.store().alias(alias.as_str()).await?;
                }
                let (room_id, _) = found.ok_or_else(|| Error::not_found("unknown room alias"))?;
                RoomId::parse(room_id).map_err(Error::internal)
            }
        }
    }

    async fn set_membership(
        &self,
        room_id: &RoomId,
        sender: &UserId,
        target: &UserId,
        membership: &MembershipState,
        reason: Option<&str>,
    ) -> Result<()> {
        if matches!(
            membership,
            MembershipState::Join | MembershipState::Invite | MembershipState::Knock
        ) && self.store().is_room_blocked(room_id.as_str()).await?
        {
            return Err(Error::forbidden("this room has been shut down on this server"));
        }
        let content = self.member_content(target, membership, reason).await?;
        self.send_membership(room_id, sender, target, content).await
    }

    async fn send_membership(
        &self,
        room_id: &RoomId,
        sender: &UserId,
        target: &UserId,
        content: JsonValue,
    ) -> Result<()> {
        let draft = EventDraft::state(TimelineEventType::RoomMember, target.as_str(), content);
        self.append(room_id, sender, draft, None).await?;
        Ok(())
    }

    /// The room a join or knock names, and the servers that may let us in:
    /// those the alias names, then `via`, then the room id's own (rooms
    /// before version 12 name their creator's server).
    pub(super) async fn room_and_servers(
        &self,
        room: &RoomOrAliasId,
        via: &[OwnedServerName],
    ) -> Result<(OwnedRoomId, Vec<OwnedServerName>)> {
        let (room_id, mut servers) = self.resolve_room_and_servers(room).await?;
        servers.extend(via.iter().cloned());
        servers.extend(room_id.server_name().map(ToOwned::to_owned));
        Ok((room_id, servers))
    }

    /// Joins a room: here if this server is in it, else through one of
    /// the servers the alias or `via` names.
    pub async fn join(
        &self,
        room: &RoomOrAliasId,
        user_id: &UserId,
        reason: Option<&str>,
        via: &[OwnedServerName],
    ) -> Result<OwnedRoomId> {
        let (room_id, mut servers) = self.room_and_servers(room, via).await?;
        let own = &self.inner.config.server.server_name;
        let in_room = match self.store().room_version(room_id.as_str()).await? {
            None => false,
            Some(_) => {
                let (local_members, inviter) = self
                    .with_head(&room_id, |head| {
                        let members = head.joined();
                        let inviter = head
                            .get(&ruma::events::StateEventType::RoomMember, user_id.as_str())
                            .filter(|p| p.membership == Some(MembershipState::Invite))
                            .map(|p| p.sender.server_name().to_owned());
                        (members.iter().any(|u| u.server_name() == own), inviter)
                    })
                    .await?;
                // Invited from elsewhere: the inviting server can let us in.
                servers.extend(inviter);
                local_members || !servers.iter().any(|s| s != own)
            }
        };
        if self.store().is_room_blocked(room_id.as_str()).await? {
            return Err(Error::forbidden("this room has been shut down on this server"));
        }
        if !in_room && self.inner.federation.enabled() {
            self.join_remote(&room_id, user_id, &servers, reason).await?;
            self.store().unforget_room(user_id.as_str(), room_id.as_str()).await?;
            return Ok(room_id);
        }
        let content = self.local_join_content(&room_id, user_id, reason).await?;
        self.send_membership(&room_id, user_id, user_id, content).await?;
        self.store().unforget_room(user_id.as_str(), room_id.as_str()).await?;
        Ok(room_id)
    }

    /// Asks to join a room whose join rule is `knock`.
    pub async fn knock(
        &self,
        room: &RoomOrAliasId,
        user_id: &UserId,
        reason: Option<&str>,
        via: &[OwnedServerName],
    ) -> Result<OwnedRoomId> {
        let (room_id, servers) = self.room_and_servers(room, via).await?;
        let local_members = match self.store().room_version(room_id.as_str()).await? {
            None => false,
            Some(_) => {
                self.with_head(&room_id, |head| head.joined().iter().any(|u| self.is_local(u)))
                    .await?
            }
        };
        if !local_members && self.inner.federation.enabled() && !servers.is_empty() {
            self.knock_remote(&room_id, user_id, &servers, reason).await?;
            return Ok(room_id);
        }
        self.set_membership(&room_id, user_id, user_id, &MembershipState::Knock, reason).await?;
        Ok(room_id)
    }

    pub async fn invite(
        &self,
        room_id: &RoomId,
        sender: &UserId,
        target: &UserId,
        reason: Option<&str>,
    ) -> Result<()> {
        if target.server_name() == self.inner.config.server.server_name
            && self.store().get_user(target.as_str()).await?.is_none_or(|u| u.is_deactivated())
        {
            return Err(Error::not_found("no such user"));
        }
        if self.is_shadow_banned(sender) {
            return Ok(());
        }
        if !self.is_local(target) && self.inner.federation.enabled() {
            return self.invite_remote(room_id, sender, target, reason, false).await;
        }
        self.set_membership(room_id, sender, target, &MembershipState::Invite, reason).await
    }

    pub async fn leave(
        &self,
        room_id: &RoomId,
        user_id: &UserId,
        reason: Option<&str>,
    ) -> Result<()> {
        if !self.is_present(room_id, user_id).await? {
            return Err(Error::forbidden("you are not in this room"));
        }
        // An invite from a room this server is not in is declined through
        // the inviting server.
        let (membership, inviter, local_members) = self
            .with_head(room_id, |head| {
                let member = head.get(&ruma::events::StateEventType::RoomMember, user_id.as_str());
                let local = head.joined().iter().any(|u| self.is_local(u));
                (head.membership(user_id), member.map(|p| p.sender.server_name().to_owned()), local)
            })
            .await?;
        if membership == Some(MembershipState::Invite)
            && !local_members
            && let Some(inviter) = inviter.filter(|s| *s != self.inner.config.server.server_name)
        {
            return self.leave_remote(room_id, user_id, &inviter, reason).await;
        }
        self.set_membership(room_id, user_id, user_id, &MembershipState::Leave, reason).await
    }

    /// Kicks a present (joined, invited or knocking) user.
    pub async fn kick(
        &self,
        room_id: &RoomId,
        sender: &UserId,
        target: &UserId,
        reason: Option<&str>,
    ) -> Result<()> {
        if !self.is_present(room_id, target).await? {
            return Err(Error::forbidden("that user is not in the room"));
        }
        self.set_membership(room_id, sender, target, &MembershipState::Leave, reason).await
    }

    pub async fn ban(
        &self,
        room_id: &RoomId,
        sender: &UserId,
        target: &UserId,
        reason: Option<&str>,
    ) -> Result<()> {
        self.set_membership(room_id, sender, target, &MembershipState::Ban, reason).await
    }

    pub async fn unban(
        &self,
        room_id: &RoomId,
        sender: &UserId,
        target: &UserId,
        reason: Option<&str>,
    ) -> Result<()> {
        let current = self.with_head(room_id, |head| head.membership(target)).await?;
        if current != Some(MembershipState::Ban) {
            return Err(Error::forbidden("that user is not banned"));
        }
        self.set_membership(room_id, sender, target, &MembershipState::Leave, reason).await
    }

    /// Hides a room the user has left from their sync and history.
    pub async fn forget(&self, room_id: &RoomId, user_id: &UserId) -> Result<()> {
        let current = self.with_head(room_id, |head| head.membership(user_id)).await?;
        if matches!(current, Some(MembershipState::Join | MembershipState::Invite)) {
            return Err(Error::BadRequest("leave the room before forgetting it".into()));
        }
        if current.is_none() {
            return Err(Error::not_found("you were never in this room"));
        }
        self.store().forget_room(user_id.as_str(), room_id.as_str()).await
    }

    /// Re-sends the user's join in each joined room with their current
    /// display name and avatar. A room that refuses (say, the user may not
    /// change their member event there) is skipped, not fatal.
    pub async fn refresh_member_profile(&self, user_id: &UserId) -> Result<()> {
        for room_id in self.joined_rooms(user_id).await? {
            if let Err(error) =
                self.set_membership(&room_id, user_id, user_id, &MembershipState::Join, None).await
            {
                tracing::warn!(room = %room_id, %error, "profile change not announced");
            }
        }
        Ok(())
    }

    /// Takes a user out of every room they are in, invited to or knocking
    /// on (a closed account). A room that refuses is logged, not fatal.
    pub async fn leave_all(&self, user_id: &UserId) -> Result<()> {
        use MembershipState::{Invite, Join, Knock};
        for membership in [Join, Invite, Knock] {
            for room_id in self.store().rooms_with_membership(user_id.as_str(), &membership).await?
            {
                if let Err(error) = self.leave(&room_id, user_id, None).await {
                    tracing::warn!(room = %room_id, user = %user_id, %error, "could not leave");
                }
            }
        }
        Ok(())
    }

    pub async fn joined_rooms(&self, user_id: &UserId) -> Result<Vec<OwnedRoomId>> {
        self.store()
            .rooms_with_membership(user_id.as_str(), &MembershipState::Join)
            .await?
            .into_iter()
            .map(|id| RoomId::parse(id).map_err(Error::internal))
            .collect()
    }
}
