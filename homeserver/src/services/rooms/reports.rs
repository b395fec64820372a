//! Content reports: a user reports an event they can see, or a room they
//! know; admins read them through the admin API.

use ruma::{EventId, RoomId, UserId};

use super::Rooms;
use crate::error::Result;

impl Rooms {
    /// POST /rooms/{id}/report/{eventId}: only events the reporter can see
    /// (M_NOT_FOUND otherwise, so a report reveals nothing).
    pub async fn report_event(
        &self,
        room_id: &RoomId,
        user_id: &UserId,
        event_id: &EventId,
        reason: Option<&str>,
    ) -> Result<()> {
        self.visible_row(room_id, user_id, event_id).await?;
        self.store()
            .add_report(user_id.as_str(), room_id.as_str(), Some(event_id.as_str()), reason)
            .await
    }

    /// POST /rooms/{id}/report: a room the reporter knows.
    pub async fn report_room(
        &self,
        room_id: &RoomId,
        user_id: &UserId,
        reason: &str,
    ) -> Result<()> {
        self.with_head(room_id, |_| ()).await?;
        self.store().add_report(user_id.as_str(), room_id.as_str(), None, Some(reason)).await
    }
}
