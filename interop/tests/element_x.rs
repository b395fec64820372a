//! Element X's sync against Lattice: matrix-rust-sdk's `SyncService` (its
//! room-list and encryption connections over simplified sliding sync) and
//! `RoomListService`, as the app runs them, on each database. Each wait is
//! on a stream of the SDK's; the deadline only bounds a failing test.

use std::time::Duration;

use futures_util::{Stream, StreamExt, pin_mut};
use lattice_homeserver::testing::{Backend, TestServer};
use matrix_sdk::{
    Client, Room,
    config::RequestConfig,
    ruma::{
        OwnedRoomId, UserId,
        api::client::{
            account::register::v3::Request as RegisterRequest,
            room::{
                Visibility,
                create_room::v3::{Request as CreateRoomRequest, RoomPreset},
            },
            uiaa,
        },
        events::room::message::RoomMessageEventContent,
    },
    sliding_sync::VersionBuilder,
};
use matrix_sdk_ui::{
    eyeball_im::{Vector, VectorDiff},
    room_list_service::{RoomListItem, filters},
    sync_service::{self, SyncService},
    timeline::RoomExt,
};

lattice_homeserver::backend_tests!(room_list_follows_the_server, an_encrypted_dm_decrypts);

/// How long a step may take before the test gives up.
const DEADLINE: Duration = Duration::from_secs(60);

/// A user of the server, registered and logged in through the SDK, which
/// finds sliding sync the way Element X does: from `/versions`.
async fn user(server: &TestServer, name: &str) -> Client {
    let client = Client::builder()
        .homeserver_url(server.url())
        .sliding_sync_version_builder(VersionBuilder::DiscoverNative)
        .request_config(RequestConfig::short_retry())
        .build()
        .await
        .expect("the SDK accepts the server");
    let mut request = RegisterRequest::new();
    request.username = Some(name.to_owned());
    request.password = Some("correct horse".to_owned());
    request.initial_device_display_name = Some("Element X test".to_owned());
    request.auth = Some(uiaa::AuthData::Dummy(uiaa::Dummy::new()));
    client.matrix_auth().register(request).await.expect("registered");
    client
}

/// Starts Element X's sync for a client and checks that it keeps running.
async fn start_sync(client: &Client) -> SyncService {
    let sync = SyncService::builder(client.clone()).build().await.expect("sync service");
    sync.start().await;
    sync
}

async fn within<T>(what: &str, step: impl Future<Output = T>) -> T {
    tokio::time::timeout(DEADLINE, step).await.unwrap_or_else(|_| panic!("timed out: {what}"))
}

/// Applies the room list's diffs until `done` holds for the list.
async fn list_until(
    stream: &mut (impl Stream<Item = Vec<VectorDiff<RoomListItem>>> + Unpin),
    rooms: &mut Vector<RoomListItem>,
    mut done: impl FnMut(&Vector<RoomListItem>) -> bool,
) {
    while !done(rooms) {
        let diffs = stream.next().await.expect("the room list goes on");
        for diff in diffs {
            diff.apply(rooms);
        }
    }
}

/// Waits until a room's info (as synced) satisfies `done`.
async fn room_until(room: &Room, mut done: impl FnMut(&Room) -> bool) {
    let mut info = room.subscribe_info();
    while !done(room) {
        info.next().await.expect("room info goes on");
    }
}

async fn create_room(client: &Client, name: &str, public: bool) -> OwnedRoomId {
    let mut request = CreateRoomRequest::new();
    request.name = Some(name.to_owned());
    if public {
        request.visibility = Visibility::Public;
        request.preset = Some(RoomPreset::PublicChat);
    }
    let room = client.create_room(request).await.expect("room created");
    room.send(RoomMessageEventContent::text_plain(format!("welcome to {name}")))
        .await
        .expect("sent");
    room.room_id().to_owned()
}

