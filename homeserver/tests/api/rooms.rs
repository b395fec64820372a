//! Creating rooms, sending events, state and power levels.

use serde_json::json;

use crate::{
    backend_tests,
    common::{Backend, TestServer},
};

backend_tests!(
    create_room_with_presets_and_state,
    room_versions_are_checked,
    same_txn_id_yields_one_event,
    power_levels_are_enforced,
    oversized_and_malformed_events_are_refused,
    redactions_follow_power_levels,
);

async fn create_room_with_presets_and_state(backend: Backend) {
    let s = TestServer::new(backend).await;
    let alice = s.register("alice", "pw").await;
    let t = Some(alice.token.as_str());
    let room = s
        .create_room(
            &alice.token,
            json!({"name": "Lounge", "topic": "chat", "preset": "public_chat", "room_alias_name": "lounge",
                   "initial_state": [{"type": "m.room.guest_access", "state_key": "", "content": {"guest_access": "can_join"}}]}),
        )
        .await;
    let state = |kind: &str| format!("/_matrix/client/v3/rooms/{room}/state/{kind}");
    assert_eq!(s.get(&state("m.room.name"), t).await.ok()["name"], "Lounge");
    assert_eq!(s.get(&state("m.room.name/"), t).await.ok()["name"], "Lounge");
    assert_eq!(s.get(&state("m.room.topic/"), t).await.ok()["topic"], "chat");
    assert_eq!(s.get(&state("m.room.join_rules"), t).await.ok()["join_rule"], "public");
    assert_eq!(s.get(&state("m.room.guest_access"), t).await.ok()["guest_access"], "can_join");
    assert_eq!(s.get(&state("m.room.create"), t).await.ok()["room_version"], "12");
    assert_eq!(s.get(&state("m.room.canonical_alias"), t).await.ok()["alias"], "#lounge:localhost");
    let joined = s.get("/_matrix/client/v3/joined_rooms", t).await.ok();
    assert_eq!(joined["joined_rooms"], json!([room]));
    let alias = s.get("/_matrix/client/v3/directory/room/%23lounge:localhost", None).await.ok();
    assert_eq!(alias["room_id"], room.as_str());
    let all = s.get(&format!("/_matrix/client/v3/rooms/{room}/state"), t).await.ok();
    assert!(all.as_array().expect("state").iter().any(|e| e["type"] == "m.room.power_levels"));

    // A private room is invite-only; the alias cannot be taken twice.
    let private = s.create_room(&alice.token, json!({"preset": "private_chat"})).await;
    let rules =
        s.get(&format!("/_matrix/client/v3/rooms/{private}/state/m.room.join_rules"), t).await.ok();
    assert_eq!(rules["join_rule"], "invite");
    s.post("/_matrix/client/v3/createRoom", t, json!({"room_alias_name": "lounge"}))
        .await
        .err(400, "M_ROOM_IN_USE");
}

async fn room_versions_are_checked(backend: Backend) {
    let s = TestServer::new(backend).await;
    let alice = s.register("alice", "pw").await;
    let supported = ["1", "2", "3", "6", "9", "10", "11"];
    for version in supported {
        let room =
            s.create_room(&alice.token, json!({"room_version": version, "name": "old"})).await;
        assert!(room.ends_with(":localhost"), "v{version} room ids name the server: {room}");
        let create = s
            .get(
                &format!("/_matrix/client/v3/rooms/{room}/state/m.room.create"),
                Some(&alice.token),
            )
            .await
            .ok();
        assert_eq!(create["room_version"], version);
        s.send_text(&alice.token, &room, "works").await;
    }
    for unsupported in ["999", "org.example.unknown"] {
        s.post(
            "/_matrix/client/v3/createRoom",
            Some(&alice.token),
            json!({"room_version": unsupported}),
        )
        .await
        .err(400, "M_UNSUPPORTED_ROOM_VERSION");
    }
    assert_eq!(
        s.get("/_matrix/client/v3/joined_rooms", Some(&alice.token)).await.ok()["joined_rooms"]
            .as_array()
            .expect("rooms")
            .len(),
        supported.len(),
        "unsupported versions made no rooms"
    );
}

