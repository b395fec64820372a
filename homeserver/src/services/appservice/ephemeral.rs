//! Ephemeral data for services that ask for it (`receive_ephemeral`,
//! [spec](https://spec.matrix.org/latest/application-service-api/#pushing-ephemeral-data)):
//! typing notices and read receipts of the rooms the service is interested
//! in, as `/sync` shows them, with the room id added; and the presence of
//! the people in those rooms.

use std::collections::HashMap;

use ruma::UserId;
use serde_json::{Value as JsonValue, json};

use super::sender::{AppserviceSender, Cursor};
use crate::{
    error::Result,
    services::{
        ephemeral::{presence::PresenceStatus, receipt_contents},
        notifier::Positions,
    },
};

impl AppserviceSender {
    /// Typing and receipts after the cursor, up to `now`, in the rooms the
    /// service is interested in.
    pub(super) async fn ephemeral(
        &self,
        cursor: &Cursor,
        now: &Positions,
        interested: &mut HashMap<String, bool>,
    ) -> Result<Vec<JsonValue>> {
        let mut ephemeral = Vec::new();
        if now.typing > cursor.typing {
            for (room_id, user_ids) in self.typing.all_changes_since(cursor.typing) {
                if self.room_wanted(room_id.as_str(), interested).await? {
                    ephemeral.push(json!({
                        "type": "m.typing",
                        "room_id": room_id,
                        "content": {"user_ids": user_ids},
                    }));
                }
            }
        }
        if now.receipts > cursor.receipts {
            let rows = self.store.receipts_between(cursor.receipts, now.receipts).await?;
            // Private receipts only of the service's own users.
            let own = |reader: &str| {
                UserId::parse(reader).is_ok_and(|user| self.registration.claims_user(&user))
            };
            for (room_id, content) in receipt_contents(rows, own) {
                if self.room_wanted(&room_id, interested).await? {
                    ephemeral.push(json!({
                        "type": "m.receipt",
                        "room_id": room_id,
                        "content": content,
                    }));
                }
            }
        }
        if now.presence > cursor.presence {
            let rows = self.store.presence_between(cursor.presence, now.presence).await?;
            let users = rows.iter().map(|row| row.user_id.clone()).collect();
            let in_view = self.users_in_view(users, interested).await?;
            for row in rows.iter().filter(|row| in_view.contains(&row.user_id)) {
                ephemeral.push(PresenceStatus::event(row));
            }
        }
        Ok(ephemeral)
    }
}
