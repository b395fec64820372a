//! End-to-end encryption support: the server stores public keys, hands out
//! one-time keys, relays to-device messages and keeps key backups. It only
//! ever sees public keys and ciphertext. Every uploaded key is checked
//! (owner, device, signature) before it is stored.

mod backup;
mod cross_signing;
mod device_lists;
mod federated;
pub mod signed;
mod to_device;

use std::{collections::BTreeMap, sync::Arc};

use ruma::{
    OneTimeKeyAlgorithm, OwnedDeviceId, OwnedOneTimeKeyId, OwnedUserId, UInt, UserId,
    api::client::keys::{claim_keys, get_keys},
    encryption::{DeviceKeys, OneTimeKey},
    serde::Raw,
};
use serde_json::Value as JsonValue;

use self::signed::{object, signed_by, string};
use super::{
    auth::{Auth, Requester},
    federation::Federation,
    notifier::{Notifier, Stream},
};
use crate::{
    config::Config,
    error::{Error, Result},
    store::{OneTimeKeyRow, Store},
};

#[derive(Clone)]
pub struct Keys {
    store: Store,
    config: Arc<Config>,
    auth: Auth,
    notifier: Arc<Notifier>,
    federation: Federation,
}

fn raw_json<T>(value: &JsonValue) -> Result<Raw<T>> {
    let raw = serde_json::value::to_raw_value(value).map_err(Error::internal)?;
    Ok(Raw::from_json(raw))
}

fn parse_json(text: &str) -> Result<JsonValue> {
    serde_json::from_str(text).map_err(Error::internal)
}

impl Keys {
    pub fn new(
        store: Store,
        config: Arc<Config>,
        auth: Auth,
        notifier: Arc<Notifier>,
        federation: Federation,
    ) -> Self {
        Self { store, config, auth, notifier, federation }
    }

    fn is_local(&self, user_id: &UserId) -> bool {
        user_id.server_name() == self.config.server.server_name
    }

    /// Tells everyone who shares a room with `user_id` (and the user's
    /// other devices) that the user's keys changed at `position`.
    pub async fn announce(&self, user_id: &UserId, position: i64) -> Result<()> {
        let mut users: Vec<OwnedUserId> = self
            .store
            .users_sharing_rooms(user_id.as_str())
            .await?
            .into_iter()
            .filter_map(|user| UserId::parse(user).ok())
            .collect();
        users.push(user_id.to_owned());
        self.notifier.advance(Stream::DeviceLists, position, users.iter().map(|u| u.as_ref()));
        if self.is_local(user_id) {
            self.send_device_list_update(user_id, position, &users).await?;
        }
        Ok(())
    }

    /// POST /keys/upload: the device's identity keys, one-time keys and
    /// fallback keys, each signed by the device. Returns the counts of
    /// unclaimed one-time keys.
    pub async fn upload(
        &self,
        requester: &Requester,
        device_keys: Option<&Raw<DeviceKeys>>,
        one_time_keys: &BTreeMap<OwnedOneTimeKeyId, Raw<OneTimeKey>>,
        fallback_keys: &BTreeMap<OwnedOneTimeKeyId, Raw<OneTimeKey>>,
    ) -> Result<BTreeMap<OneTimeKeyAlgorithm, UInt>> {
        let user = requester.user_id.as_str();
        let device = requester.device_id.as_str();
        let stored = match self.store.device_keys(user, device).await? {
            Some(json) => Some(object(&parse_json(&json)?, "stored device keys")?),
            None => None,
        };
        let mut identity = stored.as_ref().and_then(|keys| device_ed25519(keys, device));
        let device_json = match device_keys {
            Some(raw) => {
                let value: JsonValue = serde_json::from_str(raw.json().get())
                    .map_err(|e| Error::BadJson(e.to_string()))?;
                let keys = object(&value, "device_keys")?;
                if string(&keys, "user_id") != Some(user)
                    || string(&keys, "device_id") != Some(device)
                {
                    return Err(Error::invalid_param(
                        "device_keys belong to another user or device",
                    ));
                }
                let ed25519 = device_ed25519(&keys, device)
                    .ok_or_else(|| Error::invalid_param("device_keys lack an ed25519 key"))?;
                if !signed_by(&keys, user, &format!("ed25519:{device}"), &ed25519) {
                    return Err(Error::invalid_param("device_keys are not signed by the device"));
                }
                if identity.as_ref().is_some_and(|known| *known != ed25519) {
                    return Err(Error::invalid_param("this device already has other keys"));
                }
                identity = Some(ed25519);
                Some(value.to_string())
            }
            None => None,
        };
        let one_time =
            self.checked_keys(user, device, identity.as_deref(), one_time_keys, true).await?;
        let fallback =
            self.checked_keys(user, device, identity.as_deref(), fallback_keys, false).await?;
        let position = self
            .store
            .upload_keys(user, device, device_json.as_deref(), &one_time, &fallback)
            .await?;
        if let Some(position) = position {
            self.announce(&requester.user_id, position).await?;
        }
        self.one_time_key_counts(requester).await
    }

