//! Delayed events (MSC4140), as Element Call uses them: an event scheduled
//! for later, kept alive by restarts, cancelled or sent at once, sent by
//! the server when due (after a restart too), and dropped when the state
//! it would write was written since.

use serde_json::{Value, json};

use crate::{
    backend_tests,
    common::{Backend, Session, TestServer},
};

backend_tests!(
    a_delayed_message_is_sent_when_due,
    waiting_events_are_restarted_cancelled_or_sent_now,
    limits_and_refusals,
    overtaken_state_is_not_sent,
    a_restart_does_not_lose_a_waiting_event,
);

const MSC: &str = "/_matrix/client/unstable/org.matrix.msc4140";

fn send_path(room: &str, txn: &str, delay_ms: u64) -> String {
    format!(
        "/_matrix/client/v3/rooms/{room}/send/m.room.message/{txn}?org.matrix.msc4140.delay={delay_ms}"
    )
}

fn call_member_path(room: &str, key: &str, delay_ms: Option<u64>) -> String {
    let path =
        format!("/_matrix/client/v3/rooms/{room}/state/org.matrix.msc3401.call.member/{key}");
    match delay_ms {
        Some(delay) => format!("{path}?org.matrix.msc4140.delay={delay}"),
        None => path,
    }
}

async fn waiting(s: &TestServer, who: &Session) -> Vec<Value> {
    let listed = s.get(&format!("{MSC}/delayed_events"), Some(&who.token)).await.ok();
    listed["delayed_events"].as_array().cloned().unwrap_or_default()
}

fn text(body: &str) -> Value {
    json!({"msgtype": "m.text", "body": body})
}

/// Waits, by syncing, until `body` arrives in `room`.
async fn until_message(s: &TestServer, who: &Session, room: &str, body: &str) {
    s.sync_until(who, |sync| {
        TestServer::bodies(&sync["rooms"]["join"][room]["timeline"]["events"])
            .iter()
            .any(|b| b == body)
    })
    .await;
}

async fn a_delayed_message_is_sent_when_due(backend: Backend) {
    let s = TestServer::new(backend).await;
    let alice = s.register("alice", "pw").await;
    let room = s.create_room(&alice.token, json!({})).await;
    let versions = s.get("/_matrix/client/versions", None).await.ok();
    assert_eq!(versions["unstable_features"]["org.matrix.msc4140"], true);

    let scheduled = s.put(&send_path(&room, "t1", 300), Some(&alice.token), text("later")).await;
    let scheduled = scheduled.ok();
    let delay_id = scheduled["delay_id"].as_str().expect("delay_id").to_owned();
    assert!(scheduled.get("event_id").is_none());
    // A retry of the same transaction is the same delayed event.
    let retried = s.put(&send_path(&room, "t1", 300), Some(&alice.token), text("later")).await;
    assert_eq!(retried.ok()["delay_id"], delay_id.as_str());
    let listed = waiting(&s, &alice).await;
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["delay_id"], delay_id.as_str());
    assert_eq!(listed[0]["room_id"], room.as_str());
    assert_eq!(listed[0]["type"], "m.room.message");
    assert_eq!(listed[0]["delay"], 300);
    assert_eq!(listed[0]["content"]["body"], "later");

    until_message(&s, &alice, &room, "later").await;
    // Events are sent one after another and forgotten once sent: when the
    // next one arrives, the first is gone from the list.
    s.put(&send_path(&room, "t2", 100), Some(&alice.token), text("next")).await.ok();
    until_message(&s, &alice, &room, "next").await;
    let ids: Vec<Value> = waiting(&s, &alice).await.iter().map(|e| e["delay_id"].clone()).collect();
    assert!(!ids.contains(&json!(delay_id)), "sent events are no longer waiting");
}

async fn waiting_events_are_restarted_cancelled_or_sent_now(backend: Backend) {
    let s = TestServer::new(backend).await;
    let alice = s.register("alice", "pw").await;
    let bob = s.register("bob", "pw").await;
    let room = s.create_room(&alice.token, json!({"preset": "public_chat"})).await;
    s.join(&bob.token, &room).await.ok();
    let key = format!("_{}_PHONE", alice.user_id);
    let hangup = json!({});

    // "Left the call", an hour away, restarted like a heartbeat.
    let path = call_member_path(&room, &key, Some(3_600_000));
    let delay_id = s.put(&path, Some(&alice.token), hangup.clone()).await.ok()["delay_id"]
        .as_str()
        .expect("delay_id")
        .to_owned();
    let before = waiting(&s, &alice).await[0]["running_since"].as_i64().expect("running_since");
    let update = format!("{MSC}/delayed_events/{delay_id}");
    s.post(&update, Some(&alice.token), json!({"action": "restart"})).await.ok();
    let after = waiting(&s, &alice).await[0]["running_since"].as_i64().expect("running_since");
    assert!(after >= before);
    assert_eq!(waiting(&s, &alice).await[0]["state_key"], key.as_str());
    // Someone else's event is not found, whoever asks.
    s.post(&update, Some(&bob.token), json!({"action": "cancel"})).await.err(404, "M_NOT_FOUND");
    s.post(&update, Some(&alice.token), json!({"action": "explode"}))
        .await
        .err(400, "M_INVALID_PARAM");

    // Sent at once: the state is there.
    s.post(&update, Some(&alice.token), json!({"action": "send"})).await.ok();
    let state = s.get(&call_member_path(&room, &key, None), Some(&bob.token)).await.ok();
    assert_eq!(state, hangup);
    assert!(waiting(&s, &alice).await.is_empty());
    s.post(&update, Some(&alice.token), json!({"action": "send"})).await.err(404, "M_NOT_FOUND");

    // Scheduled through the MSC's own endpoint, cancelled through the
    // token-less form (the delay id is the key).
    let schedule = format!("{MSC}/rooms/{room}/delayed_event/m.room.message/t2");
    let body = json!({"delay": 3_600_000, "content": text("never")});
    let second = s.put(&schedule, Some(&alice.token), body).await;
    let second = second.ok()["delay_id"].as_str().expect("delay_id").to_owned();
    assert_eq!(waiting(&s, &alice).await[0]["content"]["body"], "never");
    let cancel = format!("{MSC}/delayed_events/{second}/cancel");
    s.post(&cancel, None, json!({})).await.ok();
    assert!(waiting(&s, &alice).await.is_empty());
    s.post(&cancel, None, json!({})).await.err(404, "M_NOT_FOUND");
}

