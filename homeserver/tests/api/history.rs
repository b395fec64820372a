//! /messages pagination and history visibility.

use serde_json::json;

use crate::{
    backend_tests,
    common::{Backend, TestServer},
};

backend_tests!(
    messages_paginate_both_ways,
    history_visibility_is_respected,
    left_users_see_up_to_their_leave,
    concurrent_sends_keep_one_order
);

async fn messages_paginate_both_ways(backend: Backend) {
    let s = TestServer::new(backend).await;
    let alice = s.register("alice", "pw").await;
    let room = s.create_room(&alice.token, json!({})).await;
    for i in 0..25 {
        s.send_text(&alice.token, &room, &format!("m{i}")).await;
    }
    let mut seen = Vec::new();
    let mut from: Option<String> = None;
    loop {
        let mut path = format!("/_matrix/client/v3/rooms/{room}/messages?dir=b&limit=10");
        if let Some(from) = &from {
            path.push_str(&format!("&from={from}"));
        }
        let page = s.get(&path, Some(&alice.token)).await.ok();
        seen.extend(TestServer::bodies(&page["chunk"]));
        match page["end"].as_str() {
            Some(end) => from = Some(end.to_owned()),
            None => break,
        }
    }
    let expected: Vec<String> = (0..25).rev().map(|i| format!("m{i}")).collect();
    assert_eq!(seen, expected);

    let forward = s
        .get(
            &format!("/_matrix/client/v3/rooms/{room}/messages?dir=f&limit=100"),
            Some(&alice.token),
        )
        .await
        .ok();
    let bodies = TestServer::bodies(&forward["chunk"]);
    assert_eq!(bodies.first().map(String::as_str), Some("m0"));
    assert_eq!(bodies.len(), 25);
    assert_eq!(forward["chunk"][0]["type"], "m.room.create");
    s.get(
        &format!("/_matrix/client/v3/rooms/{room}/messages?dir=b&from=garbage"),
        Some(&alice.token),
    )
    .await
    .err(400, "M_INVALID_PARAM");
}

async fn history_visibility_is_respected(backend: Backend) {
    let s = TestServer::new(backend).await;
    let alice = s.register("alice", "pw").await;
    let bob = s.register("bob", "pw").await;
    let carol = s.register("carol", "pw").await;
    // "joined": newcomers see nothing from before they joined.
    let joined_only = s
        .create_room(
            &alice.token,
            json!({"preset": "public_chat", "initial_state": [{"type": "m.room.history_visibility",
                   "state_key": "", "content": {"history_visibility": "joined"}}]}),
        )
        .await;
    let secret = s.send_text(&alice.token, &joined_only, "before bob").await;
    s.join(&bob.token, &joined_only).await.ok();
    s.send_text(&alice.token, &joined_only, "after bob").await;
    let page = s
        .get(
            &format!("/_matrix/client/v3/rooms/{joined_only}/messages?dir=b&limit=50"),
            Some(&bob.token),
        )
        .await
        .ok();
    assert_eq!(TestServer::bodies(&page["chunk"]), vec!["after bob"]);
    s.get(&format!("/_matrix/client/v3/rooms/{joined_only}/event/{secret}"), Some(&bob.token))
        .await
        .err(404, "M_NOT_FOUND");

    // "shared": newcomers see the earlier history.
    let shared = s.create_room(&alice.token, json!({"preset": "public_chat"})).await;
    s.send_text(&alice.token, &shared, "old news").await;
    s.join(&bob.token, &shared).await.ok();
    let page = s
        .get(
            &format!("/_matrix/client/v3/rooms/{shared}/messages?dir=b&limit=50"),
            Some(&bob.token),
        )
        .await
        .ok();
    assert_eq!(TestServer::bodies(&page["chunk"]), vec!["old news"]);
    // Outsiders see nothing at all.
    s.get(&format!("/_matrix/client/v3/rooms/{shared}/messages?dir=b"), Some(&carol.token))
        .await
        .err(403, "M_FORBIDDEN");

    // "world_readable": anyone with an account may read.
    let open = s
        .create_room(
            &alice.token,
            json!({"preset": "public_chat", "initial_state": [{"type": "m.room.history_visibility",
                   "state_key": "", "content": {"history_visibility": "world_readable"}}]}),
        )
        .await;
    s.send_text(&alice.token, &open, "for everyone").await;
    let page = s
        .get(
            &format!("/_matrix/client/v3/rooms/{open}/messages?dir=b&limit=50"),
            Some(&carol.token),
        )
        .await
        .ok();
    assert_eq!(TestServer::bodies(&page["chunk"]), vec!["for everyone"]);
}

