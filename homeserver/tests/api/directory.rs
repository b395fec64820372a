//! Aliases and directory visibility.

use serde_json::json;

use crate::{
    backend_tests,
    common::{Backend, TestServer},
};

backend_tests!(aliases_can_be_managed, directory_visibility);

async fn aliases_can_be_managed(backend: Backend) {
    let s = TestServer::new(backend).await;
    let alice = s.register("alice", "pw").await;
    let bob = s.register("bob", "pw").await;
    let room = s.create_room(&alice.token, json!({"preset": "public_chat"})).await;
    let alias = "/_matrix/client/v3/directory/room/%23hangout:localhost";
    s.put(alias, Some(&bob.token), json!({"room_id": room})).await.err(403, "M_FORBIDDEN");
    s.put(alias, Some(&alice.token), json!({"room_id": room})).await.ok();
    s.put(alias, Some(&alice.token), json!({"room_id": room})).await.err(409, "M_UNKNOWN");
    assert_eq!(s.get(alias, None).await.ok()["room_id"], room.as_str());
    let list =
        s.get(&format!("/_matrix/client/v3/rooms/{room}/aliases"), Some(&alice.token)).await.ok();
    assert_eq!(list["aliases"], json!(["#hangout:localhost"]));
    s.join(&bob.token, "#hangout:localhost").await.ok();
    s.delete(alias, Some(&bob.token), None).await.err(403, "M_FORBIDDEN");
    s.delete(alias, Some(&alice.token), None).await.ok();
    s.get(alias, None).await.err(404, "M_NOT_FOUND");
    s.put(
        "/_matrix/client/v3/directory/room/%23x:elsewhere.example",
        Some(&alice.token),
        json!({"room_id": room}),
    )
    .await
    .err(400, "M_INVALID_PARAM");
}

async fn directory_visibility(backend: Backend) {
    let s = TestServer::new(backend).await;
    let alice = s.register("alice", "pw").await;
    let bob = s.register("bob", "pw").await;
    let room =
        s.create_room(&alice.token, json!({"visibility": "public", "preset": "public_chat"})).await;
    let path = format!("/_matrix/client/v3/directory/list/room/{room}");
    assert_eq!(s.get(&path, None).await.ok()["visibility"], "public");
    s.join(&bob.token, &room).await.ok();
    s.put(&path, Some(&bob.token), json!({"visibility": "private"})).await.err(403, "M_FORBIDDEN");
    s.put(&path, Some(&alice.token), json!({"visibility": "private"})).await.ok();
    assert_eq!(s.get(&path, None).await.ok()["visibility"], "private");
    s.get("/_matrix/client/v3/directory/list/room/!nope:localhost", None)
        .await
        .err(404, "M_NOT_FOUND");
}

mod listing {
    use serde_json::json;

    use crate::{
        backend_tests,
        common::{Backend, TestServer},
    };

    backend_tests!(public_rooms_are_listed_and_searchable);

    async fn public_rooms_are_listed_and_searchable(backend: Backend) {
        let s = TestServer::new(backend).await;
        let alice = s.register("alice", "pw").await;
        for (name, topic) in
            [("Rust lovers", "ownership"), ("Gardening", "tomatoes"), ("Cooking", "pasta")]
        {
            s.create_room(
                &alice.token,
                json!({"visibility": "public", "preset": "public_chat", "name": name, "topic": topic}),
            )
            .await;
        }
        s.create_room(&alice.token, json!({"name": "Hidden"})).await;
        let all = s.get("/_matrix/client/v3/publicRooms", None).await.ok();
        assert_eq!(all["chunk"].as_array().expect("chunk").len(), 3);
        assert_eq!(all["total_room_count_estimate"], 3);
        assert!(all["chunk"].as_array().expect("chunk").iter().all(|r| r["name"] != "Hidden"));

        let page = s.get("/_matrix/client/v3/publicRooms?limit=2", None).await.ok();
        assert_eq!(page["chunk"].as_array().expect("chunk").len(), 2);
        let next = page["next_batch"].as_str().expect("next_batch");
        let rest =
            s.get(&format!("/_matrix/client/v3/publicRooms?limit=2&since={next}"), None).await.ok();
        assert_eq!(rest["chunk"].as_array().expect("chunk").len(), 1);

        let found = s
            .post(
                "/_matrix/client/v3/publicRooms",
                Some(&alice.token),
                json!({"filter": {"generic_search_term": "TOMATO"}}),
            )
            .await
            .ok();
        let chunk = found["chunk"].as_array().expect("chunk");
        assert_eq!(chunk.len(), 1);
        assert_eq!(chunk[0]["name"], "Gardening");
        assert_eq!(chunk[0]["num_joined_members"], 1);
        // `public` is the default and may be left out.
        assert_eq!(chunk[0]["join_rule"].as_str().unwrap_or("public"), "public");
    }
}
