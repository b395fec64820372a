//! Interactive verification by short authentication string (m.sas.v1):
//! two devices exchange ephemeral keys over to-device messages, their
//! users compare seven emoji (or three numbers), and each side then MACs
//! its device key with the shared secret. A match marks the other device
//! verified, and cross-signs it when it is the user's own.

use std::collections::HashMap;

use ruma::{
    OwnedDeviceId, OwnedUserId, TransactionId, api::client::to_device::send_event_to_device,
};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use vodozemac::sas::{EstablishedSas, Mac, Sas};

use super::canonical;
use crate::{
    client::Client,
    error::{Error, Result},
};

const SAS: &str = "m.sas.v1";
const KEY_AGREEMENT: &str = "curve25519-hkdf-sha256";
const MAC_METHOD: &str = "hkdf-hmac-sha256.v2";

/// One verification in progress (kept in memory: it lives for minutes).
#[derive(Default)]
pub(crate) struct Flow {
    we_started: bool,
    other_user: String,
    other_device: String,
    ready: bool,
    sas: Option<Sas>,
    established: Option<EstablishedSas>,
    start: Option<Value>,
    their_commitment: Option<String>,
    confirmed: bool,
    their_mac: Option<Value>,
    verified: bool,
    done: bool,
    cancelled: Option<String>,
}

/// What the two users compare.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SasCode {
    /// Indices into the spec's table of 64 emoji.
    pub emoji_indices: [u8; 7],
    /// Three four-digit numbers, for devices that cannot show emoji.
    pub decimals: (u16, u16, u16),
}

/// A verification with another device; see [`Client::request_verification`].
#[derive(Clone, Debug)]
pub struct Verification {
    client: Client,
    /// The flow's transaction id.
    pub transaction_id: String,
}

fn commitment(key: &str, start: &Value) -> Result<String> {
    let digest = Sha256::digest(format!("{key}{}", canonical(start)?).as_bytes());
    Ok(vodozemac::base64_encode(digest))
}

impl Client {
    async fn send_plain(
        &self,
        user: &str,
        device: &str,
        event_type: &str,
        content: Value,
    ) -> Result<()> {
        let user = OwnedUserId::try_from(user).map_err(|e| Error::Invalid(e.to_string()))?;
        let device: OwnedDeviceId = device.into();
        let raw = ruma::serde::Raw::from_json(serde_json::value::to_raw_value(&content)?);
        let messages = [(user, [(device.into(), raw)].into())].into();
        let request = send_event_to_device::v3::Request::new_raw(
            event_type.into(),
            TransactionId::new(),
            messages,
        );
        self.send(request).await?;
        Ok(())
    }

