//! Turning what a client asked for into a signed PDU, and checking it
//! against the room version's authorization rules before anything is stored.

use std::sync::Arc;

use ruma::{
    CanonicalJsonObject, CanonicalJsonValue, EventId, MilliSecondsSinceUnixEpoch, OwnedEventId,
    OwnedRoomId, RoomId, ServerName, UserId,
    events::{StateEventType, TimelineEventType},
    room_version_rules::{EventIdFormatVersion, RedactionRules, RoomVersionRules},
    signatures::add_content_hash_to_event,
    state_res::{
        auth_types_for_event, check_state_dependent_auth_rules, check_state_independent_auth_rules,
    },
};
use serde_json::{Value as JsonValue, json};

use super::{
    head::{AuthBasis, RoomHead},
    pdu::Pdu,
};
use crate::{
    error::{Error, Result},
    services::server_key::ServerKey,
};

/// The largest PDU the spec allows, in bytes of canonical JSON.
pub const MAX_PDU_BYTES: usize = 65_536;

/// An event a local user wants to send.
#[derive(Debug, Clone)]
pub struct EventDraft {
    pub kind: TimelineEventType,
    pub content: JsonValue,
    pub state_key: Option<String>,
    pub redacts: Option<OwnedEventId>,
}

impl EventDraft {
    pub fn state(
        kind: impl Into<TimelineEventType>,
        key: impl Into<String>,
        content: JsonValue,
    ) -> Self {
        Self { kind: kind.into(), content, state_key: Some(key.into()), redacts: None }
    }

    pub fn message(kind: impl Into<TimelineEventType>, content: JsonValue) -> Self {
        Self { kind: kind.into(), content, state_key: None, redacts: None }
    }
}

/// Builds, hashes and authorizes an event on top of `head`, unsigned: the
/// caller signs it if it leaves the server now, and [`outgoing`] does if it
/// leaves later. `room_id` is None only for a room version 12 create event,
/// whose room id derives from its own hash.
///
/// [`outgoing`]: super::Rooms::outgoing
pub fn build_event(
    head: &mut RoomHead,
    room_id: Option<&RoomId>,
    sender: &UserId,
    draft: EventDraft,
    server_name: &ServerName,
    key: &ServerKey,
) -> Result<Pdu> {
    let event = template(head, room_id, sender, draft)?;
    let pdu = hash_event(event, room_id, &head.rules, server_name, key)?;
    authorize_local(head, &pdu)?;
    Ok(pdu)
}

/// The unsigned event for `draft` on top of `head` (also what make_join
/// hands a joining server to sign).
pub fn template(
    head: &RoomHead,
    room_id: Option<&RoomId>,
    sender: &UserId,
    draft: EventDraft,
) -> Result<JsonValue> {
    let rules = &head.rules;
    let content_text = serde_json::to_string(&draft.content).map_err(Error::internal)?;
    let content_len = content_text.len();
    let content_raw =
        serde_json::value::RawValue::from_string(content_text).map_err(Error::internal)?;
    let auth_types = auth_types_for_event(
        &draft.kind,
        sender,
        draft.state_key.as_deref(),
        &content_raw,
        &rules.authorization,
    )
    .map_err(Error::BadJson)?;
    let mut auth_events: Vec<&Pdu> =
        auth_types.iter().filter_map(|(kind, key)| head.get(kind, key).map(|p| &**p)).collect();
    if !rules.authorization.room_create_event_id_as_room_id
        && let Some(create) = head.get(&StateEventType::RoomCreate, "")
    {
        auth_events.push(create);
    }
    auth_events.sort_by(|a, b| a.event_id.cmp(&b.event_id));
    auth_events.dedup_by(|a, b| a.event_id == b.event_id);
    let auth_events: Vec<JsonValue> =
        auth_events.into_iter().map(|pdu| head.reference(&pdu.event_id, Some(pdu))).collect();
    let prev_events: Vec<JsonValue> =
        head.extremities.iter().map(|id| head.reference(id, None)).collect();

    let mut event = json!({
        "type": draft.kind.to_string(),
        "content": draft.content,
        "sender": sender,
        "origin_server_ts": MilliSecondsSinceUnixEpoch::now(),
        "prev_events": prev_events,
        "auth_events": auth_events,
        "depth": head.depth + 1,
    });
    if let Some(room_id) = room_id {
        event["room_id"] = json!(room_id);
    }
    if let Some(state_key) = &draft.state_key {
        event["state_key"] = json!(state_key);
    }
    if let Some(redacts) = &draft.redacts {
        // Top-level before v11, inside the content since.
        if rules.redaction.content_field_redacts {
            event["content"]["redacts"] = json!(redacts);
        } else {
            event["redacts"] = json!(redacts);
        }
    }
    // Content that alone is too large is refused before hashing; the
    // whole event's size is checked once it is canonical (`hash_event`).
    if content_len > MAX_PDU_BYTES {
        return Err(Error::TooLarge);
    }
    Ok(event)
}

