//! Several instances on one PostgreSQL database are one server: users on
//! either talk in the same rooms, a long poll on one wakes for a send on
//! the other, typing and to-device messages cross, a room is written by one
//! instance at a time (no forked history), and a logout on one ends the
//! token on the other. PostgreSQL only: SQLite belongs to one process.

use serde_json::{Value, json};

use crate::common::{Backend, Session, TestServer};

/// Two instances of one server, or None (with a note) without PostgreSQL.
async fn two_instances() -> Option<(TestServer, TestServer)> {
    if !lattice_homeserver::testing::postgres_available() {
        eprintln!("skipped: TEST_POSTGRES_URL is not set");
        return None;
    }
    let a = TestServer::new(Backend::Postgres).await;
    let b = a.another_instance().await;
    Some((a, b))
}

fn next_batch(sync: &Value) -> String {
    sync["next_batch"].as_str().expect("next_batch").to_owned()
}

fn timeline(sync: &Value, room: &str) -> Vec<String> {
    TestServer::bodies(&sync["rooms"]["join"][room]["timeline"]["events"])
}

/// A room made by alice on `a` that bob, on `b`, joined.
async fn shared_room(a: &TestServer, b: &TestServer) -> (Session, Session, String) {
    let alice = a.register("alice", "pw").await;
    let bob = b.register("bob", "pw").await;
    let room = a.create_room(&alice.token, json!({"preset": "public_chat"})).await;
    b.join(&bob.token, &room).await.ok();
    (alice, bob, room)
}

#[tokio::test]
async fn a_long_poll_on_one_instance_wakes_for_a_send_on_the_other() {
    let Some((a, b)) = two_instances().await else { return };
    let (alice, bob, room) = shared_room(&a, &b).await;
    let since = next_batch(&b.sync(&bob.token, None, 0).await);

    // Bob waits on instance B; alice sends on instance A.
    let waiting = b.sync(&bob.token, Some(&since), 60_000);
    let send = async {
        tokio::task::yield_now().await;
        a.send_text(&alice.token, &room, "hello from A").await
    };
    let (synced, _) = tokio::join!(waiting, send);
    assert_eq!(timeline(&synced, &room), ["hello from A"]);

    // And back: alice waits on A for bob's answer sent on B (the room's
    // writer moves to B for it, and back to A for alice's next message).
    let since = next_batch(&a.sync(&alice.token, None, 0).await);
    let waiting = a.sync(&alice.token, Some(&since), 60_000);
    let send = async {
        tokio::task::yield_now().await;
        b.send_text(&bob.token, &room, "hello from B").await
    };
    let (synced, _) = tokio::join!(waiting, send);
    assert_eq!(timeline(&synced, &room), ["hello from B"]);
    a.send_text(&alice.token, &room, "and again from A").await;
    let page = b
        .get(&format!("/_matrix/client/v3/rooms/{room}/messages?dir=b&limit=3"), Some(&bob.token))
        .await
        .ok();
    assert_eq!(
        TestServer::bodies(&page["chunk"]),
        ["and again from A", "hello from B", "hello from A"]
    );
}

#[tokio::test]
async fn senders_on_both_instances_share_one_history() {
    let Some((a, b)) = two_instances().await else { return };
    let (alice, bob, room) = shared_room(&a, &b).await;
    const EACH: usize = 25;
    async fn sends(server: &TestServer, who: &Session, room: &str, name: &str) {
        for n in 0..EACH {
            server.send_text(&who.token, room, &format!("{name} {n}")).await;
        }
    }
    // Both at once: the room's writer goes back and forth between them.
    tokio::join!(sends(&a, &alice, &room, "alice"), sends(&b, &bob, &room, "bob"));

    let path = format!("/_matrix/client/v3/rooms/{room}/messages?dir=f&limit=200");
    let from_a = TestServer::bodies(&a.get(&path, Some(&alice.token)).await.ok()["chunk"]);
    let from_b = TestServer::bodies(&b.get(&path, Some(&bob.token)).await.ok()["chunk"]);
    assert_eq!(from_a.len(), 2 * EACH, "every acknowledged message is stored: {from_a:?}");
    assert_eq!(from_a, from_b, "both instances tell the same history");
    for name in ["alice", "bob"] {
        let own: Vec<_> = from_a.iter().filter(|body| body.starts_with(name)).cloned().collect();
        let sent: Vec<_> = (0..EACH).map(|n| format!("{name} {n}")).collect();
        assert_eq!(own, sent, "{name}'s messages in the order sent");
    }
    // One writer at a time: a chain, never two branches.
    let extremities = a.services().store.forward_extremities(&room).await.expect("extremities");
    assert_eq!(extremities.len(), 1, "the room's history did not fork: {extremities:?}");
}

