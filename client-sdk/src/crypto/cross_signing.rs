//! Cross-signing: a master key that stands for the user, a self-signing
//! key that vouches for the user's devices, a user-signing key that
//! vouches for other users. A device signed by its owner's self-signing
//! key (itself signed by the master key) is cross-signed.

use std::collections::{BTreeMap, HashSet};

use ruma::{
    DeviceId, OwnedDeviceId, UserId,
    api::client::{
        keys::{get_keys, upload_signatures, upload_signing_keys},
        uiaa::{AuthData, MatrixUserIdentifier, Password, UserIdentifier},
    },
};
use serde_json::{Value, json};
use vodozemac::Ed25519SecretKey;

use super::{
    Crypto, canonical,
    keys::{add_signature, own_device_keys, raw, sign, verify},
    state::{CrossSigningKeys, CryptoState},
};
use crate::{
    client::Client,
    error::{Error, Result},
};

/// A cross-signing key object for `user`.
fn key_object(user: &str, key: &Ed25519SecretKey, usage: &str) -> Value {
    let public = key.public_key().to_base64();
    json!({"user_id": user, "usage": [usage], "keys": {format!("ed25519:{public}"): public}})
}

/// Signs `value` with a cross-signing key (key id `ed25519:<public key>`).
fn sign_with(value: &mut Value, user: &str, key: &Ed25519SecretKey) -> Result<()> {
    let public = key.public_key().to_base64();
    let signature = key.sign(canonical(value)?.as_bytes()).to_base64();
    add_signature(value, user, &format!("ed25519:{public}"), signature);
    Ok(())
}

/// The public key of a cross-signing key object.
fn public_of(key: &Value) -> Option<String> {
    key["keys"].as_object()?.values().next()?.as_str().map(str::to_owned)
}

impl Client {
    /// Creates this user's cross-signing keys, uploads them (answering the
    /// server's password stage with `password` when it asks), and signs
    /// this device with the new self-signing key.
    pub async fn bootstrap_cross_signing(&self, password: Option<&str>) -> Result<()> {
        let crypto = self.crypto().await?;
        let mut state = crypto.state.lock().await;
        let user = crypto.user_id.as_str();
        let keys = CrossSigningKeys {
            master: Ed25519SecretKey::new(),
            self_signing: Ed25519SecretKey::new(),
            user_signing: Ed25519SecretKey::new(),
        };
        let mut master = key_object(user, &keys.master, "master");
        sign(&crypto, &state, &mut master)?;
        let mut self_signing = key_object(user, &keys.self_signing, "self_signing");
        sign_with(&mut self_signing, user, &keys.master)?;
        let mut user_signing = key_object(user, &keys.user_signing, "user_signing");
        sign_with(&mut user_signing, user, &keys.master)?;
        let mut request = upload_signing_keys::v3::Request::new();
        request.master_key = Some(raw(&master)?);
        request.self_signing_key = Some(raw(&self_signing)?);
        request.user_signing_key = Some(raw(&user_signing)?);
        if let Err(error) = self.send(request.clone()).await {
            let (Error::Uia(info), Some(password)) = (&error, password) else { return Err(error) };
            let identifier = UserIdentifier::Matrix(MatrixUserIdentifier::new(user.to_owned()));
            let mut stage = Password::new(identifier, password.to_owned());
            stage.session = info.session.clone();
            request.auth = Some(AuthData::Password(stage));
            self.send(request).await?;
        }
        let mut device_keys = own_device_keys(&crypto, &state)?;
        sign_with(&mut device_keys, user, &keys.self_signing)?;
        self.upload_signature(&crypto.user_id, &crypto.device_id, &device_keys).await?;
        state.cross_signing = Some(keys);
        self.save_crypto(&crypto, &state).await
    }

