//! Megolm: one outgoing session per encrypted room, its key shared over
//! Olm with every device of every member (rotated when a member leaves or
//! the room's rotation limits are reached), and incoming sessions that
//! decrypt room events in sync and in history.

use std::{
    collections::{BTreeMap, HashSet},
    time::{SystemTime, UNIX_EPOCH},
};

use ruma::{
    OwnedUserId,
    api::client::{sync::sync_events, to_device::send_event_to_device},
    events::{ToDeviceEventType, room::member::MembershipState},
    serde::Raw,
    to_device::DeviceIdOrAllDevices,
};
use serde_json::{Value, json};
use vodozemac::megolm::{
    GroupSession, InboundGroupSession, MegolmMessage, SessionConfig, SessionKey,
};

use super::{
    Crypto, MEGOLM, olm,
    state::{CryptoState, Inbound, Outbound},
};
use crate::{client::Client, error::Result, room::Room};

fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

type ToDeviceMessages = BTreeMap<
    OwnedUserId,
    BTreeMap<DeviceIdOrAllDevices, Raw<ruma::events::AnyToDeviceEventContent>>,
>;

fn add_message(
    messages: &mut ToDeviceMessages,
    user: &str,
    device: &str,
    content: &Value,
) -> Result<()> {
    let Ok(user) = OwnedUserId::try_from(user) else { return Ok(()) };
    let raw = Raw::from_json(serde_json::value::to_raw_value(content)?);
    messages.entry(user).or_default().insert(DeviceIdOrAllDevices::DeviceId(device.into()), raw);
    Ok(())
}

/// Keeps an incoming session for `room_id` (the first copy wins).
fn add_inbound(state: &mut CryptoState, room_id: &str, session_key: &str, sender_key: &str) {
    let Ok(key) = SessionKey::from_base64(session_key) else { return };
    let session = InboundGroupSession::new(&key, SessionConfig::version_1());
    let id = (room_id.to_owned(), session.session_id());
    state.inbound.entry(id).or_insert(Inbound { session, sender_key: sender_key.to_owned() });
}

/// Decrypts one room event in place; an event that cannot be decrypted
/// stays as it is (m.room.encrypted), so it is reported, not lost.
pub(crate) fn decrypt_event(state: &mut CryptoState, room_id: &str, event: &mut Value) -> bool {
    let content = &event["content"];
    if event["type"] != "m.room.encrypted" || content["algorithm"] != MEGOLM {
        return false;
    }
    let (Some(session_id), Some(ciphertext)) =
        (content["session_id"].as_str(), content["ciphertext"].as_str())
    else {
        return false;
    };
    let Some(inbound) = state.inbound.get_mut(&(room_id.to_owned(), session_id.to_owned())) else {
        return false;
    };
    let Ok(message) = MegolmMessage::from_base64(ciphertext) else { return false };
    let Ok(decrypted) = inbound.session.decrypt(&message) else { return false };
    let Ok(payload) = serde_json::from_slice::<Value>(&decrypted.plaintext) else { return false };
    // A payload claiming another room is a replay from elsewhere.
    if payload["room_id"] != room_id {
        return false;
    }
    event["type"] = payload["type"].clone();
    event["content"] = payload["content"].clone();
    true
}

fn decrypt_raws<T>(state: &mut CryptoState, room_id: &str, events: &mut [Raw<T>]) {
    for raw in events.iter_mut() {
        let Ok(mut event) = serde_json::from_str::<Value>(raw.json().get()) else { continue };
        if decrypt_event(state, room_id, &mut event)
            && let Ok(json) = serde_json::value::to_raw_value(&event)
        {
            *raw = Raw::from_json(json);
        }
    }
}

impl Client {
    /// Encrypts an event for `room`, sharing the room key with devices that
    /// lack it first; returns the m.room.encrypted content.
    pub(crate) async fn encrypt_for_room(
        &self,
        room: &Room,
        settings: &Value,
        event_type: &str,
        content: Value,
    ) -> Result<Value> {
        let crypto = self.crypto().await?;
        let mut state = crypto.state.lock().await;
        let members: Vec<OwnedUserId> = room
            .members()
            .await?
            .into_iter()
            .filter(|m| matches!(m.membership, MembershipState::Join | MembershipState::Invite))
            .map(|m| m.user_id)
            .collect();
        self.refresh_devices(&mut state, &members).await?;
        let room_id = room.room_id().as_str();
        let member_names: HashSet<&str> = members.iter().map(|m| m.as_str()).collect();
        let max_messages = settings["rotation_period_msgs"].as_u64().unwrap_or(100);
        let max_age = settings["rotation_period_ms"].as_u64().unwrap_or(604_800_000);
        let expired = state.outbound.get(room_id).is_none_or(|out| {
            out.messages >= max_messages
                || now_ms().saturating_sub(out.created_at_ms) >= max_age
                || out.shared_with.iter().any(|(user, _)| !member_names.contains(user.as_str()))
        });
        if expired {
            let session = GroupSession::new(SessionConfig::version_1());
            let own_key = state.account.identity_keys().curve25519.to_base64();
            add_inbound(&mut state, room_id, &session.session_key().to_base64(), &own_key);
            let outbound = Outbound {
                session,
                shared_with: HashSet::new(),
                created_at_ms: now_ms(),
                messages: 0,
            };
            state.outbound.insert(room_id.to_owned(), outbound);
        }
        self.share_room_key(&crypto, &mut state, room_id, &members).await?;

        let identity = state.account.identity_keys();
        let outbound = state.outbound.get_mut(room_id).expect("created above");
        let payload = json!({"type": event_type, "content": content, "room_id": room_id});
        let ciphertext = outbound.session.encrypt(serde_json::to_vec(&payload)?).to_base64();
        outbound.messages += 1;
        let mut encrypted = json!({
            "algorithm": MEGOLM,
            "sender_key": identity.curve25519.to_base64(),
            "ciphertext": ciphertext,
            "session_id": outbound.session.session_id(),
            "device_id": crypto.device_id,
        });
        // Relations stay readable so that the server can aggregate them.
        if let Some(relation) = payload["content"].get("m.relates_to") {
            encrypted["m.relates_to"] = relation.clone();
        }
        self.save_crypto(&crypto, &state).await?;
        Ok(encrypted)
    }

