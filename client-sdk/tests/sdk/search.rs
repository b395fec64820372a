//! Searching messages on the server: found in the user's rooms, never in
//! rooms they are not in.

use lattice_homeserver::testing::{Backend, TestServer};
use lattice_sdk::ruma::{
    api::client::room::create_room,
    events::{AnyMessageLikeEvent, AnyTimelineEvent, MessageLikeEvent},
};

use crate::{backend_tests, common::registered};

backend_tests!(messages_are_found_in_ones_own_rooms);

fn body(event: &AnyTimelineEvent) -> Option<String> {
    match event {
        AnyTimelineEvent::MessageLike(AnyMessageLikeEvent::RoomMessage(
            MessageLikeEvent::Original(message),
        )) => Some(message.content.body().to_owned()),
        _ => None,
    }
}

async fn messages_are_found_in_ones_own_rooms(backend: Backend) {
    let server = TestServer::start(backend, |_| {}).await;
    let alice = registered(&server, "alice").await;
    let eve = registered(&server, "eve").await;
    let room = alice.create_room(create_room::v3::Request::new()).await.expect("room");
    room.send_text("hay and more hay").await.expect("sent");
    let needle = room.send_text("a needle in the haystack").await.expect("sent");
    room.send_text("hay again").await.expect("sent");

    let found = alice.search_messages("needle", 10).await.expect("search");
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].event_id(), needle);
    assert_eq!(found[0].room_id(), room.room_id());
    assert_eq!(body(&found[0]).as_deref(), Some("a needle in the haystack"));
    assert_eq!(alice.search_messages("hay", 2).await.expect("search").len(), 2, "the limit holds");
    assert!(eve.search_messages("needle", 10).await.expect("search").is_empty());
}
