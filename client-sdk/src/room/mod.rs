//! [`Room`]: a handle on one room of the client's user. What the store
//! knows (name, topic, membership, latest events) is read locally; what
//! changes the room goes to the server.

mod messages;
mod read_markers;
mod spaces;
mod state;

pub use self::state::Member;

use ruma::{OwnedRoomId, RoomId};

use crate::client::Client;

/// The user's membership of a room, as the last sync left it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Membership {
    /// Joined.
    Join,
    /// Invited, not yet joined.
    Invite,
    /// Left, kicked or banned.
    Leave,
    /// Asked to join (knocked).
    Knock,
}

impl Membership {
    pub(crate) fn from_stored(value: &str) -> Self {
        match value {
            "join" => Self::Join,
            "invite" => Self::Invite,
            "knock" => Self::Knock,
            _ => Self::Leave,
        }
    }
}

/// A room the user is in, was invited to, or left.
#[derive(Clone, Debug)]
pub struct Room {
    client: Client,
    room_id: OwnedRoomId,
}

impl Room {
    pub(crate) fn new(client: Client, room_id: OwnedRoomId) -> Self {
        Self { client, room_id }
    }

    /// The room's id.
    pub fn room_id(&self) -> &RoomId {
        &self.room_id
    }

    /// The client this room belongs to.
    pub fn client(&self) -> &Client {
        &self.client
    }
}