    /// Sends the room's current session key to every member device that
    /// does not have it yet (this device excepted).
    async fn share_room_key(
        &self,
        crypto: &Crypto,
        state: &mut CryptoState,
        room_id: &str,
        members: &[OwnedUserId],
    ) -> Result<()> {
        let Some(outbound) = state.outbound.get(room_id) else { return Ok(()) };
        let mut targets = Vec::new();
        for user in members {
            for device in state.devices.get(user.as_str()).into_iter().flat_map(|d| d.keys()) {
                let own = user == &crypto.user_id && device == crypto.device_id.as_str();
                let key = (user.to_string(), device.clone());
                if !own && !outbound.shared_with.contains(&key) {
                    targets.push(key);
                }
            }
        }
        if targets.is_empty() {
            return Ok(());
        }
        let room_key = json!({
            "algorithm": MEGOLM,
            "room_id": room_id,
            "session_id": outbound.session.session_id(),
            "session_key": outbound.session.session_key().to_base64(),
        });
        self.open_sessions(state, &targets, false).await?;
        let mut keys = ToDeviceMessages::new();
        let mut withheld = ToDeviceMessages::new();
        let mut reached = Vec::new();
        let sender_key = state.account.identity_keys().curve25519.to_base64();
        for (user, device) in targets {
            let Some(info) = state.devices.get(&user).and_then(|d| d.get(&device)).cloned() else {
                continue;
            };
            match olm::encrypt(crypto, state, &user, &info, "m.room_key", room_key.clone())? {
                Some(content) => {
                    add_message(&mut keys, &user, &device, &content)?;
                    reached.push((user, device));
                }
                None => {
                    // The device has no one-time key left: tell it why it
                    // cannot read this session instead of staying silent.
                    let notice = json!({
                        "algorithm": MEGOLM,
                        "room_id": room_id,
                        "session_id": room_key["session_id"],
                        "sender_key": sender_key,
                        "code": "m.no_olm",
                        "reason": "No Olm session could be established with this device",
                    });
                    add_message(&mut withheld, &user, &device, &notice)?;
                }
            }
        }
        for (event_type, messages) in [
            (ToDeviceEventType::RoomEncrypted, keys),
            (ToDeviceEventType::from("m.room_key.withheld"), withheld),
        ] {
            if !messages.is_empty() {
                let request = send_event_to_device::v3::Request::new_raw(
                    event_type,
                    ruma::TransactionId::new(),
                    messages,
                );
                self.send(request).await?;
            }
        }
        if let Some(outbound) = state.outbound.get_mut(room_id) {
            outbound.shared_with.extend(reached);
        }
        Ok(())
    }

