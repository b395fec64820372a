//! A user's devices: list, rename, delete (behind UIA), log out.

use ruma::{
    MilliSecondsSinceUnixEpoch, OwnedDeviceId, UInt, UserId,
    api::client::{device::Device, uiaa::AuthData},
};

use super::{
    auth::{Auth, Requester, UiaFlows},
    keys::Keys,
};
use crate::{
    error::{Error, Result},
    store::{DeviceRow, Store},
};

#[derive(Clone)]
pub struct Devices {
    store: Store,
    auth: Auth,
    /// Told when devices go, so that other users stop encrypting for them.
    keys: Keys,
}

fn to_device(row: DeviceRow) -> Device {
    let mut device = Device::new(row.device_id.into());
    device.display_name = row.display_name;
    device.last_seen_ip = row.last_seen_ip;
    device.last_seen_ts =
        row.last_seen_at.and_then(|ms| UInt::try_from(ms).ok()).map(MilliSecondsSinceUnixEpoch);
    device
}

impl Devices {
    pub fn new(store: Store, auth: Auth, keys: Keys) -> Self {
        Self { store, auth, keys }
    }

    pub async fn list(&self, user_id: &UserId) -> Result<Vec<Device>> {
        Ok(self.store.list_devices(user_id.as_str()).await?.into_iter().map(to_device).collect())
    }

    pub async fn get(&self, user_id: &UserId, device_id: &str) -> Result<Device> {
        self.store
            .get_device(user_id.as_str(), device_id)
            .await?
            .map(to_device)
            .ok_or_else(|| Error::not_found("no such device"))
    }

    pub async fn rename(
        &self,
        user_id: &UserId,
        device_id: &str,
        name: Option<&str>,
    ) -> Result<()> {
        if self.store.rename_device(user_id.as_str(), device_id, name).await? {
            Ok(())
        } else {
            Err(Error::not_found("no such device"))
        }
    }

    /// Deletes devices after UIA. Unknown device ids are ignored, as the spec says.
    pub async fn delete(
        &self,
        requester: &Requester,
        devices: &[OwnedDeviceId],
        auth: Option<&AuthData>,
    ) -> Result<()> {
        self.auth.user_interactive(&UiaFlows::password(), auth, Some(&requester.user_id)).await?;
        let ids: Vec<String> = devices.iter().map(|d| d.to_string()).collect();
        let position = self.store.delete_devices(requester.user_id.as_str(), &ids).await?;
        self.auth.forget_sessions(&requester.user_id);
        self.keys.announce(&requester.user_id, position).await
    }

    /// Deletes one device, answering 404 when it does not exist.
    pub async fn delete_one(
        &self,
        requester: &Requester,
        device_id: OwnedDeviceId,
        auth: Option<&AuthData>,
    ) -> Result<()> {
        self.get(&requester.user_id, device_id.as_str()).await?;
        self.delete(requester, &[device_id], auth).await
    }

    /// POST /logout: the device goes, and its tokens with it.
    pub async fn logout(&self, requester: &Requester) -> Result<()> {
        let position = self
            .store
            .delete_devices(requester.user_id.as_str(), &[requester.device_id.to_string()])
            .await?;
        self.auth.forget_sessions(&requester.user_id);
        self.keys.announce(&requester.user_id, position).await
    }

    /// POST /logout/all.
    pub async fn logout_all(&self, requester: &Requester) -> Result<()> {
        let position = self.store.delete_other_devices(requester.user_id.as_str(), None).await?;
        self.auth.forget_sessions(&requester.user_id);
        self.keys.announce(&requester.user_id, position).await
    }
}
