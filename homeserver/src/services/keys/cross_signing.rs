//! Cross-signing: a user's master key, the self-signing key that vouches
//! for their devices and the user-signing key that vouches for other
//! users; and signatures uploaded between keys. Each key and signature is
//! verified before it is stored.

use std::collections::BTreeMap;

use ruma::{
    CanonicalJsonObject, OwnedUserId,
    api::client::{
        keys::upload_signatures::v3::{Failure, SignedKeys},
        uiaa::AuthData,
    },
    encryption::CrossSigningKey,
    serde::Raw,
};
use serde_json::Value as JsonValue;

use super::{
    Keys, cross_signing_public_key, device_ed25519, parse_json,
    signed::{keys, object, signature, signed_by, signed_part, string},
};
use crate::{
    error::{Error, Result},
    services::auth::{Requester, UiaFlows},
};

/// The one ed25519 key of a cross-signing key: (key id, public key).
fn only_key(key: &CanonicalJsonObject) -> Result<(String, String)> {
    match keys(key).as_slice() {
        [(id, public)] if id.strip_prefix("ed25519:") == Some(public.as_str()) => {
            Ok((id.clone(), public.clone()))
        }
        _ => Err(Error::invalid_param(
            "a cross-signing key holds one ed25519 key named after itself",
        )),
    }
}

fn usage_is(key: &CanonicalJsonObject, usage: &str) -> bool {
    match key.get("usage") {
        Some(ruma::CanonicalJsonValue::Array(usages)) => {
            usages.iter().any(|u| matches!(u, ruma::CanonicalJsonValue::String(s) if s == usage))
        }
        _ => false,
    }
}

impl Keys {
    /// POST /keys/device_signing/upload, behind UIA once the user has a
    /// master key (the first upload may skip it, as the spec allows).
    pub async fn upload_cross_signing(
        &self,
        requester: &Requester,
        auth: Option<&AuthData>,
        master: Option<&Raw<CrossSigningKey>>,
        self_signing: Option<&Raw<CrossSigningKey>>,
        user_signing: Option<&Raw<CrossSigningKey>>,
    ) -> Result<()> {
        let user = requester.user_id.as_str();
        let stored = self.store.cross_signing_keys(user).await?;
        let stored_master = stored.iter().find(|(kind, _)| kind == "master");
        if stored_master.is_some() {
            self.auth
                .user_interactive(&UiaFlows::password(), auth, Some(&requester.user_id))
                .await?;
        }
        let parse = |raw: &Raw<CrossSigningKey>,
                     usage: &str|
         -> Result<(CanonicalJsonObject, String)> {
            let value: JsonValue = serde_json::from_str(raw.json().get())
                .map_err(|e| Error::BadJson(e.to_string()))?;
            let key = object(&value, usage)?;
            if string(&key, "user_id") != Some(user) {
                return Err(Error::invalid_param(format!(
                    "the {usage} key belongs to another user"
                )));
            }
            if !usage_is(&key, usage) {
                return Err(Error::invalid_param(format!("the {usage} key lacks usage {usage}")));
            }
            Ok((key, value.to_string()))
        };
        let master = master.map(|raw| parse(raw, "master")).transpose()?;
        let master_key = match (&master, stored_master) {
            (Some((key, _)), _) => only_key(key)?,
            (None, Some((_, json))) => only_key(&object(&parse_json(json)?, "master key")?)?,
            (None, None) if self_signing.is_some() || user_signing.is_some() => {
                return Err(Error::invalid_param("upload a master key first"));
            }
            (None, None) => return Ok(()),
        };
        let mut updates = Vec::new();
        if let Some((key, json)) = &master {
            only_key(key)?;
            updates.push(("master", json.clone()));
        }
        for (raw, usage) in [(self_signing, "self_signing"), (user_signing, "user_signing")] {
            let Some(raw) = raw else { continue };
            let (key, json) = parse(raw, usage)?;
            only_key(&key)?;
            if !signed_by(&key, user, &master_key.0, &master_key.1) {
                return Err(Error::invalid_param(format!(
                    "the {usage} key is not signed by the master key"
                )));
            }
            updates.push((usage, json));
        }
        let position = self.store.set_cross_signing_keys(user, &updates).await?;
        self.announce(&requester.user_id, position).await
    }

