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
