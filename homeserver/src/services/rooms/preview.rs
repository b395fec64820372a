//! Room previews (GET /room_summary, MSC3266): what a room is, for someone
//! deciding whether to join it, from its head when this server is in it,
//! else asked of the servers the alias or `via` name.

use std::collections::HashSet;

use ruma::{
    OwnedRoomId, OwnedServerName, RoomOrAliasId, UserId, events::room::member::MembershipState,
    room::RoomSummary,
};

use super::{Rooms, spaces::user_may_see};
use crate::error::{Error, Result};

impl Rooms {
    /// The room in brief and the viewer's membership, if the viewer may see
    /// it: anyone when anyone could join, knock or read it; a signed-in
    /// user also when they are in it, invited, or in a room it admits.
    pub async fn preview(
        &self,
        viewer: Option<&UserId>,
        room: &RoomOrAliasId,
        via: &[OwnedServerName],
    ) -> Result<(RoomSummary, Option<MembershipState>)> {
        let not_found = || Error::not_found("no such room, or not one you may see");
        let (room_id, servers) = self.room_and_servers(room, via).await?;
        let own = &self.inner.config.server.server_name;
        let local = match self.store().room_version(room_id.as_str()).await? {
            Some(_) => Some(
                self.with_head(&room_id, |head| {
                    (head.summary(&room_id), head.servers().contains(own))
                })
                .await?,
            ),
            None => None,
        };
        let summary = match local {
            Some((summary, true)) => summary,
            stale => match self.remote_space(&room_id, &servers, false).await {
                Some(answer) => answer.room.summary.clone(),
                None => stale.map(|(summary, _)| summary).ok_or_else(not_found)?,
            },
        };
        let (membership, joined) = match viewer {
            Some(user) => {
                let joined: HashSet<OwnedRoomId> =
                    self.joined_rooms(user).await?.into_iter().collect();
                (self.membership_if_known(&room_id, user).await?, joined)
            }
            None => (None, HashSet::new()),
        };
        if !user_may_see(&summary, membership.clone(), &joined) {
            return Err(not_found());
        }
        Ok((summary, membership))
    }
}
