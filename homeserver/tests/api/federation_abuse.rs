//! A peer that misbehaves: server C is in the room, but what it sends is
//! crafted by hand here, signed with C's real key (a compromised server).
//! Nothing it sends may change the room beyond what its users may do.

use lattice_federation::federation::transactions::send_transaction_message;
use lattice_homeserver::services::{
    rooms::{EventDraft, builder},
    server_key::ServerKey,
};
use ruma::{OwnedServerName, RoomId, ServerName, UserId};
use serde_json::{Value, json};

use crate::common::{
    Backend, Session, TestServer,
    federation::{TestCa, client_as, federate, free_port, server, server_on},
};

/// Signs `draft` as `sender` on top of `rogue`'s view of the room, skipping
/// the authorization a well-behaved server would run.
pub(crate) async fn forge(
    rogue: &TestServer,
    room_id: &str,
    sender: &str,
    draft: EventDraft,
) -> Value {
    forge_edited(rogue, room_id, sender, draft, |_| {}).await.1
}

/// [`forge`], with `edit` changing the event before it is hashed and
/// signed; the event id and the event.
pub(crate) async fn forge_edited(
    rogue: &TestServer,
    room_id: &str,
    sender: &str,
    draft: EventDraft,
    edit: impl FnOnce(&mut Value),
) -> (String, Value) {
    let key = ServerKey::load_or_create(&rogue.services().store).await.expect("key");
    let room_id = RoomId::parse(room_id).expect("room id");
    let sender = UserId::parse(sender).expect("user id");
    let (event, rules) = rogue
        .services()
        .rooms
        .with_head(&room_id, |head| {
            (builder::template(head, Some(&room_id), &sender, draft), head.rules.clone())
        })
        .await
        .expect("head");
    let name = ServerName::parse(rogue.name()).expect("name");
    let mut event = event.expect("template");
    edit(&mut event);
    let pdu = builder::sign_event(event, Some(&room_id), &rules, &name, &key).expect("signed");
    (pdu.event_id.to_string(), serde_json::from_str(&pdu.to_stored()).expect("json"))
}

/// Sends a transaction to `target` in `origin`'s name, signed with the
/// rogue server's key.
async fn push(
    ca: &TestCa,
    rogue: &TestServer,
    origin: &str,
    target: &TestServer,
    pdus: Vec<Value>,
    edus: Vec<Value>,
) -> Result<send_transaction_message::v1::Response, lattice_federation::Error> {
    let key = ServerKey::load_or_create(&rogue.services().store).await.expect("key");
    push_as(ca, &key, &rogue.name(), origin, target, pdus, edus).await
}

/// [`push`] with the rogue's key and name given (for a rogue no longer
/// running).
pub(crate) async fn push_as(
    ca: &TestCa,
    key: &ServerKey,
    rogue_name: &str,
    origin: &str,
    target: &TestServer,
    pdus: Vec<Value>,
    edus: Vec<Value>,
) -> Result<send_transaction_message::v1::Response, lattice_federation::Error> {
    let origin = OwnedServerName::try_from(origin).expect("origin");
    let client = client_as(ca, key, rogue_name);
    let mut request = send_transaction_message::v1::Request::new(
        format!("forged{}", rand_suffix()).into(),
        origin,
        ruma::MilliSecondsSinceUnixEpoch::now(),
    );
    for pdu in pdus {
        request.pdus.push(serde_json::value::to_raw_value(&pdu).expect("raw"));
    }
    for edu in edus {
        request
            .edus
            .push(ruma::serde::Raw::from_json(serde_json::value::to_raw_value(&edu).expect("raw")));
    }
    client.send(&ServerName::parse(target.name()).expect("name"), request).await
}

fn rand_suffix() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
}

pub(crate) async fn power_levels(server: &TestServer, session: &Session, room_id: &str) -> Value {
    let path = format!("/_matrix/client/v3/rooms/{room_id}/state/m.room.power_levels/");
    server.get(&path, Some(&session.token)).await.ok()
}

