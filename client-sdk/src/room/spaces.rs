//! [Spaces]: rooms of type `m.space` whose `m.space.child` state events
//! list the rooms they group. Clients use them to show a community's rooms
//! together.
//!
//! [Spaces]: https://spec.matrix.org/latest/client-server-api/#spaces

use ruma::{
    OwnedRoomId, RoomId,
    events::{room::create::RoomCreateEventContent, space::child::SpaceChildEventContent},
    room::RoomType,
};
use serde::Deserialize;

use super::Room;
use crate::error::Result;

impl Room {
    /// Whether this room is a space (its creation made it `m.space`).
    pub async fn is_space(&self) -> Result<bool> {
        let create: Option<RoomCreateEventContent> =
            self.state_content("m.room.create", "").await?;
        Ok(create.is_some_and(|c| c.room_type == Some(RoomType::Space)))
    }

    /// The rooms this space lists, as the stored state has them. A child
    /// event without `via` servers was removed (the spec's way to delete a
    /// state event), so it does not count.
    pub async fn space_children(&self) -> Result<Vec<OwnedRoomId>> {
        #[derive(Deserialize)]
        struct ChildEvent {
            state_key: OwnedRoomId,
            content: SpaceChildEventContent,
        }
        let store = &self.client.inner.store;
        let events = store.state_events(self.room_id.as_str(), "m.space.child").await?;
        Ok(events
            .iter()
            .filter_map(|json| serde_json::from_str::<ChildEvent>(json).ok())
            .filter(|child| !child.content.via.is_empty())
            .map(|child| child.state_key)
            .collect())
    }

    /// Lists `child` in this space, reachable through the user's own server.
    pub async fn add_space_child(&self, child: &RoomId) -> Result<ruma::OwnedEventId> {
        let user_id = self.client.require_user_id()?;
        let via = vec![user_id.server_name().to_owned()];
        self.send_state(child.as_str(), &SpaceChildEventContent::new(via)).await
    }

    /// Takes `child` out of this space (an `m.space.child` with no `via`,
    /// which is how the spec removes one).
    pub async fn remove_space_child(&self, child: &RoomId) -> Result<ruma::OwnedEventId> {
        self.send_state(child.as_str(), &SpaceChildEventContent::new(Vec::new())).await
    }
}
