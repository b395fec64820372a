//! End-to-end encryption between real clients through a real server: every
//! device of every member reads the room, a late joiner reads only what
//! comes after, a removed member gets no new keys, and the server's
//! database never holds the plaintext.

use lattice_homeserver::testing::{Backend, TestServer};
use lattice_sdk::{
    Client, Room,
    ruma::{
        api::client::room::create_room,
        events::{
            AnyMessageLikeEvent, AnyTimelineEvent, MessageLikeEvent,
            room::{
                MediaSource,
                message::{MessageType, OriginalSyncRoomMessageEvent},
            },
        },
        serde::Raw,
    },
};
use serde_json::{Value, json};
use tokio::sync::mpsc::{UnboundedReceiver, unbounded_channel};

use crate::{
    backend_tests,
    common::{registered, sync_until},
};

backend_tests!(
    encrypted_conversation_across_devices,
    crypto_state_is_kept_under_the_passphrase,
    new_device_restores_keys_from_backup,
    lost_olm_sessions_are_mended,
    withheld_keys_are_explained,
);

/// A client whose message handler reports decrypted message bodies.
fn listen(client: &Client) -> UnboundedReceiver<String> {
    let (said, heard) = unbounded_channel();
    client.add_event_handler(move |event: OriginalSyncRoomMessageEvent, _: Room| {
        let said = said.clone();
        async move {
            let _ = said.send(event.content.body().to_owned());
        }
    });
    heard
}

/// Syncs until `body` is heard (skipping earlier messages).
async fn hear(client: &Client, heard: &mut UnboundedReceiver<String>, body: &str) {
    while sync_until(client, heard).await != body {}
}

async fn second_device(server: &TestServer, name: &str) -> Client {
    let client = Client::builder().homeserver_url(server.url()).build().await.expect("client");
    client.login_password(name, "correct horse", Some("second device")).await.expect("login");
    client
}

/// Bodies of the decrypted messages in a timeline, and how many events
/// stayed encrypted.
fn read(events: &[Raw<AnyTimelineEvent>]) -> (Vec<String>, usize) {
    let mut bodies = Vec::new();
    let mut encrypted = 0;
    for raw in events {
        match raw.deserialize() {
            Ok(AnyTimelineEvent::MessageLike(AnyMessageLikeEvent::RoomMessage(
                MessageLikeEvent::Original(e),
            ))) => bodies.push(e.content.body().to_owned()),
            Ok(AnyTimelineEvent::MessageLike(AnyMessageLikeEvent::RoomEncrypted(_))) => {
                encrypted += 1
            }
            _ => {}
        }
    }
    (bodies, encrypted)
}

/// Everything the server stored, as text, to look for plaintext in.
async fn stored_text(server: &TestServer) -> String {
    let config = server.config();
    if config.database.url.is_empty() {
        let mut text = String::new();
        for entry in std::fs::read_dir(&config.server.data_dir).expect("data dir") {
            let path = entry.expect("entry").path();
            if path.is_file() {
                text.push_str(&String::from_utf8_lossy(&std::fs::read(&path).expect("read")));
            }
        }
        return text;
    }
    use sqlx::{Connection, Row};
    let mut conn = sqlx::PgConnection::connect(&config.database.url).await.expect("connect");
    let mut text = String::new();
    for sql in ["SELECT pdu AS t FROM events", "SELECT content AS t FROM to_device_messages"] {
        for row in sqlx::query(sql).fetch_all(&mut conn).await.expect("query") {
            text.push_str(&row.get::<String, _>("t"));
        }
    }
    text
}

