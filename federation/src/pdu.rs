//! The checks a PDU from another server passes before anything else looks
//! at it: size and format, the signatures of every server that must have
//! signed it, and its content hash (an event whose content does not match
//! its hash is kept only in its redacted form). The event id is derived
//! from the reference hash, never taken from the sender.

use ruma::{
    CanonicalJsonObject, CanonicalJsonValue, EventId, MilliSecondsSinceUnixEpoch, OwnedEventId,
    RoomVersionId,
    room_version_rules::{EventIdFormatVersion, RoomVersionRules},
    signatures::{Verified, required_server_signatures_to_verify_event, verify_event},
};

use crate::{
    Error, Result,
    keys::{KeyRing, KeyStore},
};

/// A PDU whose signatures checked out.
#[derive(Debug, Clone)]
pub struct CheckedPdu {
    pub event_id: OwnedEventId,
    /// The event as it will be stored (without `event_id` and `unsigned`
    /// for room versions that derive the id; redacted if its hash failed).
    pub json: CanonicalJsonObject,
    /// Whether the content did not match its hash and was redacted.
    pub redacted: bool,
}

/// The event id of a PDU in a room of `version`.
pub fn event_id(json: &CanonicalJsonObject, rules: &RoomVersionRules) -> Result<OwnedEventId> {
    if rules.event_id_format == EventIdFormatVersion::V1 {
        return match json.get("event_id") {
            Some(CanonicalJsonValue::String(id)) => {
                EventId::parse(id).map_err(|e| Error::Malformed(format!("event_id: {e}")))
            }
            _ => Err(Error::Malformed("missing event_id".into())),
        };
    }
    let hash = ruma::signatures::reference_hash(json, rules)
        .map_err(|e| Error::Malformed(format!("reference hash: {e}")))?;
    EventId::parse(format!("${hash}")).map_err(|e| Error::Malformed(e.to_string()))
}

/// The key ids of `server`'s signatures on an event.
fn signature_key_ids(json: &CanonicalJsonObject, server: &str) -> Vec<String> {
    match json.get("signatures") {
        Some(CanonicalJsonValue::Object(signatures)) => match signatures.get(server) {
            Some(CanonicalJsonValue::Object(by_key)) => by_key.keys().cloned().collect(),
            _ => Vec::new(),
        },
        _ => Vec::new(),
    }
}

/// Checks a received PDU of a room with `version`.
pub async fn check_pdu<S: KeyStore>(
    keys: &KeyRing<S>,
    mut json: CanonicalJsonObject,
    version: &RoomVersionId,
) -> Result<CheckedPdu> {
    let rules = version
        .rules()
        .ok_or_else(|| Error::Malformed(format!("unknown room version {version}")))?;
    json.remove("unsigned");
    if rules.event_id_format != EventIdFormatVersion::V1 {
        json.remove("event_id");
    }
    ruma::state_res::check_pdu_format(&json, &rules.event_format).map_err(Error::Malformed)?;
    let servers = required_server_signatures_to_verify_event(&json, &rules.signatures)
        .map_err(|e| Error::Malformed(e.to_string()))?;
    let ts = match json.get("origin_server_ts") {
        Some(CanonicalJsonValue::Integer(ts)) => {
            crate::keys::millis(u64::try_from(i64::from(*ts)).unwrap_or(0))
        }
        _ => MilliSecondsSinceUnixEpoch::now(),
    };
    let at = if rules.enforce_key_validity { ts } else { crate::keys::millis(0) };
    let signers: Vec<_> = servers
        .into_iter()
        .map(|server| {
            let key_ids = signature_key_ids(&json, server.as_str());
            (server, key_ids)
        })
        .collect();
    let map = keys.public_keys(&signers, at).await?;
    let redacted = match verify_event(&map, &json, &rules) {
        Ok(Verified::All) => false,
        Ok(Verified::Signatures) => true,
        Err(e) => return Err(Error::BadSignature(e.to_string())),
    };
    let event_id = event_id(&json, &rules)?;
    if redacted {
        json = ruma::canonical_json::redact(json, &rules.redaction, None)
            .map_err(|e| Error::Malformed(e.to_string()))?;
    }
    Ok(CheckedPdu { event_id, json, redacted })
}
