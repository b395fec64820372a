//! Signed JSON as the key APIs carry it: checks that an object is signed
//! by a given ed25519 key, and compares objects without their signatures.

use base64::Engine;
use ruma::{CanonicalJsonObject, CanonicalJsonValue, signatures::SigningKeyAlgorithm};
use serde_json::Value as JsonValue;

use crate::error::{Error, Result};

/// Unpadded standard base64, tolerant of padding.
const BASE64: base64::engine::GeneralPurpose = base64::engine::GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    base64::engine::GeneralPurposeConfig::new()
        .with_encode_padding(false)
        .with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent),
);

/// An uploaded JSON object, ready to check.
pub fn object(value: &JsonValue, what: &str) -> Result<CanonicalJsonObject> {
    match CanonicalJsonValue::try_from(value.clone()) {
        Ok(CanonicalJsonValue::Object(object)) => Ok(object),
        _ => Err(Error::invalid_param(format!("{what} must be a JSON object"))),
    }
}

/// Whether `object` carries a valid signature by `signer` with the
/// ed25519 key `key_id` ("ed25519:XYZ") whose public half is `public_key`.
pub fn signed_by(
    object: &CanonicalJsonObject,
    signer: &str,
    key_id: &str,
    public_key: &str,
) -> bool {
    let Some(signature) = signature(object, signer, key_id) else {
        return false;
    };
    let (Ok(signature), Ok(key)) = (BASE64.decode(signature), BASE64.decode(public_key)) else {
        return false;
    };
    let Ok(canonical) = ruma::signatures::to_canonical_json_string_for_signing(object) else {
        return false;
    };
    ruma::signatures::verify_canonical_json_bytes(
        &SigningKeyAlgorithm::Ed25519,
        &key,
        &signature,
        canonical.as_bytes(),
    )
    .is_ok()
}

/// The signature `signer` made with `key_id` on `object`, if any.
pub fn signature(object: &CanonicalJsonObject, signer: &str, key_id: &str) -> Option<String> {
    let CanonicalJsonValue::Object(by_entity) = object.get("signatures")? else { return None };
    let CanonicalJsonValue::Object(by_key) = by_entity.get(signer)? else { return None };
    match by_key.get(key_id)? {
        CanonicalJsonValue::String(signature) => Some(signature.clone()),
        _ => None,
    }
}

/// The object without `signatures` and `unsigned`: what a signature covers.
pub fn signed_part(object: &CanonicalJsonObject) -> CanonicalJsonObject {
    let mut part = object.clone();
    part.remove("signatures");
    part.remove("unsigned");
    part
}

/// A string field of an object.
pub fn string<'a>(object: &'a CanonicalJsonObject, field: &str) -> Option<&'a str> {
    match object.get(field) {
        Some(CanonicalJsonValue::String(value)) => Some(value),
        _ => None,
    }
}

/// The `keys` map of a key object: key id -> public key.
pub fn keys(object: &CanonicalJsonObject) -> Vec<(String, String)> {
    match object.get("keys") {
        Some(CanonicalJsonValue::Object(keys)) => keys
            .iter()
            .filter_map(|(id, key)| match key {
                CanonicalJsonValue::String(key) => Some((id.clone(), key.clone())),
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    }
}

/// Adds signatures to a stored object's `signatures` map.
pub fn add_signatures(object: &mut JsonValue, signatures: &[(String, String, String)]) {
    for (signer, key_id, signature) in signatures {
        if let Some(map) = object.as_object_mut() {
            let by_entity = map.entry("signatures").or_insert_with(|| serde_json::json!({}));
            if let Some(by_entity) = by_entity.as_object_mut() {
                let by_key =
                    by_entity.entry(signer.clone()).or_insert_with(|| serde_json::json!({}));
                if let Some(by_key) = by_key.as_object_mut() {
                    by_key.insert(key_id.clone(), JsonValue::String(signature.clone()));
                }
            }
        }
    }
}