async fn limits_and_refusals(backend: Backend) {
    let s = TestServer::start(backend, |config| config.delayed_events.max_per_user = 2).await;
    let alice = s.register("alice", "pw").await;
    let bob = s.register("bob", "pw").await;
    let room = s.create_room(&alice.token, json!({})).await;

    let too_long = s.put(&send_path(&room, "a", 86_400_001), Some(&alice.token), text("x")).await;
    assert_eq!(too_long.status, 400);
    assert_eq!(too_long.body["errcode"], "M_MAX_DELAY_EXCEEDED");
    assert_eq!(too_long.body["max_delay"], 86_400_000);
    s.put(&send_path(&room, "b", 0), Some(&alice.token), text("x"))
        .await
        .err(400, "M_INVALID_PARAM");
    // Sharing a parent's timer is not offered: refused, not sent at once.
    let child = format!(
        "/_matrix/client/v3/rooms/{room}/send/m.room.message/g?org.matrix.msc4140.parent_delay_id=x"
    );
    s.put(&child, Some(&alice.token), text("x")).await.err(400, "M_INVALID_PARAM");
    s.put(&send_path(&room, "c", 1000), Some(&bob.token), text("x")).await.err(403, "M_FORBIDDEN");
    s.put(&send_path(&room, "d", 60_000), Some(&alice.token), text("x")).await.ok();
    s.put(&send_path(&room, "e", 60_000), Some(&alice.token), text("x")).await.ok();
    let third = s.put(&send_path(&room, "f", 60_000), Some(&alice.token), text("x")).await;
    assert_eq!(third.status, 429, "{:?}", third.body);
    s.get(&format!("{MSC}/delayed_events"), None).await.err(401, "M_MISSING_TOKEN");

    // Switched off: the parameter is refused and not advertised.
    let off = TestServer::start(backend, |config| {
        config.delayed_events.max_delay = std::time::Duration::ZERO;
    })
    .await;
    let carol = off.register("carol", "pw").await;
    let room = off.create_room(&carol.token, json!({})).await;
    let refused = off.put(&send_path(&room, "a", 1000), Some(&carol.token), text("x")).await;
    refused.err(404, "M_UNRECOGNIZED");
    let versions = off.get("/_matrix/client/versions", None).await.ok();
    assert_eq!(versions["unstable_features"]["org.matrix.msc4140"], false);
}

async fn overtaken_state_is_not_sent(backend: Backend) {
    let s = TestServer::new(backend).await;
    let alice = s.register("alice", "pw").await;
    let room = s.create_room(&alice.token, json!({})).await;
    let key = "_call_member";
    let path = call_member_path(&room, key, Some(200));
    s.put(&path, Some(&alice.token), json!({"left": true})).await.ok();
    // The member writes the state again before the delayed event is due.
    let now = call_member_path(&room, key, None);
    s.put(&now, Some(&alice.token), json!({"joined": "again"})).await.ok();
    // Due later than it: once this arrives, the first has been judged.
    s.put(&send_path(&room, "marker", 400), Some(&alice.token), text("marker")).await.ok();
    until_message(&s, &alice, &room, "marker").await;
    let state = s.get(&now, Some(&alice.token)).await.ok();
    assert_eq!(state, json!({"joined": "again"}), "the stale hang-up was dropped");
    // (The marker's own row may still be on its way out: it is sent first.)
    let left = waiting(&s, &alice).await;
    assert!(left.iter().all(|event| event["state_key"].is_null()), "{left:?}");
}

async fn a_restart_does_not_lose_a_waiting_event(backend: Backend) {
    let mut s = TestServer::new(backend).await;
    let alice = s.register("alice", "pw").await;
    let room = s.create_room(&alice.token, json!({})).await;
    s.put(&send_path(&room, "t", 1_000), Some(&alice.token), text("survivor")).await.ok();
    s.restart().await;
    until_message(&s, &alice, &room, "survivor").await;
}