async fn forged_events_change_nothing(backend: Backend) {
    let ca = TestCa::new();
    let a = server(backend, &ca).await;
    // The rogue server is named by its IP address, which ACLs can deny.
    let c = server_on(backend, &ca, "127.0.0.1").await;
    let alice = a.register("alice", "correct horse").await;
    let mallory = c.register("mallory", "mischief managed").await;
    let room_id = a
        .create_room(&alice.token, json!({"preset": "public_chat", "room_alias_name": "abuse"}))
        .await;
    c.join(&mallory.token, &format!("#abuse:{}", a.name())).await.ok();
    let before = power_levels(&a, &alice, &room_id).await;

    // Mallory (power 0) raises himself to 100.
    let mut raised = before.clone();
    raised["users"][&mallory.user_id] = json!(100);
    let pl =
        forge(&c, &room_id, &mallory.user_id, EventDraft::state("m.room.power_levels", "", raised))
            .await;
    // A message in alice's name, signed only by C.
    let impostor = forge(
        &c,
        &room_id,
        &alice.user_id,
        EventDraft::message("m.room.message", json!({"msgtype": "m.text", "body": "I am alice"})),
    )
    .await;
    // A message whose signature no longer matches (sender changed after signing).
    let mut tampered = forge(
        &c,
        &room_id,
        &mallory.user_id,
        EventDraft::message("m.room.message", json!({"msgtype": "m.text", "body": "tampered"})),
    )
    .await;
    tampered["origin_server_ts"] = json!(1);
    // Over the 64 KiB PDU limit.
    let huge = {
        let mut event = forge(
            &c,
            &room_id,
            &mallory.user_id,
            EventDraft::message("m.room.message", json!({"msgtype": "m.text", "body": "x"})),
        )
        .await;
        event["content"]["body"] = json!("x".repeat(70_000));
        event
    };
    let answer = push(&ca, &c, &c.name(), &a, vec![pl, impostor, tampered, huge], vec![])
        .await
        .expect("the transaction itself is accepted");
    assert!(!answer.pdus.is_empty(), "A reports on the PDUs it could identify");
    assert!(
        answer.pdus.values().all(|result| result.is_err()),
        "every forged PDU is refused: {:?}",
        answer.pdus
    );
    assert_eq!(power_levels(&a, &alice, &room_id).await, before, "power levels unchanged");
    let messages = a
        .get(
            &format!("/_matrix/client/v3/rooms/{room_id}/messages?dir=b&limit=50"),
            Some(&alice.token),
        )
        .await
        .ok();
    let bodies = TestServer::bodies(&messages["chunk"]);
    assert!(
        !bodies.iter().any(|b| b == "I am alice" || b == "tampered"),
        "no forged message shown: {bodies:?}"
    );

    // A transaction claiming to come from A itself, signed by C.
    let spoofed = push(&ca, &c, &a.name(), &a, vec![], vec![]).await;
    assert!(spoofed.is_err(), "a transaction in another server's name is refused");

    // A typing notice for alice, sent by C: dropped.
    let typing = json!({"edu_type": "m.typing", "content": {"room_id": room_id, "user_id": alice.user_id, "typing": true}});
    push(&ca, &c, &c.name(), &a, vec![], vec![typing]).await.expect("accepted, then ignored");
    let typing_now = typing_users(&a, &alice, &room_id).await;
    assert!(typing_now.is_empty(), "nobody types: {typing_now:?}");

    // Mallory's own, allowed message still gets through.
    let fine = forge(
        &c,
        &room_id,
        &mallory.user_id,
        EventDraft::message("m.room.message", json!({"msgtype": "m.text", "body": "legit"})),
    )
    .await;
    let answer = push(&ca, &c, &c.name(), &a, vec![fine], vec![]).await.expect("sent");
    assert!(
        answer.pdus.values().all(|r| r.is_ok()),
        "an allowed event is accepted: {:?}",
        answer.pdus
    );

    // C's typing notices for its own user show, while the ACL allows C.
    let typing = |on: bool| json!({"edu_type": "m.typing", "content": {"room_id": room_id, "user_id": mallory.user_id, "typing": on}});
    push(&ca, &c, &c.name(), &a, vec![], vec![typing(true)]).await.expect("sent");
    assert_eq!(typing_users(&a, &alice, &room_id).await, [json!(mallory.user_id)]);
    push(&ca, &c, &c.name(), &a, vec![], vec![typing(false)]).await.expect("sent");
    assert!(typing_users(&a, &alice, &room_id).await.is_empty());

    // Once the room's server ACL denies IP-literal servers, nothing of C's gets in.
    let acl = json!({"allow": ["*"], "deny": [], "allow_ip_literals": false});
    let path = format!("/_matrix/client/v3/rooms/{room_id}/state/m.room.server_acl/");
    a.put(&path, Some(&alice.token), acl).await.ok();
    let message = json!({"msgtype": "m.text", "body": "after the ACL"});
    let after_acl =
        forge(&c, &room_id, &mallory.user_id, EventDraft::message("m.room.message", message)).await;
    let answer = push(&ca, &c, &c.name(), &a, vec![after_acl], vec![]).await.expect("sent");
    assert!(answer.pdus.values().all(|r| r.is_err()), "denied server refused: {:?}", answer.pdus);
    let path = format!("/_matrix/client/v3/rooms/{room_id}/messages?dir=b&limit=50");
    let messages = a.get(&path, Some(&alice.token)).await.ok();
    assert!(!TestServer::bodies(&messages["chunk"]).contains(&"after the ACL".to_owned()));
    // Nor its EDUs about the room: a typing notice and a read receipt.
    let event_id = messages["chunk"][0]["event_id"].as_str().expect("an event").to_owned();
    let receipt = json!({"edu_type": "m.receipt", "content": {&room_id: {"m.read": {&mallory.user_id: {"event_ids": [event_id], "data": {"ts": 1}}}}}});
    push(&ca, &c, &c.name(), &a, vec![], vec![typing(true), receipt]).await.expect("sent");
    assert!(typing_users(&a, &alice, &room_id).await.is_empty(), "a denied server's typing");
    let sync = a.sync(&alice.token, None, 0).await;
    let ephemeral = sync["rooms"]["join"][&room_id]["ephemeral"]["events"].to_string();
    assert!(!ephemeral.contains(&mallory.user_id), "a denied server's receipt: {ephemeral}");
}

