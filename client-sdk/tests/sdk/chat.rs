//! Two users: a room, an invite, a join, and a conversation with edits,
//! reactions, replies and a thread.

use lattice_homeserver::testing::{Backend, TestServer};
use std::time::Duration;

use lattice_sdk::{
    Membership, Room, SyncSettings,
    ruma::{
        api::client::room::create_room,
        events::{
            reaction::OriginalSyncReactionEvent,
            receipt::SyncReceiptEvent,
            room::{
                member::StrippedRoomMemberEvent,
                message::{MessageType, OriginalSyncRoomMessageEvent, Relation},
            },
            typing::SyncTypingEvent,
        },
        presence::PresenceState,
    },
};
use tokio::sync::mpsc::unbounded_channel;

use crate::{
    backend_tests,
    common::{registered, sync_until},
};

backend_tests!(
    invite_join_and_talk,
    direct_chats_are_recorded,
    read_markers_follow_the_user,
    away_and_back
);

async fn invite_join_and_talk(backend: Backend) {
    let server = TestServer::start(backend, |_| {}).await;
    let alice = registered(&server, "alice").await;
    let bob = registered(&server, "bob").await;
    let bob_id = bob.user_id().expect("bob is logged in");

    let mut request = create_room::v3::Request::new();
    request.name = Some("Plans".into());
    let room = alice.create_room(request).await.expect("room created");
    room.set_topic("Where we go next").await.expect("topic set");
    room.invite_user(&bob_id).await.expect("bob invited");

    // Bob hears of the invite through a typed handler, and joins.
    let (invited, mut invites) = unbounded_channel();
    bob.add_event_handler(move |event: StrippedRoomMemberEvent, room: Room| {
        let invited = invited.clone();
        async move {
            let _ = invited.send((event.state_key, room.room_id().to_owned()));
        }
    });
    let (whom, where_) = sync_until(&bob, &mut invites).await;
    assert_eq!((whom, where_.as_str()), (bob_id.clone(), room.room_id().as_str()));
    let invited_rooms = bob.invited_rooms().await.expect("rooms");
    assert_eq!(invited_rooms.len(), 1);
    invited_rooms[0].join().await.expect("bob joins");

    let (said, mut messages) = unbounded_channel();
    bob.add_event_handler(move |event: OriginalSyncRoomMessageEvent, _: Room| {
        let said = said.clone();
        async move {
            let _ = said.send(event);
        }
    });
    let (reacted, mut reactions) = unbounded_channel();
    alice.add_event_handler(move |event: OriginalSyncReactionEvent, _: Room| {
        let reacted = reacted.clone();
        async move {
            let _ = reacted.send(event);
        }
    });
    let question = room.send_text("Lunch at noon?").await.expect("sent");
    let heard = sync_until(&bob, &mut messages).await;
    assert_eq!(heard.event_id, question);
    assert_eq!(heard.content.body(), "Lunch at noon?");

    // Bob's view of the room comes from his store.
    let bobs_room = bob.get_room(room.room_id()).await.expect("store").expect("known room");
    assert_eq!(bobs_room.membership().await.expect("store"), Some(Membership::Join));
    assert_eq!(bobs_room.name().await.expect("store").as_deref(), Some("Plans"));
    assert_eq!(bobs_room.topic().await.expect("store").as_deref(), Some("Where we go next"));
    let members = bobs_room.members().await.expect("members");
    assert_eq!(members.len(), 2);

    // Alice sees Bob typing, then reading.
    let (noticed, mut notices) = unbounded_channel();
    let typing_seen = noticed.clone();
    alice.add_event_handler(move |event: SyncTypingEvent, _: Room| {
        let seen = typing_seen.clone();
        async move {
            let _ = seen.send(format!("typing: {:?}", event.content.user_ids));
        }
    });
    alice.add_event_handler(move |event: SyncReceiptEvent, _: Room| {
        let seen = noticed.clone();
        async move {
            let _ = seen.send(format!("read: {:?}", event.content.0.keys().collect::<Vec<_>>()));
        }
    });
    bobs_room.typing(true).await.expect("typing");
    assert_eq!(sync_until(&alice, &mut notices).await, format!("typing: [{bob_id:?}]"));
    bobs_room.send_read_receipt(&question).await.expect("receipt");
    let read = loop {
        let notice = sync_until(&alice, &mut notices).await;
        if notice.starts_with("read") {
            break notice;
        }
    };
    assert_eq!(read, format!("read: [{question:?}]"));

    // Bob replies and reacts; Alice edits and starts a thread.
    let reply = bobs_room.reply(&question, alice.user_id().as_deref().expect("id"), "Yes!").await;
    let reply = reply.expect("reply sent");
    bobs_room.react(&question, "👍").await.expect("reaction sent");
    let reaction = sync_until(&alice, &mut reactions).await;
    assert_eq!(reaction.content.relates_to.event_id, question);
    assert_eq!(reaction.content.relates_to.key, "👍");

    room.edit_html(&question, "Lunch at **one**?", "Lunch at <strong>one</strong>?")
        .await
        .expect("edited");
    let edit = sync_until(&bob, &mut messages).await;
    // The reply came first on Bob's side too.
    let edit = if edit.event_id == reply { sync_until(&bob, &mut messages).await } else { edit };
    match edit.content.relates_to {
        Some(Relation::Replacement(replacement)) => {
            assert_eq!(replacement.event_id, question);
            assert_eq!(replacement.new_content.msgtype.body(), "Lunch at **one**?");
            let MessageType::Text(text) = &replacement.new_content.msgtype else {
                panic!("a text edit")
            };
            let html = text.formatted.as_ref().map(|f| f.body.as_str());
            assert_eq!(html, Some("Lunch at <strong>one</strong>?"));
        }
        other => panic!("expected an edit, got {other:?}"),
    }
    room.send_thread_reply(&question, "Or two?").await.expect("thread reply");
    let in_thread = sync_until(&bob, &mut messages).await;
    match in_thread.content.relates_to {
        Some(Relation::Thread(thread)) => assert_eq!(thread.event_id, question),
        other => panic!("expected a thread reply, got {other:?}"),
    }
    room.redact(&in_thread.event_id, Some("changed my mind")).await.expect("redacted");

    // Alice kicks Bob out; his store learns it at the next sync.
    room.kick_user(&bob_id, Some("lunch is over")).await.expect("kicked");
    let (left, mut leaves) = unbounded_channel();
    bob.add_event_handler(
        move |_: lattice_sdk::ruma::events::room::member::OriginalSyncRoomMemberEvent,
              room: Room| {
            let left = left.clone();
            async move {
                if room.membership().await.ok().flatten() == Some(Membership::Leave) {
                    let _ = left.send(());
                }
            }
        },
    );
    sync_until(&bob, &mut leaves).await;
    assert!(bob.joined_rooms().await.expect("store").is_empty());
}

