//! A user's devices as this client sees them: which exist (they published
//! keys) and which can be trusted (verified here with emoji, or signed by
//! their owner's cross-signing key).

use ruma::{OwnedDeviceId, OwnedUserId, UserId};

use super::cross_signing::cross_signed_devices;
use crate::{client::Client, error::Result};

/// One device of a user.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Device {
    /// Whose device it is.
    pub user_id: OwnedUserId,
    /// Its id.
    pub device_id: OwnedDeviceId,
    /// The name its owner gave it, when the server shares it.
    pub display_name: Option<String>,
    /// This device compared emoji with it and they matched.
    pub verified_here: bool,
    /// Its owner's self-signing key signed it.
    pub cross_signed: bool,
    /// It is the device this client runs as.
    pub is_this_device: bool,
}

impl Device {
    /// Whether messages to and from it can be trusted.
    pub fn is_trusted(&self) -> bool {
        self.verified_here || self.cross_signed || self.is_this_device
    }
}

impl Client {
    /// Every device of `user` that published keys, by device id (one
    /// keys query for all of them).
    pub async fn user_devices(&self, user: &UserId) -> Result<Vec<Device>> {
        let response = self.query_keys(user).await?;
        let cross_signed = cross_signed_devices(&response, user);
        let crypto = self.crypto().await?;
        let state = crypto.state.lock().await;
        let mut devices: Vec<Device> = response
            .device_keys
            .get(user)
            .into_iter()
            .flatten()
            .map(|(device_id, raw)| Device {
                user_id: user.to_owned(),
                device_id: device_id.clone(),
                display_name: raw
                    .deserialize()
                    .ok()
                    .and_then(|keys| keys.unsigned.device_display_name),
                verified_here: state.verified.contains(&(user.to_string(), device_id.to_string())),
                cross_signed: cross_signed.contains(device_id),
                is_this_device: *user == crypto.user_id && *device_id == crypto.device_id,
            })
            .collect();
        devices.sort_by(|a, b| a.device_id.cmp(&b.device_id));
        Ok(devices)
    }
}
