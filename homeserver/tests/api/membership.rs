//! Invites, joins, kicks, bans, leaving and forgetting.

use serde_json::json;

use crate::{
    backend_tests,
    common::{Backend, TestServer},
};

backend_tests!(invite_only_rooms_need_an_invite, kicks_and_bans, leave_and_forget, members_lists);

async fn invite_only_rooms_need_an_invite(backend: Backend) {
    let s = TestServer::new(backend).await;
    let alice = s.register("alice", "pw").await;
    let bob = s.register("bob", "pw").await;
    let room = s.create_room(&alice.token, json!({"preset": "private_chat"})).await;
    s.join(&bob.token, &room).await.err(403, "M_FORBIDDEN");
    s.invite(&bob.token, &room, &alice.user_id).await.err(403, "M_FORBIDDEN");
    s.invite(&alice.token, &room, "@ghost:localhost").await.err(404, "M_NOT_FOUND");
    s.invite(&alice.token, &room, &bob.user_id).await.ok();
    let joined = s.join(&bob.token, &room).await.ok();
    assert_eq!(joined["room_id"], room.as_str());
    s.send_text(&bob.token, &room, "thanks for the invite").await;
    // Joining again is harmless.
    s.join(&bob.token, &room).await.ok();
    s.get("/_matrix/client/v3/rooms/!unknown:localhost/joined_members", Some(&bob.token))
        .await
        .err(404, "M_NOT_FOUND");
}

async fn kicks_and_bans(backend: Backend) {
    let s = TestServer::new(backend).await;
    let alice = s.register("alice", "pw").await;
    let bob = s.register("bob", "pw").await;
    let carol = s.register("carol", "pw").await;
    let room = s.create_room(&alice.token, json!({"preset": "public_chat"})).await;
    s.join(&bob.token, &room).await.ok();
    let action = |what: &str| format!("/_matrix/client/v3/rooms/{room}/{what}");

    // Carol is not in the room: she cannot be kicked, and cannot ban.
    s.post(&action("kick"), Some(&alice.token), json!({"user_id": carol.user_id}))
        .await
        .err(403, "M_FORBIDDEN");
    s.post(&action("ban"), Some(&carol.token), json!({"user_id": bob.user_id}))
        .await
        .err(403, "M_FORBIDDEN");

    s.post(
        &action("kick"),
        Some(&alice.token),
        json!({"user_id": bob.user_id, "reason": "calm down"}),
    )
    .await
    .ok();
    let member = s
        .get(
            &format!("/_matrix/client/v3/rooms/{room}/state/m.room.member/{}", bob.user_id),
            Some(&alice.token),
        )
        .await
        .ok();
    assert_eq!(member["membership"], "leave");
    assert_eq!(member["reason"], "calm down");
    s.send_text(&alice.token, &room, "after the kick").await;
    s.put(
        &format!("/_matrix/client/v3/rooms/{room}/send/m.room.message/x"),
        Some(&bob.token),
        json!({"body": "let me in"}),
    )
    .await
    .err(403, "M_FORBIDDEN");
    // A kicked user may come back to a public room.
    s.join(&bob.token, &room).await.ok();

    s.post(&action("ban"), Some(&alice.token), json!({"user_id": bob.user_id})).await.ok();
    s.join(&bob.token, &room).await.err(403, "M_FORBIDDEN");
    s.post(&action("unban"), Some(&alice.token), json!({"user_id": carol.user_id}))
        .await
        .err(403, "M_FORBIDDEN");
    s.post(&action("unban"), Some(&alice.token), json!({"user_id": bob.user_id})).await.ok();
    s.join(&bob.token, &room).await.ok();
}

async fn leave_and_forget(backend: Backend) {
    let s = TestServer::new(backend).await;
    let alice = s.register("alice", "pw").await;
    let bob = s.register("bob", "pw").await;
    let room = s.create_room(&alice.token, json!({"preset": "public_chat"})).await;
    let leave = format!("/_matrix/client/v3/rooms/{room}/leave");
    let forget = format!("/_matrix/client/v3/rooms/{room}/forget");
    s.post(&leave, Some(&bob.token), json!({})).await.err(403, "M_FORBIDDEN");
    s.join(&bob.token, &room).await.ok();
    s.post(&forget, Some(&bob.token), json!({})).await.err(400, "M_UNKNOWN");
    s.post(&leave, Some(&bob.token), json!({"reason": "bye"})).await.ok();
    let rooms = s.get("/_matrix/client/v3/joined_rooms", Some(&bob.token)).await.ok();
    assert_eq!(rooms["joined_rooms"], json!([]));
    s.post(&forget, Some(&bob.token), json!({})).await.ok();
    let initial = s.sync(&bob.token, None, 0).await;
    assert!(initial["rooms"]["leave"].get(&room).is_none());
}

async fn members_lists(backend: Backend) {
    let s = TestServer::new(backend).await;
    let alice = s.register("alice", "pw").await;
    let bob = s.register("bob", "pw").await;
    let carol = s.register("carol", "pw").await;
    let room = s.create_room(&alice.token, json!({"preset": "public_chat"})).await;
    s.join(&bob.token, &room).await.ok();
    // A token from before Carol was invited shows the room as it was.
    let before_carol =
        s.sync(&alice.token, None, 0).await["next_batch"].as_str().expect("token").to_owned();
    s.invite(&alice.token, &room, &carol.user_id).await.ok();
    let members =
        s.get(&format!("/_matrix/client/v3/rooms/{room}/members"), Some(&alice.token)).await.ok();
    assert_eq!(members["chunk"].as_array().expect("chunk").len(), 3);
    let then = s
        .get(
            &format!("/_matrix/client/v3/rooms/{room}/members?at={before_carol}"),
            Some(&alice.token),
        )
        .await
        .ok();
    let then: Vec<&str> = then["chunk"]
        .as_array()
        .expect("chunk")
        .iter()
        .filter_map(|e| e["state_key"].as_str())
        .collect();
    assert_eq!(then.len(), 2, "{then:?}");
    assert!(!then.contains(&carol.user_id.as_str()));
    s.get(&format!("/_matrix/client/v3/rooms/{room}/members?at=nonsense"), Some(&alice.token))
        .await
        .err(400, "M_INVALID_PARAM");
    let joined = s
        .get(
            &format!("/_matrix/client/v3/rooms/{room}/members?membership=join"),
            Some(&alice.token),
        )
        .await
        .ok();
    assert_eq!(joined["chunk"].as_array().expect("chunk").len(), 2);
    let not_joined = s
        .get(
            &format!("/_matrix/client/v3/rooms/{room}/members?not_membership=join"),
            Some(&alice.token),
        )
        .await
        .ok();
    assert_eq!(not_joined["chunk"][0]["state_key"], carol.user_id.as_str());
    let jm = s
        .get(&format!("/_matrix/client/v3/rooms/{room}/joined_members"), Some(&bob.token))
        .await
        .ok();
    assert_eq!(jm["joined"][&alice.user_id]["display_name"], "alice");
    assert!(jm["joined"].get(&carol.user_id).is_none());
    // Outsiders see nothing.
    let dave = s.register("dave", "pw").await;
    s.get(&format!("/_matrix/client/v3/rooms/{room}/members"), Some(&dave.token))
        .await
        .err(403, "M_FORBIDDEN");
}