async fn direct_chats_are_recorded(backend: Backend) {
    let server = TestServer::start(backend, |_| {}).await;
    let alice = registered(&server, "alice").await;
    let bob = registered(&server, "bob").await;
    let bob_id = bob.user_id().expect("id");
    let dm = alice.create_dm(&bob_id).await.expect("dm created");
    let direct = alice.direct_rooms().await.expect("m.direct");
    let rooms: Vec<_> = direct.values().flatten().collect();
    assert_eq!(rooms, [dm.room_id()]);
    // The server keeps it: a fresh client of Alice's sees it after a sync.
    let again =
        lattice_sdk::Client::builder().homeserver_url(server.url()).build().await.expect("c");
    again.login_password("alice", "correct horse", None).await.expect("login");
    again.sync_once(Default::default()).await.expect("sync");
    let direct = again.direct_rooms().await.expect("m.direct");
    assert!(direct.values().flatten().any(|room| room == dm.room_id()));
    // Bob is invited to it as a direct chat.
    bob.sync_once(Default::default()).await.expect("sync");
    let invites = bob.invited_rooms().await.expect("rooms");
    assert_eq!(invites.len(), 1);
    assert_eq!(invites[0].room_id(), dm.room_id());
}

/// The fully-read marker is the user's, on every device: set on one,
/// read on another; never set, it is none.
async fn read_markers_follow_the_user(backend: Backend) {
    let server = TestServer::start(backend, |_| {}).await;
    let laptop = registered(&server, "alice").await;
    let room = laptop.create_room(create_room::v3::Request::new()).await.expect("room");
    let first = room.send_text("first").await.expect("sent");
    room.send_text("second").await.expect("sent");
    assert_eq!(room.fully_read().await.expect("marker"), None);

    room.mark_read(&first).await.expect("marked");
    let phone =
        lattice_sdk::Client::builder().homeserver_url(server.url()).build().await.expect("client");
    phone.login_password("alice", "correct horse", Some("phone")).await.expect("login");
    let on_phone = phone.room(room.room_id().to_owned());
    assert_eq!(on_phone.fully_read().await.expect("marker"), Some(first));
}

/// Presence as a room-mate sees it: away with a message, staying away
/// while syncing says so, back when a sync says online.
async fn away_and_back(backend: Backend) {
    let server = TestServer::start(backend, |_| {}).await;
    let alice = registered(&server, "alice").await;
    let bob = registered(&server, "bob").await;
    let mut request = create_room::v3::Request::new();
    request.invite = vec![bob.user_id().expect("bob")];
    let room = alice.create_room(request).await.expect("room");
    bob.join_room_by_id_or_alias(room.room_id().as_str()).await.expect("joined");
    let alice_id = alice.user_id().expect("alice");

    alice.set_presence(PresenceState::Unavailable, Some("lunch")).await.expect("away");
    let away = SyncSettings::new().timeout(Duration::ZERO).presence(PresenceState::Unavailable);
    alice.sync_once(away).await.expect("sync");
    let seen = bob.presence(&alice_id).await.expect("presence");
    assert_eq!(seen, (PresenceState::Unavailable, Some("lunch".to_owned())));

    alice.sync_once(SyncSettings::new().timeout(Duration::ZERO)).await.expect("sync");
    let seen = bob.presence(&alice_id).await.expect("presence");
    assert_eq!(seen.0, PresenceState::Online);
}
