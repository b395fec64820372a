//! End-to-end encryption data for bridges that manage their users' devices
//! (`org.matrix.msc3202: true`): the to-device messages sent to those
//! devices (MSC4203, `de.sorunome.msc2409.to_device`), whose device lists
//! changed among the people in the rooms the bridge sees, and the key
//! counts of the devices that just received messages (a claimed key is
//! followed by one), as MSC3202 names them.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use ruma::UserId;
use serde_json::{Value as JsonValue, json};

use super::sender::{AppserviceSender, Cursor};
use crate::{
    error::{Error, Result},
    services::notifier::Positions,
};

/// To-device messages read per transaction at most.
const TO_DEVICE_BATCH: i64 = 100;

/// What a transaction carries for a bridge's devices.
#[derive(Debug, Default)]
pub(super) struct DeviceData {
    pub to_device: Vec<JsonValue>,
    /// The stream ids of those messages: they leave their queue with the
    /// transaction.
    pub taken: Vec<i64>,
    /// How far the to-device stream was read.
    pub to_device_reached: i64,
    pub changed: Vec<String>,
    pub key_counts: BTreeMap<String, BTreeMap<String, BTreeMap<String, i64>>>,
    pub unused_fallback: BTreeMap<String, BTreeMap<String, Vec<String>>>,
}

impl DeviceData {
    pub fn is_empty(&self) -> bool {
        self.to_device.is_empty() && self.changed.is_empty()
    }

    /// Puts itself in a transaction's body, under MSC3202/MSC4203's names.
    pub fn write_into(self, body: &mut JsonValue) {
        body["de.sorunome.msc2409.to_device"] = json!(self.to_device);
        body["org.matrix.msc3202.device_lists"] = json!({"changed": self.changed, "left": []});
        body["org.matrix.msc3202.device_one_time_keys_count"] = json!(self.key_counts);
        body["org.matrix.msc3202.device_unused_fallback_key_types"] = json!(self.unused_fallback);
    }
}

impl AppserviceSender {
    /// The device data after the cursor, up to `now`.
    pub(super) async fn device_data(
        &self,
        cursor: &Cursor,
        now: &Positions,
        interested: &mut HashMap<String, bool>,
    ) -> Result<DeviceData> {
        let mut data = DeviceData { to_device_reached: cursor.to_device, ..Default::default() };
        let ours =
            |user: &str| UserId::parse(user).is_ok_and(|u| self.registration.claims_user(&u));
        if now.to_device > cursor.to_device {
            let rows = self
                .store
                .to_device_between(cursor.to_device, now.to_device, TO_DEVICE_BATCH)
                .await?;
            data.to_device_reached = match rows.len() as i64 {
                TO_DEVICE_BATCH => rows.last().map_or(now.to_device, |row| row.stream_id),
                _ => now.to_device,
            };
            let mut devices = BTreeSet::new();
            for row in rows.into_iter().filter(|row| ours(&row.recipient_user)) {
                let content: JsonValue =
                    serde_json::from_str(&row.content).map_err(Error::internal)?;
                data.to_device.push(json!({
                    "type": row.event_type,
                    "sender": row.sender,
                    "to_user_id": row.recipient_user,
                    "to_device_id": row.recipient_device,
                    "content": content,
                }));
                data.taken.push(row.stream_id);
                devices.insert((row.recipient_user, row.recipient_device));
            }
            for (user, device) in devices {
                for key in self.store.key_summary(&user, &device).await? {
                    if key.fallback > 0 {
                        let unused = data.unused_fallback.entry(user.clone()).or_default();
                        unused.entry(device.clone()).or_default().push(key.algorithm);
                    } else {
                        let counts = data.key_counts.entry(user.clone()).or_default();
                        counts
                            .entry(device.clone())
                            .or_default()
                            .insert(key.algorithm, key.unclaimed);
                    }
                }
            }
        }
        if now.device_lists > cursor.device_lists {
            let store = &self.store;
            let changed = store.device_list_changes(cursor.device_lists, now.device_lists).await?;
            let changed = changed.into_iter().map(|user| user.to_string()).collect();
            data.changed = self.users_in_view(changed, interested).await?;
        }
        Ok(data)
    }
}