/// Hashes and signs an event, deriving its id (and a v12 create's room id).
pub fn sign_event(
    event: JsonValue,
    room_id: Option<&RoomId>,
    rules: &RoomVersionRules,
    server_name: &ServerName,
    key: &ServerKey,
) -> Result<Pdu> {
    let mut pdu = hash_event(event, room_id, rules, server_name, key)?;
    add_signature(&mut pdu.json, &rules.redaction, server_name, key)?;
    Ok(pdu)
}

/// Adds the content hash and derives the event id (and a v12 create's room
/// id), leaving room under the size limit for our signature.
fn hash_event(
    event: JsonValue,
    room_id: Option<&RoomId>,
    rules: &RoomVersionRules,
    server_name: &ServerName,
    key: &ServerKey,
) -> Result<Pdu> {
    let mut object = match CanonicalJsonValue::try_from(event) {
        Ok(CanonicalJsonValue::Object(object)) => object,
        Ok(_) => return Err(Error::internal("event is not an object")),
        Err(e) => return Err(Error::BadJson(format!("content is not canonical JSON: {e}"))),
    };
    // Room versions 1 and 2: the sending server names the event, and the
    // name is signed with it.
    let chosen_id = (rules.event_id_format == EventIdFormatVersion::V1).then(|| {
        let id = EventId::new_v1(server_name);
        object.insert("event_id".to_owned(), CanonicalJsonValue::String(id.to_string()));
        id
    });
    add_content_hash_to_event(&mut object).map_err(|e| match e {
        ruma::signatures::JsonError::PduTooLarge => Error::TooLarge,
        other => Error::internal(other),
    })?;
    let text = serde_json::to_vec(&object).map_err(Error::internal)?;
    if text.len() + signature_size(server_name, key) > MAX_PDU_BYTES {
        return Err(Error::TooLarge);
    }
    let hash = ruma::signatures::reference_hash(&object, rules).map_err(|e| match e {
        ruma::signatures::JsonError::PduTooLarge => Error::TooLarge,
        other => Error::internal(other),
    })?;
    let event_id = match chosen_id {
        Some(id) => id,
        None => EventId::parse(format!("${hash}")).map_err(Error::internal)?,
    };
    let room_id: OwnedRoomId = match room_id {
        Some(room_id) => room_id.to_owned(),
        None => RoomId::parse(format!("!{hash}")).map_err(Error::internal)?,
    };
    Pdu::from_json_text(event_id, room_id, object, &text)
}

/// Bytes our signature adds to an event:
/// `,"signatures":{"<server>":{"<key id>":"<86 base64 characters>"}}`.
fn signature_size(server_name: &ServerName, key: &ServerKey) -> usize {
    server_name.as_str().len() + key.key_id.len() + 112
}

/// Signs an event in our server's name (over its redacted form, so the
/// signature holds for the redacted event too).
pub fn add_signature(
    event: &mut CanonicalJsonObject,
    rules: &RedactionRules,
    server_name: &ServerName,
    key: &ServerKey,
) -> Result<()> {
    ruma::signatures::sign_event(server_name.as_str(), &*key.key_pair, event, rules)
        .map_err(Error::internal)
}

/// [`authorize`] for an event built on `head`. The verdict on a non-state
/// event depends only on its sender, its type and the [`AuthBasis`] (its
/// auth events are chosen from those three), so an allowed (sender, type)
/// is not checked again while its basis stays the same.
fn authorize_local(head: &mut RoomHead, pdu: &Pdu) -> Result<()> {
    let kind = &pdu.kind;
    if pdu.is_state()
        || *kind == TimelineEventType::RoomRedaction
        || *kind == TimelineEventType::RoomCreate
    {
        return authorize(head, pdu);
    }
    let basis = head.auth_basis(&pdu.sender);
    let key = (pdu.sender.clone(), kind.clone());
    if head.authorized.get(&key).is_some_and(|known| same_basis(known, &basis)) {
        return Ok(());
    }
    authorize(head, pdu)?;
    head.authorized.insert(key, basis);
    Ok(())
}