async fn same_txn_id_yields_one_event(backend: Backend) {
    let mut s = TestServer::new(backend).await;
    let alice = s.register("alice", "pw").await;
    let room = s.create_room(&alice.token, json!({})).await;
    let path = format!("/_matrix/client/v3/rooms/{room}/send/m.room.message/txn-1");
    let body = json!({"msgtype": "m.text", "body": "once"});
    let (first, second) = tokio::join!(
        s.put(&path, Some(&alice.token), body.clone()),
        s.put(&path, Some(&alice.token), body.clone())
    );
    let (first, second) = (first.ok(), second.ok());
    assert_eq!(first["event_id"], second["event_id"]);
    let third = s.put(&path, Some(&alice.token), body.clone()).await.ok();
    assert_eq!(first["event_id"], third["event_id"]);
    // A retry after a restart still finds the first send (the ids a device
    // used are remembered from the database, not only in memory).
    s.restart().await;
    let after_restart = s.put(&path, Some(&alice.token), body.clone()).await.ok();
    assert_eq!(first["event_id"], after_restart["event_id"]);
    let fresh = format!("/_matrix/client/v3/rooms/{room}/send/m.room.message/txn-2");
    let new_txn = s.put(&fresh, Some(&alice.token), body.clone()).await.ok();
    assert_ne!(new_txn["event_id"], first["event_id"]);
    assert_eq!(s.put(&fresh, Some(&alice.token), body.clone()).await.ok(), new_txn);

    // Another device may reuse the txn id for its own event.
    let other = crate::common::session_from(&s.login("alice", "pw", None).await.ok());
    let other_event = s.put(&path, Some(&other.token), body).await.ok();
    assert_ne!(other_event["event_id"], first["event_id"]);

    let page = s
        .get(
            &format!("/_matrix/client/v3/rooms/{room}/messages?dir=b&limit=10"),
            Some(&alice.token),
        )
        .await
        .ok();
    assert_eq!(TestServer::bodies(&page["chunk"]), vec!["once", "once", "once"]);
    // The txn id is echoed to the sending device only.
    let mine = page["chunk"]
        .as_array()
        .expect("chunk")
        .iter()
        .find(|e| e["event_id"] == first["event_id"])
        .expect("first event");
    assert_eq!(mine["unsigned"]["transaction_id"], "txn-1");
    let theirs = page["chunk"]
        .as_array()
        .expect("chunk")
        .iter()
        .find(|e| e["event_id"] == other_event["event_id"])
        .expect("other event");
    assert!(theirs["unsigned"].get("transaction_id").is_none());
}

async fn power_levels_are_enforced(backend: Backend) {
    let s = TestServer::new(backend).await;
    let alice = s.register("alice", "pw").await;
    let bob = s.register("bob", "pw").await;
    let room =
        s.create_room(&alice.token, json!({"preset": "public_chat", "name": "Original"})).await;
    s.join(&bob.token, &room).await.ok();
    let name = format!("/_matrix/client/v3/rooms/{room}/state/m.room.name");
    s.put(&name, Some(&bob.token), json!({"name": "Hijacked"})).await.err(403, "M_FORBIDDEN");
    assert_eq!(s.get(&name, Some(&bob.token)).await.ok()["name"], "Original");
    s.post(
        &format!("/_matrix/client/v3/rooms/{room}/kick"),
        Some(&bob.token),
        json!({"user_id": alice.user_id}),
    )
    .await
    .err(403, "M_FORBIDDEN");
    s.post(
        &format!("/_matrix/client/v3/rooms/{room}/ban"),
        Some(&bob.token),
        json!({"user_id": alice.user_id}),
    )
    .await
    .err(403, "M_FORBIDDEN");

    // Raising bob to moderator lets him rename the room.
    let levels = format!("/_matrix/client/v3/rooms/{room}/state/m.room.power_levels");
    let mut content = s.get(&levels, Some(&alice.token)).await.ok();
    content["users"][bob.user_id.as_str()] = json!(50);
    s.put(&levels, Some(&alice.token), content).await.ok();
    s.put(&name, Some(&bob.token), json!({"name": "Renamed"})).await.ok();
    assert_eq!(s.get(&name, Some(&alice.token)).await.ok()["name"], "Renamed");
    // A user cannot set another user's member state.
    s.put(
        &format!("/_matrix/client/v3/rooms/{room}/state/m.room.member/{}", alice.user_id),
        Some(&bob.token),
        json!({"membership": "join"}),
    )
    .await
    .err(403, "M_FORBIDDEN");
}

