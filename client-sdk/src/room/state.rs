//! A room's state and membership: what the store knows (name, topic,
//! members seen in state), and the calls that change them.

use ruma::{
    OwnedRoomAliasId, OwnedUserId, UserId,
    api::client::{
        membership::{
            ban_user, forget_room, get_member_events, invite_user, join_room_by_id, kick_user,
            leave_room, unban_user,
        },
        state::{get_state_event_for_key, send_state_event},
    },
    events::{
        StateEventContent, StateEventType, StaticStateEventContent,
        room::{
            canonical_alias::RoomCanonicalAliasEventContent,
            encryption::RoomEncryptionEventContent,
            member::{MembershipState, RoomMemberEventContent},
            name::RoomNameEventContent,
            topic::RoomTopicEventContent,
        },
    },
    serde::Raw,
};
use serde::{Deserialize, de::DeserializeOwned};

use super::{Membership, Room};
use crate::error::{Error, Result};

/// A member of a room, from its `m.room.member` event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Member {
    /// The member's user id.
    pub user_id: OwnedUserId,
    /// Their name in this room, if they set one.
    pub display_name: Option<String>,
    /// Join, invite, leave, ban or knock.
    pub membership: MembershipState,
}

/// The content of a stored state event.
#[derive(Deserialize)]
struct Content<C> {
    content: C,
}

impl Room {
    /// The user's membership, as of the last sync.
    pub async fn membership(&self) -> Result<Option<Membership>> {
        let stored = self.client.inner.store.membership(self.room_id.as_str()).await?;
        Ok(stored.as_deref().map(Membership::from_stored))
    }

    pub(super) async fn state_content<C: DeserializeOwned>(
        &self,
        event_type: &str,
        state_key: &str,
    ) -> Result<Option<C>> {
        let store = &self.client.inner.store;
        match store.state_event(self.room_id.as_str(), event_type, state_key).await? {
            // Content that does not parse (redacted, say) counts as absent.
            Some(json) => Ok(serde_json::from_str::<Content<C>>(&json).ok().map(|e| e.content)),
            None => Ok(None),
        }
    }

    /// The room's `m.room.encryption` settings when it is encrypted. A room
    /// the store has not synced yet is asked of the server: never guess
    /// "unencrypted" and send plaintext.
    pub async fn encryption_settings(&self) -> Result<Option<serde_json::Value>> {
        let store = &self.client.inner.store;
        if let Some(settings) = self.state_content("m.room.encryption", "").await? {
            return Ok(Some(settings));
        }
        if store.state_event(self.room_id.as_str(), "m.room.create", "").await?.is_some() {
            return Ok(None);
        }
        let request = get_state_event_for_key::v3::Request::new(
            self.room_id.clone(),
            StateEventType::RoomEncryption,
            String::new(),
        );
        match self.client.send(request).await {
            Ok(response) => Ok(Some(serde_json::from_str(response.event_or_content.get())?)),
            Err(error) if error.status() == Some(404) => Ok(None),
            Err(error) => Err(error),
        }
    }

    /// Whether messages in this room are end-to-end encrypted.
    pub async fn is_encrypted(&self) -> Result<bool> {
        Ok(self.encryption_settings().await?.is_some())
    }

    /// Turns on end-to-end encryption (Megolm); it cannot be turned off.
    pub async fn enable_encryption(&self) -> Result<ruma::OwnedEventId> {
        let content = RoomEncryptionEventContent::with_recommended_defaults();
        self.send_state("", &content).await
    }

    /// The room's name (`m.room.name`), if it has one.
    pub async fn name(&self) -> Result<Option<String>> {
        let content: Option<RoomNameEventContent> = self.state_content("m.room.name", "").await?;
        Ok(content.map(|c| c.name).filter(|name| !name.is_empty()))
    }

    /// The room's topic (`m.room.topic`), if it has one.
    pub async fn topic(&self) -> Result<Option<String>> {
        let content: Option<RoomTopicEventContent> = self.state_content("m.room.topic", "").await?;
        Ok(content.map(|c| c.topic).filter(|topic| !topic.is_empty()))
    }

    /// The room's main address (`m.room.canonical_alias`), if it has one.
    pub async fn canonical_alias(&self) -> Result<Option<OwnedRoomAliasId>> {
        let content: Option<RoomCanonicalAliasEventContent> =
            self.state_content("m.room.canonical_alias", "").await?;
        Ok(content.and_then(|c| c.alias))
    }