/// Whether two bases hold the very same events (not merely equal ones).
fn same_basis(a: &AuthBasis, b: &AuthBasis) -> bool {
    a.iter().zip(b).all(|pair| match pair {
        (Some(a), Some(b)) => Arc::ptr_eq(a, b),
        (None, None) => true,
        _ => false,
    })
}

/// Runs the authorization rules against the head's state.
pub fn authorize(head: &RoomHead, pdu: &Pdu) -> Result<()> {
    let rules = &head.rules.authorization;
    // An event's auth events are nearly always among these few; the whole
    // state (every member of a large room) is searched only for the rest.
    let target = pdu.state_key.as_deref().filter(|_| pdu.kind == TimelineEventType::RoomMember);
    let likely: Vec<&Pdu> = [
        (StateEventType::RoomCreate, ""),
        (StateEventType::RoomPowerLevels, ""),
        (StateEventType::RoomJoinRules, ""),
        (StateEventType::RoomMember, pdu.sender.as_str()),
    ]
    .into_iter()
    .chain(target.map(|key| (StateEventType::RoomMember, key)))
    .filter_map(|(kind, key)| head.get(&kind, key).map(|p| p.as_ref()))
    .collect();
    let find = |id: &EventId| {
        likely
            .iter()
            .copied()
            .find(|p| *p.event_id == *id)
            .or_else(|| head.state().values().map(|p| p.as_ref()).find(|p| *p.event_id == *id))
    };
    check_state_independent_auth_rules(rules, pdu, find).map_err(Error::Forbidden)?;
    check_state_dependent_auth_rules(rules, pdu, |kind: &StateEventType, key: &str| {
        head.get(kind, key).map(|p| p.as_ref())
    })
    .map_err(Error::Forbidden)?;
    Ok(())
}

/// The signed event's JSON with everything the room version's redaction
/// algorithm removes taken out (the stored form of a redacted event).
pub fn redacted_json(pdu: &Pdu, head: &RoomHead) -> Result<CanonicalJsonObject> {
    ruma::canonical_json::redact(pdu.json.clone(), &head.rules.redaction, None)
        .map_err(Error::internal)
}

#[cfg(test)]
mod tests {
    //! The builder without a server: what it signs verifies as another
    //! server would check it, and the auth rules hold before anything leaves.

    use ruma::{
        RoomVersionId, owned_room_id, owned_server_name, owned_user_id,
        serde::Base64,
        signatures::{Ed25519KeyPair, PublicKeyMap, PublicKeySet, Verified, verify_event},
    };

    use super::*;

    fn key() -> ServerKey {
        let document = Ed25519KeyPair::generate();
        let key_pair = Ed25519KeyPair::from_der(&document, "test".into()).expect("key loads");
        ServerKey { key_pair: Arc::new(key_pair), key_id: "ed25519:test".into() }
    }

    fn public_keys(server: &ServerName, key: &ServerKey) -> PublicKeyMap {
        let set = PublicKeySet::from([(
            key.key_id.clone(),
            Base64::new(key.key_pair.public_key().to_vec()),
        )]);
        PublicKeyMap::from([(server.to_string(), set)])
    }

    /// A room of `version` created by @alice, who has joined it.
    fn room(version: RoomVersionId, key: &ServerKey) -> (RoomHead, OwnedRoomId) {
        let server = owned_server_name!("test.local");
        let alice = owned_user_id!("@alice:test.local");
        let mut head = RoomHead::new(version).expect("known version");
        let v12 = head.rules.authorization.room_create_event_id_as_room_id;
        let given = (!v12).then(|| owned_room_id!("!room:test.local"));
        let create = EventDraft::state("m.room.create", "", json!({ "creator": alice }));
        let create = build_event(&mut head, given.as_deref(), &alice, create, &server, key)
            .expect("create is allowed");
        let room_id = create.room_id.clone();
        head.apply(&Arc::new(create));
        let join =
            EventDraft::state("m.room.member", alice.as_str(), json!({ "membership": "join" }));
        let join = build_event(&mut head, Some(&room_id), &alice, join, &server, key)
            .expect("the creator may join");
        head.apply(&Arc::new(join));
        (head, room_id)
    }