    /// What a sync brings for encryption: whose devices changed, room keys
    /// in to-device messages, the one-time key count; then decrypts the
    /// rooms' timelines in place.
    pub(crate) async fn receive_sync(
        &self,
        response: &mut sync_events::v3::Response,
    ) -> Result<()> {
        let crypto = self.crypto().await?;
        let mut state = crypto.state.lock().await;
        for user in &response.device_lists.changed {
            state.stale.insert(user.to_string());
        }
        for user in &response.device_lists.left {
            state.devices.remove(user.as_str());
        }
        let mut verification_events = Vec::new();
        let mut wedged_senders = Vec::new();
        for raw in &response.to_device.events {
            let Ok(event) = serde_json::from_str::<Value>(raw.json().get()) else { continue };
            if event["type"].as_str().is_some_and(|t| t.starts_with("m.key.verification.")) {
                verification_events.push(event);
                continue;
            }
            if event["type"] == "m.room_key.withheld" {
                let content = &event["content"];
                if let (Some(room), Some(session), Some(code)) = (
                    content["room_id"].as_str(),
                    content["session_id"].as_str(),
                    content["code"].as_str(),
                ) {
                    state.withheld.insert((room.to_owned(), session.to_owned()), code.to_owned());
                }
                continue;
            }
            if event["type"] != "m.room.encrypted" {
                continue;
            }
            let Some(payload) = olm::decrypt(&crypto, &mut state, &event) else {
                tracing::warn!(sender = %event["sender"], "could not decrypt a to-device message");
                if let Some(wedged) = olm::wedged_sender(&state, &event) {
                    wedged_senders.push(wedged);
                }
                continue;
            };
            let content = &payload["content"];
            if payload["type"] == "m.room_key" && content["algorithm"] == MEGOLM {
                let (Some(room_id), Some(key)) =
                    (content["room_id"].as_str(), content["session_key"].as_str())
                else {
                    continue;
                };
                let sender_key = event["content"]["sender_key"].as_str().unwrap_or_default();
                add_inbound(&mut state, room_id, key, sender_key);
            }
        }
        let count = response
            .device_one_time_keys_count
            .get(&ruma::OneTimeKeyAlgorithm::SignedCurve25519)
            .map_or(0, |count| u64::from(*count));
        let needs_fallback = response
            .device_unused_fallback_key_types
            .as_ref()
            .is_some_and(|types| !types.contains(&ruma::OneTimeKeyAlgorithm::SignedCurve25519));
        self.upload_keys(&crypto, &mut state, Some(count), needs_fallback).await?;
        self.unwedge(&crypto, &mut state, wedged_senders).await?;
        for (room_id, room) in response.rooms.join.iter_mut() {
            decrypt_raws(&mut state, room_id.as_str(), &mut room.timeline.events);
        }
        for (room_id, room) in response.rooms.leave.iter_mut() {
            decrypt_raws(&mut state, room_id.as_str(), &mut room.timeline.events);
        }
        // Writing the pickles is the costly part of a sync: only when the
        // sync changed what they hold (upload_keys saves its own changes).
        let changed = !response.device_lists.changed.is_empty()
            || !response.device_lists.left.is_empty()
            || !response.to_device.events.is_empty();
        if changed {
            self.save_crypto(&crypto, &state).await?;
        }
        drop(state);
        for event in verification_events {
            self.handle_verification(&event).await?;
        }
        Ok(())
    }

    /// Decrypts history events in place (timelines paged from the server).
    pub(crate) async fn decrypt_history<T>(
        &self,
        room_id: &str,
        events: &mut [Raw<T>],
    ) -> Result<()> {
        let crypto = self.crypto().await?;
        let mut state = crypto.state.lock().await;
        decrypt_raws(&mut state, room_id, events);
        Ok(())
    }

    /// Opens fresh Olm sessions with devices whose messages no longer
    /// decrypt (their session was lost on one side) and sends an m.dummy
    /// over each, so that the next room key gets through. Once per device
    /// per hour, so two broken devices cannot ping-pong.
    async fn unwedge(
        &self,
        crypto: &Crypto,
        state: &mut CryptoState,
        wedged: Vec<(String, String)>,
    ) -> Result<()> {
        let mut devices = Vec::new();
        for (user, sender_key) in wedged {
            let recently =
                state.unwedged.get(&sender_key).is_some_and(|at| now_ms() - at < 3_600_000);
            if recently {
                continue;
            }
            state.stale.insert(user.clone());
            if let Ok(user_id) = OwnedUserId::try_from(user.as_str()) {
                self.refresh_devices(state, &[user_id]).await?;
            }
            let device = state
                .devices
                .get(&user)
                .and_then(|d| d.iter().find(|(_, info)| info.curve25519 == sender_key))
                .map(|(device, _)| device.clone());
            if let Some(device) = device {
                state.unwedged.insert(sender_key, now_ms());
                devices.push((user, device));
            }
        }
        if devices.is_empty() {
            return Ok(());
        }
        self.open_sessions(state, &devices, true).await?;
        let mut dummies = ToDeviceMessages::new();
        for (user, device) in &devices {
            let Some(info) = state.devices.get(user).and_then(|d| d.get(device)).cloned() else {
                continue;
            };
            if let Some(content) = olm::encrypt(crypto, state, user, &info, "m.dummy", json!({}))? {
                add_message(&mut dummies, user, device, &content)?;
            }
        }
        if !dummies.is_empty() {
            let request = send_event_to_device::v3::Request::new_raw(
                ToDeviceEventType::RoomEncrypted,
                ruma::TransactionId::new(),
                dummies,
            );
            self.send(request).await?;
        }
        Ok(())
    }

    /// Why an encrypted event cannot be read, when its sender said so
    /// (`m.room_key.withheld`): the code, such as `m.no_olm` or
    /// `m.unverified`.
    pub async fn withheld_reason(&self, room_id: &str, session_id: &str) -> Result<Option<String>> {
        let crypto = self.crypto().await?;
        let state = crypto.state.lock().await;
        Ok(state.withheld.get(&(room_id.to_owned(), session_id.to_owned())).cloned())
    }
}
