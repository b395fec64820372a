//! Events from other servers, before any signature is checked: canonical
//! JSON parsing, the event id (reference hash), the room version's format
//! rules and redaction never panic, whatever the bytes, in every room
//! version we support.

use lattice_fuzz::{inputs, json, seeds};
use proptest::prelude::*;
use ruma::{CanonicalJsonObject, RoomVersionId};

const VERSIONS: [RoomVersionId; 5] = [
    RoomVersionId::V1,
    RoomVersionId::V3,
    RoomVersionId::V6,
    RoomVersionId::V10,
    RoomVersionId::V12,
];

fn exercise(object: CanonicalJsonObject) {
    for version in &VERSIONS {
        let rules = version.rules().expect("a supported version");
        let _ = lattice_federation::pdu::event_id(&object, &rules);
        let _ = ruma::state_res::check_pdu_format(&object, &rules.event_format);
        let _ = ruma::signatures::reference_hash(&object, &rules);
        let _ = ruma::signatures::content_hash(&object);
        let _ = ruma::canonical_json::redact(object.clone(), &rules.redaction, None);
    }
}

proptest! {
    #[test]
    fn pdu_bytes(bytes in inputs(seeds("pdu"))) {
        if let Ok(object) = serde_json::from_slice::<CanonicalJsonObject>(&bytes) {
            exercise(object);
        }
    }

    #[test]
    fn pdu_shaped_json(content in json(), kind in "m\\.room\\.[a-z_]{1,12}", depth in any::<i64>()) {
        let pdu = serde_json::json!({
            "type": kind, "content": content, "room_id": "!r:example.org",
            "sender": "@a:example.org", "origin_server_ts": depth, "depth": depth,
            "prev_events": [], "auth_events": [], "hashes": {"sha256": "x"},
            "signatures": {}, "state_key": "",
        });
        if let Ok(object) = serde_json::from_value::<CanonicalJsonObject>(pdu) {
            exercise(object);
        }
    }
}
