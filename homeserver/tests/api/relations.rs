//! Relations: edits, reactions, threads, references, and their bundling.

use serde_json::{Value, json};

use crate::{
    backend_tests,
    common::{Backend, TestServer},
};

backend_tests!(edits_and_threads_are_bundled, relations_paginate_and_filter, threads_are_listed);

async fn send(s: &TestServer, token: &str, room: &str, txn: &str, content: Value) -> String {
    let path = format!("/_matrix/client/v3/rooms/{room}/send/m.room.message/{txn}");
    s.put(&path, Some(token), content).await.ok()["event_id"].as_str().expect("event id").to_owned()
}

async fn edits_and_threads_are_bundled(backend: Backend) {
    let mut s = TestServer::new(backend).await;
    let alice = s.register("alice", "pw").await;
    let bob = s.register("bob", "pw").await;
    let room = s.create_room(&alice.token, json!({"preset": "public_chat"})).await;
    s.join(&bob.token, &room).await.ok();
    let root = s.send_text(&alice.token, &room, "root").await;
    let edit = |text: &str| {
        json!({"msgtype": "m.text", "body": format!("* {text}"), "m.new_content": {"msgtype": "m.text", "body": text},
               "m.relates_to": {"rel_type": "m.replace", "event_id": root}})
    };
    send(&s, &alice.token, &room, "e1", edit("first edit")).await;
    let last_edit = send(&s, &alice.token, &room, "e2", edit("second edit")).await;
    // Bob cannot edit alice's message: his "edit" is not bundled.
    send(&s, &bob.token, &room, "e3", edit("bob's edit")).await;
    let reply = send(
        &s,
        &bob.token,
        &room,
        "t1",
        json!({"msgtype": "m.text", "body": "in thread", "m.relates_to": {"rel_type": "m.thread", "event_id": root}}),
    )
    .await;
    send(
        &s,
        &alice.token,
        &room,
        "r1",
        json!({"msgtype": "m.text", "body": "see above", "m.relates_to": {"rel_type": "m.reference", "event_id": root}}),
    )
    .await;

    let fetched = s
        .get(&format!("/_matrix/client/v3/rooms/{room}/event/{root}"), Some(&alice.token))
        .await
        .ok();
    let relations = &fetched["unsigned"]["m.relations"];
    assert_eq!(relations["m.replace"]["event_id"], last_edit.as_str());
    assert_eq!(relations["m.thread"]["count"], 1);
    assert_eq!(relations["m.thread"]["latest_event"]["event_id"], reply.as_str());
    assert_eq!(relations["m.thread"]["current_user_participated"], json!(true));
    assert_eq!(relations["m.reference"]["chunk"].as_array().expect("references").len(), 1);
    // The original content is left as it was.
    assert_eq!(fetched["content"]["body"], "root");

    let page = s
        .get(&format!("/_matrix/client/v3/rooms/{room}/messages?dir=b&limit=50"), Some(&bob.token))
        .await
        .ok();
    let in_page = page["chunk"]
        .as_array()
        .expect("chunk")
        .iter()
        .find(|e| e["event_id"] == root.as_str())
        .expect("root");
    assert_eq!(
        in_page["unsigned"]["m.relations"]["m.thread"]["current_user_participated"],
        json!(true)
    );

    let synced = s.sync(&bob.token, None, 0).await;
    let timeline =
        synced["rooms"]["join"][&room]["timeline"]["events"].as_array().expect("timeline");
    if let Some(root_event) = timeline.iter().find(|e| e["event_id"] == root.as_str()) {
        assert!(root_event["unsigned"]["m.relations"]["m.replace"].is_object());
    }

    // Redacting the last edit falls back to the one before.
    s.put(
        &format!("/_matrix/client/v3/rooms/{room}/redact/{last_edit}/x1"),
        Some(&alice.token),
        json!({}),
    )
    .await
    .ok();
    let fetched = s
        .get(&format!("/_matrix/client/v3/rooms/{room}/event/{root}"), Some(&alice.token))
        .await
        .ok();
    assert_eq!(
        fetched["unsigned"]["m.relations"]["m.replace"]["content"]["m.new_content"]["body"],
        "first edit"
    );

    // After a restart the same aggregations are found (in sync as well).
    s.restart().await;
    let fetched = s
        .get(&format!("/_matrix/client/v3/rooms/{room}/event/{root}"), Some(&alice.token))
        .await
        .ok();
    assert_eq!(fetched["unsigned"]["m.relations"]["m.thread"]["count"], 1);
    let synced = s.sync(&bob.token, None, 0).await;
    let timeline =
        synced["rooms"]["join"][&room]["timeline"]["events"].as_array().expect("timeline");
    let root_event = timeline.iter().find(|e| e["event_id"] == root.as_str()).expect("root");
    assert_eq!(root_event["unsigned"]["m.relations"]["m.thread"]["count"], 1);
}

