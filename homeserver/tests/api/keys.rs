//! End-to-end encryption keys on the server: upload, query, claim,
//! to-device messages, device-list changes, cross-signing and backups.
//! Keys are real ed25519 keys signed the way clients sign them.

use base64::Engine;
use ruma::{
    CanonicalJsonObject, CanonicalJsonValue,
    signatures::{Ed25519KeyPair, sign_json},
};
use serde_json::{Value, json};

use crate::{
    backend_tests,
    common::{Backend, Session, TestServer},
};

backend_tests!(
    keys_are_uploaded_queried_and_claimed,
    bad_key_uploads_change_nothing,
    to_device_messages_arrive_once_per_transaction,
    device_list_changes_reach_room_members,
    cross_signing_keys_and_signatures,
    key_backups_keep_the_best_copy,
);

/// An ed25519 key and the name it signs with (a device id, or the key itself).
pub(crate) struct Signer {
    pair: Ed25519KeyPair,
    pub(crate) public: String,
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD_NO_PAD.encode(bytes)
}

impl Signer {
    /// A key whose id is `ed25519:{name}`; `None` names it after itself.
    pub(crate) fn new(name: Option<&str>) -> Self {
        let der = Ed25519KeyPair::generate();
        let probe = Ed25519KeyPair::from_der(&der, String::new()).expect("key");
        let public = b64(&probe.public_key());
        let version = name.map_or_else(|| public.clone(), str::to_owned);
        Self { pair: Ed25519KeyPair::from_der(&der, version).expect("key"), public }
    }

    pub(crate) fn sign(&self, user: &str, value: Value) -> Value {
        let mut object: CanonicalJsonObject = match CanonicalJsonValue::try_from(value) {
            Ok(CanonicalJsonValue::Object(object)) => object,
            _ => panic!("an object"),
        };
        sign_json(user, &self.pair, &mut object).expect("signed");
        serde_json::to_value(object).expect("json")
    }
}

pub(crate) fn device_keys(session: &Session, signer: &Signer) -> Value {
    let device = &session.device_id;
    signer.sign(
        &session.user_id,
        json!({
            "user_id": session.user_id,
            "device_id": device,
            "algorithms": ["m.olm.v1.curve25519-aes-sha2", "m.megolm.v1.aes-sha2"],
            "keys": {
                format!("curve25519:{device}"): b64(&[7u8; 32]),
                format!("ed25519:{device}"): signer.public,
            },
        }),
    )
}

/// A cross-signing key of `session`'s user for `usage` (`master`,
/// `self_signing`, `user_signing`).
pub(crate) fn cross_signing_key(session: &Session, signer: &Signer, usage: &str) -> Value {
    json!({
        "user_id": session.user_id,
        "usage": [usage],
        "keys": {format!("ed25519:{}", signer.public): signer.public},
    })
}

pub(crate) fn one_time_key(session: &Session, signer: &Signer, n: u8, fallback: bool) -> Value {
    let mut key = json!({"key": b64(&[n; 32])});
    if fallback {
        key["fallback"] = json!(true);
    }
    signer.sign(&session.user_id, key)
}

async fn upload(s: &TestServer, session: &Session, body: Value) -> crate::common::Answer {
    s.post("/_matrix/client/v3/keys/upload", Some(&session.token), body).await
}

async fn keys_are_uploaded_queried_and_claimed(backend: Backend) {
    let s = TestServer::new(backend).await;
    let alice = s.register("alice", "pw").await;
    let bob = s.register("bob", "pw").await;
    let signer = Signer::new(Some(&alice.device_id));
    let answer = upload(
        &s,
        &alice,
        json!({
            "device_keys": device_keys(&alice, &signer),
            "one_time_keys": {
                "signed_curve25519:AAAAAQ": one_time_key(&alice, &signer, 1, false),
                "signed_curve25519:AAAAAg": one_time_key(&alice, &signer, 2, false),
            },
            "fallback_keys": {
                "signed_curve25519:AAAAAw": one_time_key(&alice, &signer, 3, true),
            },
        }),
    )
    .await
    .ok();
    assert_eq!(answer["one_time_key_counts"]["signed_curve25519"], 2);
    let sync = s.sync(&alice.token, None, 0).await;
    assert_eq!(sync["device_one_time_keys_count"]["signed_curve25519"], 2);
    assert_eq!(sync["device_unused_fallback_key_types"], json!(["signed_curve25519"]));

    let query = json!({"device_keys": {alice.user_id.clone(): []}});
    let found = s.post("/_matrix/client/v3/keys/query", Some(&bob.token), query).await.ok();
    let device = &found["device_keys"][&alice.user_id][&alice.device_id];
    assert_eq!(device["keys"][format!("ed25519:{}", alice.device_id)], signer.public);
    assert!(device["signatures"][&alice.user_id].is_object());

    let claim = json!({"one_time_keys": {alice.user_id.clone(): {alice.device_id.clone(): "signed_curve25519"}}});
    let mut claimed = Vec::new();
    for _ in 0..3 {
        let answer =
            s.post("/_matrix/client/v3/keys/claim", Some(&bob.token), claim.clone()).await.ok();
        let keys = answer["one_time_keys"][&alice.user_id][&alice.device_id]
            .as_object()
            .expect("a key")
            .clone();
        claimed.push(keys.keys().next().expect("key id").clone());
    }
    // Two one-time keys, each once, then the fallback key.
    assert_eq!(
        claimed,
        ["signed_curve25519:AAAAAQ", "signed_curve25519:AAAAAg", "signed_curve25519:AAAAAw"]
    );
    let sync = s.sync(&alice.token, None, 0).await;
    assert_eq!(sync["device_one_time_keys_count"]["signed_curve25519"], 0);
    assert_eq!(sync["device_unused_fallback_key_types"], json!([]));
}

