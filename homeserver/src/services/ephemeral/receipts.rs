//! Read receipts (public, private and threaded) and the fully-read marker.

use std::sync::Arc;

use ruma::{EventId, RoomId, UserId};

use crate::{
    error::{Error, Result},
    services::{
        notifier::{Notifier, Stream},
        rooms::Rooms,
    },
    store::Store,
};

#[derive(Clone)]
pub struct Receipts {
    store: Store,
    rooms: Rooms,
    notifier: Arc<Notifier>,
}

impl Receipts {
    pub fn new(store: Store, rooms: Rooms, notifier: Arc<Notifier>) -> Self {
        Self { store, rooms, notifier }
    }

    /// Records `m.read` or `m.read.private` (optionally for a thread), or
    /// moves the `m.fully_read` marker.
    pub async fn set(
        &self,
        room_id: &RoomId,
        user_id: &UserId,
        receipt_type: &str,
        event_id: &EventId,
        thread_id: Option<&str>,
    ) -> Result<()> {
        let members = self.rooms.joined_audience(room_id, user_id).await?;
        if self.store.event_room(event_id.as_str()).await?.as_deref() != Some(room_id.as_str()) {
            return Err(Error::not_found("no such event in this room"));
        }
        match receipt_type {
            "m.fully_read" => {
                let content = serde_json::json!({"event_id": event_id}).to_string();
                let position = self
                    .store
                    .set_account_data(user_id.as_str(), room_id.as_str(), "m.fully_read", &content)
                    .await?;
                self.notifier.advance(Stream::AccountData, position, [user_id]);
            }
            "m.read" | "m.read.private" => {
                if receipt_type == "m.read" && self.rooms.is_local(user_id) {
                    let mut data =
                        serde_json::json!({"ts": ruma::MilliSecondsSinceUnixEpoch::now()});
                    if let Some(thread) = thread_id {
                        data["thread_id"] = serde_json::json!(thread);
                    }
                    let edu = serde_json::json!({
                        "edu_type": "m.receipt",
                        "content": {room_id.as_str(): {"m.read": {user_id.as_str(): {
                            "event_ids": [event_id], "data": data,
                        }}}},
                    });
                    self.rooms.send_edu_to_room(room_id, &edu).await?;
                }
                let thread = thread_id.unwrap_or("");
                let position = self
                    .store
                    .set_receipt(
                        room_id.as_str(),
                        user_id.as_str(),
                        receipt_type,
                        thread,
                        event_id.as_str(),
                    )
                    .await?;
                // A private receipt concerns its owner alone.
                if receipt_type == "m.read.private" {
                    self.notifier.advance(Stream::Receipts, position, [user_id]);
                } else {
                    self.notifier.advance(Stream::Receipts, position, members.iter().map(|u| &**u));
                }
            }
            other => return Err(Error::invalid_param(format!("unknown receipt type {other}"))),
        }
        Ok(())
    }
}