async fn encrypted_conversation_across_devices(backend: Backend) {
    let server = TestServer::start(backend, |_| {}).await;
    let alice = registered(&server, "alice").await;
    let bob = registered(&server, "bob").await;
    let alice_phone = second_device(&server, "alice").await;
    let bob_phone = second_device(&server, "bob").await;
    let bob_id = bob.user_id().expect("id");

    let request = encrypted_room_request(vec![bob_id.clone()]);
    let room = alice.create_room(request).await.expect("room");
    assert!(room.is_encrypted().await.expect("settings"));
    bob.join_room_by_id_or_alias(room.room_id().as_str()).await.expect("bob joins");

    let mut heard: Vec<_> = [&alice_phone, &bob, &bob_phone].iter().map(|c| listen(c)).collect();
    for client in [&alice, &alice_phone, &bob, &bob_phone] {
        client.sync_once(Default::default()).await.expect("initial sync");
    }
    room.send_text("the secret plan").await.expect("sent encrypted");
    for (client, heard) in [&alice_phone, &bob, &bob_phone].into_iter().zip(heard.iter_mut()) {
        hear(client, heard, "the secret plan").await;
    }
    let bobs_room = bob.get_room(room.room_id()).await.expect("store").expect("room");
    bobs_room.send_text("agreed, quietly").await.expect("bob replies");
    let mut alice_heard = listen(&alice);
    hear(&alice, &mut alice_heard, "agreed, quietly").await;
    hear(&alice_phone, &mut heard[0], "agreed, quietly").await;

    // Files in an encrypted room are encrypted too, and come back whole.
    let (got, mut files) = unbounded_channel();
    bob.add_event_handler(move |event: OriginalSyncRoomMessageEvent, _: Room| {
        let got = got.clone();
        async move {
            if let MessageType::File(file) = event.content.msgtype {
                let _ = got.send(file.source);
            }
        }
    });
    let report: Vec<u8> = (0..100_000u32).map(|i| (i % 253) as u8).collect();
    room.send_file("plan.pdf", "application/pdf", report.clone()).await.expect("file sent");
    let source = sync_until(&bob, &mut files).await;
    let MediaSource::Encrypted(file) = &source else { panic!("an encrypted attachment") };
    let stored = bob.media().download(&file.url).await.expect("ciphertext");
    assert_ne!(stored, report, "the server holds ciphertext");
    assert_eq!(bob.media().download_source(&source).await.expect("decrypted"), report);

    // Carol joins later: she reads what comes next, not what came before.
    let carol = registered(&server, "carol").await;
    room.invite_user(&carol.user_id().expect("id")).await.expect("invited");
    carol.join_room_by_id_or_alias(room.room_id().as_str()).await.expect("carol joins");
    let mut carol_heard = listen(&carol);
    carol.sync_once(Default::default()).await.expect("sync");
    room.send_text("welcome carol").await.expect("sent");
    hear(&carol, &mut carol_heard, "welcome carol").await;
    let carols_room = carol.get_room(room.room_id()).await.expect("store").expect("room");
    let mut timeline = carols_room.timeline();
    while timeline.paginate_backwards(50).await.expect("page") > 0 {}
    let (bodies, still_encrypted) = read(timeline.events());
    assert_eq!(bodies, ["welcome carol"]);
    assert_eq!(still_encrypted, 3, "earlier messages are reported, not dropped");
    // Alice's own history decrypts on her first device.
    let mut timeline = room.timeline();
    while timeline.paginate_backwards(50).await.expect("page") > 0 {}
    let (bodies, _) = read(timeline.events());
    assert_eq!(bodies, ["the secret plan", "agreed, quietly", "plan.pdf", "welcome carol"]);

    // Bob is removed: the next message uses a new session he never gets.
    let session_of = |event: &Value| event["content"]["session_id"].as_str().map(str::to_owned);
    let raw_history = |token: String| {
        let url = format!(
            "{}/_matrix/client/v3/rooms/{}/messages?dir=b&limit=50",
            server.url(),
            room.room_id()
        );
        async move {
            let http = reqwest::Client::builder().build().expect("http client");
            let answer: Value = http
                .get(url)
                .bearer_auth(token)
                .send()
                .await
                .expect("get")
                .json()
                .await
                .expect("json");
            answer["chunk"].as_array().expect("chunk").clone()
        }
    };
    room.kick_user(&bob_id, None).await.expect("kicked");
    room.send_text("after bob").await.expect("sent");
    let token = alice.session().expect("session").access_token;
    let chunk = raw_history(token).await;
    let sessions: Vec<String> =
        chunk.iter().filter(|e| e["type"] == "m.room.encrypted").filter_map(session_of).collect();
    assert_eq!(sessions.len(), 5);
    // Newest first: after bob, welcome carol, the file, Bob's reply, the secret plan.
    assert_eq!(sessions[1], sessions[4], "Carol joining did not need a new session");
    assert_ne!(sessions[0], sessions[1], "the session rotated when Bob left");
    // Bob comes back: he reads what is said now, never what was said
    // while he was out.
    room.invite_user(&bob_id).await.expect("invited again");
    bob.join_room_by_id_or_alias(room.room_id().as_str()).await.expect("rejoined");
    let mut bob_heard = listen(&bob);
    bob.sync_once(Default::default()).await.expect("sync");
    room.send_text("bob is back").await.expect("sent");
    hear(&bob, &mut bob_heard, "bob is back").await;
    let mut timeline = bob.room(room.room_id().to_owned()).timeline();
    while timeline.paginate_backwards(50).await.expect("page") > 0 {}
    let (bodies, still_encrypted) = read(timeline.events());
    assert!(bodies.contains(&"bob is back".to_owned()));
    assert_eq!(still_encrypted, 1, "only the message sent while Bob was out stays sealed");
    assert!(!bodies.contains(&"after bob".to_owned()), "Bob read a message sent while he was out");

    // The server stored ciphertext only.
    let stored = stored_text(&server).await;
    for secret in ["the secret plan", "agreed, quietly", "welcome carol", "after bob"] {
        assert!(!stored.contains(secret), "the server stored {secret:?} in plaintext");
    }
    assert!(stored.contains("m.megolm.v1.aes-sha2"), "the check looked at the right data");
}

