//! Moderation as users live it, written with our SDK: who may rename,
//! kick and ban, and what a ban means.

use lattice_sdk::{
    Client, Room,
    ruma::{
        api::client::room::create_room::v3::{Request as CreateRoom, RoomPreset},
        events::room::power_levels::RoomPowerLevelsEventContent,
        int,
        room_version_rules::AuthorizationRules,
    },
};

use crate::{
    backend_tests,
    common::{Backend, TestServer},
};

backend_tests!(power_levels_kicks_and_bans);

async fn user(s: &TestServer, name: &str) -> Client {
    let client = Client::builder().homeserver_url(s.url()).build().await.expect("client");
    client.register(name, "correct horse").await.expect("registered");
    client
}

async fn power_levels_kicks_and_bans(backend: Backend) {
    let s = TestServer::new(backend).await;
    let alice = user(&s, "alice").await;
    let bob = user(&s, "bob").await;
    let mut request = CreateRoom::new();
    request.preset = Some(RoomPreset::PublicChat);
    request.name = Some("Town square".into());
    let room = alice.create_room(request).await.expect("room");
    let bobs: Room = bob.join_room_by_id_or_alias(room.room_id().as_str()).await.expect("joined");
    let alice_id = alice.user_id().expect("id");
    let bob_id = bob.user_id().expect("id");

    // Bob has the default power level: he may talk, not moderate.
    bobs.send_text("hello").await.expect("members may talk");
    let rename = bobs.set_name("Bob's square").await.expect_err("too low to rename");
    assert_eq!(rename.errcode().as_deref(), Some("M_FORBIDDEN"));
    let kick = bobs.kick_user(&alice_id, None).await.expect_err("too low to kick");
    assert_eq!(kick.errcode().as_deref(), Some("M_FORBIDDEN"));
    let ban = bobs.ban_user(&alice_id, None).await.expect_err("too low to ban");
    assert_eq!(ban.errcode().as_deref(), Some("M_FORBIDDEN"));
    // Nothing changed: the name and Alice's membership stand.
    alice.sync_once(Default::default()).await.expect("sync");
    let known = alice.get_room(room.room_id()).await.expect("store").expect("room");
    assert_eq!(known.name().await.expect("store").as_deref(), Some("Town square"));
    let members = known.members().await.expect("members");
    assert_eq!(members.len(), 2);

    // Raising the level messages need silences Bob at once, though he was
    // allowed a moment ago; lowering it again lets him talk.
    let mut levels = RoomPowerLevelsEventContent::new(&AuthorizationRules::V12);
    levels.events_default = int!(50);
    room.send_state("", &levels).await.expect("levels raised");
    let muted = bobs.send_text("still here?").await.expect_err("muted");
    assert_eq!(muted.errcode().as_deref(), Some("M_FORBIDDEN"));
    levels.events_default = int!(0);
    room.send_state("", &levels).await.expect("levels lowered");
    bobs.send_text("back again").await.expect("may talk again");

    // Alice bans Bob: he is out and cannot come back until unbanned.
    room.ban_user(&bob_id, Some("spam")).await.expect("banned");
    let rejoin = bob.join_room_by_id_or_alias(room.room_id().as_str()).await;
    assert_eq!(rejoin.expect_err("banned").errcode().as_deref(), Some("M_FORBIDDEN"));
    let talk = bobs.send_text("let me in").await.expect_err("not in the room");
    assert_eq!(talk.errcode().as_deref(), Some("M_FORBIDDEN"));
    room.unban_user(&bob_id).await.expect("unbanned");
    bob.join_room_by_id_or_alias(room.room_id().as_str()).await.expect("welcome back");
    bobs.leave().await.expect("left");
    bobs.forget().await.expect("forgotten");
}