    /// Validates one-time or fallback keys: signed keys must carry the
    /// device's signature, and a one-time key id may not change content.
    async fn checked_keys(
        &self,
        user: &str,
        device: &str,
        identity: Option<&str>,
        keys: &BTreeMap<OwnedOneTimeKeyId, Raw<OneTimeKey>>,
        one_time: bool,
    ) -> Result<Vec<OneTimeKeyRow>> {
        let mut rows = Vec::with_capacity(keys.len());
        for (key_id, raw) in keys {
            let value: JsonValue = serde_json::from_str(raw.json().get())
                .map_err(|e| Error::BadJson(e.to_string()))?;
            let algorithm = key_id.algorithm().to_string();
            if value.is_object() {
                let key = object(&value, "a one-time key")?;
                let identity = identity.ok_or_else(|| {
                    Error::invalid_param("upload the device keys before signed one-time keys")
                })?;
                if !signed_by(&key, user, &format!("ed25519:{device}"), identity) {
                    return Err(Error::invalid_param(format!(
                        "{key_id} is not signed by the device"
                    )));
                }
            } else if !value.is_string() {
                return Err(Error::invalid_param(format!("{key_id} is not a key")));
            }
            let json = value.to_string();
            if one_time
                && let Some(existing) =
                    self.store.one_time_key(user, device, key_id.as_str()).await?
                && existing != json
            {
                return Err(Error::invalid_param(format!(
                    "{key_id} was already uploaded with another key"
                )));
            }
            rows.push(OneTimeKeyRow { key_id: key_id.to_string(), algorithm, key_json: json });
        }
        Ok(rows)
    }

    /// Unclaimed one-time keys of the requester's device, by algorithm.
    pub async fn one_time_key_counts(
        &self,
        requester: &Requester,
    ) -> Result<BTreeMap<OneTimeKeyAlgorithm, UInt>> {
        let rows = self
            .store
            .one_time_key_counts(requester.user_id.as_str(), requester.device_id.as_str())
            .await?;
        let mut counts: BTreeMap<OneTimeKeyAlgorithm, UInt> = rows
            .into_iter()
            .map(|(algorithm, count)| (algorithm.into(), UInt::try_from(count).unwrap_or_default()))
            .collect();
        // Clients top up from this count; zero must be said, not left out.
        counts.entry(OneTimeKeyAlgorithm::SignedCurve25519).or_default();
        Ok(counts)
    }

    /// What sync reports of the device's keys, in one query: unclaimed
    /// one-time keys by algorithm, and fallback algorithms not yet used.
    pub async fn key_summary(
        &self,
        requester: &Requester,
    ) -> Result<(BTreeMap<OneTimeKeyAlgorithm, UInt>, Vec<OneTimeKeyAlgorithm>)> {
        let rows = self
            .store
            .key_summary(requester.user_id.as_str(), requester.device_id.as_str())
            .await?;
        let mut counts = BTreeMap::new();
        let mut fallback = Vec::new();
        for row in rows {
            match row.fallback {
                0 => {
                    let count = UInt::try_from(row.unclaimed).unwrap_or_default();
                    counts.insert(row.algorithm.into(), count);
                }
                _ => fallback.push(row.algorithm.into()),
            }
        }
        counts.entry(OneTimeKeyAlgorithm::SignedCurve25519).or_default();
        Ok((counts, fallback))
    }

    /// POST /keys/query: the devices and cross-signing keys of users.
    pub async fn query(
        &self,
        requester: &Requester,
        users: &BTreeMap<OwnedUserId, Vec<OwnedDeviceId>>,
    ) -> Result<get_keys::v3::Response> {
        let mut response = get_keys::v3::Response::new();
        let remote: BTreeMap<OwnedUserId, Vec<OwnedDeviceId>> = users
            .iter()
            .filter(|(u, _)| !self.is_local(u))
            .map(|(u, d)| (u.clone(), d.clone()))
            .collect();
        self.query_local(Some(&requester.user_id), users, &mut response).await?;
        self.query_remote(remote, &mut response).await;
        Ok(response)
    }