    /// Asks `device` of `user` to verify this device by emoji.
    pub async fn request_verification(
        &self,
        user: &ruma::UserId,
        device: &ruma::DeviceId,
    ) -> Result<Verification> {
        let crypto = self.crypto().await?;
        let transaction_id = TransactionId::new().to_string();
        let content = json!({
            "from_device": crypto.device_id, "methods": [SAS], "transaction_id": transaction_id,
            "timestamp": std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64),
        });
        self.send_plain(user.as_str(), device.as_str(), "m.key.verification.request", content)
            .await?;
        let flow = Flow {
            we_started: true,
            other_user: user.to_string(),
            other_device: device.to_string(),
            ..Flow::default()
        };
        crypto.verifications.lock().await.insert(transaction_id.clone(), flow);
        Ok(Verification { client: self.clone(), transaction_id })
    }

    /// Verifications other devices asked this one for, not yet accepted.
    pub async fn verification_requests(&self) -> Result<Vec<Verification>> {
        let crypto = self.crypto().await?;
        let flows = crypto.verifications.lock().await;
        Ok(flows
            .iter()
            .filter(|(_, flow)| !flow.we_started && !flow.ready && flow.cancelled.is_none())
            .map(|(txn, _)| Verification { client: self.clone(), transaction_id: txn.clone() })
            .collect())
    }

    /// Advances verifications with an m.key.verification.* to-device event.
    pub(crate) async fn handle_verification(&self, event: &Value) -> Result<()> {
        let crypto = self.crypto().await?;
        let content = &event["content"];
        let Some(txn) = content["transaction_id"].as_str().map(str::to_owned) else {
            return Ok(());
        };
        let sender = event["sender"].as_str().unwrap_or_default().to_owned();
        let kind =
            event["type"].as_str().unwrap_or_default().trim_start_matches("m.key.verification.");
        let mut flows = crypto.verifications.lock().await;
        if kind == "request" {
            let from = content["from_device"].as_str().unwrap_or_default().to_owned();
            let offered = content["methods"].as_array().is_some_and(|m| m.iter().any(|m| m == SAS));
            if offered {
                let flow = Flow { other_user: sender, other_device: from, ..Flow::default() };
                flows.insert(txn, flow);
            }
            return Ok(());
        }
        let Some(flow) = flows.get_mut(&txn) else { return Ok(()) };
        if flow.other_user != sender || flow.cancelled.is_some() {
            return Ok(());
        }
        let my_device = crypto.device_id.to_string();
        let (other, other_device) = (flow.other_user.clone(), flow.other_device.clone());
        match kind {
            "ready" if flow.we_started => {
                flow.ready = true;
                flow.other_device =
                    content["from_device"].as_str().unwrap_or(&other_device).to_owned();
                let start = json!({
                    "from_device": my_device, "method": SAS, "transaction_id": txn,
                    "key_agreement_protocols": [KEY_AGREEMENT], "hashes": ["sha256"],
                    "message_authentication_codes": [MAC_METHOD],
                    "short_authentication_string": ["decimal", "emoji"],
                });
                flow.start = Some(start.clone());
                flow.sas = Some(Sas::new());
                self.send_plain(&other, &flow.other_device, "m.key.verification.start", start)
                    .await?;
            }
            "start" if !flow.we_started => {
                let sas = Sas::new();
                let accept = json!({
                    "transaction_id": txn, "method": SAS, "key_agreement_protocol": KEY_AGREEMENT,
                    "hash": "sha256", "message_authentication_code": MAC_METHOD,
                    "short_authentication_string": ["decimal", "emoji"],
                    "commitment": commitment(&sas.public_key().to_base64(), content)?,
                });
                flow.start = Some(content.clone());
                flow.sas = Some(sas);
                self.send_plain(&other, &other_device, "m.key.verification.accept", accept).await?;
            }
            "accept" if flow.we_started => {
                flow.their_commitment = content["commitment"].as_str().map(str::to_owned);
                let key =
                    flow.sas.as_ref().map(|sas| sas.public_key().to_base64()).unwrap_or_default();
                self.send_plain(
                    &other,
                    &other_device,
                    "m.key.verification.key",
                    json!({"transaction_id": txn, "key": key}),
                )
                .await?;
            }
            "key" => {
                let their_key = content["key"].as_str().unwrap_or_default().to_owned();
                let Some(sas) = flow.sas.take() else { return Ok(()) };
                let our_key = sas.public_key().to_base64();
                if flow.we_started {
                    let expected = flow
                        .start
                        .as_ref()
                        .map(|start| commitment(&their_key, start))
                        .transpose()?;
                    if expected != flow.their_commitment {
                        flow.cancelled = Some("m.mismatched_commitment".into());
                        let cancel = json!({"transaction_id": txn, "code": "m.mismatched_commitment", "reason": "commitment mismatch"});
                        return self
                            .send_plain(&other, &other_device, "m.key.verification.cancel", cancel)
                            .await;
                    }
                } else {
                    self.send_plain(
                        &other,
                        &other_device,
                        "m.key.verification.key",
                        json!({"transaction_id": txn, "key": our_key}),
                    )
                    .await?;
                }
                flow.established = Some(
                    sas.diffie_hellman_with_raw(&their_key)
                        .map_err(|e| Error::Invalid(e.to_string()))?,
                );
            }
            "mac" => {
                flow.their_mac = Some(content.clone());
                if flow.confirmed {
                    drop(flows);
                    return self.finish_verification(&txn).await;
                }
            }
            "done" => flow.done = flow.verified,
            "cancel" => {
                flow.cancelled = Some(content["code"].as_str().unwrap_or("m.user").to_owned())
            }
            _ => {}
        }
        Ok(())
    }

    /// Checks the other side's MACs once both sides confirmed; marks the
    /// device verified and says so.
    async fn finish_verification(&self, txn: &str) -> Result<()> {
        let crypto = self.crypto().await?;
        let mut flows = crypto.verifications.lock().await;
        let Some(flow) = flows.get_mut(txn) else { return Ok(()) };
        let (Some(established), Some(mac)) = (&flow.established, &flow.their_mac) else {
            return Ok(());
        };
        let (other, other_device) = (flow.other_user.clone(), flow.other_device.clone());
        let mut state = crypto.state.lock().await;
        let user =
            OwnedUserId::try_from(other.as_str()).map_err(|e| Error::Invalid(e.to_string()))?;
        state.stale.insert(other.clone());
        self.refresh_devices(&mut state, &[user]).await?;
        let Some(ed25519) =
            state.devices.get(&other).and_then(|d| d.get(&other_device)).map(|d| d.ed25519.clone())
        else {
            return Err(Error::Invalid("the other device's keys are unknown".into()));
        };
        let info = format!(
            "MATRIX_KEY_VERIFICATION_MAC{other}{other_device}{}{}{txn}",
            crypto.user_id, crypto.device_id
        );
        let key_id = format!("ed25519:{other_device}");
        let check = |input: &str, info: &str, tag: &Value| {
            tag.as_str()
                .and_then(|tag| Mac::from_base64(tag).ok())
                .is_some_and(|tag| established.verify_mac(input, info, &tag).is_ok())
        };
        let keys_ok = check(&key_id, &format!("{info}KEY_IDS"), &mac["keys"]);
        let device_ok = check(&ed25519, &format!("{info}{key_id}"), &mac["mac"][&key_id]);
        if !(keys_ok && device_ok) {
            flow.cancelled = Some("m.key_mismatch".into());
            let cancel =
                json!({"transaction_id": txn, "code": "m.key_mismatch", "reason": "MAC mismatch"});
            return self
                .send_plain(&other, &other_device, "m.key.verification.cancel", cancel)
                .await;
        }
        flow.verified = true;
        state.verified.insert((other.clone(), other_device.clone()));
        if other == crypto.user_id.as_str() {
            self.cross_sign_own_device(&crypto, &state, other_device.as_str().into()).await?;
        }
        self.save_crypto(&crypto, &state).await?;
        self.send_plain(
            &other,
            &other_device,
            "m.key.verification.done",
            json!({"transaction_id": txn}),
        )
        .await
    }
}