async fn oversized_and_malformed_events_are_refused(backend: Backend) {
    let s = TestServer::start(backend, |c| c.limits.max_request_bytes = 200_000).await;
    let alice = s.register("alice", "pw").await;
    let room = s.create_room(&alice.token, json!({})).await;
    let path = format!("/_matrix/client/v3/rooms/{room}/send/m.room.message/big");
    let body = json!({"msgtype": "m.text", "body": "x".repeat(70_000)});
    s.put(&path, Some(&alice.token), body).await.err(413, "M_TOO_LARGE");
    s.put(&path, Some(&alice.token), json!(["not", "an", "object"])).await.err(400, "M_BAD_JSON");
    s.put(
        &format!("/_matrix/client/v3/rooms/{room}/state/m.room.member/not-a-user-id"),
        Some(&alice.token),
        json!({"membership": "join"}),
    )
    .await
    .err(400, "M_INVALID_PARAM");
    s.put(
        "/_matrix/client/v3/rooms/!nowhere:localhost/send/m.room.message/x",
        Some(&alice.token),
        json!({"body": "hi"}),
    )
    .await
    .err(404, "M_NOT_FOUND");
    let page = s
        .get(
            &format!("/_matrix/client/v3/rooms/{room}/messages?dir=b&limit=50"),
            Some(&alice.token),
        )
        .await
        .ok();
    assert!(TestServer::bodies(&page["chunk"]).is_empty(), "nothing was stored: {}", page["chunk"]);
}

async fn redactions_follow_power_levels(backend: Backend) {
    let s = TestServer::new(backend).await;
    let alice = s.register("alice", "pw").await;
    let bob = s.register("bob", "pw").await;
    let room = s.create_room(&alice.token, json!({"preset": "public_chat"})).await;
    s.join(&bob.token, &room).await.ok();
    let alices = s.send_text(&alice.token, &room, "alice's secret").await;
    let bobs = s.send_text(&bob.token, &room, "bob's typo").await;

    let redact =
        |event: &str, txn: &str| format!("/_matrix/client/v3/rooms/{room}/redact/{event}/{txn}");
    s.put(&redact(&alices, "r1"), Some(&bob.token), json!({"reason": "no"}))
        .await
        .err(403, "M_FORBIDDEN");
    s.put(&redact(&bobs, "r2"), Some(&bob.token), json!({"reason": "typo"})).await.ok();
    let gone = s
        .get(&format!("/_matrix/client/v3/rooms/{room}/event/{bobs}"), Some(&alice.token))
        .await
        .ok();
    assert_eq!(gone["content"], json!({}));
    assert!(gone["unsigned"]["redacted_because"].is_object());
    let kept = s
        .get(&format!("/_matrix/client/v3/rooms/{room}/event/{alices}"), Some(&bob.token))
        .await
        .ok();
    assert_eq!(kept["content"]["body"], "alice's secret");
    // The creator outranks bob and may redact his events.
    let another = s.send_text(&bob.token, &room, "spam").await;
    s.put(&redact(&another, "r3"), Some(&alice.token), json!({})).await.ok();
    let spam = s
        .get(&format!("/_matrix/client/v3/rooms/{room}/event/{another}"), Some(&bob.token))
        .await
        .ok();
    assert_eq!(spam["content"], json!({}));
}

