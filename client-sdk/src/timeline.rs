//! [`Timeline`]: a room's history in order, paged back from the newest
//! event on demand.

use ruma::{
    api::Direction, api::client::message::get_message_events, events::AnyTimelineEvent, serde::Raw,
    uint,
};

use crate::{error::Result, room::Room};

/// Events of one room, oldest first. Starts empty at the newest event;
/// [`paginate_backwards`](Self::paginate_backwards) adds older ones.
#[derive(Debug)]
pub struct Timeline {
    room: Room,
    events: Vec<Raw<AnyTimelineEvent>>,
    /// Where the next page back starts; `None` before the first page.
    back_token: Option<String>,
    at_start: bool,
}

impl Timeline {
    pub(crate) fn new(room: Room) -> Self {
        Self { room, events: Vec::new(), back_token: None, at_start: false }
    }

    /// Fetches up to `limit` older events; returns how many were added.
    /// Zero means the start of the room (or of what the user may see).
    pub async fn paginate_backwards(&mut self, limit: u32) -> Result<usize> {
        if self.at_start {
            return Ok(0);
        }
        let mut request = get_message_events::v3::Request::new(
            self.room.room_id().to_owned(),
            Direction::Backward,
        );
        request.from = self.back_token.clone();
        request.limit = limit.into();
        if request.limit == uint!(0) {
            return Ok(0);
        }
        let mut response = self.room.messages(request).await?;
        let room_id = self.room.room_id().as_str();
        self.room.client().decrypt_history(room_id, &mut response.chunk).await?;
        let added = response.chunk.len();
        // The page comes newest first; the timeline holds oldest first.
        let mut older = response.chunk;
        older.reverse();
        older.append(&mut self.events);
        self.events = older;
        match response.end {
            Some(end) if added > 0 => self.back_token = Some(end),
            _ => self.at_start = true,
        }
        Ok(added)
    }

    /// Whether the first event of the room has been reached.
    pub fn is_at_start(&self) -> bool {
        self.at_start
    }

    /// The events fetched so far, oldest first.
    pub fn events(&self) -> &[Raw<AnyTimelineEvent>] {
        &self.events
    }
}