async fn left_users_see_up_to_their_leave(backend: Backend) {
    let s = TestServer::new(backend).await;
    let alice = s.register("alice", "pw").await;
    let bob = s.register("bob", "pw").await;
    let room = s
        .create_room(
            &alice.token,
            json!({"preset": "public_chat", "name": "Before", "initial_state": [{"type": "m.room.history_visibility",
                   "state_key": "", "content": {"history_visibility": "joined"}}]}),
        )
        .await;
    s.join(&bob.token, &room).await.ok();
    s.send_text(&alice.token, &room, "while bob is here").await;
    s.post(&format!("/_matrix/client/v3/rooms/{room}/leave"), Some(&bob.token), json!({}))
        .await
        .ok();
    s.send_text(&alice.token, &room, "after bob left").await;
    s.put(
        &format!("/_matrix/client/v3/rooms/{room}/state/m.room.name"),
        Some(&alice.token),
        json!({"name": "After"}),
    )
    .await
    .ok();
    let page = s
        .get(&format!("/_matrix/client/v3/rooms/{room}/messages?dir=b&limit=50"), Some(&bob.token))
        .await
        .ok();
    assert_eq!(TestServer::bodies(&page["chunk"]), vec!["while bob is here"]);
    // State as it was when bob left.
    let name = s
        .get(&format!("/_matrix/client/v3/rooms/{room}/state/m.room.name"), Some(&bob.token))
        .await
        .ok();
    assert_eq!(name["name"], "Before");
}

mod context {
    use serde_json::json;

    use crate::{
        backend_tests,
        common::{Backend, TestServer},
    };

    backend_tests!(context_around_an_event, knocking_asks_to_join);

    async fn context_around_an_event(backend: Backend) {
        let s = TestServer::new(backend).await;
        let alice = s.register("alice", "pw").await;
        let room = s.create_room(&alice.token, json!({})).await;
        let mut ids = Vec::new();
        for i in 0..9 {
            ids.push(s.send_text(&alice.token, &room, &format!("c{i}")).await);
        }
        let context = s
            .get(
                &format!("/_matrix/client/v3/rooms/{room}/context/{}?limit=4", ids[4]),
                Some(&alice.token),
            )
            .await
            .ok();
        assert_eq!(context["event"]["content"]["body"], "c4");
        assert_eq!(TestServer::bodies(&context["events_before"]), vec!["c3", "c2"]);
        assert_eq!(TestServer::bodies(&context["events_after"]), vec!["c5", "c6"]);
        assert!(
            context["state"]
                .as_array()
                .expect("state")
                .iter()
                .any(|e| e["type"] == "m.room.create")
        );
        let bob = s.register("bob", "pw").await;
        s.get(&format!("/_matrix/client/v3/rooms/{room}/context/{}", ids[4]), Some(&bob.token))
            .await
            .err(404, "M_NOT_FOUND");
    }

    async fn knocking_asks_to_join(backend: Backend) {
        let s = TestServer::new(backend).await;
        let alice = s.register("alice", "pw").await;
        let bob = s.register("bob", "pw").await;
        let room = s
            .create_room(
                &alice.token,
                json!({"initial_state": [{"type": "m.room.join_rules", "state_key": "",
                       "content": {"join_rule": "knock"}}]}),
            )
            .await;
        let knocked = s
            .post(
                &format!("/_matrix/client/v3/knock/{room}"),
                Some(&bob.token),
                json!({"reason": "hi"}),
            )
            .await
            .ok();
        assert_eq!(knocked["room_id"], room.as_str());
        let bob_sync = s.sync(&bob.token, None, 0).await;
        assert!(
            bob_sync["rooms"]["knock"][&room]["knock_state"]["events"].is_array(),
            "{bob_sync}"
        );
        s.invite(&alice.token, &room, &bob.user_id).await.ok();
        s.join(&bob.token, &room).await.ok();
        // Invite-only rooms refuse knocks.
        let closed = s.create_room(&alice.token, json!({"preset": "private_chat"})).await;
        let carol = s.register("carol", "pw").await;
        s.post(&format!("/_matrix/client/v3/knock/{closed}"), Some(&carol.token), json!({}))
            .await
            .err(403, "M_FORBIDDEN");
    }
}

