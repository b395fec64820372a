//! The event authorization rules, as a received event meets them: random
//! events (type, state key, sender, content) against a room's state, in
//! several room versions. Checking never panics, and one rule always
//! holds: a user with no membership in the room cannot send anything but
//! their own membership event.

use std::collections::BTreeMap;

use lattice_fuzz::json;
use lattice_homeserver::services::rooms::pdu::Pdu;
use proptest::prelude::*;
use ruma::{
    CanonicalJsonObject, EventId, OwnedEventId, RoomId, RoomVersionId,
    events::StateEventType,
    state_res::{check_state_dependent_auth_rules, check_state_independent_auth_rules},
};
use serde_json::{Value, json as j};

const ROOM: &str = "!room:example.org";
const ALICE: &str = "@alice:example.org";
const MALLORY: &str = "@mallory:example.org";

fn pdu(id: &str, kind: &str, state_key: Option<&str>, sender: &str, content: Value) -> Option<Pdu> {
    let mut event = j!({
        "type": kind, "sender": sender, "content": content, "room_id": ROOM,
        "origin_server_ts": 1, "depth": 2, "prev_events": [], "hashes": {"sha256": "x"},
        "signatures": {}, "auth_events": ["$create", "$pl", "$alice"],
    });
    if let Some(key) = state_key {
        event["state_key"] = j!(key);
    }
    let object: CanonicalJsonObject = serde_json::from_value(event).ok()?;
    let id = EventId::parse(id).ok()?;
    Pdu::from_json(id, RoomId::parse(ROOM).ok()?.to_owned(), object).ok()
}

/// A public room alice made and runs.
fn room(version: &RoomVersionId) -> BTreeMap<(StateEventType, String), Pdu> {
    let mut create = j!({"room_version": version.as_str()});
    create["creator"] = j!(ALICE);
    let events = [
        pdu("$create", "m.room.create", Some(""), ALICE, create),
        pdu("$pl", "m.room.power_levels", Some(""), ALICE, j!({"users": {ALICE: 100}})),
        pdu("$alice", "m.room.member", Some(ALICE), ALICE, j!({"membership": "join"})),
        pdu("$rules", "m.room.join_rules", Some(""), ALICE, j!({"join_rule": "public"})),
    ];
    events
        .into_iter()
        .flatten()
        .map(|p| ((p.kind.to_string().into(), p.state_key.clone().unwrap_or_default()), p))
        .collect()
}

fn kinds() -> impl Strategy<Value = &'static str> {
    prop::sample::select(vec![
        "m.room.member",
        "m.room.power_levels",
        "m.room.message",
        "m.room.name",
        "m.room.join_rules",
        "m.room.redaction",
        "m.room.third_party_invite",
        "org.example.custom",
    ])
}

fn contents() -> impl Strategy<Value = Value> {
    prop_oneof![
        json(),
        prop::sample::select(vec!["join", "invite", "leave", "ban", "knock", "x"])
            .prop_map(|m| j!({"membership": m})),
        (any::<i64>(), any::<i64>()).prop_map(|(a, m)| j!({"users": {ALICE: a, MALLORY: m}})),
    ]
}

proptest! {
    #[test]
    fn events_against_a_room(
        version in prop::sample::select(vec![RoomVersionId::V6, RoomVersionId::V10, RoomVersionId::V11]),
        kind in kinds(),
        state_key in prop::option::of(prop::sample::select(vec!["", ALICE, MALLORY, "@x:other.org", "x"])),
        sender in prop::sample::select(vec![ALICE, MALLORY, "@x:other.org"]),
        content in contents(),
    ) {
        let rules = version.rules().expect("rules").authorization;
        let state = room(&version);
        prop_assert_eq!(state.len(), 4, "the room's own events parse");
        let Some(event) = pdu("$candidate", kind, state_key, sender, content) else {
            return Ok(());
        };
        let by_id: BTreeMap<OwnedEventId, &Pdu> =
            state.values().map(|p| (p.event_id.clone(), p)).collect();
        let _ = check_state_independent_auth_rules(&rules, &event, |id: &EventId| by_id.get(id).copied());
        let dependent = check_state_dependent_auth_rules(&rules, &event, |kind: &StateEventType, key: &str| {
            state.get(&(kind.clone(), key.to_owned()))
        });
        let own_membership = kind == "m.room.member" && state_key == Some(sender);
        if sender != ALICE && !own_membership {
            prop_assert!(dependent.is_err(), "{sender} is not in the room, yet sent {kind} {state_key:?}");
        }
    }
}