async fn room_list_follows_the_server(backend: Backend) {
    let server = TestServer::start(backend, |_| {}).await;
    let alice = user(&server, "alice").await;
    let bob = user(&server, "bob").await;
    let mut created = Vec::new();
    for name in ["first", "second", "third"] {
        created.push(create_room(&alice, name, true).await);
    }

    let sync = start_sync(&alice).await;
    let list = sync.room_list_service().all_rooms().await.expect("all rooms");
    let (stream, controller) = list.entries_with_dynamic_adapters(50);
    controller.set_filter(Box::new(filters::new_filter_non_left()));
    pin_mut!(stream);
    let mut rooms = Vector::new();
    // The list fills, the most recent first.
    let newest_first: Vec<OwnedRoomId> = created.iter().rev().cloned().collect();
    within(
        "the room list fills in order",
        list_until(&mut stream, &mut rooms, |rooms| {
            rooms.iter().map(|room| room.room_id().to_owned()).collect::<Vec<_>>() == newest_first
        }),
    )
    .await;

    // Bob speaks in the oldest room: it moves to the top, with one unread
    // notification for alice.
    bob.join_room_by_id(&created[0]).await.expect("bob joins");
    let bob_room = bob.get_room(&created[0]).expect("bob's room");
    bob_room.send(RoomMessageEventContent::text_plain("hello alice")).await.expect("sent");
    within(
        "the room moves to the top",
        list_until(&mut stream, &mut rooms, |rooms| {
            rooms.front().is_some_and(|room| room.room_id() == created[0])
        }),
    )
    .await;
    let room = alice.get_room(&created[0]).expect("alice's room");
    within(
        "the unread count arrives",
        room_until(&room, |room| room.unread_notification_counts().notification_count == 1),
    )
    .await;
    assert_eq!(room.joined_members_count(), 2);
    assert!(
        !matches!(sync.state().get(), sync_service::State::Error(_)),
        "the sync service stayed up"
    );
    sync.stop().await;
}

async fn an_encrypted_dm_decrypts(backend: Backend) {
    let server = TestServer::start(backend, |_| {}).await;
    let alice = user(&server, "alice").await;
    let bob = user(&server, "bob").await;
    let alice_sync = start_sync(&alice).await;
    let bob_sync = start_sync(&bob).await;
    let alice_id: &UserId = alice.user_id().expect("logged in");

    // Bob opens an encrypted DM; alice sees the invite in her list and joins.
    let dm = bob.create_dm(alice_id).await.expect("DM created");
    assert!(dm.latest_encryption_state().await.expect("state").is_encrypted());
    let list = alice_sync.room_list_service().all_rooms().await.expect("all rooms");
    let (stream, controller) = list.entries_with_dynamic_adapters(50);
    controller.set_filter(Box::new(filters::new_filter_non_left()));
    pin_mut!(stream);
    let mut rooms = Vector::new();
    within(
        "the invite reaches alice's list",
        list_until(&mut stream, &mut rooms, |rooms| {
            rooms.iter().any(|r| r.room_id() == dm.room_id())
        }),
    )
    .await;
    // Bob's client learns of devices from the server's device lists: it
    // must know Alice's before it shares the room key with her.
    let mut device_updates = bob.encryption().devices_stream().await.expect("device updates");
    alice.join_room_by_id(dm.room_id()).await.expect("alice joins");
    within("bob sees alice join", room_until(&dm, |room| room.joined_members_count() == 2)).await;
    within("bob knows alice's device", async {
        while bob
            .encryption()
            .get_user_devices(alice_id)
            .await
            .expect("devices")
            .devices()
            .next()
            .is_none()
        {
            device_updates.next().await.expect("device updates go on");
        }
    })
    .await;

    dm.send(RoomMessageEventContent::text_plain("for your eyes only")).await.expect("sent");

    let room = alice.get_room(dm.room_id()).expect("alice's DM");
    let timeline = room.timeline().await.expect("timeline");
    let (items, mut updates) = timeline.subscribe().await;
    let mut items = items;
    let decrypted = |items: &Vector<std::sync::Arc<matrix_sdk_ui::timeline::TimelineItem>>| {
        items.iter().any(|item| {
            item.as_event()
                .and_then(|event| event.content().as_message())
                .is_some_and(|message| message.body() == "for your eyes only")
        })
    };
    within("alice reads the message decrypted", async {
        while !decrypted(&items) {
            for diff in updates.next().await.expect("the timeline goes on") {
                diff.apply(&mut items);
            }
        }
    })
    .await;
    alice_sync.stop().await;
    bob_sync.stop().await;
}
