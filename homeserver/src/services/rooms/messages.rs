//! Sending: messages (idempotent per device and transaction id), state
//! events and redactions.

use std::sync::Arc;

use ruma::{DeviceId, EventId, OwnedEventId, RoomId, events::TimelineEventType};
use serde_json::{Value as JsonValue, json};

use super::{EventDraft, Rooms, pdu::Pdu};
use crate::{
    error::{Error, Result},
    services::auth::Requester,
};

impl Rooms {
    /// PUT /rooms/{id}/send/{type}/{txnId}: a retry with the same txn id
    /// returns the first event instead of sending a second.
    pub async fn send_message(
        &self,
        room_id: &RoomId,
        requester: &Requester,
        kind: &str,
        content: JsonValue,
        txn_id: &str,
    ) -> Result<OwnedEventId> {
        if !content.is_object() {
            return Err(Error::BadJson("event content must be a JSON object".into()));
        }
        let kind = TimelineEventType::from(kind);
        if matches!(kind, TimelineEventType::RoomRedaction) {
            return Err(Error::BadRequest("use the /redact endpoint to redact".into()));
        }
        if self.is_shadow_banned(&requester.user_id) {
            return self.phantom_event_id();
        }
        self.sent_once(requester, txn_id, || async {
            let draft = EventDraft { kind, content, state_key: None, redacts: None };
            self.append(room_id, &requester.user_id, draft, Some((&requester.device_id, txn_id)))
                .await
        })
        .await
    }

    /// Runs `send` unless this device already used `txn_id`.
    async fn sent_once<F, Fut>(
        &self,
        requester: &Requester,
        txn_id: &str,
        send: F,
    ) -> Result<OwnedEventId>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Arc<Pdu>>>,
    {
        let (user, device) = (&requester.user_id, &requester.device_id);
        let _guard = self.txn_lock(user, device, txn_id).await;
        let txn_ids = &self.inner.txn_ids;
        if let Some(event_id) = txn_ids.previous_send(self.store(), user, device, txn_id).await? {
            return EventId::parse(event_id).map_err(Error::internal);
        }
        let event_id = send().await?.event_id.clone();
        txn_ids.record(user, device, txn_id);
        Ok(event_id)
    }

    pub async fn set_state(
        &self,
        room_id: &RoomId,
        requester: &Requester,
        kind: &str,
        state_key: &str,
        content: JsonValue,
    ) -> Result<OwnedEventId> {
        if !content.is_object() {
            return Err(Error::BadJson("state content must be a JSON object".into()));
        }
        if kind == "m.room.create" {
            return Err(Error::forbidden("the create event cannot be replaced"));
        }
        if self.is_shadow_banned(&requester.user_id) {
            return self.phantom_event_id();
        }
        if kind == "m.room.member" && ruma::UserId::parse(state_key).is_err() {
            return Err(Error::invalid_param("the state key of a member event must be a user id"));
        }
        // Only the user themself may be the key of per-user state, unless
        // the auth rules (membership) say otherwise.
        let draft = EventDraft::state(kind, state_key, content);
        Ok(self.append(room_id, &requester.user_id, draft, None).await?.event_id.clone())
    }

    pub async fn redact(
        &self,
        room_id: &RoomId,
        requester: &Requester,
        target: &EventId,
        reason: Option<&str>,
        txn_id: &str,
    ) -> Result<OwnedEventId> {
        if self.is_shadow_banned(&requester.user_id) {
            return self.phantom_event_id();
        }
        let content = match reason {
            Some(reason) => json!({"reason": reason}),
            None => json!({}),
        };
        // The auth rules only check the redact level against the event's
        // server; redacting someone else's event also needs that level here.
        if let Some(row) = self.store().event(target.as_str()).await?
            && row.room_id == room_id.as_str()
        {
            let original = Pdu::from_stored(&row.event_id, &row.room_id, &row.pdu)?;
            let (mine, needed) = self
                .with_head(room_id, |head| {
                    (head.power_of(&requester.user_id), head.required_power("redact", 50))
                })
                .await?;
            if original.sender != requester.user_id && mine < needed {
                return Err(Error::forbidden("you may only redact your own events"));
            }
        }
        let device: &DeviceId = &requester.device_id;
        self.sent_once(requester, txn_id, || async {
            let draft = EventDraft {
                kind: TimelineEventType::RoomRedaction,
                content,
                state_key: None,
                redacts: Some(target.to_owned()),
            };
            self.append(room_id, &requester.user_id, draft, Some((device, txn_id))).await
        })
        .await
    }
}
