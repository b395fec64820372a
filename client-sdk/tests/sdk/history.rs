//! Paging back through a room's history with a timeline.

use lattice_homeserver::testing::{Backend, TestServer};
use lattice_sdk::ruma::{
    api::client::room::create_room,
    events::{AnyMessageLikeEvent, AnyTimelineEvent, MessageLikeEvent},
};

use crate::{backend_tests, common::registered};

backend_tests!(timeline_pages_back_through_200_messages);

async fn timeline_pages_back_through_200_messages(backend: Backend) {
    let server = TestServer::start(backend, |_| {}).await;
    let alice = registered(&server, "alice").await;
    let bob = registered(&server, "bob").await;
    let mut request = create_room::v3::Request::new();
    request.preset = Some(create_room::v3::RoomPreset::PublicChat);
    let room = alice.create_room(request).await.expect("room");
    for n in 0..200 {
        room.send_text(&format!("message {n}")).await.expect("sent");
    }
    // Bob joins later; the room's history is shared with members.
    let room = bob.join_room_by_id_or_alias(room.room_id().as_str()).await.expect("joined");
    let mut timeline = room.timeline();
    let mut pages = 0;
    while timeline.paginate_backwards(60).await.expect("page") > 0 {
        pages += 1;
    }
    assert!(timeline.is_at_start());
    assert!(pages >= 4, "200 messages and the room's creation take at least 4 pages of 60");
    let bodies: Vec<String> = timeline
        .events()
        .iter()
        .filter_map(|raw| match raw.deserialize() {
            Ok(AnyTimelineEvent::MessageLike(AnyMessageLikeEvent::RoomMessage(
                MessageLikeEvent::Original(event),
            ))) => Some(event.content.body().to_owned()),
            _ => None,
        })
        .collect();
    let expected: Vec<String> = (0..200).map(|n| format!("message {n}")).collect();
    assert_eq!(bodies, expected);
    // The room starts with its creation.
    let first = timeline.events()[0].get_field::<String>("type").expect("json");
    assert_eq!(first.as_deref(), Some("m.room.create"));
}
