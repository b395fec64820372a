//! Spaces: a space lists rooms, the members' clients see which, and a room
//! taken out of the space leaves the list.

use std::time::Duration;

use lattice_homeserver::testing::{Backend, TestServer};
use lattice_sdk::{SyncSettings, ruma::api::client::room::create_room};

use crate::{backend_tests, common::registered};

backend_tests!(a_space_lists_its_rooms);

async fn a_space_lists_its_rooms(backend: Backend) {
    let server = TestServer::start(backend, |_| {}).await;
    let alice = registered(&server, "alice").await;
    let bob = registered(&server, "bob").await;
    let server_name = alice.user_id().expect("alice").server_name().to_owned();

    let space = alice.create_space("Readers", true).await.expect("space created");
    let mut request = create_room::v3::Request::new();
    request.name = Some("Sci-fi".into());
    request.room_alias_name = Some("scifi".into());
    request.preset = Some(create_room::v3::RoomPreset::PublicChat);
    let scifi = alice.create_room(request).await.expect("room created");
    space.add_space_child(scifi.room_id()).await.expect("child added");

    bob.join_room_by_id_or_alias(space.room_id().as_str()).await.expect("bob joins the space");
    bob.join_room_by_id_or_alias(&format!("#scifi:{server_name}")).await.expect("bob joins");
    bob.sync_once(SyncSettings::new().timeout(Duration::ZERO)).await.expect("sync");

    let seen_space = bob.get_room(space.room_id()).await.expect("store").expect("known");
    assert!(seen_space.is_space().await.expect("create event"));
    assert_eq!(seen_space.space_children().await.expect("children"), [scifi.room_id().to_owned()]);
    let seen_room = bob.get_room(scifi.room_id()).await.expect("store").expect("known");
    assert!(!seen_room.is_space().await.expect("create event"));
    assert_eq!(
        seen_room.canonical_alias().await.expect("alias").map(|a| a.to_string()),
        Some(format!("#scifi:{server_name}"))
    );
    assert!(seen_room.space_children().await.expect("children").is_empty());

    // Taken out: bob's next sync carries the emptied child event.
    space.remove_space_child(scifi.room_id()).await.expect("child removed");
    bob.sync_once(SyncSettings::new().timeout(Duration::from_secs(5))).await.expect("sync");
    assert!(seen_space.space_children().await.expect("children").is_empty());
}