async fn relations_paginate_and_filter(backend: Backend) {
    let s = TestServer::new(backend).await;
    let alice = s.register("alice", "pw").await;
    let room = s.create_room(&alice.token, json!({})).await;
    let root = s.send_text(&alice.token, &room, "react to me").await;
    for (i, key) in ["👍", "🎉", "❤️", "👀", "🚀"].iter().enumerate() {
        let path = format!("/_matrix/client/v3/rooms/{room}/send/m.reaction/re{i}");
        s.put(
            &path,
            Some(&alice.token),
            json!({"m.relates_to": {"rel_type": "m.annotation", "event_id": root, "key": key}}),
        )
        .await
        .ok();
    }
    send(
        &s,
        &alice.token,
        &room,
        "th",
        json!({"body": "thread", "m.relates_to": {"rel_type": "m.thread", "event_id": root}}),
    )
    .await;

    let base = format!("/_matrix/client/v1/rooms/{room}/relations/{root}");
    let all = s.get(&base, Some(&alice.token)).await.ok();
    assert_eq!(all["chunk"].as_array().expect("chunk").len(), 6);
    let reactions =
        s.get(&format!("{base}/m.annotation/m.reaction?limit=2"), Some(&alice.token)).await.ok();
    let keys: Vec<&str> = reactions["chunk"]
        .as_array()
        .expect("chunk")
        .iter()
        .filter_map(|e| e["content"]["m.relates_to"]["key"].as_str())
        .collect();
    assert_eq!(keys, vec!["🚀", "👀"]);
    let next = reactions["next_batch"].as_str().expect("next batch");
    let more = s
        .get(&format!("{base}/m.annotation/m.reaction?limit=10&from={next}"), Some(&alice.token))
        .await
        .ok();
    assert_eq!(more["chunk"].as_array().expect("chunk").len(), 3);
    let threads = s.get(&format!("{base}/m.thread"), Some(&alice.token)).await.ok();
    assert_eq!(threads["chunk"].as_array().expect("chunk").len(), 1);
    let forward = s.get(&format!("{base}?dir=f&limit=1"), Some(&alice.token)).await.ok();
    assert_eq!(forward["chunk"][0]["content"]["m.relates_to"]["key"], "👍");

    let outsider = s.register("outsider", "pw").await;
    s.get(&base, Some(&outsider.token)).await.err(404, "M_NOT_FOUND");
}

async fn threads_are_listed(backend: Backend) {
    let s = TestServer::new(backend).await;
    let alice = s.register("alice", "pw").await;
    let bob = s.register("bob", "pw").await;
    let room = s.create_room(&alice.token, json!({"preset": "public_chat"})).await;
    s.join(&bob.token, &room).await.ok();
    let first = s.send_text(&alice.token, &room, "first thread").await;
    let second = s.send_text(&alice.token, &room, "second thread").await;
    let in_thread = |root: &str, body: &str| json!({"body": body, "m.relates_to": {"rel_type": "m.thread", "event_id": root}});
    send(&s, &bob.token, &room, "a", in_thread(&first, "bob replies")).await;
    send(&s, &alice.token, &room, "b", in_thread(&second, "alice replies")).await;
    send(&s, &alice.token, &room, "c", in_thread(&first, "alice again")).await;

    let all =
        s.get(&format!("/_matrix/client/v1/rooms/{room}/threads"), Some(&bob.token)).await.ok();
    let roots: Vec<&str> = all["chunk"]
        .as_array()
        .expect("chunk")
        .iter()
        .filter_map(|e| e["event_id"].as_str())
        .collect();
    assert_eq!(roots, vec![first.as_str(), second.as_str()], "latest activity first");
    let mine = s
        .get(
            &format!("/_matrix/client/v1/rooms/{room}/threads?include=participated"),
            Some(&bob.token),
        )
        .await
        .ok();
    let roots: Vec<&str> = mine["chunk"]
        .as_array()
        .expect("chunk")
        .iter()
        .filter_map(|e| e["event_id"].as_str())
        .collect();
    assert_eq!(roots, vec![first.as_str()]);
    let page = s
        .get(&format!("/_matrix/client/v1/rooms/{room}/threads?limit=1"), Some(&bob.token))
        .await
        .ok();
    let next = page["next_batch"].as_str().expect("next batch");
    let rest = s
        .get(
            &format!("/_matrix/client/v1/rooms/{room}/threads?limit=1&from={next}"),
            Some(&bob.token),
        )
        .await
        .ok();
    assert_eq!(rest["chunk"][0]["event_id"], second.as_str());
}
