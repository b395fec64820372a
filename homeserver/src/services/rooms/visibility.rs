//! History visibility: which events a user may see, decided on the room's
//! state at each event (its state group) and the user's membership now.

use std::collections::HashMap;

use ruma::{
    RoomId, UserId,
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
        let entries = self
            .rooms
            .store()
            .visibility_state_at_group(row.state_group, self.user_id.as_str())
            .await?;
        let mut membership = None;
        let mut visibility = None;
        // Nearest entries come first: keep the first of each kind.
        for (kind, pdu) in entries {
            if kind == "m.room.member" && membership.is_none() {
                membership = stored_content_str(&pdu, "membership").map(MembershipState::from);
            } else if kind == "m.room.history_visibility" && visibility.is_none() {
                visibility =
                    stored_content_str(&pdu, "history_visibility").map(HistoryVisibility::from);
            }
        }
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