fn encrypted_room_request(invite: Vec<lattice_sdk::ruma::OwnedUserId>) -> create_room::v3::Request {
    let mut request = create_room::v3::Request::new();
    request.invite = invite;
    request.initial_state = vec![
        Raw::new(&json!({
            "type": "m.room.encryption", "state_key": "",
            "content": {"algorithm": "m.megolm.v1.aes-sha2"},
        }))
        .expect("json")
        .cast_unchecked(),
    ];
    request
}

async fn crypto_state_is_kept_under_the_passphrase(backend: Backend) {
    let server = TestServer::start(backend, |_| {}).await;
    let dir = tempfile::tempdir().expect("temp dir");
    let store = dir.path().join("alice.sqlite");
    let open = |passphrase: &'static str| {
        let url = server.url().to_owned();
        let store = store.clone();
        async move {
            Client::builder()
                .homeserver_url(url)
                .store_path(store)
                .store_passphrase(passphrase)
                .build()
                .await
                .expect("client")
        }
    };
    let bob = registered(&server, "bob").await;
    let alice = open("open sesame").await;
    alice.register("alice", "correct horse").await.expect("registered");
    let room = alice
        .create_room(encrypted_room_request(vec![bob.user_id().expect("id")]))
        .await
        .expect("room");
    bob.join_room_by_id_or_alias(room.room_id().as_str()).await.expect("joined");
    let mut bob_heard = listen(&bob);
    room.send_text("before the restart").await.expect("sent");
    hear(&bob, &mut bob_heard, "before the restart").await;
    drop(alice);

    let intruder = open("wrong guess").await;
    let refused = intruder.sync_once(Default::default()).await.expect_err("wrong passphrase");
    assert!(matches!(refused, lattice_sdk::Error::Invalid(_)), "{refused}");
    drop(intruder);

    let alice = open("open sesame").await;
    let mut alice_heard = listen(&alice);
    let bobs_room = bob.get_room(room.room_id()).await.expect("store").expect("room");
    bobs_room.send_text("while you were away").await.expect("sent");
    hear(&alice, &mut alice_heard, "while you were away").await;
    let room = alice.get_room(room.room_id()).await.expect("store").expect("room");
    room.send_text("after the restart").await.expect("sent");
    hear(&bob, &mut bob_heard, "after the restart").await;
}

async fn new_device_restores_keys_from_backup(backend: Backend) {
    let server = TestServer::start(backend, |_| {}).await;
    let alice = registered(&server, "alice").await;
    let bob = registered(&server, "bob").await;
    let room = bob
        .create_room(encrypted_room_request(vec![alice.user_id().expect("id")]))
        .await
        .expect("room");
    alice.join_room_by_id_or_alias(room.room_id().as_str()).await.expect("joined");
    let mut heard = listen(&alice);
    alice.sync_once(Default::default()).await.expect("sync");
    room.send_text("old news").await.expect("sent");
    hear(&alice, &mut heard, "old news").await;
    let recovery_key = alice.enable_key_backup().await.expect("backup on");

    let laptop = second_device(&server, "alice").await;
    let history = |client: Client| {
        let room_id = room.room_id().to_owned();
        async move {
            let room = client.room(room_id);
            let mut timeline = room.timeline();
            while timeline.paginate_backwards(50).await.expect("page") > 0 {}
            read(timeline.events())
        }
    };
    assert_eq!(history(laptop.clone()).await, (vec![], 1), "the new device cannot read it yet");
    let wrong = laptop
        .restore_key_backup("EsTc LW2K PGiF wKEA 3As5 g5c4 BXwk qeeJ ZJV8 Q9fu gUMN UE4d")
        .await;
    assert!(wrong.is_err(), "a wrong recovery key opens nothing");
    let restored = laptop.restore_key_backup(&recovery_key).await.expect("restored");
    assert!(restored >= 1, "restored {restored} keys");
    assert_eq!(history(laptop).await, (vec!["old news".to_owned()], 0));
}