mod jump_to_date {
    use serde_json::json;

    use crate::{
        backend_tests,
        common::{Backend, TestServer},
    };

    backend_tests!(timestamp_to_event_finds_the_nearest_event);

    async fn timestamp_to_event_finds_the_nearest_event(backend: Backend) {
        let s = TestServer::new(backend).await;
        let alice = s.register("alice", "pw").await;
        let room = s.create_room(&alice.token, json!({})).await;
        let first = s.send_text(&alice.token, &room, "first").await;
        let at = s
            .get(&format!("/_matrix/client/v3/rooms/{room}/event/{first}"), Some(&alice.token))
            .await
            .ok()["origin_server_ts"]
            .as_i64()
            .expect("ts");
        let base = format!("/_matrix/client/v1/rooms/{room}/timestamp_to_event");
        let after = s.get(&format!("{base}?ts={at}&dir=f"), Some(&alice.token)).await.ok();
        assert_eq!(after["origin_server_ts"], at);
        let future = at + 3_600_000;
        s.get(&format!("{base}?ts={future}&dir=f"), Some(&alice.token))
            .await
            .err(404, "M_NOT_FOUND");
        let before = s.get(&format!("{base}?ts={future}&dir=b"), Some(&alice.token)).await.ok();
        assert_eq!(before["event_id"], first.as_str());
        s.get(&format!("{base}?ts=0&dir=b"), Some(&alice.token)).await.err(404, "M_NOT_FOUND");
        let bob = s.register("bob", "pw").await;
        s.get(&format!("{base}?ts={at}&dir=f"), Some(&bob.token)).await.err(403, "M_FORBIDDEN");
    }
}

/// Many senders at once (their events share write batches and INSERTs):
/// every message is stored once, sync and /messages agree on one order,
/// and each sender's messages keep the order they were sent in.
async fn concurrent_sends_keep_one_order(backend: Backend) {
    let s = TestServer::new(backend).await;
    let alice = s.register("alice", "pw").await;
    let room = s.create_room(&alice.token, json!({"preset": "public_chat"})).await;
    let mut senders = Vec::new();
    for n in 0..8 {
        let user = s.register(&format!("user{n}"), "pw").await;
        s.join(&user.token, &room).await.ok();
        senders.push(user);
    }
    let before =
        s.sync(&alice.token, None, 0).await["next_batch"].as_str().expect("token").to_owned();
    let mut tasks = tokio::task::JoinSet::new();
    for user in &senders {
        let (http, base, token) = (s.http().clone(), s.url().to_owned(), user.token.clone());
        let (room, name) = (room.clone(), user.user_id.clone());
        tasks.spawn(async move {
            for i in 0..5 {
                let url = format!("{base}/_matrix/client/v3/rooms/{room}/send/m.room.message/t{i}");
                let body = json!({"msgtype": "m.text", "body": format!("{name} #{i}")});
                let sent = http.put(url).bearer_auth(&token).json(&body).send().await;
                assert_eq!(sent.expect("sent").status(), 200);
            }
        });
    }
    while let Some(done) = tasks.join_next().await {
        done.expect("sender finished");
    }

    let page = s
        .get(
            &format!("/_matrix/client/v3/rooms/{room}/messages?dir=b&limit=100"),
            Some(&alice.token),
        )
        .await
        .ok();
    let mut history: Vec<String> = TestServer::bodies(&page["chunk"]);
    history.reverse();
    assert_eq!(history.len(), 40, "each message stored once: {history:?}");
    for user in &senders {
        let theirs: Vec<&String> =
            history.iter().filter(|b| b.starts_with(&format!("{} ", user.user_id))).collect();
        let expected: Vec<String> = (0..5).map(|i| format!("{} #{i}", user.user_id)).collect();
        assert_eq!(theirs, expected.iter().collect::<Vec<_>>(), "sent in this order");
    }
    let synced = s.sync(&alice.token, Some(&before), 0).await;
    let timeline = &synced["rooms"]["join"][room.as_str()]["timeline"];
    let seen = TestServer::bodies(&timeline["events"]);
    let shown = &history[history.len() - seen.len()..];
    assert_eq!(seen, shown, "sync shows the end of the same order");
}
