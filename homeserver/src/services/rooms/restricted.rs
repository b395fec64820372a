//! Restricted rooms: joining without an invite because one is a member of
//! a room the join rule names (spaces use this: "members of the space may
//! join"). The resident server that checks the condition names one of its
//! members who may invite in the join (`join_authorised_via_users_server`)
//! and signs the event, so every other server can check it was vouched for.

use ruma::{
    CanonicalJsonObject, CanonicalJsonValue, OwnedUserId, RoomId, UserId,
    events::room::member::MembershipState, room_version_rules::RoomVersionRules,
};
use serde_json::Value as JsonValue;

use super::{Rooms, builder::add_signature};
use crate::error::{Error, Result};

/// The content field naming who vouched for a restricted join.
pub const AUTHORISED_VIA: &str = "join_authorised_via_users_server";

impl Rooms {
    /// Who vouches for `user_id` joining `room_id`: None when no one needs
    /// to (the rule is not restricted, or the user is invited or joined),
    /// else a member of this server who may invite. Fails as the spec says:
    /// M_UNABLE_TO_AUTHORISE_JOIN when this server is in none of the named
    /// rooms, M_UNABLE_TO_GRANT_JOIN when the user qualifies but no member
    /// here may invite, M_FORBIDDEN when the user is in none of them.
    pub async fn join_authoriser(
        &self,
        room_id: &RoomId,
        user_id: &UserId,
    ) -> Result<Option<OwnedUserId>> {
        let own = &self.inner.config.server.server_name;
        let (allowed, membership, authoriser) = self
            .with_head(room_id, |head| {
                (head.allowed_rooms(), head.membership(user_id), head.join_authoriser(own))
            })
            .await?;
        let Some(allowed) = allowed else { return Ok(None) };
        if matches!(membership, Some(MembershipState::Join | MembershipState::Invite)) {
            return Ok(None);
        }
        let mut judged = false;
        for allowed_room in &allowed {
            if self.store().room_version(allowed_room.as_str()).await?.is_none() {
                continue;
            }
            // Only a room this server is in tells current memberships.
            let (resident, member) = self
                .with_head(allowed_room, |head| {
                    let resident = head.servers().iter().any(|server| server == own);
                    (resident, head.membership(user_id) == Some(MembershipState::Join))
                })
                .await?;
            judged |= resident;
            if resident && member {
                return authoriser.map(Some).ok_or(Error::UnableToGrantJoin);
            }
        }
        if judged {
            Err(Error::forbidden("you are not a member of any room this room admits"))
        } else {
            Err(Error::UnableToAuthoriseJoin)
        }
    }

    /// A local user's join content, vouched for when the room is
    /// restricted. The spec's federation errors mean nothing to a client,
    /// which is told plainly that it needs an invite.
    pub(super) async fn local_join_content(
        &self,
        room_id: &RoomId,
        user_id: &UserId,
        reason: Option<&str>,
    ) -> Result<JsonValue> {
        let mut content = self.member_content(user_id, &MembershipState::Join, reason).await?;
        match self.join_authoriser(room_id, user_id).await {
            Ok(Some(authoriser)) => content[AUTHORISED_VIA] = authoriser.as_str().into(),
            Ok(None) => {}
            Err(Error::UnableToAuthoriseJoin | Error::UnableToGrantJoin) => {
                return Err(Error::forbidden(
                    "this room admits members of other rooms, and none of them could vouch \
                     for you here; ask for an invite",
                ));
            }
            Err(error) => return Err(error),
        }
        Ok(content)
    }

    /// Signs a remote join that names a member of this server as having
    /// vouched for it, once the joining user is checked to qualify; the
    /// other servers of the room will ask for our signature.
    pub(super) async fn countersign_join(
        &self,
        room_id: &RoomId,
        rules: &RoomVersionRules,
        json: &mut CanonicalJsonObject,
    ) -> Result<()> {
        let named = match json.get("content") {
            Some(CanonicalJsonValue::Object(content)) => match content.get(AUTHORISED_VIA) {
                Some(CanonicalJsonValue::String(user)) => UserId::parse(user).ok(),
                _ => None,
            },
            _ => None,
        };
        let Some(named) = named.filter(|user| self.is_local(user)) else { return Ok(()) };
        let sender = match json.get("sender") {
            Some(CanonicalJsonValue::String(sender)) => UserId::parse(sender)
                .map_err(|_| Error::BadJson("the join's sender is not a user id".into()))?,
            _ => return Err(Error::BadJson("the join has no sender".into())),
        };
        // The auth rules judge whether `named` may invite; we judge the rest.
        self.join_authoriser(room_id, &sender).await?;
        tracing::debug!(%sender, authoriser = %named, "countersigning a restricted join");
        let own = &self.inner.config.server.server_name;
        add_signature(json, &rules.redaction, own, &self.inner.key)
    }
}