async fn bad_key_uploads_change_nothing(backend: Backend) {
    let s = TestServer::new(backend).await;
    let alice = s.register("alice", "pw").await;
    let stranger = Signer::new(Some(&alice.device_id));
    let signer = Signer::new(Some(&alice.device_id));
    // Signed by another key than the one it declares.
    let mut forged = device_keys(&alice, &signer);
    forged["signatures"] = device_keys(&alice, &stranger)["signatures"].clone();
    upload(&s, &alice, json!({"device_keys": forged})).await.err(400, "M_INVALID_PARAM");
    // Keys for another device.
    let mut elsewhere = alice.clone();
    elsewhere.device_id = "OTHERDEVICE".into();
    let other = Signer::new(Some("OTHERDEVICE"));
    upload(&s, &alice, json!({"device_keys": device_keys(&elsewhere, &other)}))
        .await
        .err(400, "M_INVALID_PARAM");
    // A signed one-time key needs the device's signature.
    upload(&s, &alice, json!({"device_keys": device_keys(&alice, &signer)})).await.ok();
    let unsigned = json!({"one_time_keys": {"signed_curve25519:AAAAAQ": {"key": b64(&[1; 32])}}});
    upload(&s, &alice, unsigned).await.err(400, "M_INVALID_PARAM");
    let wrong = json!({"one_time_keys": {"signed_curve25519:AAAAAQ": one_time_key(&alice, &stranger, 1, false)}});
    upload(&s, &alice, wrong).await.err(400, "M_INVALID_PARAM");
    // The device's identity cannot be swapped.
    upload(&s, &alice, json!({"device_keys": device_keys(&alice, &stranger)}))
        .await
        .err(400, "M_INVALID_PARAM");
    let counts = upload(&s, &alice, json!({})).await.ok();
    assert_eq!(counts["one_time_key_counts"]["signed_curve25519"], 0, "nothing was stored");
    let query = json!({"device_keys": {alice.user_id.clone(): []}});
    let found = s.post("/_matrix/client/v3/keys/query", Some(&alice.token), query).await.ok();
    let device = &found["device_keys"][&alice.user_id][&alice.device_id];
    assert_eq!(device["keys"][format!("ed25519:{}", alice.device_id)], signer.public);
}

async fn to_device_messages_arrive_once_per_transaction(backend: Backend) {
    let s = TestServer::new(backend).await;
    let alice = s.register("alice", "pw").await;
    let bob = s.register("bob", "pw").await;
    let first = s.sync(&alice.token, None, 0).await;
    let since = first["next_batch"].as_str().expect("token").to_owned();
    let body = json!({"messages": {alice.user_id.clone(): {alice.device_id.clone(): {"ciphertext": "opaque"}}}});
    for _ in 0..2 {
        s.put(
            "/_matrix/client/v3/sendToDevice/m.room.encrypted/txn1",
            Some(&bob.token),
            body.clone(),
        )
        .await
        .ok();
    }
    let to_all = json!({"messages": {alice.user_id.clone(): {"*": {"hello": "all"}}}});
    s.put("/_matrix/client/v3/sendToDevice/org.example.ping/txn2", Some(&bob.token), to_all)
        .await
        .ok();

    let got = s.sync(&alice.token, Some(&since), 10_000).await;
    let events = got["to_device"]["events"].as_array().expect("events").clone();
    assert_eq!(events.len(), 2, "one message per transaction: {events:?}");
    assert_eq!(events[0]["type"], "m.room.encrypted");
    assert_eq!(events[0]["sender"], bob.user_id);
    assert_eq!(events[0]["content"]["ciphertext"], "opaque");
    assert_eq!(events[1]["content"]["hello"], "all");
    // Not acknowledged yet: the same token gets them again.
    let again = s.sync(&alice.token, Some(&since), 0).await;
    assert_eq!(again["to_device"]["events"].as_array().map(Vec::len), Some(2));
    // The next token acknowledges them: gone.
    let next = got["next_batch"].as_str().expect("token");
    let after = s.sync(&alice.token, Some(next), 0).await;
    assert!(after["to_device"]["events"].as_array().is_none_or(Vec::is_empty));
}