    /// Signs another device of this user with the self-signing key, when
    /// this device holds it (after the device was verified).
    pub(crate) async fn cross_sign_own_device(
        &self,
        crypto: &Crypto,
        state: &CryptoState,
        device: &DeviceId,
    ) -> Result<()> {
        let Some(keys) = &state.cross_signing else { return Ok(()) };
        let mut request = get_keys::v3::Request::new();
        request.device_keys = BTreeMap::from([(crypto.user_id.clone(), vec![device.to_owned()])]);
        let response = self.send(request).await?;
        let Some(raw_keys) = response.device_keys.get(&crypto.user_id).and_then(|d| d.get(device))
        else {
            return Ok(());
        };
        let mut device_keys: Value = serde_json::from_str(raw_keys.json().get())?;
        if let Some(object) = device_keys.as_object_mut() {
            object.remove("unsigned");
        }
        sign_with(&mut device_keys, crypto.user_id.as_str(), &keys.self_signing)?;
        self.upload_signature(&crypto.user_id, device, &device_keys).await
    }

    async fn upload_signature(
        &self,
        user: &UserId,
        device: &DeviceId,
        signed: &Value,
    ) -> Result<()> {
        let mut keys = upload_signatures::v3::SignedKeys::new();
        keys.add_device_keys(device.to_owned(), raw(signed)?);
        let request =
            upload_signatures::v3::Request::new(BTreeMap::from([(user.to_owned(), keys)]));
        let response = self.send(request).await?;
        if !response.failures.is_empty() {
            return Err(Error::Response(format!(
                "the server refused a signature: {:?}",
                response.failures
            )));
        }
        Ok(())
    }

    /// Whether `device` carries its owner's self-signing signature, and
    /// that self-signing key its owner's master signature (checked here,
    /// on keys fetched from the server).
    pub async fn is_cross_signed(&self, user: &UserId, device: &DeviceId) -> Result<bool> {
        let response = self.query_keys(user).await?;
        Ok(cross_signed_devices(&response, user).contains(device))
    }

    /// Whether this user has published cross-signing keys (from any of
    /// their devices): if so, a new device must not make others.
    pub async fn has_cross_signing_keys(&self) -> Result<bool> {
        let user = self.require_user_id()?;
        Ok(self.query_keys(&user).await?.master_keys.contains_key(&user))
    }

    /// The server's keys of every device of `user`, with their
    /// cross-signing keys.
    pub(crate) async fn query_keys(&self, user: &UserId) -> Result<get_keys::v3::Response> {
        let mut request = get_keys::v3::Request::new();
        request.device_keys = BTreeMap::from([(user.to_owned(), Vec::<OwnedDeviceId>::new())]);
        self.send(request).await
    }

    /// Whether this device verified `device` of `user` interactively.
    pub async fn is_verified(&self, user: &UserId, device: &DeviceId) -> Result<bool> {
        let crypto = self.crypto().await?;
        let state = crypto.state.lock().await;
        Ok(state.verified.contains(&(user.to_string(), device.to_string())))
    }
}

/// The devices of `user` in a keys answer that carry the owner's
/// self-signing signature, that key being signed by the master key.
pub(crate) fn cross_signed_devices(
    response: &get_keys::v3::Response,
    user: &UserId,
) -> HashSet<OwnedDeviceId> {
    fn parse<T>(raw: Option<&ruma::serde::Raw<T>>) -> Option<Value> {
        raw.and_then(|raw| serde_json::from_str(raw.json().get()).ok())
    }
    let (Some(master), Some(self_signing)) =
        (parse(response.master_keys.get(user)), parse(response.self_signing_keys.get(user)))
    else {
        return HashSet::new();
    };
    let (Some(master_key), Some(ssk)) = (public_of(&master), public_of(&self_signing)) else {
        return HashSet::new();
    };
    if !verify(&self_signing, user.as_str(), &format!("ed25519:{master_key}"), &master_key) {
        return HashSet::new();
    }
    response
        .device_keys
        .get(user)
        .into_iter()
        .flatten()
        .filter(|(_, raw)| {
            parse(Some(*raw))
                .is_some_and(|keys| verify(&keys, user.as_str(), &format!("ed25519:{ssk}"), &ssk))
        })
        .map(|(device, _)| device.clone())
        .collect()
}
