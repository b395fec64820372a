//! Read receipts (public, private and threaded) and the fully-read marker.

use std::{collections::BTreeMap, sync::Arc};

use ruma::{EventId, RoomId, UserId};
use serde_json::Value as JsonValue;

use crate::{
    error::{Error, Result},
    services::{
        notifier::{Notifier, Stream},
        rooms::Rooms,
    },
    store::{ReceiptRow, Store},
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

/// Receipts as the content of each room's `m.receipt` event. Private read
/// receipts go only to whom `sees_private` allows (their owner).
pub fn receipt_contents(
    receipts: Vec<ReceiptRow>,
    sees_private: impl Fn(&str) -> bool,
) -> BTreeMap<String, JsonValue> {
    let mut by_room: BTreeMap<String, JsonValue> = BTreeMap::new();
    for ReceiptRow {
        room_id,
        user_id: reader,
        receipt_type: kind,
        thread_id: thread,
        event_id,
        ts,
    } in receipts
    {
        if kind == "m.read.private" && !sees_private(&reader) {
            continue;
        }
        let mut receipt = serde_json::json!({"ts": ts});
        if !thread.is_empty() {
            receipt["thread_id"] = JsonValue::from(thread);
        }
        let content = by_room.entry(room_id).or_insert_with(|| serde_json::json!({}));
        content[&event_id][&kind][&reader] = receipt;
    }
    by_room
}