    /// POST /keys/signatures/upload: signatures the requester made on
    /// their own devices and master key, or on other users' master keys.
    pub async fn upload_signatures(
        &self,
        requester: &Requester,
        signed: &BTreeMap<OwnedUserId, SignedKeys>,
    ) -> Result<BTreeMap<OwnedUserId, BTreeMap<String, Failure>>> {
        let signer = requester.user_id.as_str();
        let signer_keys = self.signing_keys_of(requester).await?;
        let mut accepted = Vec::new();
        let mut failures: BTreeMap<OwnedUserId, BTreeMap<String, Failure>> = BTreeMap::new();
        for (target_user, objects) in signed {
            for (key_id, raw) in objects.iter() {
                let outcome = self
                    .check_signatures(signer, &signer_keys, target_user.as_str(), key_id, raw.get())
                    .await;
                match outcome {
                    Ok(mut found) => accepted.append(&mut found),
                    Err(reason) => {
                        let failure =
                            serde_json::json!({"errcode": "M_INVALID_SIGNATURE", "error": reason});
                        if let Ok(failure) = serde_json::from_value(failure) {
                            failures
                                .entry(target_user.clone())
                                .or_default()
                                .insert(key_id.to_owned(), failure);
                        }
                    }
                }
            }
        }
        if let Some(position) = self.store.add_key_signatures(&accepted).await? {
            for user in signed.keys() {
                self.announce(user, position).await?;
            }
        }
        Ok(failures)
    }

    /// The requester's keys that may sign: key id -> public key (their
    /// device keys and their cross-signing keys).
    async fn signing_keys_of(&self, requester: &Requester) -> Result<BTreeMap<String, String>> {
        let user = requester.user_id.as_str();
        let mut found = BTreeMap::new();
        if let Some(json) = self.store.device_keys(user, requester.device_id.as_str()).await?
            && let Some(key) = device_ed25519(
                &object(&parse_json(&json)?, "device keys")?,
                requester.device_id.as_str(),
            )
        {
            found.insert(format!("ed25519:{}", requester.device_id), key);
        }
        for (_, json) in self.store.cross_signing_keys(user).await? {
            let public = cross_signing_public_key(&parse_json(&json)?);
            found.insert(format!("ed25519:{public}"), public);
        }
        Ok(found)
    }

    /// Checks the requester's signatures on one uploaded object against
    /// the stored key it names; returns the rows to store.
    async fn check_signatures(
        &self,
        signer: &str,
        signer_keys: &BTreeMap<String, String>,
        target_user: &str,
        key_id: &str,
        json: &str,
    ) -> std::result::Result<Vec<(String, String, String, String, String)>, String> {
        let uploaded: JsonValue = serde_json::from_str(json).map_err(|e| e.to_string())?;
        let uploaded = object(&uploaded, "signed key").map_err(|e| e.to_string())?;
        let stored =
            match self.store.device_keys(target_user, key_id).await.map_err(|e| e.to_string())? {
                Some(json) => Some(json),
                None => self
                    .store
                    .cross_signing_keys(target_user)
                    .await
                    .map_err(|e| e.to_string())?
                    .into_iter()
                    .map(|(_, json)| json)
                    .find(|json| {
                        parse_json(json).is_ok_and(|v| cross_signing_public_key(&v) == key_id)
                    }),
            };
        let stored = stored.ok_or("no such key")?;
        let stored = object(&parse_json(&stored).map_err(|e| e.to_string())?, "stored key")
            .map_err(|e| e.to_string())?;
        if signed_part(&stored) != signed_part(&uploaded) {
            return Err("the signed object differs from the stored key".into());
        }
        let mut rows = Vec::new();
        for (signing_key_id, public) in signer_keys {
            if signed_by(&uploaded, signer, signing_key_id, public)
                && let Some(signature) = signature(&uploaded, signer, signing_key_id)
            {
                rows.push((
                    target_user.to_owned(),
                    key_id.to_owned(),
                    signer.to_owned(),
                    signing_key_id.clone(),
                    signature,
                ));
            }
        }
        if rows.is_empty() {
            return Err("no valid signature by the uploader".into());
        }
        Ok(rows)
    }
}