#[tokio::test]
async fn typing_and_to_device_messages_cross_instances() {
    let Some((a, b)) = two_instances().await else { return };
    let (alice, bob, room) = shared_room(&a, &b).await;
    let since = next_batch(&b.sync(&bob.token, None, 0).await);

    let typing = format!("/_matrix/client/v3/rooms/{room}/typing/{}", alice.user_id);
    let waiting = b.sync(&bob.token, Some(&since), 60_000);
    let start = async {
        tokio::task::yield_now().await;
        a.put(&typing, Some(&alice.token), json!({"typing": true, "timeout": 30000})).await.ok()
    };
    let (synced, _) = tokio::join!(waiting, start);
    let notice = synced["rooms"]["join"][&room]["ephemeral"]["events"]
        .as_array()
        .and_then(|events| events.iter().find(|e| e["type"] == "m.typing"))
        .cloned()
        .expect("bob's sync on B shows alice typing on A");
    assert_eq!(notice["content"]["user_ids"], json!([alice.user_id]));

    let since = next_batch(&synced);
    let path = "/_matrix/client/v3/sendToDevice/org.example.ping/txn1";
    let body = json!({"messages": {&bob.user_id: {&bob.device_id: {"n": 1}}}});
    let waiting = b.sync(&bob.token, Some(&since), 60_000);
    let send = async {
        tokio::task::yield_now().await;
        a.put(path, Some(&alice.token), body.clone()).await.ok()
    };
    let (synced, _) = tokio::join!(waiting, send);
    let events = synced["to_device"]["events"].as_array().cloned().unwrap_or_default();
    assert_eq!(events.len(), 1, "{synced}");
    assert_eq!(events[0]["sender"], alice.user_id.as_str());
    assert_eq!(events[0]["content"]["n"], 1);
}

#[tokio::test]
async fn a_logout_on_one_instance_ends_the_token_on_the_other() {
    let Some((a, b)) = two_instances().await else { return };
    let alice = a.register("alice", "pw").await;
    // Used on B first, so that B has the token in its cache.
    b.get("/_matrix/client/v3/account/whoami", Some(&alice.token)).await.ok();
    a.post("/_matrix/client/v3/logout", Some(&alice.token), json!({})).await.ok();
    // The cache would trust it for half a minute: the other instance said it ended.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let answer = b.get("/_matrix/client/v3/account/whoami", Some(&alice.token)).await;
        if answer.status == reqwest::StatusCode::UNAUTHORIZED {
            assert_eq!(answer.errcode(), "M_UNKNOWN_TOKEN");
            break;
        }
        assert!(std::time::Instant::now() < deadline, "B still accepts the ended token");
        tokio::task::yield_now().await;
    }
}

#[tokio::test]
async fn a_name_in_use_by_a_running_instance_is_refused() {
    let Some((a, _b)) = two_instances().await else { return };
    let mut config = a.config().clone();
    config.server.data_dir = tempfile::tempdir().expect("dir").keep();
    // A's name: the host name, as neither test instance set one.
    let refused = lattice_homeserver::Server::new(config).await.err().expect("refused");
    assert!(refused.to_string().contains("instance_name"), "{refused}");
}

