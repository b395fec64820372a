//! Pushers: where a user's notifications are pushed.

use std::time::Duration;

use serde_json::{Value, json};
use tokio::sync::mpsc;
use wiremock::{Mock, MockServer, Respond, ResponseTemplate, matchers};

use crate::{
    backend_tests,
    common::{Backend, Session, TestServer},
};

backend_tests!(
    pushers_round_trip_and_move_between_users,
    pusher_gateways_are_checked,
    notifications_reach_the_gateway_and_the_list,
    a_rejected_pushkey_loses_its_pusher,
    reading_updates_the_badge,
    sealed_pushers_keep_pushing,
);

const SET: &str = "/_matrix/client/v3/pushers/set";
const LIST: &str = "/_matrix/client/v3/pushers";
const GATEWAY: &str = "http://127.0.0.1:9/_matrix/push/v1/notify";

fn pusher(pushkey: &str, url: &str) -> Value {
    json!({
        "kind": "http", "app_id": "org.example.app", "pushkey": pushkey,
        "app_display_name": "Example", "device_display_name": "Phone", "lang": "en",
        "data": {"url": url, "format": "event_id_only"},
    })
}

async fn pushkeys(s: &TestServer, who: &Session) -> Vec<String> {
    let listed = s.get(LIST, Some(&who.token)).await.ok();
    listed["pushers"]
        .as_array()
        .expect("pushers is a list")
        .iter()
        .filter_map(|p| p["pushkey"].as_str().map(str::to_owned))
        .collect()
}

/// A server whose push gateways may sit on this host (the tests' mock).
async fn server(backend: Backend) -> TestServer {
    TestServer::start(backend, |c| {
        c.push.allowed_ranges = vec!["127.0.0.0/8".parse().expect("net")]
    })
    .await
}

async fn pushers_round_trip_and_move_between_users(backend: Backend) {
    let s = server(backend).await;
    let alice = s.register("alice", "pw").await;
    let bob = s.register("bob", "pw").await;
    s.get(LIST, None).await.err(401, "M_MISSING_TOKEN");
    assert_eq!(s.get(LIST, Some(&alice.token)).await.ok(), json!({"pushers": []}));

    s.post(SET, Some(&alice.token), pusher("key-1", GATEWAY)).await.ok();
    let listed = s.get(LIST, Some(&alice.token)).await.ok();
    let stored = &listed["pushers"][0];
    for field in ["kind", "app_id", "pushkey", "app_display_name", "device_display_name", "lang"] {
        assert_eq!(stored[field], pusher("key-1", GATEWAY)[field], "{field}");
    }
    assert_eq!(stored["data"]["url"], GATEWAY);
    assert_eq!(stored["data"]["format"], "event_id_only");
    assert!(pushkeys(&s, &bob).await.is_empty(), "pushers are per user");

    // Set again: replaced, not doubled.
    let mut renamed = pusher("key-1", GATEWAY);
    renamed["device_display_name"] = json!("Tablet");
    s.post(SET, Some(&alice.token), renamed).await.ok();
    let listed = s.get(LIST, Some(&alice.token)).await.ok();
    assert_eq!(listed["pushers"].as_array().map(Vec::len), Some(1));
    assert_eq!(listed["pushers"][0]["device_display_name"], "Tablet");

    // The same device signing in as bob takes the pushkey with it...
    s.post(SET, Some(&bob.token), pusher("key-1", GATEWAY)).await.ok();
    assert!(pushkeys(&s, &alice).await.is_empty());
    assert_eq!(pushkeys(&s, &bob).await, ["key-1"]);
    // ...unless told to append.
    let mut shared = pusher("key-1", GATEWAY);
    shared["append"] = json!(true);
    s.post(SET, Some(&alice.token), shared).await.ok();
    assert_eq!(pushkeys(&s, &alice).await, ["key-1"]);
    assert_eq!(pushkeys(&s, &bob).await, ["key-1"]);

    // kind null removes it.
    s.post(
        SET,
        Some(&bob.token),
        json!({"kind": null, "app_id": "org.example.app", "pushkey": "key-1"}),
    )
    .await
    .ok();
    assert!(pushkeys(&s, &bob).await.is_empty());

    // A pusher goes with the device that set it.
    s.post(SET, Some(&alice.token), pusher("key-2", GATEWAY)).await.ok();
    assert_eq!(pushkeys(&s, &alice).await, ["key-1", "key-2"]);
    s.post("/_matrix/client/v3/logout", Some(&alice.token), json!({})).await.ok();
    let again = s.login("alice", "pw", None).await.ok();
    let alice = crate::common::session_from(&again);
    assert!(pushkeys(&s, &alice).await.is_empty());
}

