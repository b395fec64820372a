//! History visibility: which events a user may see, decided on the room's
//! state at each event (its state group) and the user's membership now;
//! and which events another server may see, decided on the memberships of
//! its users at each event.

use std::collections::{HashMap, HashSet};

use ruma::{
    EventId, RoomId, ServerName, UserId,
    events::room::{history_visibility::HistoryVisibility, member::MembershipState},
};

use super::{Rooms, pdu::stored_content_str};
use crate::{error::Result, store::EventRow};

/// Answers "may this user see this event?" for a run of events of one
/// room, remembering the answer per state group.
pub(super) struct Visibility<'a> {
    rooms: &'a Rooms,
    user_id: &'a UserId,
    joined_now: bool,
    by_group: HashMap<i64, bool>,
}

impl<'a> Visibility<'a> {
    pub async fn new(rooms: &'a Rooms, room_id: &RoomId, user_id: &'a UserId) -> Result<Self> {
        let now = rooms.with_head(room_id, |head| head.membership(user_id)).await?;
        Ok(Self {
            rooms,
            user_id,
            joined_now: now == Some(MembershipState::Join),
            by_group: HashMap::new(),
        })
    }

    pub async fn allows(&mut self, row: &EventRow) -> Result<bool> {
        if let Some(known) = self.by_group.get(&row.state_group) {
            return Ok(*known);
        }
        let (membership, visibility) =
            state_at_group(self.rooms, row.state_group, self.user_id).await?;
        let visibility = visibility.unwrap_or(HistoryVisibility::Shared);
        let allowed = match visibility {
            HistoryVisibility::WorldReadable => true,
            _ if membership == Some(MembershipState::Join) => true,
            HistoryVisibility::Shared => self.joined_now,
            HistoryVisibility::Invited => membership == Some(MembershipState::Invite),
            _ => false,
        };
        self.by_group.insert(row.state_group, allowed);
        Ok(allowed)
    }
}

/// A user's membership and the room's history visibility in a state group.
pub(super) async fn state_at_group(
    rooms: &Rooms,
    group: i64,
    user_id: &UserId,
) -> Result<(Option<MembershipState>, Option<HistoryVisibility>)> {
    let entries = rooms.store().visibility_state_at_group(group, user_id.as_str()).await?;
    let (mut membership, mut visibility) = (None, None);
    // Nearest entries come first: keep the first of each kind.
    for (kind, pdu) in entries {
        if kind == "m.room.member" && membership.is_none() {
            membership = stored_content_str(&pdu, "membership").map(MembershipState::from);
        } else if kind == "m.room.history_visibility" && visibility.is_none() {
            visibility =
                stored_content_str(&pdu, "history_visibility").map(HistoryVisibility::from);
        }
    }
    Ok((membership, visibility))
}

/// Answers "may this server see this event?" by the spec's rules for
/// servers: world-readable and shared history is any member server's;
/// invited history only a server one of whose users was invited or joined
/// at the event; joined history only one whose user was joined. Answers are
/// remembered per state group.
pub(super) struct ServerVisibility<'a> {
    rooms: &'a Rooms,
    server: &'a ServerName,
    /// Per state group: may the server see it, and had it a joined member.
    by_group: HashMap<i64, (bool, bool)>,
}

impl<'a> ServerVisibility<'a> {
    pub fn new(rooms: &'a Rooms, server: &'a ServerName) -> Self {
        Self { rooms, server, by_group: HashMap::new() }
    }

    pub async fn allows(&mut self, event_id: &EventId) -> Result<bool> {
        Ok(self.seen(event_id).await?.0)
    }

    /// Whether one of the server's users was joined at the event (erased
    /// users' events go out redacted to servers that had none).
    pub async fn had_member_joined(&mut self, event_id: &EventId) -> Result<bool> {
        Ok(self.seen(event_id).await?.1)
    }

    async fn seen(&mut self, event_id: &EventId) -> Result<(bool, bool)> {
        // Outliers (state and auth events known from other servers) have no
        // place in the timeline, hence no group; auth chains need them.
        let Some(group) = self.rooms.store().event_state_group(event_id.as_str()).await? else {
            return Ok((true, true));
        };
        if let Some(known) = self.by_group.get(&group) {
            return Ok(*known);
        }
        let entries = self
            .rooms
            .store()
            .server_visibility_state_at_group(group, self.server.as_str())
            .await?;
        let (mut seen, mut memberships, mut visibility) = (HashSet::new(), Vec::new(), None);
        // Nearest entries come first: keep the first of each key.
        for (kind, key, pdu) in entries {
            if kind == "m.room.history_visibility" {
                visibility = visibility.or_else(|| {
                    stored_content_str(&pdu, "history_visibility").map(HistoryVisibility::from)
                });
            } else if seen.insert(key.clone())
                && UserId::parse(&key).is_ok_and(|user| user.server_name() == self.server)
            {
                memberships
                    .extend(stored_content_str(&pdu, "membership").map(MembershipState::from));
            }
        }
        let any = |wanted: &[MembershipState]| memberships.iter().any(|m| wanted.contains(m));
        let allowed = match visibility.unwrap_or(HistoryVisibility::Shared) {
            HistoryVisibility::WorldReadable | HistoryVisibility::Shared => true,
            HistoryVisibility::Invited => any(&[MembershipState::Invite, MembershipState::Join]),
            _ => any(&[MembershipState::Join]),
        };
        let answer = (allowed, any(&[MembershipState::Join]));
        self.by_group.insert(group, answer);
        Ok(answer)
    }
}
