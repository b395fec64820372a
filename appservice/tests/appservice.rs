//! A service built on lattice-appservice, registered with a real Lattice
//! server on 127.0.0.1: it receives transactions (once each, in order,
//! through an outage), acts as its users, creates users and rooms when the
//! homeserver asks, and pings.

use std::{path::PathBuf, time::Duration};

use lattice_appservice::{
    Appservice, Registration, StateStore, registration,
    ruma::{
        OwnedRoomId, UserId,
        api::{
            appservice::event::push_events::v1::EphemeralData, client::room::create_room,
            error::ErrorKind,
        },
        events::{
            AnyMessageLikeEvent, AnyTimelineEvent, MessageLikeEvent,
            room::message::OriginalSyncRoomMessageEvent,
        },
    },
};
use lattice_homeserver::{
    backend_tests,
    testing::{Backend, TestServer},
};
use lattice_sdk::{Client, Room, SyncSettings};
use serde_json::{Value, json};
use tokio::{
    net::TcpListener,
    sync::mpsc::{UnboundedReceiver, unbounded_channel},
};

backend_tests!(
    a_service_hears_its_rooms_and_speaks_as_its_users,
    nothing_is_lost_while_the_service_is_down,
    queries_create_users_and_rooms_on_demand,
);

/// A registration for a service at `url`, owning `@bridge_*` and `#bridge_*`.
fn bridge_registration(url: &str) -> Registration {
    registration::generate(
        "bridge",
        Some(url),
        "bridgebot",
        "@bridge_.*:localhost",
        Some("#bridge_.*:localhost"),
    )
    .expect("registration")
}

/// A Lattice server with `registration` installed (written as YAML, as an
/// operator would), and the folder holding the file.
async fn homeserver(
    backend: Backend,
    registration: &Registration,
) -> (TestServer, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("folder");
    let file: PathBuf = dir.path().join("bridge.yaml");
    let yaml = registration::to_yaml(registration).expect("yaml");
    std::fs::write(&file, yaml).expect("written");
    let server = TestServer::start(backend, |config| {
        config.appservice.registration_files = vec![file];
    })
    .await;
    (server, dir)
}

async fn service(
    server: &TestServer,
    registration: Registration,
    dir: &tempfile::TempDir,
) -> Appservice {
    let store = StateStore::open(dir.path().join("bridge.sqlite")).await.expect("store");
    let name = "localhost".try_into().expect("server name");
    Appservice::new(registration, server.url(), name, store).await.expect("service")
}

/// Events the service hears, as (sender, body) of messages.
fn hear_messages(service: &Appservice) -> UnboundedReceiver<(String, String)> {
    let (heard, hearing) = unbounded_channel();
    service.on_event(move |_, event: AnyTimelineEvent| {
        let heard = heard.clone();
        async move {
            if let AnyTimelineEvent::MessageLike(AnyMessageLikeEvent::RoomMessage(
                MessageLikeEvent::Original(message),
            )) = event
            {
                let _ = heard.send((message.sender.to_string(), message.content.body().to_owned()));
            }
        }
    });
    hearing
}

async fn next<T>(receiver: &mut UnboundedReceiver<T>) -> T {
    tokio::time::timeout(Duration::from_secs(30), receiver.recv())
        .await
        .expect("the service heard it in time")
        .expect("the service runs")
}

async fn user(server: &TestServer, name: &str) -> Client {
    let client = Client::builder().homeserver_url(server.url()).build().await.expect("client");
    client.register(name, "correct horse").await.expect("registered");
    client
}

async fn public_room(client: &Client) -> Room {
    let mut request = create_room::v3::Request::new();
    request.preset = Some(create_room::v3::RoomPreset::PublicChat);
    client.create_room(request).await.expect("room")
}

/// Syncs `client` until a message from `sender` arrives; returns its body.
async fn sync_message(client: &Client, sender: &str) -> String {
    let (seen, mut seeing) = unbounded_channel();
    client.add_event_handler(move |event: OriginalSyncRoomMessageEvent, _: Room| {
        let seen = seen.clone();
        async move {
            let _ = seen.send((event.sender.to_string(), event.content.body().to_owned()));
        }
    });
    let wait = async {
        loop {
            while let Ok((from, body)) = seeing.try_recv() {
                if from == sender {
                    return body;
                }
            }
            client
                .sync_once(SyncSettings::new().timeout(Duration::from_secs(5)))
                .await
                .expect("sync");
        }
    };
    tokio::time::timeout(Duration::from_secs(30), wait).await.expect("the message arrived")
}