async fn pusher_gateways_are_checked(backend: Backend) {
    let s = TestServer::new(backend).await;
    let alice = s.register("alice", "pw").await;
    let refused = [
        // Private addresses, by literal or by name, unless the operator allows them.
        pusher("k", "http://127.0.0.1:9/_matrix/push/v1/notify"),
        pusher("k", "http://[::1]:9/_matrix/push/v1/notify"),
        pusher("k", "http://localhost:9/_matrix/push/v1/notify"),
        pusher("k", "http://10.1.2.3/_matrix/push/v1/notify"),
        // Not a push gateway's URL.
        pusher("k", "https://push.example.org/somewhere/else"),
        pusher("k", "ftp://push.example.org/_matrix/push/v1/notify"),
        pusher("k", "not a url"),
    ];
    for body in refused {
        let url = body["data"]["url"].clone();
        let answer = s.post(SET, Some(&alice.token), body).await;
        assert_eq!(answer.errcode(), "M_INVALID_PARAM", "{url}");
    }
    let mut long_app = pusher("k", GATEWAY);
    long_app["app_id"] = json!("a".repeat(65));
    s.post(SET, Some(&alice.token), long_app).await.err(400, "M_INVALID_PARAM");
    let mut long_key = pusher(&"k".repeat(513), GATEWAY);
    long_key["app_id"] = json!("org.example.app");
    s.post(SET, Some(&alice.token), long_key).await.err(400, "M_INVALID_PARAM");
    let mut email = pusher("k", GATEWAY);
    email["kind"] = json!("email");
    email["pushkey"] = json!("alice@example.org");
    s.post(SET, Some(&alice.token), email).await.err(400, "M_INVALID_PARAM");
    let mut no_url = pusher("k", GATEWAY);
    no_url["data"] = json!({});
    s.post(SET, Some(&alice.token), no_url).await.err(400, "M_BAD_JSON");
    assert!(pushkeys(&s, &alice).await.is_empty(), "nothing was stored");
}

/// A push gateway that answers `answer` to every notification and hands
/// each one it receives to the test.
struct Gateway {
    server: MockServer,
    received: tokio::sync::Mutex<mpsc::UnboundedReceiver<Value>>,
}

struct Forward {
    to: mpsc::UnboundedSender<Value>,
    answer: Value,
}

impl Respond for Forward {
    fn respond(&self, request: &wiremock::Request) -> ResponseTemplate {
        let _ = self.to.send(request.body_json().unwrap_or_default());
        ResponseTemplate::new(200).set_body_json(&self.answer)
    }
}

async fn gateway(answer: Value) -> Gateway {
    let server = MockServer::start().await;
    let (to, received) = mpsc::unbounded_channel();
    Mock::given(matchers::method("POST"))
        .and(matchers::path("/_matrix/push/v1/notify"))
        .respond_with(Forward { to, answer })
        .mount(&server)
        .await;
    Gateway { server, received: tokio::sync::Mutex::new(received) }
}

impl Gateway {
    fn uri(&self) -> String {
        self.server.uri()
    }

    /// The next notification the gateway receives.
    async fn next(&self) -> Value {
        let mut received = self.received.lock().await;
        tokio::time::timeout(Duration::from_secs(10), received.recv())
            .await
            .expect("the gateway received a notification in time")
            .expect("the gateway is running")
    }
}

/// Alice and bob in a room, bob with a pusher at `gateway`.
async fn room_with_pusher(s: &TestServer, gateway: &Gateway) -> (Session, Session, String) {
    let alice = s.register("alice", "pw").await;
    let bob = s.register("bob", "pw").await;
    let room = s.create_room(&alice.token, json!({"preset": "private_chat"})).await;
    s.invite(&alice.token, &room, &bob.user_id).await.ok();
    s.join(&bob.token, &room).await.ok();
    let url = format!("{}/_matrix/push/v1/notify", gateway.uri());
    let mut body = pusher("bob-phone", &url);
    body["data"]["org.example.extra"] = json!("kept");
    s.post(SET, Some(&bob.token), body).await.ok();
    (alice, bob, room)
}

