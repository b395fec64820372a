//! Other servers' signing keys as they change: a peer reinstalled under
//! the same name signs with a key we have never seen, and must be believed
//! at once, not when its old key document expires days later.
//!
//! (The reinstalled server itself cannot check events its earlier life
//! signed, since its old key is gone; here it joins a room with none.)

use serde_json::json;

use crate::common::{
    Backend, TestServer,
    federation::{TestCa, federate, free_port, server},
};

/// The id of the key a server signs with.
fn key_id(server: &TestServer) -> String {
    let document = server.services().federation.key_document().expect("key document");
    let document: serde_json::Value = serde_json::from_str(document.json().get()).expect("JSON");
    let ids: Vec<&String> = document["verify_keys"].as_object().expect("keys").keys().collect();
    assert_eq!(ids.len(), 1, "{document}");
    ids[0].clone()
}

async fn a_peer_reinstalled_under_its_name_is_believed_at_once(backend: Backend) {
    let ca = TestCa::new();
    let a = server(backend, &ca).await;
    let port = free_port();
    let mut first =
        TestServer::start(backend, |config| federate(config, &ca, "localhost", port)).await;
    let alice = a.register("alice", "correct horse").await;
    let room_id = a
        .create_room(&alice.token, json!({"preset": "public_chat", "room_alias_name": "keys"}))
        .await;
    let alias = format!("#keys:{}", a.name());
    // A learns the first install's key from a signed request of it.
    let bob = first.register("bob", "battery staple").await;
    let profile = format!("/_matrix/client/v3/profile/{}", alice.user_id);
    first.get(&profile, Some(&bob.token)).await.ok();

    // The same name, a new database: a new signing key.
    let old_key = key_id(&first);
    first.stop().await;
    drop(first);
    let second =
        TestServer::start(backend, |config| federate(config, &ca, "localhost", port)).await;
    assert_ne!(key_id(&second), old_key, "a new key");
    let carol = second.register("carol", "carol's password").await;
    let joined = second.join(&carol.token, &alias).await.ok();
    assert_eq!(joined["room_id"], room_id.as_str());
    second.send_text(&carol.token, &room_id, "from the second install").await;
    a.sync_until(&alice, |sync| {
        let events = &sync["rooms"]["join"][&room_id]["timeline"]["events"];
        TestServer::bodies(events).iter().any(|body| body == "from the second install")
    })
    .await;

    // The old key is kept as retired: it still checks what it signed.
    let retired = a.services().store.retired_server_keys(&second.name()).await.expect("read");
    assert_eq!(retired.iter().map(|(id, _, _)| id.as_str()).collect::<Vec<_>>(), [old_key]);
}

crate::backend_tests!(a_peer_reinstalled_under_its_name_is_believed_at_once);