#[tokio::test]
async fn a_stopping_instance_drains_before_it_stops_accepting() {
    let mut s = TestServer::start(Backend::Sqlite, |c| c.cluster.drain_seconds = 3).await;
    let (http, url) = (s.http().clone(), s.url().to_owned());
    assert_eq!(http.get(format!("{url}/ready")).send().await.expect("ready").status(), 200);
    let probe = async {
        // Told to stop: no longer ready, but still answering while the
        // load balancer moves on.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(3);
        loop {
            let ready = http.get(format!("{url}/ready")).send().await.expect("ready");
            if ready.status() == reqwest::StatusCode::SERVICE_UNAVAILABLE {
                break;
            }
            assert!(std::time::Instant::now() < deadline, "/ready never said it was stopping");
            tokio::task::yield_now().await;
        }
        let versions = http.get(format!("{url}/_matrix/client/versions")).send().await;
        assert_eq!(versions.expect("still serving").status(), 200);
    };
    tokio::join!(s.stop(), probe);
}

#[tokio::test]
async fn three_instances_share_state_receipts_and_device_keys() {
    let Some((a, b)) = two_instances().await else { return };
    let c = a.another_instance().await;
    let alice = a.register("alice", "pw").await;
    let bob = b.register("bob", "pw").await;
    let carol = c.register("carol", "pw").await;
    let room = a.create_room(&alice.token, json!({"preset": "public_chat"})).await;
    b.join(&bob.token, &room).await.ok();
    c.join(&carol.token, &room).await.ok();
    let carol_since = next_batch(&c.sync(&carol.token, None, 0).await);
    let alice_since = next_batch(&a.sync(&alice.token, None, 0).await);
    let (ar, cr, alice_r, carol_r) = (&a, &c, &alice, &carol);

    // State set on A reaches a member syncing on C.
    let name = format!("/_matrix/client/v3/rooms/{room}/state/m.room.name/");
    a.put(&name, Some(&alice.token), json!({"name": "Three of us"})).await.ok();
    let named = crate::common::sync_from(
        Some(carol_since.clone()),
        |since| async move { cr.sync(&carol_r.token, since.as_deref(), 5_000).await },
        |sync| {
            sync["rooms"]["join"][&room]["timeline"]["events"]
                .as_array()
                .is_some_and(|events| events.iter().any(|e| e["type"] == "m.room.name"))
        },
    )
    .await;
    assert_eq!(timeline(&named, &room).len(), 0, "a state change, no message");

    // A message sent on C, read by bob on B: alice on A sees bob's receipt.
    let event = c.send_text(&carol.token, &room, "hello from C").await;
    let receipt = format!("/_matrix/client/v3/rooms/{room}/receipt/m.read/{event}");
    b.post(&receipt, Some(&bob.token), json!({})).await.ok();
    crate::common::sync_from(
        Some(alice_since),
        |since| async move { ar.sync(&alice_r.token, since.as_deref(), 5_000).await },
        |sync| {
            sync["rooms"]["join"][&room]["ephemeral"]["events"].as_array().is_some_and(|events| {
                events.iter().any(|e| {
                    e["type"] == "m.receipt"
                        && e["content"][&event]["m.read"][&bob.user_id].is_object()
                })
            })
        },
    )
    .await;

    // Keys uploaded on B: queried and claimed on A, and carol's sync on C
    // hears that bob's devices changed.
    let signer = crate::keys::Signer::new(Some(&bob.device_id));
    let upload = json!({
        "device_keys": crate::keys::device_keys(&bob, &signer),
        "one_time_keys": {"signed_curve25519:AAAAAQ": crate::keys::one_time_key(&bob, &signer, 1, false)},
    });
    b.post("/_matrix/client/v3/keys/upload", Some(&bob.token), upload).await.ok();
    let query = json!({"device_keys": {&bob.user_id: []}});
    let found = a.post("/_matrix/client/v3/keys/query", Some(&alice.token), query).await.ok();
    assert_eq!(found["device_keys"][&bob.user_id][&bob.device_id]["device_id"], bob.device_id);
    let claim = json!({"one_time_keys": {&bob.user_id: {&bob.device_id: "signed_curve25519"}}});
    let claimed = a.post("/_matrix/client/v3/keys/claim", Some(&alice.token), claim).await.ok();
    assert!(claimed["one_time_keys"][&bob.user_id][&bob.device_id].is_object(), "{claimed}");
    crate::common::sync_from(
        Some(carol_since),
        |since| async move { cr.sync(&carol_r.token, since.as_deref(), 5_000).await },
        |sync| {
            sync["device_lists"]["changed"]
                .as_array()
                .is_some_and(|users| users.iter().any(|u| u == &bob.user_id))
        },
    )
    .await;
}