/// Bob's client loses its Olm sessions (a restored old store, say): Alice's
/// next room key cannot reach him, his client opens a fresh session and
/// pings her over it, and the key after that gets through.
async fn lost_olm_sessions_are_mended(backend: Backend) {
    let server = TestServer::start(backend, |_| {}).await;
    let dir = tempfile::tempdir().expect("temp dir");
    let store = dir.path().join("bob.sqlite");
    let alice = registered(&server, "alice").await;
    let bob = crate::common::with_store(&server, &store).await;
    bob.register("bob", "correct horse").await.expect("registered");
    let mut request = encrypted_room_request(vec![bob.user_id().expect("id")]);
    // Every message gets a new Megolm session, so every message needs Olm.
    request.initial_state = vec![
        Raw::new(&json!({
            "type": "m.room.encryption", "state_key": "",
            "content": {"algorithm": "m.megolm.v1.aes-sha2", "rotation_period_msgs": 1},
        }))
        .expect("json")
        .cast_unchecked(),
    ];
    let room = alice.create_room(request).await.expect("room");
    bob.join_room_by_id_or_alias(room.room_id().as_str()).await.expect("joined");
    let mut bob_heard = listen(&bob);
    let mut alice_heard = listen(&alice);
    alice.sync_once(Default::default()).await.expect("sync");
    room.send_text("one").await.expect("sent");
    hear(&bob, &mut bob_heard, "one").await;
    // Bob answers, so that both sides' Olm sessions are fully established.
    let bobs_room = bob.get_room(room.room_id()).await.expect("store").expect("room");
    bobs_room.send_text("two").await.expect("sent");
    hear(&alice, &mut alice_heard, "two").await;
    room.send_text("three").await.expect("sent");
    hear(&bob, &mut bob_heard, "three").await;
    drop(bobs_room);
    drop(bob);

    // Bob's store forgets every Olm session.
    {
        use sqlx::{Connection, Row};
        let url = format!("sqlite://{}", store.display());
        let mut conn = sqlx::SqliteConnection::connect(&url).await.expect("open store");
        let row = sqlx::query("SELECT key, value FROM kv WHERE key LIKE 'crypto:%'")
            .fetch_one(&mut conn)
            .await
            .expect("crypto state");
        let (key, value): (String, String) = (row.get(0), row.get(1));
        let mut state: Value = serde_json::from_str(&value).expect("json");
        state["olm"] = json!({});
        sqlx::query("UPDATE kv SET value = ? WHERE key = ?")
            .bind(state.to_string())
            .bind(key)
            .execute(&mut conn)
            .await
            .expect("updated");
    }
    let bob = crate::common::with_store(&server, &store).await;
    let mut bob_heard = listen(&bob);
    room.send_text("lost").await.expect("sent");
    // Bob's sync cannot read the key for "lost"; it mends the session.
    bob.sync_once(Default::default()).await.expect("sync");
    alice.sync_once(Default::default()).await.expect("sync");
    room.send_text("recovered").await.expect("sent");
    hear(&bob, &mut bob_heard, "recovered").await;
}

/// A sender that will not share a key says why; the recipient can tell
/// its user instead of showing a silent gap.
async fn withheld_keys_are_explained(backend: Backend) {
    let server = TestServer::start(backend, |_| {}).await;
    let alice = registered(&server, "alice").await;
    let bob = registered(&server, "bob").await;
    let room = alice
        .create_room(encrypted_room_request(vec![bob.user_id().expect("id")]))
        .await
        .expect("room");
    bob.sync_once(Default::default()).await.expect("sync");
    let notice = json!({
        "messages": {bob.user_id().expect("id").as_str(): {bob.device_id().expect("device").as_str(): {
            "algorithm": "m.megolm.v1.aes-sha2", "room_id": room.room_id(), "session_id": "SESSION",
            "sender_key": alice.identity_keys().await.expect("keys").0, "code": "m.unverified",
            "reason": "the sender only shares with verified devices",
        }}}
    });
    let url = format!("{}/_matrix/client/v3/sendToDevice/m.room_key.withheld/w1", server.url());
    let http = reqwest::Client::builder().build().expect("http client");
    let token = alice.session().expect("session").access_token;
    let sent = http.put(url).bearer_auth(token).json(&notice).send().await.expect("sent");
    assert!(sent.status().is_success());
    assert_eq!(bob.withheld_reason(room.room_id().as_str(), "SESSION").await.expect("state"), None);
    bob.sync_once(Default::default()).await.expect("sync");
    let reason = bob.withheld_reason(room.room_id().as_str(), "SESSION").await.expect("state");
    assert_eq!(reason.as_deref(), Some("m.unverified"));
}
