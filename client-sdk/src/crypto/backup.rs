//! Server-side key backup (m.megolm_backup.v1.curve25519-aes-sha2): room
//! keys encrypted to a backup public key and stored on the server, so a
//! new device that has the recovery key reads old messages.

use std::collections::BTreeMap;

use ruma::{
    OwnedRoomId,
    api::client::backup::{
        RoomKeyBackup, add_backup_keys, create_backup_version, get_backup_keys,
        get_latest_backup_info,
    },
    serde::Raw,
};
use serde_json::{Value, json};
use vodozemac::{
    Curve25519PublicKey, Curve25519SecretKey,
    megolm::{ExportedSessionKey, InboundGroupSession, SessionConfig},
    pk_encryption::{Message, PkDecryption, PkEncryption},
};

use super::{MEGOLM, recovery_key, state::Inbound};
use crate::{
    client::Client,
    error::{Error, Result},
};

/// The backup algorithm this SDK speaks.
const BACKUP: &str = "m.megolm_backup.v1.curve25519-aes-sha2";

fn raw<T>(value: &Value) -> Result<Raw<T>> {
    Ok(Raw::from_json(serde_json::value::to_raw_value(value)?))
}

impl Client {
    /// Starts a key backup on the server and uploads every room key this
    /// device holds. Returns the recovery key: whoever has it can read the
    /// backed-up keys, so show it to the user once and forget it.
    pub async fn enable_key_backup(&self) -> Result<String> {
        let decryption = PkDecryption::new();
        let public_key = decryption.public_key().to_base64();
        let crypto = self.crypto().await?;
        let mut auth_data = json!({"public_key": public_key});
        {
            let state = crypto.state.lock().await;
            let signature = state.account.sign(super::canonical(&auth_data)?).to_base64();
            auth_data["signatures"] = json!({
                crypto.user_id.as_str(): {format!("ed25519:{}", crypto.device_id): signature}
            });
        }
        let algorithm = raw(&json!({"algorithm": BACKUP, "auth_data": auth_data}))?;
        let response = self.send(create_backup_version::v3::Request::new(algorithm)).await?;
        {
            let mut state = crypto.state.lock().await;
            state.backup = Some((response.version, public_key));
            state.backed_up.clear();
            self.save_crypto(&crypto, &state).await?;
        }
        self.backup_room_keys().await?;
        Ok(recovery_key::encode(&decryption.secret_key().to_bytes()))
    }

    /// Uploads the room keys not yet in the backup; returns how many.
    pub async fn backup_room_keys(&self) -> Result<usize> {
        let crypto = self.crypto().await?;
        let mut state = crypto.state.lock().await;
        let Some((version, public_key)) = state.backup.clone() else { return Ok(0) };
        let encryption = PkEncryption::from_key(
            Curve25519PublicKey::from_base64(&public_key)
                .map_err(|e| Error::Invalid(e.to_string()))?,
        );
        let mut rooms: BTreeMap<OwnedRoomId, BTreeMap<String, Raw<_>>> = BTreeMap::new();
        let mut uploaded = Vec::new();
        for ((room_id, session_id), inbound) in &state.inbound {
            if state.backed_up.contains(&(room_id.clone(), session_id.clone())) {
                continue;
            }
            let Ok(room) = OwnedRoomId::try_from(room_id.as_str()) else { continue };
            let session_key = json!({
                "algorithm": MEGOLM,
                "sender_key": inbound.sender_key,
                "session_key": inbound.session.export_at_first_known_index().to_base64(),
                "sender_claimed_keys": {},
                "forwarding_curve25519_key_chain": [],
            });
            let message = encryption
                .encrypt(&serde_json::to_vec(&session_key)?)
                .map_err(|e| Error::Invalid(format!("backup encryption failed: {e}")))?;
            let data = json!({
                "first_message_index": inbound.session.first_known_index(),
                "forwarded_count": 0,
                "is_verified": false,
                "session_data": {
                    "ephemeral": message.ephemeral_key.to_base64(),
                    "ciphertext": vodozemac::base64_encode(&message.ciphertext),
                    "mac": vodozemac::base64_encode(&message.mac),
                },
            });
            rooms.entry(room).or_default().insert(session_id.clone(), raw(&data)?);
            uploaded.push((room_id.clone(), session_id.clone()));
        }
        if uploaded.is_empty() {
            return Ok(0);
        }
        let rooms = rooms
            .into_iter()
            .map(|(room, sessions)| (room, RoomKeyBackup::new(sessions)))
            .collect();
        self.send(add_backup_keys::v3::Request::new(version, rooms)).await?;
        let count = uploaded.len();
        state.backed_up.extend(uploaded);
        self.save_crypto(&crypto, &state).await?;
        Ok(count)
    }

    /// Reads the server's current backup with the recovery key and keeps
    /// every room key in it; returns how many were new to this device.
    pub async fn restore_key_backup(&self, recovery_key: &str) -> Result<usize> {
        let secret = recovery_key::decode(recovery_key)
            .ok_or_else(|| Error::Invalid("this is not a valid recovery key".into()))?;
        let decryption = PkDecryption::from_key(Curve25519SecretKey::from_slice(&secret));
        let info = self.send(get_latest_backup_info::v3::Request::new()).await?;
        let algorithm: Value = serde_json::from_str(info.algorithm.json().get())?;
        if algorithm["auth_data"]["public_key"] != decryption.public_key().to_base64().as_str() {
            return Err(Error::Invalid("the recovery key does not open this backup".into()));
        }
        let keys = self.send(get_backup_keys::v3::Request::new(info.version)).await?;
        let crypto = self.crypto().await?;
        let mut state = crypto.state.lock().await;
        let mut restored = 0;
        for (room_id, room) in &keys.rooms {
            for (session_id, data) in &room.sessions {
                let data: Value = serde_json::from_str(data.json().get())?;
                let part =
                    |name: &str| data["session_data"][name].as_str().unwrap_or_default().to_owned();
                let Ok(message) =
                    Message::from_base64(&part("ciphertext"), &part("mac"), &part("ephemeral"))
                else {
                    continue;
                };
                let Ok(plaintext) = decryption.decrypt(&message) else {
                    tracing::warn!(%room_id, session_id, "a backed-up key could not be decrypted");
                    continue;
                };
                let key: Value = serde_json::from_slice(&plaintext)?;
                let Some(Ok(exported)) =
                    key["session_key"].as_str().map(ExportedSessionKey::from_base64)
                else {
                    continue;
                };
                let session = InboundGroupSession::import(&exported, SessionConfig::version_1());
                let id = (room_id.to_string(), session.session_id());
                if !state.inbound.contains_key(&id) {
                    let sender_key = key["sender_key"].as_str().unwrap_or_default().to_owned();
                    state.inbound.insert(id.clone(), Inbound { session, sender_key });
                    state.backed_up.insert(id);
                    restored += 1;
                }
            }
        }
        self.save_crypto(&crypto, &state).await?;
        Ok(restored)
    }
}