/// What a load balancer does, in a line: the next instance in turn that
/// says it is ready.
async fn ready_instance(http: &reqwest::Client, urls: &[String], turn: usize) -> String {
    for i in 0..urls.len() {
        let url = &urls[(turn + i) % urls.len()];
        let ready = http.get(format!("{url}/ready")).send().await;
        if ready.is_ok_and(|answer| answer.status().is_success()) {
            return url.clone();
        }
    }
    panic!("no instance is ready");
}

#[tokio::test]
async fn a_rolling_restart_fails_no_request() {
    if !lattice_homeserver::testing::postgres_available() {
        eprintln!("skipped: TEST_POSTGRES_URL is not set");
        return;
    }
    let mut a = TestServer::start(Backend::Postgres, |c| c.cluster.drain_seconds = 2).await;
    let b = a.another_instance().await;
    let alice = a.register("alice", "pw").await;
    let room = a.create_room(&alice.token, json!({"preset": "public_chat"})).await;
    let urls =
        std::sync::Arc::new(std::sync::Mutex::new(vec![a.url().to_owned(), b.url().to_owned()]));
    let sent = std::sync::Arc::new(std::sync::Mutex::new(Vec::<usize>::new()));
    let progress = std::sync::Arc::new(tokio::sync::Notify::new());
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));

    // One client sending through the balancer, the whole time.
    let client = {
        let (http, token, room) = (a.http().clone(), alice.token.clone(), room.clone());
        let (urls, sent, progress, stop) =
            (urls.clone(), sent.clone(), progress.clone(), stop.clone());
        tokio::spawn(async move {
            let mut n = 0;
            while !stop.load(std::sync::atomic::Ordering::Acquire) {
                let known = urls.lock().expect("urls").clone();
                let url = ready_instance(&http, &known, n).await;
                let path = format!("{url}/_matrix/client/v3/rooms/{room}/send/m.room.message/r{n}");
                let answer = http
                    .put(path)
                    .bearer_auth(&token)
                    .json(&json!({"msgtype": "m.text", "body": format!("{n}")}))
                    .send()
                    .await
                    .unwrap_or_else(|e| panic!("message {n} through {url} failed: {e}"));
                assert!(answer.status().is_success(), "message {n}: {}", answer.status());
                sent.lock().expect("sent").push(n);
                progress.notify_waiters();
                n += 1;
            }
        })
    };
    let reach = |count: usize| {
        let (sent, progress) = (sent.clone(), progress.clone());
        async move {
            loop {
                let waiting = progress.notified();
                if sent.lock().expect("sent").len() >= count {
                    return;
                }
                waiting.await;
            }
        }
    };
    reach(20).await;
    // A is restarted under the load: it drains, stops, starts again elsewhere.
    a.stop().await;
    let during = sent.lock().expect("sent").len();
    a.start_again().await;
    urls.lock().expect("urls")[0] = a.url().to_owned();
    reach(during + 20).await;
    stop.store(true, std::sync::atomic::Ordering::Release);
    client.await.expect("no request failed");

    let sent = sent.lock().expect("sent").clone();
    let path = format!("/_matrix/client/v3/rooms/{room}/messages?dir=f&limit=1000");
    let stored = TestServer::bodies(&b.get(&path, Some(&alice.token)).await.ok()["chunk"]);
    let expected: Vec<String> = sent.iter().map(|n| n.to_string()).collect();
    assert_eq!(stored, expected, "every message, once, in order");
}
