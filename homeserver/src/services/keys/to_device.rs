//! To-device messages: queued per device once per transaction id, handed
//! out by sync in order, deleted when the next sync acknowledges them.

use std::collections::BTreeMap;

use ruma::{
    OwnedServerName, OwnedUserId,
    api::client::to_device::send_event_to_device::v3::Messages,
    events::{AnyToDeviceEvent, ToDeviceEventType},
    serde::Raw,
    to_device::DeviceIdOrAllDevices,
};

use super::{Keys, parse_json, raw_json};
use crate::{
    error::Result,
    services::{
        auth::Requester,
        notifier::{Positions, Stream},
    },
    store::ToDeviceRow,
};

/// Messages handed to a device by one sync.
const PER_SYNC: i64 = 100;

impl Keys {
    /// PUT /sendToDevice/{type}/{txnId}.
    pub async fn send_to_device(
        &self,
        requester: &Requester,
        event_type: &ToDeviceEventType,
        txn_id: &str,
        messages: &Messages,
    ) -> Result<()> {
        let mut rows = Vec::new();
        let mut recipients: Vec<OwnedUserId> = Vec::new();
        let mut remote: BTreeMap<OwnedServerName, BTreeMap<String, serde_json::Value>> =
            BTreeMap::new();
        for (user_id, devices) in messages {
            if !self.is_local(user_id) {
                let by_device: serde_json::Map<String, serde_json::Value> = devices
                    .iter()
                    .filter_map(|(device, content)| {
                        Some((device.to_string(), serde_json::from_str(content.json().get()).ok()?))
                    })
                    .collect();
                remote
                    .entry(user_id.server_name().to_owned())
                    .or_default()
                    .insert(user_id.to_string(), serde_json::Value::Object(by_device));
                continue;
            }
            for (device, content) in devices {
                let targets = match device {
                    DeviceIdOrAllDevices::DeviceId(device_id) => vec![device_id.to_string()],
                    DeviceIdOrAllDevices::AllDevices => {
                        self.store.device_ids(user_id.as_str()).await?
                    }
                };
                for target in targets {
                    rows.push(ToDeviceRow {
                        recipient_user: user_id.to_string(),
                        recipient_device: target,
                        content: content.json().get().to_owned(),
                    });
                }
            }
            recipients.push(user_id.clone());
        }
        if !remote.is_empty() {
            let kind = event_type.to_string();
            self.send_remote_to_device(&requester.user_id, &kind, txn_id, remote).await?;
        }
        let sender = (requester.user_id.as_str(), requester.device_id.as_str());
        self.deliver(sender, txn_id, &event_type.to_string(), &rows, &recipients).await
    }

    /// Queues messages for local devices once per (sender, device, txn id)
    /// and wakes the recipients' syncs.
    pub(super) async fn deliver(
        &self,
        (sender, sender_device): (&str, &str),
        txn_id: &str,
        event_type: &str,
        rows: &[ToDeviceRow],
        recipients: &[OwnedUserId],
    ) -> Result<()> {
        let position =
            self.store.queue_to_device(sender, sender_device, txn_id, event_type, rows).await?;
        if let Some(position) = position {
            self.notifier.advance(
                Stream::ToDevice,
                position,
                recipients.iter().map(|u| u.as_ref()),
            );
        }
        Ok(())
    }

    /// The messages waiting for the requester's device after `since`
    /// (which acknowledges everything before it), and the position the
    /// next token should carry: `now`, or the last message handed out when
    /// more are waiting.
    pub async fn take_to_device(
        &self,
        requester: &Requester,
        since: Option<Positions>,
        now: Positions,
    ) -> Result<(Vec<Raw<AnyToDeviceEvent>>, i64)> {
        let acknowledged = since.map_or(0, |s| s.to_device);
        // Nothing was sent to anyone since the last sync: nothing to read.
        // (Messages that sync delivered are deleted by the next read.)
        if since.is_some() && acknowledged >= now.to_device {
            return Ok((Vec::new(), acknowledged));
        }
        let rows = self
            .store
            .take_to_device(
                requester.user_id.as_str(),
                requester.device_id.as_str(),
                acknowledged,
                now.to_device,
                PER_SYNC,
            )
            .await?;
        let reached = match rows.len() as i64 {
            PER_SYNC => rows.last().map_or(now.to_device, |row| row.stream_id),
            _ => now.to_device.max(acknowledged),
        };
        let mut events = Vec::with_capacity(rows.len());
        for row in rows {
            let event = serde_json::json!({
                "sender": row.sender,
                "type": row.event_type,
                "content": parse_json(&row.content)?,
            });
            events.push(raw_json(&event)?);
        }
        Ok((events, reached))
    }
}
