//! A restart keeps everything a client was told.

use serde_json::json;

use crate::{
    backend_tests,
    common::{Backend, TestServer, session_from},
};

backend_tests!(restart_keeps_accounts_sessions_and_data);

async fn restart_keeps_accounts_sessions_and_data(backend: Backend) {
    let mut s = TestServer::new(backend).await;
    let alice = s.register("alice", "pw").await;
    let phone = session_from(&s.login("alice", "pw", Some("PHONE")).await.ok());
    let data = format!("/_matrix/client/v3/user/{}/account_data/org.example.notes", alice.user_id);
    s.put(&data, Some(&alice.token), json!({"text": "remember me"})).await.ok();
    let filter = s
        .post(
            &format!("/_matrix/client/v3/user/{}/filter", alice.user_id),
            Some(&alice.token),
            json!({"room": {"timeline": {"limit": 5}}}),
        )
        .await
        .ok();
    let rule = "/_matrix/client/v3/pushrules/global/room/!r:localhost";
    s.put(rule, Some(&alice.token), json!({"actions": []})).await.ok();
    s.put(
        "/_matrix/client/v3/profile/@alice:localhost/displayname",
        Some(&alice.token),
        json!({"displayname": "Alice"}),
    )
    .await
    .ok();

    s.restart().await;

    for session in [&alice, &phone] {
        let me = s.get("/_matrix/client/v3/account/whoami", Some(&session.token)).await.ok();
        assert_eq!(me["device_id"], session.device_id.as_str());
    }
    assert_eq!(s.get(&data, Some(&alice.token)).await.ok(), json!({"text": "remember me"}));
    let id = filter["filter_id"].as_str().expect("filter id");
    let stored = s
        .get(&format!("/_matrix/client/v3/user/{}/filter/{id}", alice.user_id), Some(&alice.token))
        .await
        .ok();
    assert_eq!(stored["room"]["timeline"]["limit"], 5);
    s.get(rule, Some(&alice.token)).await.ok();
    let name = s.get("/_matrix/client/v3/profile/@alice:localhost/displayname", None).await.ok();
    assert_eq!(name["displayname"], "Alice");
    let devices = s.get("/_matrix/client/v3/devices", Some(&alice.token)).await.ok();
    assert_eq!(devices["devices"].as_array().expect("devices").len(), 2);
    s.login("alice", "pw", None).await.ok();
    s.register("bob", "pw").await;
    let taken = json!({"username": "alice", "auth": {"type": "m.login.dummy"}});
    s.post("/_matrix/client/v3/register", None, taken).await.err(400, "M_USER_IN_USE");
}

/// The event writer leaves SQLite's checkpoints to other connections (its
/// senders would wait on them), which run one every few batches: what was
/// sent reaches the database file itself while the WAL stays short.
#[tokio::test]
async fn sent_messages_are_checkpointed_into_the_database_file() {
    let s = TestServer::new(Backend::Sqlite).await;
    let alice = s.register("alice", "pw").await;
    let room = s.create_room(&alice.token, json!({})).await;
    let file = s.config().server.data_dir.join("lattice.db");
    let before = std::fs::metadata(&file).expect("database file").len();
    // Far fewer pages than SQLite's own checkpoint threshold (1,000), but
    // many more batches than the writer lets pass between checkpoints.
    for n in 0..64 {
        s.send_text(&alice.token, &room, &format!("message {n}")).await;
    }
    let after = std::fs::metadata(&file).expect("database file").len();
    assert!(after > before, "the database file grew from {before} to {after} bytes");
}