async fn device_list_changes_reach_room_members(backend: Backend) {
    let s = TestServer::new(backend).await;
    let alice = s.register("alice", "pw").await;
    let bob = s.register("bob", "pw").await;
    let room = s.create_room(&alice.token, json!({"preset": "public_chat"})).await;
    let before_join =
        s.sync(&bob.token, None, 0).await["next_batch"].as_str().expect("t").to_owned();
    s.join(&bob.token, &room).await.ok();
    // Joining a room makes its members new to Bob.
    let joined = s.sync(&bob.token, Some(&before_join), 0).await;
    assert!(
        joined["device_lists"]["changed"]
            .as_array()
            .expect("changed")
            .contains(&json!(alice.user_id))
    );
    let since = joined["next_batch"].as_str().expect("token").to_owned();

    // Alice logs in on a new device and uploads its keys: Bob's long poll wakes.
    let phone = crate::common::session_from(&s.login("alice", "pw", Some("PHONE")).await.ok());
    let signer = Signer::new(Some("PHONE"));
    let waiting = {
        let url = format!("{}/_matrix/client/v3/sync?since={since}&timeout=10000", s.url());
        let request = s.http().get(url).bearer_auth(&bob.token);
        tokio::spawn(async move {
            request.send().await.expect("sync").json::<Value>().await.expect("json")
        })
    };
    upload(&s, &phone, json!({"device_keys": device_keys(&phone, &signer)})).await.ok();
    let woke = waiting.await.expect("sync task");
    assert_eq!(woke["device_lists"]["changed"], json!([alice.user_id]));
    let next = woke["next_batch"].as_str().expect("token").to_owned();
    let changes = s
        .get(&format!("/_matrix/client/v3/keys/changes?from={since}&to={next}"), Some(&bob.token))
        .await
        .ok();
    assert_eq!(changes["changed"], json!([alice.user_id]));

    // Alice leaves: Bob no longer shares a room with her.
    s.post(&format!("/_matrix/client/v3/rooms/{room}/leave"), Some(&alice.token), json!({}))
        .await
        .ok();
    let left = s.sync(&bob.token, Some(&next), 0).await;
    assert_eq!(left["device_lists"]["left"], json!([alice.user_id]));
}

async fn cross_signing_keys_and_signatures(backend: Backend) {
    let s = TestServer::new(backend).await;
    let alice = s.register("alice", "pw").await;
    let device = Signer::new(Some(&alice.device_id));
    upload(&s, &alice, json!({"device_keys": device_keys(&alice, &device)})).await.ok();
    let master = Signer::new(None);
    let self_signing = Signer::new(None);
    let cross_key = |signer: &Signer, usage: &str| cross_signing_key(&alice, signer, usage);
    let master_key = cross_key(&master, "master");
    let self_key = master.sign(&alice.user_id, cross_key(&self_signing, "self_signing"));
    // Not signed by the master key: refused.
    let unsigned = json!({"master_key": master_key, "self_signing_key": cross_key(&self_signing, "self_signing")});
    s.post("/_matrix/client/v3/keys/device_signing/upload", Some(&alice.token), unsigned)
        .await
        .err(400, "M_INVALID_PARAM");
    // The first upload needs no password; later ones do.
    let body = json!({"master_key": master_key, "self_signing_key": self_key});
    s.post("/_matrix/client/v3/keys/device_signing/upload", Some(&alice.token), body.clone())
        .await
        .ok();
    let again =
        s.post("/_matrix/client/v3/keys/device_signing/upload", Some(&alice.token), body).await;
    assert_eq!(again.status, 401);
    assert!(again.body["flows"].is_array());

    // Alice's self-signing key vouches for her device.
    let signed_device = self_signing.sign(&alice.user_id, device_keys(&alice, &device));
    let upload_signatures =
        json!({alice.user_id.clone(): {alice.device_id.clone(): signed_device}});
    let answer = s
        .post("/_matrix/client/v3/keys/signatures/upload", Some(&alice.token), upload_signatures)
        .await
        .ok();
    assert!(answer["failures"].as_object().is_none_or(|f| f.is_empty()), "{answer}");
    let bob = s.register("bob", "pw").await;
    let query = json!({"device_keys": {alice.user_id.clone(): []}});
    let found = s.post("/_matrix/client/v3/keys/query", Some(&bob.token), query).await.ok();
    assert_eq!(
        found["master_keys"][&alice.user_id]["keys"][format!("ed25519:{}", master.public)],
        master.public
    );
    assert!(found["self_signing_keys"][&alice.user_id].is_object());
    assert!(found["user_signing_keys"].get(&alice.user_id).is_none());
    let signatures =
        &found["device_keys"][&alice.user_id][&alice.device_id]["signatures"][&alice.user_id];
    assert!(signatures[format!("ed25519:{}", self_signing.public)].is_string(), "{signatures}");
    // A signature by a key Alice does not have is refused.
    let mut bare = device_keys(&alice, &device);
    bare.as_object_mut().expect("object").remove("signatures");
    let forged = Signer::new(None).sign(&alice.user_id, bare);
    let answer = s
        .post(
            "/_matrix/client/v3/keys/signatures/upload",
            Some(&alice.token),
            json!({alice.user_id.clone(): {alice.device_id.clone(): forged}}),
        )
        .await
        .ok();
    assert_eq!(
        answer["failures"][&alice.user_id][&alice.device_id]["errcode"],
        "M_INVALID_SIGNATURE"
    );
}

