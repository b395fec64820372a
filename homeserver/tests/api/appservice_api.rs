//! Application services at work: their token acting as their users
//! (identity assertion, registration and login without passwords), and
//! the transactions pushed to them, in order, retried while they are down
//! and never lost across a restart. The service is a wiremock server that
//! hands each request to the test as it arrives.

use std::{
    path::PathBuf,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use serde_json::{Value, json};
use tokio::sync::mpsc;
use wiremock::{Mock, MockServer, Respond, ResponseTemplate, matchers};

use crate::{
    backend_tests,
    common::{Backend, Session, TestServer},
};

backend_tests!(
    the_service_token_acts_as_its_users,
    services_register_and_log_in_their_users,
    transactions_arrive_in_order_through_failures,
    a_pending_transaction_survives_a_restart,
    ephemeral_data_reaches_services_that_ask,
    a_service_pings_itself_through_the_server,
    queries_let_a_service_create_on_demand,
);

pub(crate) const AS_TOKEN: &str = "as-secret-bridge";
pub(crate) const HS_TOKEN: &str = "hs-secret-bridge";

pub(crate) fn registration(url: &str) -> String {
    format!(
        r#"
id: bridge
url: {url}
as_token: {AS_TOKEN}
hs_token: {HS_TOKEN}
sender_localpart: bridgebot
rate_limited: false
namespaces:
  users:
    - exclusive: true
      regex: '@bridge_.*:localhost'
  aliases:
    - exclusive: true
      regex: '#bridge_.*:localhost'
"#
    )
}

/// A server with the bridge registered (pushing to `url`), and the
/// registration file's folder (kept for restarts).
async fn server(backend: Backend, url: &str) -> (TestServer, tempfile::TempDir) {
    server_with(backend, &registration(url)).await
}

/// A server with this registration file installed.
pub(crate) async fn server_with(
    backend: Backend,
    registration: &str,
) -> (TestServer, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("temporary folder");
    let file: PathBuf = dir.path().join("bridge.yaml");
    std::fs::write(&file, registration).expect("registration written");
    let s = TestServer::start(backend, |config| {
        config.appservice.registration_files = vec![file];
    })
    .await;
    (s, dir)
}

fn path_as(path: &str, user: &str) -> String {
    let sep = if path.contains('?') { '&' } else { '?' };
    format!("{path}{sep}user_id={}", user.replace('@', "%40").replace(':', "%3A"))
}

async fn register_virtual(s: &TestServer, localpart: &str) -> crate::common::Answer {
    let body = json!({"type": "m.login.application_service", "username": localpart,
        "inhibit_login": true});
    s.post("/_matrix/client/v3/register", Some(AS_TOKEN), body).await
}

async fn the_service_token_acts_as_its_users(backend: Backend) {
    let (s, _dir) = server(backend, "null").await;
    // Alone, the token is the service's own user, created at start.
    let me = s.get("/_matrix/client/v3/account/whoami", Some(AS_TOKEN)).await.ok();
    assert_eq!(me["user_id"], "@bridgebot:localhost");
    assert!(me.get("device_id").is_none(), "no device unless one is named: {me}");

    let whoami = "/_matrix/client/v3/account/whoami";
    // A user of its namespace it has not registered, and one outside it.
    s.get(&path_as(whoami, "@bridge_alice:localhost"), Some(AS_TOKEN))
        .await
        .err(403, "M_FORBIDDEN");
    let alice = s.register("alice", "pw").await;
    s.get(&path_as(whoami, &alice.user_id), Some(AS_TOKEN)).await.err(403, "M_FORBIDDEN");

    register_virtual(&s, "bridge_alice").await.ok();
    let acting = s.get(&path_as(whoami, "@bridge_alice:localhost"), Some(AS_TOKEN)).await.ok();
    assert_eq!(acting["user_id"], "@bridge_alice:localhost");
    // The token in the query works too (older bridges send it there).
    let query = format!("{whoami}?access_token={AS_TOKEN}&user_id=%40bridge_alice%3Alocalhost");
    assert_eq!(s.get(&query, None).await.ok()["user_id"], "@bridge_alice:localhost");
    // A device the user does not have.
    let device = format!("{}&device_id=NOPE", path_as(whoami, "@bridge_alice:localhost"));
    s.get(&device, Some(AS_TOKEN)).await.err(400, "M_UNKNOWN_DEVICE");

    // What the service does as its user is the user's doing.
    let room = s.create_room(&alice.token, json!({"preset": "public_chat"})).await;
    let join = format!("/_matrix/client/v3/join/{room}");
    s.post(&path_as(&join, "@bridge_alice:localhost"), Some(AS_TOKEN), json!({})).await.ok();
    let send = format!("/_matrix/client/v3/rooms/{room}/send/m.room.message/t1");
    let sent = s
        .put(
            &path_as(&send, "@bridge_alice:localhost"),
            Some(AS_TOKEN),
            json!({"msgtype": "m.text", "body": "from the bridge"}),
        )
        .await
        .ok();
    let event = format!(
        "/_matrix/client/v3/rooms/{room}/event/{}",
        sent["event_id"].as_str().unwrap_or_default()
    );
    let event = s.get(&event, Some(&alice.token)).await.ok();
    assert_eq!(event["sender"], "@bridge_alice:localhost");
    assert_eq!(event["content"]["body"], "from the bridge");
    // Its aliases are its own: a room of Alice's cannot take one.
    let taken = json!({"room_alias_name": "bridge_portal"});
    s.post("/_matrix/client/v3/createRoom", Some(&alice.token), taken.clone())
        .await
        .err(400, "M_EXCLUSIVE");
    s.post("/_matrix/client/v3/createRoom", Some(AS_TOKEN), taken).await.ok();
    // Only the service's token does this: a user's token ignores user_id.
    let own = s.get(&path_as(whoami, "@bridge_alice:localhost"), Some(&alice.token)).await.ok();
    assert_eq!(own["user_id"], alice.user_id);
}

async fn services_register_and_log_in_their_users(backend: Backend) {
    let (s, _dir) = server(backend, "null").await;
    // No password, no interactive auth, even with registration closed to others.
    register_virtual(&s, "bridge_bob").await.ok();
    register_virtual(&s, "bridge_bob").await.err(400, "M_USER_IN_USE");
    // Outside its namespaces.
    register_virtual(&s, "carol").await.err(400, "M_EXCLUSIVE");
    // The type without the service's token.
    let body = json!({"type": "m.login.application_service", "username": "bridge_eve"});
    s.post("/_matrix/client/v3/register", None, body.clone()).await.err(401, "M_MISSING_TOKEN");
    let alice = s.register("alice", "pw").await;
    s.post("/_matrix/client/v3/register", Some(&alice.token), body)
        .await
        .err(401, "M_MISSING_TOKEN");

    // Logging in as its user gives a device the service may then name.
    let login = json!({"type": "m.login.application_service",
        "identifier": {"type": "m.id.user", "user": "bridge_bob"}});
    let session = s.post("/_matrix/client/v3/login", Some(AS_TOKEN), login.clone()).await.ok();
    assert_eq!(session["user_id"], "@bridge_bob:localhost");
    let device = session["device_id"].as_str().expect("device_id").to_owned();
    let whoami = format!(
        "{}&device_id={device}",
        path_as("/_matrix/client/v3/account/whoami", "@bridge_bob:localhost")
    );
    assert_eq!(s.get(&whoami, Some(AS_TOKEN)).await.ok()["device_id"], device.as_str());
    // Not without the token, nor for a user outside its namespaces.
    s.post("/_matrix/client/v3/login", None, login).await.err(401, "M_MISSING_TOKEN");
    let outside = json!({"type": "m.login.application_service",
        "identifier": {"type": "m.id.user", "user": "alice"}});
    s.post("/_matrix/client/v3/login", Some(AS_TOKEN), outside).await.err(400, "M_EXCLUSIVE");
}

/// A transaction as the service received it.
#[derive(Debug)]
pub(crate) struct Received {
    path: String,
    authorization: String,
    pub(crate) body: Value,
    taken: bool,
}

/// The service: answers 500 to the first `failures` transactions (or to
/// all while `down` is set), 200 after; hands each to the test.
struct Service {
    to: mpsc::UnboundedSender<Received>,
    failures: usize,
    seen: AtomicUsize,
    down: Arc<std::sync::atomic::AtomicBool>,
}

impl Respond for Service {
    fn respond(&self, request: &wiremock::Request) -> ResponseTemplate {
        let n = self.seen.fetch_add(1, Ordering::SeqCst);
        let taken = n >= self.failures && !self.down.load(Ordering::SeqCst);
        let authorization = request
            .headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let _ = self.to.send(Received {
            path: request.url.path().to_owned(),
            authorization,
            body: request.body_json().unwrap_or_default(),
            taken,
        });
        match taken {
            true => ResponseTemplate::new(200).set_body_json(json!({})),
            false => ResponseTemplate::new(500).set_body_json(json!({"errcode": "M_UNKNOWN"})),
        }
    }
}

pub(crate) async fn service(
    failures: usize,
) -> (MockServer, mpsc::UnboundedReceiver<Received>, Arc<std::sync::atomic::AtomicBool>) {
    let mock = MockServer::start().await;
    let (to, received) = mpsc::unbounded_channel();
    let down = Arc::new(std::sync::atomic::AtomicBool::new(false));
    Mock::given(matchers::method("PUT"))
        .and(matchers::path_regex("^/_matrix/app/v1/transactions/[0-9]+$"))
        .respond_with(Service { to, failures, seen: AtomicUsize::new(0), down: down.clone() })
        .mount(&mock)
        .await;
    (mock, received, down)
}

pub(crate) async fn next(received: &mut mpsc::UnboundedReceiver<Received>) -> Received {
    tokio::time::timeout(Duration::from_secs(30), received.recv())
        .await
        .expect("the service received a transaction in time")
        .expect("the service is running")
}

fn message_bodies(body: &Value) -> Vec<String> {
    TestServer::bodies(&body["events"])
}

/// Alice's public room with the bridge's user in it: its events concern the service.
pub(crate) async fn bridged_room(s: &TestServer) -> (Session, String) {
    let alice = s.register("alice", "pw").await;
    let room = s.create_room(&alice.token, json!({"preset": "public_chat"})).await;
    register_virtual(s, "bridge_bob").await.ok();
    let join = format!("/_matrix/client/v3/join/{room}");
    s.post(&path_as(&join, "@bridge_bob:localhost"), Some(AS_TOKEN), json!({})).await.ok();
    (alice, room)
}

async fn transactions_arrive_in_order_through_failures(backend: Backend) {
    let (mock, mut received, _down) = service(2).await;
    let (s, _dir) = server(backend, &mock.uri()).await;
    let (alice, room) = bridged_room(&s).await;
    for text in ["one", "two", "three"] {
        s.send_text(&alice.token, &room, text).await;
    }
    // Everything arrives, in order, through two refusals of the first
    // transaction (sent again as it was, same id).
    let mut delivered = Vec::new();
    let mut tries = Vec::new();
    while delivered.len() < 3 {
        let got = next(&mut received).await;
        assert_eq!(got.authorization, format!("Bearer {HS_TOKEN}"), "the hs_token, as a bearer");
        tries.push((got.path.clone(), got.taken));
        // It did not ask for typing notices and receipts: none come.
        assert!(got.body.get("ephemeral").is_none(), "{}", got.body);
        if got.taken {
            delivered.extend(message_bodies(&got.body));
        }
    }
    assert_eq!(delivered, ["one", "two", "three"]);
    assert!(!tries[0].1 && !tries[1].1 && tries[2].1, "{tries:?}");
    assert_eq!(tries[0].0, tries[1].0, "a refused transaction is sent again with its id");
    assert_eq!(tries[1].0, tries[2].0);
    // Events of rooms the service has nothing to do with do not go.
    let other = s.create_room(&alice.token, json!({})).await;
    s.send_text(&alice.token, &other, "private").await;
    s.send_text(&alice.token, &room, "four").await;
    let got = next(&mut received).await;
    assert_eq!(message_bodies(&got.body), ["four"], "{}", got.body);
}

async fn a_pending_transaction_survives_a_restart(backend: Backend) {
    let (mock, mut received, down) = service(0).await;
    let (mut s, _dir) = server(backend, &mock.uri()).await;
    let (alice, room) = bridged_room(&s).await;
    // The service takes its user's join (alone, or after a transaction of
    // the room's first events), then goes down.
    loop {
        let got = next(&mut received).await;
        let joined = got.body["events"].as_array().is_some_and(|events| {
            events.iter().any(|event| event["state_key"] == "@bridge_bob:localhost")
        });
        if got.taken && joined {
            break;
        }
    }
    down.store(true, Ordering::SeqCst);
    s.send_text(&alice.token, &room, "while down").await;
    let refused = loop {
        let got = next(&mut received).await;
        if message_bodies(&got.body).contains(&"while down".to_owned()) {
            break got;
        }
    };
    assert!(!refused.taken);
    // The service sees a request before the server sees its answer; once
    // the same transaction comes again, the refusal has been counted.
    let retried = next(&mut received).await;
    assert_eq!(retried.path, refused.path, "a refused transaction is sent again");
    // The admin API shows the transaction waiting and the failures.
    let admin = s.admin().await;
    let listed = s.get("/_lattice/admin/v1/appservices", Some(&admin.token)).await.ok();
    let bridge = &listed["appservices"][0];
    assert_eq!(bridge["id"], "bridge");
    assert_eq!(bridge["pending_transaction"]["events"], 1, "{listed}");
    assert!(bridge["failures"].as_u64() >= Some(1), "{listed}");
    assert!(bridge["failing_since"].is_i64(), "{listed}");
    s.get("/_lattice/admin/v1/appservices", Some(&alice.token)).await.err(403, "M_FORBIDDEN");
    s.restart().await;
    down.store(false, Ordering::SeqCst);
    // After the restart the same transaction comes again, and is taken.
    let again = loop {
        let got = next(&mut received).await;
        if got.taken {
            break got;
        }
    };
    assert_eq!(again.path, refused.path, "the same transaction id");
    assert_eq!(message_bodies(&again.body), ["while down"]);
    s.send_text(&alice.token, &room, "after").await;
    let after = next(&mut received).await;
    assert_eq!(message_bodies(&after.body), ["after"]);
    assert_ne!(after.path, again.path, "a new transaction, a new id");
}

async fn ephemeral_data_reaches_services_that_ask(backend: Backend) {
    let (mock, mut received, _down) = service(0).await;
    // The MSC2409 name of the setting, as older bridges write it.
    let asking = format!("{}de.sorunome.msc2409.push_ephemeral: true\n", registration(&mock.uri()));
    let (s, _dir) = server_with(backend, &asking).await;
    let (alice, room) = bridged_room(&s).await;
    let event = s.send_text(&alice.token, &room, "read me").await;
    let alice_id = alice.user_id.replace('@', "%40").replace(':', "%3A");
    let typing = format!("/_matrix/client/v3/rooms/{room}/typing/{alice_id}");
    s.put(&typing, Some(&alice.token), json!({"typing": true, "timeout": 30000})).await.ok();
    let receipt = format!("/_matrix/client/v3/rooms/{room}/receipt/m.read/{event}");
    s.post(&receipt, Some(&alice.token), json!({})).await.ok();
    // A private receipt of a user who is not the service's stays private.
    let private = format!("/_matrix/client/v3/rooms/{room}/receipt/m.read.private/{event}");
    s.post(&private, Some(&alice.token), json!({})).await.ok();

    // Alice's presence: she shares a room with the service's user.
    let status = format!("/_matrix/client/v3/presence/{alice_id}/status");
    s.put(&status, Some(&alice.token), json!({"presence": "online", "status_msg": "bridging"}))
        .await
        .ok();

    let (mut typing_seen, mut receipt_seen, mut presence_seen) = (false, false, false);
    while !(typing_seen && receipt_seen && presence_seen) {
        let got = next(&mut received).await;
        let ephemeral = got.body["ephemeral"].as_array().cloned().unwrap_or_default();
        assert_eq!(got.body["de.sorunome.msc2409.ephemeral"], got.body["ephemeral"], "both names");
        for edu in ephemeral {
            if edu["type"] == "m.presence" {
                assert_eq!(edu["sender"], alice.user_id.as_str(), "{edu}");
                presence_seen |= edu["content"]["status_msg"] == "bridging";
                continue;
            }
            assert_eq!(edu["room_id"], room.as_str(), "{edu}");
            match edu["type"].as_str() {
                Some("m.typing") if edu["content"]["user_ids"] == json!([alice.user_id]) => {
                    typing_seen = true;
                }
                Some("m.receipt") => {
                    let read = &edu["content"][&event];
                    if read["m.read"][&alice.user_id]["ts"].is_i64() {
                        receipt_seen = true;
                    }
                    assert!(read.get("m.read.private").is_none(), "{edu}");
                }
                _ => {}
            }
        }
    }
}

async fn a_service_pings_itself_through_the_server(backend: Backend) {
    let mock = MockServer::start().await;
    Mock::given(matchers::method("POST"))
        .and(matchers::path("/_matrix/app/v1/ping"))
        .and(matchers::header("authorization", format!("Bearer {HS_TOKEN}").as_str()))
        .and(matchers::body_json(json!({"transaction_id": "ping-1"})))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({})))
        .expect(1)
        .mount(&mock)
        .await;
    let (s, _dir) = server(backend, &mock.uri()).await;
    let ping = "/_matrix/client/v1/appservice/bridge/ping";
    let answer = s.post(ping, Some(AS_TOKEN), json!({"transaction_id": "ping-1"})).await.ok();
    assert!(answer["duration_ms"].is_u64(), "{answer}");
    // Only the service itself, with its own token.
    s.post("/_matrix/client/v1/appservice/other/ping", Some(AS_TOKEN), json!({}))
        .await
        .err(403, "M_FORBIDDEN");
    let alice = s.register("alice", "pw").await;
    s.post(ping, Some(&alice.token), json!({})).await.err(401, "M_UNKNOWN_TOKEN");
    s.post(ping, None, json!({})).await.err(401, "M_MISSING_TOKEN");
    mock.verify().await;

    // A service that answers with an error, and one without a URL.
    let failing = MockServer::start().await;
    Mock::given(matchers::method("POST"))
        .respond_with(ResponseTemplate::new(503).set_body_string("down for maintenance"))
        .mount(&failing)
        .await;
    let (s, _dir) = server(backend, &failing.uri()).await;
    let bad = s.post(ping, Some(AS_TOKEN), json!({})).await.err(502, "M_BAD_STATUS");
    assert_eq!(bad["status"], 503, "{bad}");
    assert_eq!(bad["body"], "down for maintenance");
    let (s, _dir) = server(backend, "null").await;
    s.post(ping, Some(AS_TOKEN), json!({})).await.err(400, "M_URL_NOT_SET");
}

