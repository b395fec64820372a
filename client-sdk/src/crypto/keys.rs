//! Keys on the server: publishing this device's keys, fetching and
//! verifying other devices' keys, and claiming one-time keys to open Olm
//! sessions with them.

use std::collections::BTreeMap;

use ruma::{
    OneTimeKeyAlgorithm, OwnedDeviceId, OwnedOneTimeKeyId, OwnedUserId,
    api::client::keys::{claim_keys, get_keys, upload_keys},
    serde::Raw,
};
use serde_json::{Value, json};
use vodozemac::{Curve25519PublicKey, Ed25519PublicKey, Ed25519Signature, olm::SessionConfig};

use super::{
    Crypto, MEGOLM, OLM, canonical,
    state::{CryptoState, DeviceInfo},
};
use crate::{
    client::Client,
    error::{Error, Result},
};

/// One-time keys the server should hold for this device.
const ONE_TIME_KEYS: u64 = 50;

/// Adds a signature to a JSON object's `signatures` map.
pub(crate) fn add_signature(value: &mut Value, user: &str, key_id: &str, signature: String) {
    if !value["signatures"].is_object() {
        value["signatures"] = json!({});
    }
    if !value["signatures"][user].is_object() {
        value["signatures"][user] = json!({});
    }
    value["signatures"][user][key_id] = json!(signature);
}

/// Signs a JSON object as this device, the way the spec signs JSON.
pub(crate) fn sign(crypto: &Crypto, state: &CryptoState, value: &mut Value) -> Result<()> {
    let signature = state.account.sign(canonical(value)?).to_base64();
    let key_id = format!("ed25519:{}", crypto.device_id);
    add_signature(value, crypto.user_id.as_str(), &key_id, signature);
    Ok(())
}

/// This device's keys as uploaded (signed by the device).
pub(crate) fn own_device_keys(crypto: &Crypto, state: &CryptoState) -> Result<Value> {
    let identity = state.account.identity_keys();
    let device = crypto.device_id.as_str();
    let mut device_keys = json!({
        "user_id": crypto.user_id,
        "device_id": device,
        "algorithms": [OLM, MEGOLM],
        "keys": {
            format!("curve25519:{device}"): identity.curve25519.to_base64(),
            format!("ed25519:{device}"): identity.ed25519.to_base64(),
        },
    });
    sign(crypto, state, &mut device_keys)?;
    Ok(device_keys)
}

/// Whether `value` is signed by `user`'s key `key_id` with public key `ed25519`.
pub(crate) fn verify(value: &Value, user: &str, key_id: &str, ed25519: &str) -> bool {
    let Some(signature) = value["signatures"][user][key_id].as_str() else { return false };
    let (Ok(key), Ok(signature)) =
        (Ed25519PublicKey::from_base64(ed25519), Ed25519Signature::from_base64(signature))
    else {
        return false;
    };
    canonical(value).is_ok_and(|message| key.verify(message.as_bytes(), &signature).is_ok())
}

pub(crate) fn raw<T>(value: &Value) -> Result<Raw<T>> {
    Ok(Raw::from_json(serde_json::value::to_raw_value(value)?))
}

impl Client {
    /// Uploads the device keys (once), tops one-time keys up to the target
    /// when the server holds `server_count` of them, and makes a new
    /// fallback key when the server has none left unused.
    pub(crate) async fn upload_keys(
        &self,
        crypto: &Crypto,
        state: &mut CryptoState,
        server_count: Option<u64>,
        needs_fallback: bool,
    ) -> Result<()> {
        let mut request = upload_keys::v3::Request::new();
        if !state.published {
            request.device_keys = Some(raw(&own_device_keys(crypto, state)?)?);
        }
        if let Some(count) = server_count.filter(|count| *count < ONE_TIME_KEYS / 2) {
            state.account.generate_one_time_keys((ONE_TIME_KEYS - count) as usize);
        }
        if needs_fallback {
            state.account.generate_fallback_key();
        }
        for (keys, fallback) in
            [(state.account.one_time_keys(), false), (state.account.fallback_key(), true)]
        {
            for (key_id, key) in keys {
                let mut signed = json!({"key": key.to_base64()});
                if fallback {
                    signed["fallback"] = json!(true);
                }
                sign(crypto, state, &mut signed)?;
                let id = OwnedOneTimeKeyId::try_from(format!(
                    "signed_curve25519:{}",
                    key_id.to_base64()
                ))
                .map_err(|e| Error::Invalid(e.to_string()))?;
                let target =
                    if fallback { &mut request.fallback_keys } else { &mut request.one_time_keys };
                target.insert(id, raw(&signed)?);
            }
        }
        if request.device_keys.is_none()
            && request.one_time_keys.is_empty()
            && request.fallback_keys.is_empty()
        {
            return Ok(());
        }
        self.send(request).await?;
        state.account.mark_keys_as_published();
        state.published = true;
        self.save_crypto(crypto, state).await
    }