mod upgrades {
    use serde_json::json;

    use crate::{
        backend_tests,
        common::{Backend, TestServer},
    };

    backend_tests!(upgrading_a_room_moves_people_on);

    async fn upgrading_a_room_moves_people_on(backend: Backend) {
        let s = TestServer::new(backend).await;
        let alice = s.register("alice", "pw").await;
        let bob = s.register("bob", "pw").await;
        let old = s
            .create_room(
                &alice.token,
                json!({"room_version": "11", "preset": "public_chat", "name": "Old hall", "room_alias_name": "hall"}),
            )
            .await;
        s.join(&bob.token, &old).await.ok();
        let upgrade = format!("/_matrix/client/v3/rooms/{old}/upgrade");
        s.post(&upgrade, Some(&bob.token), json!({"new_version": "12"}))
            .await
            .err(403, "M_FORBIDDEN");
        s.post(&upgrade, Some(&alice.token), json!({"new_version": "99"}))
            .await
            .err(400, "M_UNSUPPORTED_ROOM_VERSION");
        let answer = s.post(&upgrade, Some(&alice.token), json!({"new_version": "12"})).await.ok();
        let new = answer["replacement_room"].as_str().expect("replacement room").to_owned();

        let state =
            |room: &str, kind: &str| format!("/_matrix/client/v3/rooms/{room}/state/{kind}");
        let tombstone = s.get(&state(&old, "m.room.tombstone"), Some(&bob.token)).await.ok();
        assert_eq!(tombstone["replacement_room"], new.as_str());
        let create = s.get(&state(&new, "m.room.create"), Some(&alice.token)).await.ok();
        assert_eq!(create["room_version"], "12");
        assert_eq!(create["predecessor"]["room_id"], old.as_str());
        assert_eq!(
            s.get(&state(&new, "m.room.name"), Some(&alice.token)).await.ok()["name"],
            "Old hall"
        );
        let alias = s.get("/_matrix/client/v3/directory/room/%23hall:localhost", None).await.ok();
        assert_eq!(alias["room_id"], new.as_str());
        // The old room is muted; the new one is open to bob.
        s.put(
            &format!("/_matrix/client/v3/rooms/{old}/send/m.room.message/late"),
            Some(&bob.token),
            json!({"msgtype": "m.text", "body": "hello?"}),
        )
        .await
        .err(403, "M_FORBIDDEN");
        s.join(&bob.token, &new).await.ok();
        s.send_text(&bob.token, &new, "moved in").await;
    }
}

mod redacted_state {
    use serde_json::json;

    use crate::{
        backend_tests,
        common::{Backend, TestServer},
    };

    backend_tests!(redacting_state_clears_it);

    async fn redacting_state_clears_it(backend: Backend) {
        let s = TestServer::new(backend).await;
        let alice = s.register("alice", "pw").await;
        let room = s.create_room(&alice.token, json!({"topic": "secret plans"})).await;
        let topic = s
            .get(&format!("/_matrix/client/v3/rooms/{room}/state"), Some(&alice.token))
            .await
            .ok()
            .as_array()
            .expect("state")
            .iter()
            .find(|e| e["type"] == "m.room.topic")
            .and_then(|e| e["event_id"].as_str().map(str::to_owned))
            .expect("topic event");
        s.put(
            &format!("/_matrix/client/v3/rooms/{room}/redact/{topic}/t"),
            Some(&alice.token),
            json!({}),
        )
        .await
        .ok();
        let now = s
            .get(&format!("/_matrix/client/v3/rooms/{room}/state/m.room.topic"), Some(&alice.token))
            .await
            .ok();
        assert_eq!(now, json!({}));
    }
}