/// A service that creates what it is asked about: the portal room of an
/// alias, a user of its namespace (through the server's client API, with
/// its token, as a bridge does); `nobody` it refuses. It learns the
/// server's URL (known once the server runs) through the cell.
async fn creating_service() -> (String, Arc<tokio::sync::OnceCell<String>>) {
    use axum::{Json, Router, extract::Path, http::StatusCode, routing::get};
    let server: Arc<tokio::sync::OnceCell<String>> = Arc::default();
    let http = reqwest::Client::new();
    let call = move |server: Arc<tokio::sync::OnceCell<String>>,
                     path: &'static str,
                     body: Value| {
        let http = http.clone();
        async move {
            let base = server.get().cloned().unwrap_or_default();
            let answer =
                http.post(format!("{base}{path}")).bearer_auth(AS_TOKEN).json(&body).send().await;
            match answer {
                Ok(answer) if answer.status().is_success() => (StatusCode::OK, Json(json!({}))),
                _ => (StatusCode::NOT_FOUND, Json(json!({"errcode": "M_NOT_FOUND"}))),
            }
        }
    };
    let (rooms_server, users_server, rooms_call) = (server.clone(), server.clone(), call.clone());
    let app = Router::new()
        .route(
            "/_matrix/app/v1/rooms/{alias}",
            get(move |Path(alias): Path<String>| {
                let name = alias.trim_start_matches('#').split(':').next().unwrap_or_default().to_owned();
                let refused = name.ends_with("nobody");
                let created = rooms_call(
                    rooms_server.clone(),
                    "/_matrix/client/v3/createRoom",
                    json!({"room_alias_name": name, "preset": "public_chat"}),
                );
                async move {
                    match refused {
                        true => (StatusCode::NOT_FOUND, Json(json!({"errcode": "M_NOT_FOUND"}))),
                        false => created.await,
                    }
                }
            }),
        )
        .route(
            "/_matrix/app/v1/users/{user}",
            get(move |Path(user): Path<String>| {
                let name = user.trim_start_matches('@').split(':').next().unwrap_or_default().to_owned();
                let refused = name.ends_with("nobody");
                let registered = call(
                    users_server.clone(),
                    "/_matrix/client/v3/register",
                    json!({"type": "m.login.application_service", "username": name, "inhibit_login": true}),
                );
                async move {
                    match refused {
                        true => (StatusCode::NOT_FOUND, Json(json!({"errcode": "M_NOT_FOUND"}))),
                        false => registered.await,
                    }
                }
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bound");
    let url = format!("http://{}", listener.local_addr().expect("address"));
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (url, server)
}

async fn queries_let_a_service_create_on_demand(backend: Backend) {
    let (service_url, server_url) = creating_service().await;
    let (s, _dir) = server(backend, &service_url).await;
    server_url.set(s.url().to_owned()).expect("set once");
    let alice = s.register("alice", "pw").await;

    // An alias no one made yet: the service makes its portal room.
    let found = s
        .get("/_matrix/client/v3/directory/room/%23bridge_rust%3Alocalhost", Some(&alice.token))
        .await
        .ok();
    let room_id = found["room_id"].as_str().expect("room_id").to_owned();
    let joined = s.join(&alice.token, "#bridge_rust:localhost").await.ok();
    assert_eq!(joined["room_id"], room_id.as_str());
    // One the service refuses, and one outside its namespaces.
    for alias in ["%23bridge_nobody%3Alocalhost", "%23elsewhere%3Alocalhost"] {
        let path = format!("/_matrix/client/v3/directory/room/{alias}");
        s.get(&path, Some(&alice.token)).await.err(404, "M_NOT_FOUND");
    }

    // A user no one registered yet: the service registers them.
    let profile =
        s.get("/_matrix/client/v3/profile/%40bridge_carol%3Alocalhost", Some(&alice.token)).await;
    assert_eq!(profile.status, 200, "{}", profile.body);
    s.get("/_matrix/client/v3/profile/%40bridge_nobody%3Alocalhost", Some(&alice.token))
        .await
        .err(404, "M_NOT_FOUND");
}