    #[test]
    fn a_signed_event_verifies_and_its_id_is_its_reference_hash() {
        let (server, key) = (owned_server_name!("test.local"), key());
        let (head, room_id) = room(RoomVersionId::V10, &key);
        let alice = owned_user_id!("@alice:test.local");
        let event = template(
            &head,
            Some(&room_id),
            &alice,
            EventDraft::message("m.room.message", json!({ "body": "hi", "msgtype": "m.text" })),
        )
        .expect("template");
        let pdu = sign_event(event, Some(&room_id), &head.rules, &server, &key).expect("signs");

        let keys = public_keys(&server, &key);
        assert!(matches!(verify_event(&keys, &pdu.json, &head.rules), Ok(Verified::All)));
        let hash = ruma::signatures::reference_hash(&pdu.json, &head.rules).expect("hash");
        assert_eq!(pdu.event_id.as_str(), format!("${hash}"));
        assert_eq!(pdu.depth, ruma::UInt::from(3u32), "after the create and the join");

        // Changed content no longer matches its hash: only the redacted
        // form is vouched for.
        let mut tampered = pdu.json.clone();
        if let Some(CanonicalJsonValue::Object(content)) = tampered.get_mut("content") {
            content.insert("body".into(), CanonicalJsonValue::String("bye".into()));
        }
        assert!(matches!(verify_event(&keys, &tampered, &head.rules), Ok(Verified::Signatures)));
    }

    #[test]
    fn the_auth_rules_hold_before_anything_is_stored() {
        let (server, key) = (owned_server_name!("test.local"), key());
        let (mut head, room_id) = room(RoomVersionId::V10, &key);
        let message = || EventDraft::message("m.room.message", json!({ "body": "hi" }));

        let bob = owned_user_id!("@bob:test.local");
        let refused = build_event(&mut head, Some(&room_id), &bob, message(), &server, &key);
        assert!(matches!(refused, Err(Error::Forbidden(_))), "bob is not in the room");

        let alice = owned_user_id!("@alice:test.local");
        build_event(&mut head, Some(&room_id), &alice, message(), &server, &key)
            .expect("alice is joined");
        // Bob's own join is refused too: the room is invite-only by default.
        let join =
            EventDraft::state("m.room.member", bob.as_str(), json!({ "membership": "join" }));
        let refused = build_event(&mut head, Some(&room_id), &bob, join, &server, &key);
        assert!(matches!(refused, Err(Error::Forbidden(_))), "no join rule lets bob in");
    }

    #[test]
    fn content_over_the_limit_is_refused_before_hashing() {
        let (server, key) = (owned_server_name!("test.local"), key());
        let (mut head, room_id) = room(RoomVersionId::V10, &key);
        let alice = owned_user_id!("@alice:test.local");
        let body = "x".repeat(MAX_PDU_BYTES);
        let draft = EventDraft::message("m.room.message", json!({ "body": body }));
        let result = build_event(&mut head, Some(&room_id), &alice, draft, &server, &key);
        assert!(matches!(result, Err(Error::TooLarge)));
        // Content under the limit whose event, once signed, would pass it.
        let body = "x".repeat(MAX_PDU_BYTES - 200);
        let draft = EventDraft::message("m.room.message", json!({ "body": body }));
        let result = build_event(&mut head, Some(&room_id), &alice, draft, &server, &key);
        assert!(matches!(result, Err(Error::TooLarge)));
    }

    #[test]
    fn a_version_12_room_is_named_after_its_create_event() {
        let (server, key) = (owned_server_name!("test.local"), key());
        let (head, room_id) = room(RoomVersionId::V12, &key);
        let create = head.get(&StateEventType::RoomCreate, "").expect("create in state");
        assert_eq!(room_id.as_str(), format!("!{}", &create.event_id.as_str()[1..]));
        assert!(!create.json.contains_key("room_id"), "v12 create events carry no room id");
        let keys = public_keys(&server, &key);
        let mut signed = create.json.clone();
        add_signature(&mut signed, &head.rules.redaction, &server, &key).expect("signs");
        assert!(matches!(verify_event(&keys, &signed, &head.rules), Ok(Verified::All)));
    }
}