    /// Keys of this server's users among `users`; `viewer` sees their own
    /// user-signing key (other servers see none).
    pub async fn query_local(
        &self,
        viewer: Option<&UserId>,
        users: &BTreeMap<OwnedUserId, Vec<OwnedDeviceId>>,
        response: &mut get_keys::v3::Response,
    ) -> Result<()> {
        let viewer_id = viewer.map(|v| v.as_str()).unwrap_or("");
        for (user_id, wanted) in users {
            if !self.is_local(user_id) {
                continue;
            }
            let signatures = self.store.key_signatures(user_id.as_str(), viewer_id).await?;
            let extra = |target: &str| -> Vec<(String, String, String)> {
                signatures
                    .iter()
                    .filter(|(key, ..)| key == target)
                    .map(|(_, signer, key_id, signature)| {
                        (signer.clone(), key_id.clone(), signature.clone())
                    })
                    .collect()
            };
            let mut devices = BTreeMap::new();
            for (device_id, keys, display_name) in
                self.store.user_device_keys(user_id.as_str()).await?
            {
                if !wanted.is_empty() && !wanted.iter().any(|d| d.as_str() == device_id) {
                    continue;
                }
                let mut keys = parse_json(&keys)?;
                signed::add_signatures(&mut keys, &extra(&device_id));
                if let Some(name) = display_name {
                    keys["unsigned"] = serde_json::json!({"device_display_name": name});
                }
                devices.insert(OwnedDeviceId::from(device_id), raw_json(&keys)?);
            }
            response.device_keys.insert(user_id.clone(), devices);
            for (key_type, keys) in self.store.cross_signing_keys(user_id.as_str()).await? {
                let mut keys = parse_json(&keys)?;
                let public = cross_signing_public_key(&keys);
                signed::add_signatures(&mut keys, &extra(&public));
                let map = match key_type.as_str() {
                    "master" => &mut response.master_keys,
                    "self_signing" => &mut response.self_signing_keys,
                    // Whom a user trusts is theirs alone to see.
                    "user_signing" if Some(&**user_id) == viewer => &mut response.user_signing_keys,
                    _ => continue,
                };
                map.insert(user_id.clone(), raw_json(&keys)?);
            }
        }
        Ok(())
    }

    /// POST /keys/claim: one key per requested device, one-time first.
    pub async fn claim(
        &self,
        wanted: &BTreeMap<OwnedUserId, BTreeMap<OwnedDeviceId, OneTimeKeyAlgorithm>>,
    ) -> Result<claim_keys::v3::Response> {
        let mut response = self.claim_local(wanted).await?;
        let remote: BTreeMap<OwnedUserId, BTreeMap<OwnedDeviceId, OneTimeKeyAlgorithm>> = wanted
            .iter()
            .filter(|(u, _)| !self.is_local(u))
            .map(|(u, d)| (u.clone(), d.clone()))
            .collect();
        self.claim_remote(remote, &mut response).await;
        Ok(response)
    }

    /// Claims keys of this server's devices among `wanted`.
    pub async fn claim_local(
        &self,
        wanted: &BTreeMap<OwnedUserId, BTreeMap<OwnedDeviceId, OneTimeKeyAlgorithm>>,
    ) -> Result<claim_keys::v3::Response> {
        let mut claimed = BTreeMap::new();
        for (user_id, devices) in wanted {
            if !self.is_local(user_id) {
                continue;
            }
            let mut by_device = BTreeMap::new();
            for (device_id, algorithm) in devices {
                let key = self
                    .store
                    .claim_key(user_id.as_str(), device_id.as_str(), algorithm.as_str())
                    .await?;
                if let Some((key_id, json)) = key
                    && let Ok(key_id) = OwnedOneTimeKeyId::try_from(key_id)
                {
                    let key = raw_json(&parse_json(&json)?)?;
                    by_device.insert(device_id.clone(), BTreeMap::from([(key_id, key)]));
                }
            }
            if !by_device.is_empty() {
                claimed.insert(user_id.clone(), by_device);
            }
        }
        Ok(claim_keys::v3::Response::new(claimed))
    }
}

/// The device's ed25519 public key from its key object.
fn device_ed25519(keys: &ruma::CanonicalJsonObject, device: &str) -> Option<String> {
    let wanted = format!("ed25519:{device}");
    signed::keys(keys).into_iter().find(|(id, _)| *id == wanted).map(|(_, key)| key)
}

/// The public key a cross-signing key object holds (its only key).
fn cross_signing_public_key(keys: &JsonValue) -> String {
    keys["keys"]
        .as_object()
        .and_then(|keys| keys.values().next())
        .and_then(JsonValue::as_str)
        .unwrap_or_default()
        .to_owned()
}
