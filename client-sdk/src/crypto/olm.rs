//! Olm: encrypting a to-device payload for one device, and decrypting
//! what other devices sent this one (opening a session from a pre-key
//! message when needed).

use serde_json::{Value, json};
use vodozemac::{
    Curve25519PublicKey,
    olm::{OlmMessage, SessionConfig},
};

use super::{
    Crypto, OLM,
    state::{CryptoState, DeviceInfo},
};
use crate::error::{Error, Result};

/// Encrypts `event_type`/`content` for one device over its newest Olm
/// session; returns the m.room.encrypted to-device content.
pub(crate) fn encrypt(
    crypto: &Crypto,
    state: &mut CryptoState,
    recipient: &str,
    device: &DeviceInfo,
    event_type: &str,
    content: Value,
) -> Result<Option<Value>> {
    let identity = state.account.identity_keys();
    let payload = json!({
        "type": event_type,
        "content": content,
        "sender": crypto.user_id,
        "sender_device": crypto.device_id,
        "keys": {"ed25519": identity.ed25519.to_base64()},
        "recipient": recipient,
        "recipient_keys": {"ed25519": device.ed25519},
    });
    let Some(session) = state.olm.get_mut(&device.curve25519).and_then(|s| s.last_mut()) else {
        return Ok(None);
    };
    let message = session
        .encrypt(serde_json::to_vec(&payload)?)
        .map_err(|e| Error::Invalid(format!("Olm encryption failed: {e}")))?;
    let (message_type, body) = message.to_parts();
    Ok(Some(json!({
        "algorithm": OLM,
        "sender_key": identity.curve25519.to_base64(),
        "ciphertext": {
            device.curve25519.clone(): {"type": message_type, "body": vodozemac::base64_encode(body)},
        },
    })))
}

/// Decrypts an m.room.encrypted to-device event sent to this device;
/// returns the decrypted payload (with `type`, `content`, `sender`...).
pub(crate) fn decrypt(crypto: &Crypto, state: &mut CryptoState, event: &Value) -> Option<Value> {
    let content = &event["content"];
    if content["algorithm"] != OLM {
        return None;
    }
    let sender_key = content["sender_key"].as_str()?;
    let own_key = state.account.identity_keys().curve25519.to_base64();
    let ciphertext = &content["ciphertext"][&own_key];
    let message_type = usize::try_from(ciphertext["type"].as_u64()?).ok()?;
    let body = vodozemac::base64_decode(ciphertext["body"].as_str()?).ok()?;
    let message = OlmMessage::from_parts(message_type, &body).ok()?;
    let sessions = state.olm.entry(sender_key.to_owned()).or_default();
    let mut plaintext =
        sessions.iter_mut().rev().find_map(|session| session.decrypt(&message).ok());
    if plaintext.is_none()
        && let OlmMessage::PreKey(pre_key) = &message
    {
        let their_key = Curve25519PublicKey::from_base64(sender_key).ok()?;
        let created = state
            .account
            .create_inbound_session(SessionConfig::version_1(), their_key, pre_key)
            .ok()?;
        state.olm.entry(sender_key.to_owned()).or_default().push(created.session);
        plaintext = Some(created.plaintext);
    }
    let payload: Value = serde_json::from_slice(&plaintext?).ok()?;
    // The payload must be for this device and from the event's sender.
    let for_us = payload["recipient"] == crypto.user_id.as_str()
        && payload["recipient_keys"]["ed25519"]
            == state.account.identity_keys().ed25519.to_base64().as_str()
        && payload["sender"] == event["sender"];
    if !for_us {
        tracing::warn!(sender = %event["sender"], "dropping an Olm message meant for someone else");
        return None;
    }
    Some(payload)
}

/// The (sender, sender key) of an Olm message that failed to decrypt
/// although it was a normal message for this device: the sign of a lost
/// session that only a new one can mend.
pub(crate) fn wedged_sender(state: &CryptoState, event: &Value) -> Option<(String, String)> {
    let content = &event["content"];
    let own_key = state.account.identity_keys().curve25519.to_base64();
    let normal = content["ciphertext"][&own_key]["type"].as_u64() == Some(1);
    let sender = event["sender"].as_str()?;
    let sender_key = content["sender_key"].as_str()?;
    normal.then(|| (sender.to_owned(), sender_key.to_owned()))
}