impl Verification {
    async fn with_flow<T>(&self, read: impl FnOnce(&Flow) -> T) -> Result<T> {
        self.with_flow_mut(|flow| read(flow)).await
    }

    async fn with_flow_mut<T>(&self, change: impl FnOnce(&mut Flow) -> T) -> Result<T> {
        let crypto = self.client.crypto().await?;
        let mut flows = crypto.verifications.lock().await;
        let flow = flows
            .get_mut(&self.transaction_id)
            .ok_or_else(|| Error::Invalid("no such verification".into()))?;
        Ok(change(flow))
    }

    /// Accepts a verification another device asked for.
    pub async fn accept(&self) -> Result<()> {
        let crypto = self.client.crypto().await?;
        let (user, device) = self
            .with_flow_mut(|flow| {
                flow.ready = true;
                (flow.other_user.clone(), flow.other_device.clone())
            })
            .await?;
        let ready = json!({"from_device": crypto.device_id, "methods": [SAS], "transaction_id": self.transaction_id});
        self.client.send_plain(&user, &device, "m.key.verification.ready", ready).await
    }

    /// The code to compare, once both devices exchanged keys.
    pub async fn sas(&self) -> Result<Option<SasCode>> {
        let crypto = self.client.crypto().await?;
        let flows = crypto.verifications.lock().await;
        let Some(flow) = flows.get(&self.transaction_id) else { return Ok(None) };
        let Some(established) = &flow.established else { return Ok(None) };
        let (our_key, their_key) =
            (established.our_public_key().to_base64(), established.their_public_key().to_base64());
        let me = (crypto.user_id.to_string(), crypto.device_id.to_string(), our_key);
        let them = (flow.other_user.clone(), flow.other_device.clone(), their_key);
        // The side that sent `start` comes first.
        let (first, second) = if flow.we_started { (me, them) } else { (them, me) };
        let info = format!(
            "MATRIX_KEY_VERIFICATION_SAS|{}|{}|{}|{}|{}|{}|{}",
            first.0, first.1, first.2, second.0, second.1, second.2, self.transaction_id
        );
        let bytes = established.bytes(&info);
        Ok(Some(SasCode { emoji_indices: bytes.emoji_indices(), decimals: bytes.decimals() }))
    }

