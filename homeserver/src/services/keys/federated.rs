//! End-to-end encryption across servers: key queries and claims for other
//! servers' users go to their servers (and theirs for ours come here),
//! to-device messages travel as `m.direct_to_device` EDUs, and device list
//! changes as `m.device_list_update` EDUs.

use std::collections::BTreeMap;

use ruma::{
    OneTimeKeyAlgorithm, OwnedDeviceId, OwnedServerName, OwnedUserId, ServerName, UserId,
    api::{
        client::keys::{claim_keys, get_keys},
        federation::keys::{claim_keys as fed_claim, get_keys as fed_get},
    },
};
use serde::Deserialize;
use serde_json::{Value as JsonValue, json};

use super::Keys;
use crate::{error::Result, store::ToDeviceRow};

type Wanted<T> = BTreeMap<OwnedUserId, T>;

/// Splits a request by server.
pub(super) fn by_server<T: Clone>(users: &Wanted<T>) -> BTreeMap<OwnedServerName, Wanted<T>> {
    let mut split: BTreeMap<OwnedServerName, Wanted<T>> = BTreeMap::new();
    for (user, wanted) in users {
        split
            .entry(user.server_name().to_owned())
            .or_default()
            .insert(user.clone(), wanted.clone());
    }
    split
}

#[derive(Deserialize)]
struct DirectToDevice {
    sender: OwnedUserId,
    #[serde(rename = "type")]
    kind: String,
    message_id: String,
    messages: BTreeMap<OwnedUserId, BTreeMap<String, Box<serde_json::value::RawValue>>>,
}

#[derive(Deserialize)]
struct DeviceListUpdate {
    user_id: OwnedUserId,
}

impl Keys {
    /// Asks other servers for their users' keys and merges the answers.
    pub(super) async fn query_remote(
        &self,
        users: Wanted<Vec<OwnedDeviceId>>,
        response: &mut get_keys::v3::Response,
    ) {
        for (server, users) in by_server(&users) {
            match self.federation.send(&server, fed_get::v1::Request::new(users)).await {
                Ok(answer) => {
                    let ours = |user: &OwnedUserId| user.server_name() == server;
                    response
                        .device_keys
                        .extend(answer.device_keys.into_iter().filter(|(u, _)| ours(u)));
                    response
                        .master_keys
                        .extend(answer.master_keys.into_iter().filter(|(u, _)| ours(u)));
                    response
                        .self_signing_keys
                        .extend(answer.self_signing_keys.into_iter().filter(|(u, _)| ours(u)));
                }
                Err(error) => {
                    response
                        .failures
                        .insert(server.to_string(), json!({"error": error.to_string()}));
                }
            }
        }
    }

    /// Claims one-time keys of other servers' devices.
    pub(super) async fn claim_remote(
        &self,
        wanted: Wanted<BTreeMap<OwnedDeviceId, OneTimeKeyAlgorithm>>,
        response: &mut claim_keys::v3::Response,
    ) {
        for (server, users) in by_server(&wanted) {
            match self.federation.send(&server, fed_claim::v1::Request::new(users)).await {
                Ok(answer) => response.one_time_keys.extend(
                    answer.one_time_keys.into_iter().filter(|(u, _)| u.server_name() == server),
                ),
                Err(error) => {
                    response
                        .failures
                        .insert(server.to_string(), json!({"error": error.to_string()}));
                }
            }
        }
    }

    /// Sends to-device messages for other servers' users as EDUs.
    pub(super) async fn send_remote_to_device(
        &self,
        sender: &UserId,
        event_type: &str,
        message_id: &str,
        messages: BTreeMap<OwnedServerName, BTreeMap<String, JsonValue>>,
    ) -> Result<()> {
        for (server, messages) in messages {
            let edu = json!({
                "edu_type": "m.direct_to_device",
                "content": {"sender": sender, "type": event_type, "message_id": message_id, "messages": messages},
            });
            self.federation.send_edu(&[server.to_string()], &edu).await?;
        }
        Ok(())
    }

    /// An `m.direct_to_device` EDU from `origin`.
    pub async fn receive_to_device(&self, origin: &ServerName, content: JsonValue) -> Result<()> {
        let Ok(edu) = serde_json::from_value::<DirectToDevice>(content) else { return Ok(()) };
        if edu.sender.server_name() != origin {
            tracing::warn!(%origin, sender = %edu.sender, "to-device EDU for another server's user");
            return Ok(());
        }
        let mut rows = Vec::new();
        let mut recipients = Vec::new();
        for (user_id, devices) in &edu.messages {
            if !self.is_local(user_id) {
                continue;
            }
            for (device, content) in devices {
                let targets = match device.as_str() {
                    "*" => self.store.device_ids(user_id.as_str()).await?,
                    device => vec![device.to_owned()],
                };
                for target in targets {
                    rows.push(ToDeviceRow {
                        recipient_user: user_id.to_string(),
                        recipient_device: target,
                        content: content.get().to_owned(),
                    });
                }
            }
            recipients.push(user_id.clone());
        }
        // The origin stands in for the sending device in the duplicate check.
        let sender = (edu.sender.as_str(), origin.as_str());
        self.deliver(sender, &edu.message_id, &edu.kind, &rows, &recipients).await
    }

    /// An `m.device_list_update` EDU: the user's devices changed; local
    /// users sharing a room with them are told to query them again.
    pub async fn receive_device_list_update(
        &self,
        origin: &ServerName,
        content: JsonValue,
    ) -> Result<()> {
        let Ok(update) = serde_json::from_value::<DeviceListUpdate>(content) else { return Ok(()) };
        if update.user_id.server_name() != origin {
            tracing::warn!(%origin, user = %update.user_id, "device list EDU for another server's user");
            return Ok(());
        }
        let position = self.store.record_device_list_change(update.user_id.as_str()).await?;
        self.announce(&update.user_id, position).await
    }

    /// The device-lists stream position (the `stream_id` of a resync).
    pub async fn device_list_position(&self) -> Result<i64> {
        self.store.stream_position("device_lists").await
    }

    /// Tells the servers of users sharing a room with a local user that
    /// the user's devices changed (at device-list `position`).
    ///
    /// Each update carries a new `stream_id` (receivers such as Synapse drop
    /// an update whose stream id they saw before) and no `prev_id`, which
    /// tells the receiver to resync the whole list from `/user/devices`
    /// rather than patch one device.
    pub(super) async fn send_device_list_update(
        &self,
        user_id: &UserId,
        position: i64,
        sharing: &[OwnedUserId],
    ) -> Result<()> {
        let mut servers: Vec<String> = sharing
            .iter()
            .map(|u| u.server_name())
            .filter(|s| *s != self.config.server.server_name)
            .map(|s| s.to_string())
            .collect();
        servers.sort();
        servers.dedup();
        if servers.is_empty() {
            return Ok(());
        }
        let edu = json!({
            "edu_type": "m.device_list_update",
            "content": {"user_id": user_id, "device_id": "", "stream_id": position, "prev_id": []},
        });
        self.federation.send_edu(&servers, &edu).await
    }
}
