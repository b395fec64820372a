//! A client that stops and starts again resumes from its store: same
//! session, known rooms, and an incremental sync instead of an initial one.

use std::time::Duration;

use lattice_homeserver::testing::{Backend, TestServer};
use lattice_sdk::{
    Room, SyncSettings,
    ruma::{api::client::room::create_room, events::room::message::OriginalSyncRoomMessageEvent},
};
use tokio::sync::mpsc::unbounded_channel;

use crate::{
    backend_tests,
    common::{registered, sync_until, with_store},
};

backend_tests!(restarted_clients_resume_from_their_store);

async fn restarted_clients_resume_from_their_store(backend: Backend) {
    let mut server = TestServer::start(backend, |_| {}).await;
    let dir = tempfile::tempdir().expect("temp dir");
    let store = dir.path().join("alice.sqlite");
    let bob = registered(&server, "bob").await;

    let alice = with_store(&server, &store).await;
    let session = alice.register("alice", "correct horse").await.expect("registered");
    let mut request = create_room::v3::Request::new();
    request.name = Some("Kept".into());
    request.invite = vec![bob.user_id().expect("id")];
    let room = alice.create_room(request).await.expect("room");
    bob.join_room_by_id_or_alias(room.room_id().as_str()).await.expect("joined");
    room.send_text("before the restart").await.expect("sent");
    alice.sync_once(SyncSettings::new()).await.expect("initial sync");
    drop(alice);

    // Bob talks while Alice's client is down, and the server restarts too.
    let bobs_room = bob.room(room.room_id().to_owned());
    bobs_room.send_text("while you were away").await.expect("sent");
    server.restart().await;

    let alice = with_store(&server, &store).await;
    assert_eq!(alice.session(), Some(session), "the session came back from the store");
    let rooms = alice.joined_rooms().await.expect("store");
    assert_eq!(rooms.len(), 1, "rooms are known before any sync");
    assert_eq!(rooms[0].name().await.expect("store").as_deref(), Some("Kept"));
    let latest = rooms[0].latest_events().await.expect("store");
    let last = latest.last().expect("events kept").get_field::<serde_json::Value>("content");
    assert_eq!(last.expect("json").expect("content")["body"], "before the restart");

    let (said, mut messages) = unbounded_channel();
    alice.add_event_handler(move |event: OriginalSyncRoomMessageEvent, _: Room| {
        let said = said.clone();
        async move {
            let _ = said.send(event.content.body().to_owned());
        }
    });
    // The first sync continues from the stored token: it brings Bob's
    // message and not the room's whole state again.
    let response = alice
        .sync_once(SyncSettings::new().timeout(Duration::from_secs(5)))
        .await
        .expect("incremental sync");
    let joined = response.rooms.join.get(room.room_id()).expect("news in the room");
    assert!(joined.state.is_empty(), "no state resent: the sync was incremental");
    assert_eq!(sync_until(&alice, &mut messages).await, "while you were away");
}