    /// The user says the codes match: sends this device's MAC (and finishes
    /// if the other side's MAC is already here).
    pub async fn confirm(&self) -> Result<()> {
        let crypto = self.client.crypto().await?;
        let (user, device, content, their_mac) = {
            let mut flows = crypto.verifications.lock().await;
            let flow = flows
                .get_mut(&self.transaction_id)
                .ok_or_else(|| Error::Invalid("no such verification".into()))?;
            let established = flow
                .established
                .as_ref()
                .ok_or_else(|| Error::Invalid("keys not exchanged yet".into()))?;
            let state = crypto.state.lock().await;
            let ed25519 = state.account.identity_keys().ed25519.to_base64();
            let key_id = format!("ed25519:{}", crypto.device_id);
            let info = format!(
                "MATRIX_KEY_VERIFICATION_MAC{}{}{}{}{}",
                crypto.user_id,
                crypto.device_id,
                flow.other_user,
                flow.other_device,
                self.transaction_id
            );
            let content = json!({
                "transaction_id": self.transaction_id,
                "mac": {key_id.clone(): established.calculate_mac(&ed25519, &format!("{info}{key_id}")).to_base64()},
                "keys": established.calculate_mac(&key_id, &format!("{info}KEY_IDS")).to_base64(),
            });
            flow.confirmed = true;
            (flow.other_user.clone(), flow.other_device.clone(), content, flow.their_mac.is_some())
        };
        self.client.send_plain(&user, &device, "m.key.verification.mac", content).await?;
        if their_mac {
            self.client.finish_verification(&self.transaction_id).await?;
        }
        Ok(())
    }

    /// Who is on the other side: their user id and device id.
    pub async fn other_device(&self) -> Result<(OwnedUserId, OwnedDeviceId)> {
        let (user, device) =
            self.with_flow(|flow| (flow.other_user.clone(), flow.other_device.clone())).await?;
        let user = OwnedUserId::try_from(user).map_err(|e| Error::Invalid(e.to_string()))?;
        Ok((user, device.into()))
    }

    /// The user declines (or gives up on) the verification.
    pub async fn cancel(&self) -> Result<()> {
        self.cancel_with("m.user", "the user cancelled").await
    }

    /// The user says the codes differ: someone may be in the middle, and
    /// the other side is told so.
    pub async fn mismatch(&self) -> Result<()> {
        self.cancel_with("m.mismatched_sas", "the codes did not match").await
    }

    async fn cancel_with(&self, code: &str, reason: &str) -> Result<()> {
        let other = self
            .with_flow_mut(|flow| {
                let open = flow.cancelled.is_none() && !flow.verified;
                open.then(|| {
                    flow.cancelled = Some(code.to_owned());
                    (flow.other_user.clone(), flow.other_device.clone())
                })
            })
            .await?;
        let Some((user, device)) = other else { return Ok(()) };
        let cancel = json!({"transaction_id": self.transaction_id, "code": code, "reason": reason});
        self.client.send_plain(&user, &device, "m.key.verification.cancel", cancel).await
    }

    /// Whether the other device was verified (its MAC matched).
    pub async fn is_verified(&self) -> Result<bool> {
        self.with_flow(|flow| flow.verified).await
    }

    /// Why the verification was cancelled, if it was.
    pub async fn cancelled(&self) -> Result<Option<String>> {
        self.with_flow(|flow| flow.cancelled.clone()).await
    }
}

/// Verifications of one device, by transaction id.
pub(crate) type Flows = HashMap<String, Flow>;