async fn a_service_hears_its_rooms_and_speaks_as_its_users(backend: Backend) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("listener");
    let registration =
        bridge_registration(&format!("http://{}", listener.local_addr().expect("address")));
    let (server, dir) = homeserver(backend, &registration).await;
    let service = service(&server, registration, &dir).await;
    let mut heard = hear_messages(&service);
    let (typed, mut typing) = unbounded_channel();
    service.on_ephemeral(move |_, data| {
        let typed = typed.clone();
        async move {
            if let EphemeralData::Typing(notice) = data {
                let _ = typed.send(notice.content.user_ids);
            }
        }
    });
    tokio::spawn(service.clone().serve(listener));

    // Both directions work.
    service.ping_homeserver().await.expect("the homeserver pinged the service");

    let alice = user(&server, "alice").await;
    let room = public_room(&alice).await;
    // A ghost joins by itself (registered on first use) and speaks.
    let bob = service.intent(&UserId::parse("@bridge_bob:localhost").expect("id")).expect("ours");
    bob.set_display_name("Bob (bridged)").await.expect("display name");
    bob.send_text(room.room_id(), "hello from the other side").await.expect("sent");
    assert_eq!(sync_message(&alice, "@bridge_bob:localhost").await, "hello from the other side");
    // Files go up as the ghost, and into the room.
    bob.send_media(room.room_id(), "notes.txt", "text/plain", b"bridged".to_vec())
        .await
        .expect("file sent");
    assert_eq!(sync_message(&alice, "@bridge_bob:localhost").await, "notes.txt");
    let members = room.members().await.expect("members");
    let ghost = members.iter().find(|m| m.user_id == "@bridge_bob:localhost").expect("bob is in");
    assert_eq!(ghost.display_name.as_deref(), Some("Bob (bridged)"));

    // The room has a user of the service in it: the service hears it, in order.
    for text in ["one", "two", "three"] {
        room.send_text(text).await.expect("sent");
    }
    // The ghost's own messages come too (handlers tell them apart with
    // is_ours), then Alice's, in order.
    let mut ours = 0;
    let mut hers = Vec::new();
    while hers.len() < 3 {
        let (sender, body) = next(&mut heard).await;
        match service.is_ours(&UserId::parse(&sender).expect("id")) {
            true => ours += 1,
            false => hers.push((sender, body)),
        }
    }
    assert_eq!(ours, 2, "the ghost's text and file");
    let alice_said =
        ["one", "two", "three"].map(|text| ("@alice:localhost".to_owned(), text.to_owned()));
    assert_eq!(hers, alice_said);
    // And typing notices (the registration asks for ephemeral data).
    room.typing(true).await.expect("typing");
    assert_eq!(next(&mut typing).await, [alice.user_id().expect("alice")]);

    // Users outside the namespace cannot be acted as.
    let alice_id = alice.user_id().expect("alice");
    assert!(matches!(service.intent(&alice_id), Err(lattice_appservice::Error::NotOurs(_))));
    // And the namespace is the service's alone.
    let squatter = Client::builder().homeserver_url(server.url()).build().await.expect("client");
    let refused = squatter.register("bridge_carol", "pw").await.expect_err("exclusive");
    assert!(matches!(refused.kind(), Some(ErrorKind::Exclusive)), "{refused}");
}

async fn nothing_is_lost_while_the_service_is_down(backend: Backend) {
    // The service's port is known but nothing listens there yet.
    let address =
        TcpListener::bind("127.0.0.1:0").await.expect("port").local_addr().expect("address");
    let registration = bridge_registration(&format!("http://{address}"));
    let (server, dir) = homeserver(backend, &registration).await;
    let service = service(&server, registration, &dir).await;
    let mut heard = hear_messages(&service);

    let alice = user(&server, "alice").await;
    let room = public_room(&alice).await;
    let ghost =
        service.intent(&UserId::parse("@bridge_ghost:localhost").expect("id")).expect("ours");
    ghost.ensure_joined(room.room_id()).await.expect("joined");
    for text in ["while", "the service", "was down"] {
        room.send_text(text).await.expect("sent");
    }
    // The service comes up; the homeserver's retries find it.
    let listener = TcpListener::bind(address).await.expect("the same port");
    tokio::spawn(service.clone().serve(listener));
    for text in ["while", "the service", "was down"] {
        assert_eq!(next(&mut heard).await, ("@alice:localhost".to_owned(), text.to_owned()));
    }
    room.send_text("and after").await.expect("sent");
    assert_eq!(next(&mut heard).await.1, "and after");
}