async fn notifications_reach_the_gateway_and_the_list(backend: Backend) {
    let s = server(backend).await;
    let gateway = gateway(json!({"rejected": []})).await;
    let (alice, bob, room) = room_with_pusher(&s, &gateway).await;

    let hello = s.send_text(&alice.token, &room, "hello").await;
    let sent = &gateway.next().await["notification"];
    assert_eq!(sent["event_id"], hello);
    assert_eq!(sent["room_id"], room);
    assert_eq!(sent["counts"]["unread"], 1);
    assert_eq!(sent["prio"], "low");
    assert_eq!(sent["devices"][0]["app_id"], "org.example.app");
    assert_eq!(sent["devices"][0]["pushkey"], "bob-phone");
    let data = &sent["devices"][0]["data"];
    assert_eq!(data["format"], "event_id_only");
    assert_eq!(data["org.example.extra"], "kept");
    assert!(data.get("url").is_none(), "the gateway's own URL is not sent to it");
    assert!(sent.get("content").is_none(), "event_id_only sends no content");

    // A mention is a highlight: high priority, and the tweaks say so.
    let path = format!("/_matrix/client/v3/rooms/{room}/send/m.room.message/mention");
    let mention = json!({"msgtype": "m.text", "body": "bob: look", "m.mentions": {"user_ids": [bob.user_id]}});
    let mention = s.put(&path, Some(&alice.token), mention).await.ok()["event_id"].clone();
    let sent = &gateway.next().await["notification"];
    assert_eq!(sent["event_id"], mention);
    assert_eq!(sent["prio"], "high");
    assert_eq!(sent["counts"]["unread"], 2);
    assert_eq!(sent["devices"][0]["tweaks"]["highlight"], true);

    let list = s.get("/_matrix/client/v3/notifications", Some(&bob.token)).await.ok();
    let ids: Vec<&Value> = list["notifications"]
        .as_array()
        .expect("list")
        .iter()
        .map(|n| &n["event"]["event_id"])
        .collect();
    assert_eq!(ids, [&mention, &json!(hello)], "newest first");
    assert_eq!(list["notifications"][0]["read"], false);
    assert_eq!(list["notifications"][0]["room_id"], room);
    let highlights =
        s.get("/_matrix/client/v3/notifications?only=highlight", Some(&bob.token)).await.ok();
    assert_eq!(highlights["notifications"].as_array().map(Vec::len), Some(1));
    let page = s.get("/_matrix/client/v3/notifications?limit=1", Some(&bob.token)).await.ok();
    let next = page["next_token"].as_str().expect("a next page");
    let rest = s
        .get(&format!("/_matrix/client/v3/notifications?from={next}"), Some(&bob.token))
        .await
        .ok();
    assert_eq!(rest["notifications"][0]["event"]["event_id"], hello);
    s.get("/_matrix/client/v3/notifications?from=nope", Some(&bob.token))
        .await
        .err(400, "M_INVALID_PARAM");

    // Bob's own message notifies nobody he is, and reads the room up to it.
    s.send_text(&bob.token, &room, "hi alice").await;
    let list = s.get("/_matrix/client/v3/notifications", Some(&bob.token)).await.ok();
    let after: Vec<&Value> = list["notifications"]
        .as_array()
        .expect("list")
        .iter()
        .map(|n| &n["event"]["event_id"])
        .collect();
    assert_eq!(after, [&mention, &json!(hello)]);
    assert!(list["notifications"].as_array().expect("list").iter().all(|n| n["read"] == true));
}

async fn a_rejected_pushkey_loses_its_pusher(backend: Backend) {
    let s = server(backend).await;
    let gateway = gateway(json!({"rejected": ["bob-phone"]})).await;
    let (alice, bob, room) = room_with_pusher(&s, &gateway).await;
    let sent = send_to_rejecting_gateway(&s, &gateway, &alice, &room).await;
    assert_eq!(sent["notification"]["devices"][0]["pushkey"], "bob-phone", "{sent}");
    assert!(pushkeys(&s, &bob).await.is_empty(), "the rejected pusher was kept");
}

