//! Where the user stopped reading: the read receipt others see and the
//! fully-read marker ([`m.fully_read`]) the user's own clients share, so a
//! client can show "new since you were last here" wherever they read.
//!
//! [`m.fully_read`]: https://spec.matrix.org/latest/client-server-api/#fully-read-markers

use ruma::{
    EventId, OwnedEventId,
    api::client::{config::get_room_account_data, read_marker::set_read_marker},
    events::{RoomAccountDataEventType, fully_read::FullyReadEventContent},
};

use super::Room;
use crate::error::Result;

impl Room {
    /// The event the user last read up to, on any of their devices.
    pub async fn fully_read(&self) -> Result<Option<OwnedEventId>> {
        let user_id = self.client.require_user_id()?;
        let request = get_room_account_data::v3::Request::new(
            user_id,
            self.room_id.clone(),
            RoomAccountDataEventType::FullyRead,
        );
        match self.client.send(request).await {
            Ok(response) => {
                let content: FullyReadEventContent =
                    serde_json::from_str(response.account_data.json().get())?;
                Ok(Some(content.event_id))
            }
            Err(error) if error.errcode().as_deref() == Some("M_NOT_FOUND") => Ok(None),
            Err(error) => Err(error),
        }
    }

    /// Marks everything up to `event_id` read: the read receipt and the
    /// fully-read marker, in one request.
    pub async fn mark_read(&self, event_id: &EventId) -> Result<()> {
        let mut request = set_read_marker::v3::Request::new(self.room_id.clone());
        request.fully_read = Some(event_id.to_owned());
        request.read_receipt = Some(event_id.to_owned());
        self.client.send(request).await?;
        Ok(())
    }
}