async fn queries_create_users_and_rooms_on_demand(backend: Backend) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("listener");
    let registration =
        bridge_registration(&format!("http://{}", listener.local_addr().expect("address")));
    let (server, dir) = homeserver(backend, &registration).await;
    let service = service(&server, registration, &dir).await;
    service.on_user_query(|_, user_id| async move { user_id.localpart() == "bridge_known" });
    let (made, mut making) = unbounded_channel::<OwnedRoomId>();
    service.on_room_query(move |service, alias| {
        let made = made.clone();
        async move {
            let mut request = create_room::v3::Request::new();
            request.room_alias_name = Some(alias.alias().to_owned());
            request.preset = Some(create_room::v3::RoomPreset::PublicChat);
            let Ok(room) = service.bot().create_room(request).await else { return false };
            let _ = made.send(room);
            true
        }
    });
    tokio::spawn(service.clone().serve(listener));

    let alice = user(&server, "alice").await;
    // Looking up a user the service knows of makes it exist.
    let profile = get(&server, &alice, "/_matrix/client/v3/profile/@bridge_known:localhost").await;
    assert_eq!(profile.0, 200, "{}", profile.1);
    let store = service.store();
    assert!(
        store
            .is_registered(&UserId::parse("@bridge_known:localhost").expect("id"))
            .await
            .expect("store")
    );
    let unknown = get(&server, &alice, "/_matrix/client/v3/profile/@bridge_nobody:localhost").await;
    assert_eq!(unknown.0, 404, "{}", unknown.1);

    // Joining an alias the service owns makes the room.
    let room = alice.join_room_by_id_or_alias("#bridge_portal:localhost").await.expect("joined");
    assert_eq!(room.room_id(), next(&mut making).await);
    let missing =
        alice.join_room_by_id_or_alias("#elsewhere:localhost").await.expect_err("no room");
    assert!(matches!(missing.kind(), Some(ErrorKind::NotFound)), "{missing}");
}

async fn get(server: &TestServer, client: &Client, path: &str) -> (u16, Value) {
    let token = client.session().expect("session").access_token;
    let answer = reqwest::Client::new()
        .get(format!("{}{path}", server.url()))
        .bearer_auth(token)
        .send()
        .await
        .expect("answer");
    let status = answer.status().as_u16();
    (status, answer.json().await.unwrap_or(json!(null)))
}