async fn key_backups_keep_the_best_copy(backend: Backend) {
    let s = TestServer::new(backend).await;
    let alice = s.register("alice", "pw").await;
    let token = Some(alice.token.as_str());
    s.get("/_matrix/client/v3/room_keys/version", token).await.err(404, "M_NOT_FOUND");
    let algorithm = json!({"algorithm": "m.megolm_backup.v1.curve25519-aes-sha2", "auth_data": {"public_key": "abc"}});
    let created =
        s.post("/_matrix/client/v3/room_keys/version", token, algorithm.clone()).await.ok();
    let version = created["version"].as_str().expect("version").to_owned();
    let key = |index: u64, forwarded: u64, verified: bool, data: &str| {
        json!({
            "first_message_index": index, "forwarded_count": forwarded, "is_verified": verified,
            "session_data": {"ephemeral": b64(data.as_bytes()), "ciphertext": b64(data.as_bytes()), "mac": b64(data.as_bytes())},
        })
    };
    let path =
        format!("/_matrix/client/v3/room_keys/keys/!room:localhost/session1?version={version}");
    let put = s.put(&path, token, key(5, 0, false, "first")).await.ok();
    assert_eq!(put["count"], 1);
    let etag = put["etag"].clone();
    // A copy that starts later does not replace the stored one...
    s.put(&path, token, key(9, 0, false, "later")).await.ok();
    assert_eq!(s.get(&path, token).await.ok()["session_data"]["ciphertext"], b64(b"first"));
    // ...a verified one does.
    let put = s.put(&path, token, key(9, 0, true, "verified")).await.ok();
    assert_ne!(put["etag"], etag);
    assert_eq!(s.get(&path, token).await.ok()["session_data"]["ciphertext"], b64(b"verified"));
    let info = s.get("/_matrix/client/v3/room_keys/version", token).await.ok();
    assert_eq!(
        (info["version"].as_str(), info["count"].as_u64()),
        (Some(version.as_str()), Some(1))
    );
    assert_eq!(info["auth_data"]["public_key"], "abc");

    // A newer version makes the old one read-only for writes.
    let newer = s.post("/_matrix/client/v3/room_keys/version", token, algorithm).await.ok();
    let stale = s.put(&path, token, key(0, 0, true, "stale")).await;
    let body = stale.err(403, "M_WRONG_ROOM_KEYS_VERSION");
    assert_eq!(body["current_version"], newer["version"]);
    let all =
        s.get(&format!("/_matrix/client/v3/room_keys/keys?version={version}"), token).await.ok();
    assert!(all["rooms"]["!room:localhost"]["sessions"]["session1"].is_object());
    let deleted = s
        .delete(&format!("/_matrix/client/v3/room_keys/keys?version={version}"), token, None)
        .await
        .ok();
    assert_eq!(deleted["count"], 0);
    s.delete(&format!("/_matrix/client/v3/room_keys/version/{version}"), token, None).await.ok();
    s.get(&format!("/_matrix/client/v3/room_keys/version/{version}"), token)
        .await
        .err(404, "M_NOT_FOUND");
}
