//! End-to-end encryption between users of two servers, written with our
//! SDK: device keys are queried and one-time keys claimed over federation,
//! the room key travels as a to-device EDU, and only ciphertext crosses.

use std::time::Duration;

use lattice_sdk::{
    Client, Room, SyncSettings,
    ruma::{
        api::client::room::create_room::v3::Request as CreateRoom,
        events::room::{member::MembershipState, message::OriginalSyncRoomMessageEvent},
        serde::Raw,
    },
};
use serde_json::json;
use tokio::sync::mpsc::{UnboundedReceiver, unbounded_channel};

use crate::{
    backend_tests,
    common::{
        Backend,
        federation::{TestCa, server},
    },
};

backend_tests!(encrypted_chat_across_servers, device_list_updates_are_told_apart);

async fn user(homeserver_url: &str, name: &str) -> Client {
    let client = Client::builder().homeserver_url(homeserver_url).build().await.expect("client");
    client.register(name, "correct horse").await.expect("registered");
    client
}

/// A client whose message handler reports decrypted bodies.
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

/// Syncs (long polls) until `body` is heard.
async fn hear(client: &Client, heard: &mut UnboundedReceiver<String>, body: &str) {
    let wait = async {
        loop {
            while let Ok(said) = heard.try_recv() {
                if said == body {
                    return;
                }
            }
            client
                .sync_once(SyncSettings::new().timeout(Duration::from_secs(5)))
                .await
                .expect("sync");
        }
    };
    tokio::time::timeout(Duration::from_secs(30), wait).await.expect("the message arrived");
}

/// alice, a user of the server at `alice_url`, makes an encrypted room and
/// invites bob, a user of the server at `bob_url`; bob joins; they write
/// to each other and each decrypts what the other wrote. Returns both
/// clients and alice's room.
pub(crate) async fn encrypted_chat(alice_url: &str, bob_url: &str) -> (Client, Client, Room) {
    let alice = user(alice_url, "alice").await;
    let bob = user(bob_url, "bob").await;
    let bob_id = bob.user_id().expect("id");

    let mut request = CreateRoom::new();
    request.invite = vec![bob_id.clone()];
    request.initial_state = vec![
        Raw::new(&json!({
            "type": "m.room.encryption", "state_key": "",
            "content": {"algorithm": "m.megolm.v1.aes-sha2"},
        }))
        .expect("json")
        .cast_unchecked(),
    ];
    let room = alice.create_room(request).await.expect("room");
    bob.sync_once(SyncSettings::new()).await.expect("bob sees the invite");
    let bobs_room = bob.join_room_by_id_or_alias(room.room_id().as_str()).await.expect("bob joins");
    assert!(bobs_room.is_encrypted().await.expect("settings"), "B knows the room is encrypted");

    // The room key goes to the members alice's client knows of when she
    // sends: she waits until bob's join has reached her (as a user would
    // see him join) before writing.
    let joined = async {
        loop {
            alice
                .sync_once(SyncSettings::new().timeout(Duration::from_secs(5)))
                .await
                .expect("sync");
            let members = room.members().await.expect("members");
            if members.iter().any(|m| m.user_id == bob_id && m.membership == MembershipState::Join)
            {
                return;
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(30), joined).await.expect("bob's join reached alice");
    let mut bob_heard = listen(&bob);
    let mut alice_heard = listen(&alice);
    bob.sync_once(SyncSettings::new()).await.expect("sync");

    room.send_text("across the wire").await.expect("sent encrypted");
    hear(&bob, &mut bob_heard, "across the wire").await;
    bobs_room.send_text("and back").await.expect("bob replies");
    hear(&alice, &mut alice_heard, "and back").await;
    (alice, bob, room)
}

async fn encrypted_chat_across_servers(backend: Backend) {
    let ca = TestCa::new();
    let a = server(backend, &ca).await;
    let b = server(backend, &ca).await;
    let (alice, bob, room) = encrypted_chat(a.url(), b.url()).await;
    let bob_id = bob.user_id().expect("id");

    // A server can resync a user's device list from the user's server.
    let resync = a
        .services()
        .federation
        .send(
            bob_id.server_name(),
            lattice_federation::federation::device::get_devices::v1::Request::new(bob_id.clone()),
        )
        .await
        .expect("devices");
    let bob_device = bob.session().expect("session").device_id;
    assert!(resync.devices.iter().any(|d| d.device_id == bob_device), "bob's device is listed");

    // Only ciphertext went over: A's copy of bob's message is encrypted.
    let token = alice.session().expect("session").access_token;
    let path = format!("/_matrix/client/v3/rooms/{}/messages?dir=b&limit=20", room.room_id());
    let page = a.get(&path, Some(&token)).await.ok();
    let types: Vec<&str> =
        page["chunk"].as_array().into_iter().flatten().filter_map(|e| e["type"].as_str()).collect();
    assert!(types.contains(&"m.room.encrypted"), "{types:?}");
    assert!(!types.contains(&"m.room.message"), "no plaintext message stored on A: {types:?}");
}

/// Every device-list update for another server carries a stream id of its
/// own (a receiver drops an update whose stream id it saw before). B is
/// down, so the updates wait in A's outbound queue, where they are read.
async fn device_list_updates_are_told_apart(backend: Backend) {
    let ca = TestCa::new();
    let a = server(backend, &ca).await;
    let mut b = server(backend, &ca).await;
    let alice = a.register("alice", "correct horse").await;
    let bob = b.register("bob", "battery staple").await;
    let room_id = a.create_room(&alice.token, json!({"preset": "public_chat"})).await;
    b.join(&bob.token, &format!("{room_id}?server_name={}", a.name())).await.ok();
    b.stop().await;

    for device in ["PHONE", "TABLET"] {
        a.login("alice", "correct horse", Some(device)).await.ok();
        let path = format!("/_matrix/client/v3/devices/{device}");
        let auth = json!({"auth": {"type": "m.login.password", "password": "correct horse",
            "identifier": {"type": "m.id.user", "user": "alice"}}});
        a.delete(&path, Some(&alice.token), Some(auth)).await.ok();
    }
    let queued = a.services().store.outbox(&b.name(), 100).await.expect("outbox");
    let stream_ids: Vec<i64> = queued
        .iter()
        .filter_map(|item| serde_json::from_str::<serde_json::Value>(&item.payload).ok())
        .filter(|edu| edu["edu_type"] == "m.device_list_update")
        .map(|edu| {
            assert_eq!(edu["content"]["user_id"], alice.user_id.as_str());
            edu["content"]["stream_id"].as_i64().expect("stream id")
        })
        .collect();
    assert_eq!(stream_ids.len(), 2, "one update per deleted device: {queued:?}");
    assert!(stream_ids[0] > 0 && stream_ids[1] > stream_ids[0], "{stream_ids:?}");
}