    /// Fetches the devices of `users` whose lists are unknown or stale,
    /// keeping only devices whose keys are signed by themselves.
    pub(crate) async fn refresh_devices(
        &self,
        state: &mut CryptoState,
        users: &[OwnedUserId],
    ) -> Result<()> {
        let wanted: BTreeMap<OwnedUserId, Vec<OwnedDeviceId>> = users
            .iter()
            .filter(|user| {
                state.stale.contains(user.as_str()) || !state.devices.contains_key(user.as_str())
            })
            .map(|user| (user.clone(), Vec::new()))
            .collect();
        if wanted.is_empty() {
            return Ok(());
        }
        let mut request = get_keys::v3::Request::new();
        request.device_keys = wanted.clone();
        let response = self.send(request).await?;
        for user in wanted.keys() {
            let mut devices = std::collections::HashMap::new();
            for (device_id, raw_keys) in response.device_keys.get(user).into_iter().flatten() {
                let keys: Value = serde_json::from_str(raw_keys.json().get())?;
                let id = device_id.as_str();
                let (Some(curve), Some(ed)) = (
                    keys["keys"][format!("curve25519:{id}")].as_str(),
                    keys["keys"][format!("ed25519:{id}")].as_str(),
                ) else {
                    continue;
                };
                let genuine = keys["user_id"] == user.as_str()
                    && keys["device_id"] == id
                    && verify(&keys, user.as_str(), &format!("ed25519:{id}"), ed);
                if genuine {
                    devices.insert(
                        id.to_owned(),
                        DeviceInfo { curve25519: curve.into(), ed25519: ed.into() },
                    );
                } else {
                    tracing::warn!(%user, device = id, "ignoring device keys with a bad signature");
                }
            }
            state.devices.insert(user.to_string(), devices);
            state.stale.remove(user.as_str());
        }
        Ok(())
    }

    /// Opens Olm sessions with the devices that have none (or, with
    /// `even_if_open`, a fresh one), by claiming one of their one-time keys
    /// (checked against the device's signature).
    pub(crate) async fn open_sessions(
        &self,
        state: &mut CryptoState,
        devices: &[(String, String)],
        even_if_open: bool,
    ) -> Result<()> {
        let mut wanted: BTreeMap<OwnedUserId, BTreeMap<OwnedDeviceId, OneTimeKeyAlgorithm>> =
            BTreeMap::new();
        for (user, device) in devices {
            let Some(info) = state.devices.get(user).and_then(|d| d.get(device)) else { continue };
            if !even_if_open && state.olm.get(&info.curve25519).is_some_and(|s| !s.is_empty()) {
                continue;
            }
            if let Ok(user) = OwnedUserId::try_from(user.as_str()) {
                wanted
                    .entry(user)
                    .or_default()
                    .insert(device.as_str().into(), OneTimeKeyAlgorithm::SignedCurve25519);
            }
        }
        if wanted.is_empty() {
            return Ok(());
        }
        let response = self.send(claim_keys::v3::Request::new(wanted)).await?;
        for (user, by_device) in &response.one_time_keys {
            for (device, keys) in by_device {
                let Some(info) =
                    state.devices.get(user.as_str()).and_then(|d| d.get(device.as_str())).cloned()
                else {
                    continue;
                };
                for key in keys.values() {
                    let key: Value = serde_json::from_str(key.json().get())?;
                    let signed =
                        verify(&key, user.as_str(), &format!("ed25519:{device}"), &info.ed25519);
                    let (Some(one_time), true) = (key["key"].as_str(), signed) else {
                        tracing::warn!(%user, %device, "ignoring a one-time key with a bad signature");
                        continue;
                    };
                    let (Ok(identity), Ok(one_time)) = (
                        Curve25519PublicKey::from_base64(&info.curve25519),
                        Curve25519PublicKey::from_base64(one_time),
                    ) else {
                        continue;
                    };
                    let session = state
                        .account
                        .create_outbound_session(SessionConfig::version_1(), identity, one_time)
                        .map_err(|e| Error::Invalid(format!("cannot open an Olm session: {e}")))?;
                    state.olm.entry(info.curve25519.clone()).or_default().push(session);
                }
            }
        }
        Ok(())
    }
}