/// Alice sends into `room`; the gateway's notification, once the pusher
/// it rejected was removed.
async fn send_to_rejecting_gateway(
    s: &TestServer,
    gateway: &Gateway,
    alice: &Session,
    room: &str,
) -> Value {
    let mut rejected = s.services().push_sender.rejected_pushers();
    s.send_text(&alice.token, room, "hello").await;
    let sent = gateway.next().await;
    // The removal follows the gateway's answer: wait for it, with a deadline.
    let removed = rejected.wait_for(|count| *count >= 1);
    tokio::time::timeout(Duration::from_secs(10), removed)
        .await
        .expect("the rejected pusher was removed in time")
        .expect("the push sender runs");
    sent
}

async fn reading_updates_the_badge(backend: Backend) {
    let s = server(backend).await;
    let gateway = gateway(json!({"rejected": []})).await;
    let (alice, bob, room) = room_with_pusher(&s, &gateway).await;
    s.send_text(&alice.token, &room, "one").await;
    let two = s.send_text(&alice.token, &room, "two").await;
    gateway.next().await;
    assert_eq!(gateway.next().await["notification"]["counts"]["unread"], 2);

    // Bob reads on one device: his other devices' badges drop to zero.
    let receipt = format!("/_matrix/client/v3/rooms/{room}/receipt/m.read/{two}");
    s.post(&receipt, Some(&bob.token), json!({})).await.ok();
    let badge = &gateway.next().await["notification"];
    assert_eq!(badge["counts"]["unread"], 0);
    assert!(badge.get("event_id").is_none(), "a badge update names no event: {badge}");
    assert_eq!(badge["devices"][0]["pushkey"], "bob-phone");
}

/// With an at-rest key, pushers set before are sealed at the next start
/// (their pushkeys kept only as keyed hashes); they are listed and push as
/// before, and a gateway's rejection still finds and removes them.
async fn sealed_pushers_keep_pushing(backend: Backend) {
    let keys = tempfile::tempdir().expect("folder");
    let mut s = server(backend).await;
    let gateway = gateway(json!({"rejected": ["bob-phone"]})).await;
    let (alice, bob, room) = room_with_pusher(&s, &gateway).await;
    let stored = |s: &TestServer| {
        let store = s.services().store.clone();
        async move { store.stored_pushers().await.expect("read") }
    };
    assert!(
        stored(&s)
            .await
            .iter()
            .all(|(.., key, pusher)| key == "bob-phone" && pusher.contains("bob-phone"))
    );

    s.stop().await;
    let key = keys.path().join("at-rest.key");
    std::fs::write(&key, "7c".repeat(32)).expect("key");
    s.config_mut().encryption.key_file = Some(key);
    s.start_again().await;
    for (.., key, pusher) in stored(&s).await {
        assert!(!key.contains("bob-phone") && !pusher.contains("bob-phone"), "{key} {pusher}");
    }
    assert_eq!(pushkeys(&s, &bob).await, ["bob-phone"]);
    let listed = s.get(LIST, Some(&bob.token)).await.ok();
    assert_eq!(listed["pushers"][0]["data"]["org.example.extra"], "kept");

    let sent = send_to_rejecting_gateway(&s, &gateway, &alice, &room).await;
    assert_eq!(sent["notification"]["devices"][0]["pushkey"], "bob-phone", "{sent}");
    assert!(pushkeys(&s, &bob).await.is_empty(), "the rejected pusher was kept");

    // Set anew under the key, and removed by naming its pushkey.
    let url = format!("{}/_matrix/push/v1/notify", gateway.uri());
    s.post(SET, Some(&bob.token), pusher("bob-tablet", &url)).await.ok();
    assert!(
        stored(&s)
            .await
            .iter()
            .all(|(.., key, p)| !key.contains("bob-tablet") && !p.contains("bob-tablet"))
    );
    let remove = json!({"kind": null, "app_id": "org.example.app", "pushkey": "bob-tablet"});
    s.post(SET, Some(&bob.token), remove).await.ok();
    assert!(stored(&s).await.is_empty());
    s.stop().await;
}
