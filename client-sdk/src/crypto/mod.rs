//! End-to-end encryption on vodozemac: an Olm account per device, Olm
//! sessions to carry room keys between devices, and Megolm sessions that
//! encrypt room events. Events leave through `Room::send` and arrive
//! through sync and timelines; those are the only places that call in here.

pub(crate) mod attachment;
mod backup;
mod cross_signing;
pub(crate) mod devices;
mod keys;
mod megolm;
mod olm;
mod recovery_key;
mod sas_emoji;
mod state;
pub(crate) mod verification;

use std::sync::Arc;

use ruma::{OwnedDeviceId, OwnedUserId};
use serde_json::Value;
use tokio::sync::Mutex;

use self::state::{CryptoState, Pickled};
use crate::{
    client::Client,
    error::{Error, Result},
};

/// Algorithms this SDK speaks.
pub(crate) const OLM: &str = "m.olm.v1.curve25519-aes-sha2";
pub(crate) const MEGOLM: &str = "m.megolm.v1.aes-sha2";

/// The crypto of one logged-in device.
pub(crate) struct Crypto {
    pub user_id: OwnedUserId,
    pub device_id: OwnedDeviceId,
    pub state: Mutex<CryptoState>,
    /// Interactive verifications in progress (not persisted).
    pub verifications: Mutex<verification::Flows>,
}

impl std::fmt::Debug for Crypto {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Crypto").field("device_id", &self.device_id).finish_non_exhaustive()
    }
}

impl Client {
    /// This device's crypto, loaded from the store (or created) on first use.
    pub(crate) async fn crypto(&self) -> Result<Arc<Crypto>> {
        let session = self.session().ok_or(Error::NotLoggedIn)?;
        let mut slot = self.inner.crypto.lock().await;
        if let Some(crypto) = slot.as_ref()
            && crypto.device_id == session.device_id
        {
            return Ok(crypto.clone());
        }
        let key = &self.inner.pickle_key;
        let state = match self.inner.store.crypto_state(session.device_id.as_str()).await? {
            Some(json) => CryptoState::unpickle(serde_json::from_str::<Pickled>(&json)?, key)
                .map_err(|_| Error::Invalid("the store passphrase is wrong".into()))?,
            None => CryptoState::new(),
        };
        let crypto = Arc::new(Crypto {
            user_id: session.user_id,
            device_id: session.device_id,
            state: Mutex::new(state),
            verifications: Mutex::new(Default::default()),
        });
        *slot = Some(crypto.clone());
        Ok(crypto)
    }

    /// Writes the crypto state down (after every change).
    pub(crate) async fn save_crypto(&self, crypto: &Crypto, state: &CryptoState) -> Result<()> {
        let json = serde_json::to_string(&state.pickle(&self.inner.pickle_key))?;
        self.inner.store.save_crypto_state(crypto.device_id.as_str(), &json).await
    }

    /// Uploads this device's keys if that has not happened yet.
    pub(crate) async fn publish_device_keys(&self) -> Result<()> {
        let crypto = self.crypto().await?;
        let mut state = crypto.state.lock().await;
        if state.published {
            return Ok(());
        }
        self.upload_keys(&crypto, &mut state, Some(0), true).await
    }

    /// The device's identity keys: (curve25519, ed25519), unpadded base64.
    pub async fn identity_keys(&self) -> Result<(String, String)> {
        let crypto = self.crypto().await?;
        let state = crypto.state.lock().await;
        let keys = state.account.identity_keys();
        Ok((keys.curve25519.to_base64(), keys.ed25519.to_base64()))
    }
}

/// A JSON object in canonical form, as signatures cover it.
pub(crate) fn canonical(value: &Value) -> Result<String> {
    let mut value = value.clone();
    if let Some(object) = value.as_object_mut() {
        object.remove("signatures");
        object.remove("unsigned");
    }
    let canonical = ruma::CanonicalJsonValue::try_from(value)
        .map_err(|e| Error::Invalid(format!("not canonical JSON: {e}")))?;
    Ok(serde_json::to_string(&canonical)?)
}