/// Who types in `room_id`, as `session` syncs it.
async fn typing_users(server: &TestServer, session: &Session, room_id: &str) -> Vec<Value> {
    let sync = server.sync(&session.token, None, 0).await;
    let ephemeral = &sync["rooms"]["join"][room_id]["ephemeral"]["events"];
    ephemeral
        .as_array()
        .into_iter()
        .flatten()
        .filter(|e| e["type"] == "m.typing")
        .flat_map(|e| e["content"]["user_ids"].as_array().cloned().unwrap_or_default())
        .collect()
}

/// A server that accepts connections and never answers: requests to it
/// give up after `federation.request_timeout`, and nothing changes here.
async fn a_silent_server_times_out_and_changes_nothing(backend: Backend) {
    let ca = TestCa::new();
    let port = free_port();
    let a = TestServer::start(backend, |config| {
        federate(config, &ca, "localhost", port);
        config.federation.request_timeout = 1;
    })
    .await;
    let silent = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let silent_port = silent.local_addr().expect("address").port();
    std::thread::spawn(move || {
        // Hold every connection open, say nothing.
        let held: Vec<_> = silent.incoming().collect();
        drop(held);
    });
    let alice = a.register("alice", "correct horse").await;
    let room_id = a.create_room(&alice.token, json!({"preset": "private_chat"})).await;
    let ghost = format!("@ghost:localhost:{silent_port}");
    let started = std::time::Instant::now();
    let answer = a.invite(&alice.token, &room_id, &ghost).await;
    assert_eq!(answer.status.as_u16(), 502, "{}", answer.body);
    assert!(started.elapsed() < std::time::Duration::from_secs(20), "gave up in time");
    let path = format!("/_matrix/client/v3/rooms/{room_id}/state/m.room.member/{ghost}");
    a.get(&path, Some(&alice.token)).await.err(404, "M_NOT_FOUND");
    let alias = format!("#anything:localhost:{silent_port}");
    assert_eq!(a.join(&alice.token, &alias).await.status.as_u16(), 502);
    // The server still serves its own users.
    a.send_text(&alice.token, &room_id, "still here").await;
}

crate::backend_tests!(forged_events_change_nothing, a_silent_server_times_out_and_changes_nothing);