    /// What to call the room: its name, else its alias, else its other
    /// members' names (as the spec's display-name rules suggest), else its id.
    pub async fn display_name(&self) -> Result<String> {
        if let Some(name) = self.name().await? {
            return Ok(name);
        }
        if let Some(alias) = self.canonical_alias().await? {
            return Ok(alias.to_string());
        }
        let me = self.client.user_id();
        let others: Vec<String> = self
            .stored_members()
            .await?
            .into_iter()
            .filter(|m| Some(&m.user_id) != me.as_ref())
            .filter(|m| matches!(m.membership, MembershipState::Join | MembershipState::Invite))
            .map(|m| m.display_name.unwrap_or_else(|| m.user_id.to_string()))
            .collect();
        Ok(match others.as_slice() {
            [] => self.room_id.to_string(),
            [one] => one.clone(),
            [first, rest @ ..] => format!("{first} and {} others", rest.len()),
        })
    }

    /// Members as the stored state knows them (with lazy-loading, only
    /// those who spoke recently); [`members`](Self::members) asks the server.
    pub async fn stored_members(&self) -> Result<Vec<Member>> {
        let events =
            self.client.inner.store.state_events(self.room_id.as_str(), "m.room.member").await?;
        Ok(events.iter().filter_map(|json| member_of(json)).collect())
    }

    /// Every member, as the server knows them now.
    pub async fn members(&self) -> Result<Vec<Member>> {
        let request = get_member_events::v3::Request::new(self.room_id.clone());
        let response = self.client.send(request).await?;
        Ok(response.chunk.iter().filter_map(|raw| member_of(raw.json().get())).collect())
    }

    /// Sends a state event (a name, topic, power levels, ...).
    pub async fn send_state<C>(&self, state_key: &str, content: &C) -> Result<ruma::OwnedEventId>
    where
        C: StaticStateEventContent + StateEventContent + serde::Serialize,
    {
        let raw: Raw<C> = Raw::new(content)?;
        let request = send_state_event::v3::Request::new_raw(
            self.room_id.clone(),
            content.event_type(),
            state_key.to_owned(),
            raw.cast_unchecked(),
        );
        Ok(self.client.send(request).await?.event_id)
    }

    /// Renames the room.
    pub async fn set_name(&self, name: &str) -> Result<ruma::OwnedEventId> {
        self.send_state("", &RoomNameEventContent::new(name.to_owned())).await
    }

    /// Sets the room's topic.
    pub async fn set_topic(&self, topic: &str) -> Result<ruma::OwnedEventId> {
        self.send_state("", &RoomTopicEventContent::new(topic.to_owned())).await
    }

    /// Joins the room (accepting an invite, or a public room).
    pub async fn join(&self) -> Result<()> {
        self.client.send(join_room_by_id::v3::Request::new(self.room_id.clone())).await?;
        Ok(())
    }

    /// Leaves the room (or declines an invite).
    pub async fn leave(&self) -> Result<()> {
        self.client.send(leave_room::v3::Request::new(self.room_id.clone())).await?;
        Ok(())
    }

    /// Forgets a room the user has left.
    pub async fn forget(&self) -> Result<()> {
        self.client.send(forget_room::v3::Request::new(self.room_id.clone())).await?;
        Ok(())
    }

    /// Invites a user.
    pub async fn invite_user(&self, user_id: &UserId) -> Result<()> {
        let recipient = invite_user::v3::InviteUserId::new(user_id.to_owned()).into();
        self.client.send(invite_user::v3::Request::new(self.room_id.clone(), recipient)).await?;
        Ok(())
    }

    /// Kicks a member, with an optional reason.
    pub async fn kick_user(&self, user_id: &UserId, reason: Option<&str>) -> Result<()> {
        let mut request = kick_user::v3::Request::new(self.room_id.clone(), user_id.to_owned());
        request.reason = reason.map(str::to_owned);
        self.client.send(request).await?;
        Ok(())
    }

    /// Bans a user, with an optional reason.
    pub async fn ban_user(&self, user_id: &UserId, reason: Option<&str>) -> Result<()> {
        let mut request = ban_user::v3::Request::new(self.room_id.clone(), user_id.to_owned());
        request.reason = reason.map(str::to_owned);
        self.client.send(request).await?;
        Ok(())
    }

    /// Lifts a ban.
    pub async fn unban_user(&self, user_id: &UserId) -> Result<()> {
        let request = unban_user::v3::Request::new(self.room_id.clone(), user_id.to_owned());
        self.client.send(request).await?;
        Ok(())
    }
}

fn member_of(json: &str) -> Option<Member> {
    #[derive(Deserialize)]
    struct MemberEvent {
        state_key: OwnedUserId,
        content: RoomMemberEventContent,
    }
    let event: MemberEvent = serde_json::from_str(json).ok()?;
    Some(Member {
        user_id: event.state_key,
        display_name: event.content.displayname,
        membership: event.content.membership,
    })
}

impl From<ruma::IdParseError> for Error {
    fn from(error: ruma::IdParseError) -> Self {
        Self::Invalid(error.to_string())
    }
}