/// The endpoints alone, called as a homeserver would (no homeserver needed
/// until the service acts).
#[tokio::test]
async fn the_endpoints_check_the_token_and_handle_a_transaction_once() {
    let registration = bridge_registration("http://127.0.0.1:1");
    let hs_token = registration.hs_token.clone();
    let store = StateStore::in_memory().await.expect("store");
    let name = "localhost".try_into().expect("server name");
    let service =
        Appservice::new(registration, "http://127.0.0.1:1", name, store).await.expect("service");
    let mut heard = hear_messages(&service);
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("listener");
    let base = format!("http://{}", listener.local_addr().expect("address"));
    tokio::spawn(service.clone().serve(listener));
    let http = reqwest::Client::new();
    let message = |text: &str| {
        json!({"type": "m.room.message", "event_id": format!("$e{text}"), "room_id": "!r:localhost",
            "sender": "@alice:localhost", "origin_server_ts": 1, "content": {"msgtype": "m.text", "body": text}})
    };
    let put = |path: &str, token: Option<&str>, body: Value| {
        let mut request = http.put(format!("{base}{path}")).json(&body);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        async move {
            let answer = request.send().await.expect("answer");
            let status = answer.status().as_u16();
            (status, answer.json::<Value>().await.unwrap_or(json!(null)))
        }
    };
    let body = json!({"events": [message("first")]});
    let (status, answer) = put("/_matrix/app/v1/transactions/1", None, body.clone()).await;
    assert_eq!((status, answer["errcode"].as_str()), (401, Some("M_UNAUTHORIZED")));
    let (status, answer) = put("/_matrix/app/v1/transactions/1", Some("wrong"), body.clone()).await;
    assert_eq!((status, answer["errcode"].as_str()), (403, Some("M_FORBIDDEN")));
    assert!(heard.try_recv().is_err(), "a refused transaction is not handled");

    // Sent, then sent again (the homeserver missed the answer): handled once.
    assert_eq!(put("/_matrix/app/v1/transactions/1", Some(&hs_token), body.clone()).await.0, 200);
    assert_eq!(put("/_matrix/app/v1/transactions/1", Some(&hs_token), body).await.0, 200);
    // Older homeservers use the unprefixed path; ephemeral data may come under
    // both its names.
    let second = json!({"events": [message("second")], "ephemeral": [], "de.sorunome.msc2409.ephemeral": []});
    assert_eq!(put("/transactions/2", Some(&hs_token), second).await.0, 200);
    assert_eq!(next(&mut heard).await.1, "first");
    assert_eq!(next(&mut heard).await.1, "second");
    assert!(heard.try_recv().is_err(), "the retried transaction was not handled again");

    let (status, answer) = put("/_matrix/app/v1/nothing", Some(&hs_token), json!({})).await;
    assert_eq!((status, answer["errcode"].as_str()), (404, Some("M_UNRECOGNIZED")));
    let ping =
        http.post(format!("{base}/_matrix/app/v1/ping")).bearer_auth(&hs_token).json(&json!({}));
    assert_eq!(ping.send().await.expect("answer").status().as_u16(), 200);
}

fn js_scripts() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/js")
}

/// Whether Node.js and matrix-appservice-bridge are installed (`npm ci`
/// in appservice/tests/js); required when LATTICE_REQUIRE_JS is set.
fn js_ready() -> bool {
    let installed = js_scripts().join("node_modules/matrix-appservice-bridge").exists();
    let node = std::process::Command::new("node").arg("--version").output().is_ok();
    if installed && node {
        return true;
    }
    assert!(
        std::env::var_os("LATTICE_REQUIRE_JS").is_none(),
        "LATTICE_REQUIRE_JS is set but node or appservice/tests/js/node_modules is missing"
    );
    eprintln!("skipped: run `npm ci` in appservice/tests/js (needs Node.js 20+)");
    false
}

/// A bridge framework written by others, matrix-appservice-bridge from
/// npm, drives a service against the server.
#[tokio::test]
async fn matrix_appservice_bridge_works_against_lattice() {
    if !js_ready() {
        return;
    }
    let port =
        TcpListener::bind("127.0.0.1:0").await.expect("port").local_addr().expect("address").port();
    let registration = registration::generate(
        "js-bridge",
        Some(&format!("http://127.0.0.1:{port}")),
        "jsbot",
        "@js_.*:localhost",
        None,
    )
    .expect("registration");
    let (server, dir) = homeserver(Backend::Sqlite, &registration).await;
    let alice = user(&server, "alice").await;
    let room = public_room(&alice).await;
    let token = alice.session().expect("session").access_token;
    let args = [
        js_scripts().join("bridge.cjs").display().to_string(),
        server.url().to_owned(),
        dir.path().join("bridge.yaml").display().to_string(),
        port.to_string(),
        room.room_id().to_string(),
        token,
    ];
    // Node runs beside the server, which this runtime keeps serving.
    let run = tokio::task::spawn_blocking(move || {
        std::process::Command::new("node")
            .args(args)
            .current_dir(js_scripts())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .output()
    });
    let output = tokio::time::timeout(Duration::from_secs(120), run)
        .await
        .expect("the bridge finished in time")
        .expect("the run's thread")
        .expect("node runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "matrix-appservice-bridge run failed:\n{stdout}\n{stderr}");
    assert!(stdout.contains("all done"), "{stdout}");
    // What the ghost said is in the room, from the ghost.
    let said = sync_message(&alice, "@js_ghost:localhost").await;
    assert_eq!(said, "hello from matrix-appservice-bridge");
}
