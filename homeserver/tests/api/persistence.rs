//! A restart keeps everything a client was told.

use lattice_homeserver::store::{NewEvent, SearchOrder, StateGroupCache};
use serde_json::json;

use crate::{
    backend_tests,
    common::{Backend, TestServer, session_from},
};

backend_tests!(restart_keeps_accounts_sessions_and_data, a_failed_write_batch_stores_none_of_it);

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

/// A write batch commits as a whole or not at all, and the writer's
/// connection goes on after a failed one (on SQLite a plain batch is one
/// command that opens and commits its own transaction).
async fn a_failed_write_batch_stores_none_of_it(backend: Backend) {
    let s = TestServer::new(backend).await;
    let alice = s.register("alice", "pw").await;
    let room = s.create_room(&alice.token, json!({})).await;
    let first = s.send_text(&alice.token, &room, "first").await;
    let store = &s.services().store;
    let group = store.event(&first).await.expect("read").expect("stored").state_group;
    let groups: StateGroupCache = [(room.clone(), (group, 0))].into();
    let message = |event_id: &str, body: &str| NewEvent {
        event_id: event_id.to_owned(),
        room_id: room.clone(),
        sender: alice.user_id.to_string(),
        event_type: "m.room.message".to_owned(),
        state_key: None,
        membership: None,
        depth: 100,
        origin_server_ts: 0,
        pdu: json!({"type": "m.room.message", "content": {"body": body}}).to_string(),
        prev_events: vec![first.clone()],
        redacts: None,
        redacted_target_pdu: None,
        txn: None,
        relation: None,
        search_text: Some(body.to_owned()),
        directory: None,
        is_new_room: false,
        room_version: "12".to_owned(),
        resolved_state: None,
        destinations: Vec::new(),
    };
    let user = alice.user_id.as_str();
    let search = async |term: &str| {
        let found =
            store.search_events(user, term, SearchOrder::Recent, 10, 0).await.expect("search");
        found.into_iter().map(|row| row.event_id).collect::<Vec<_>>()
    };
    let mut conn = store.dedicated().await.expect("a connection");

    // The second event repeats the id of one already stored.
    let batch = [message("$batch-one", "zebra"), message(&first, "yak")];
    let failed = store.persist_events(&mut conn, &batch, &mut groups.clone()).await;
    assert!(failed.is_err(), "a duplicate event id fails the batch");
    assert!(store.event("$batch-one").await.expect("read").is_none(), "nothing of it is stored");
    assert!(search("zebra").await.is_empty(), "nor indexed for search");

    // The same connection takes the next batch: no transaction was left open.
    let batch = [message("$batch-two", "okapi")];
    let streams =
        store.persist_events(&mut conn, &batch, &mut groups.clone()).await.expect("stored");
    assert_eq!(streams.len(), 1);
    assert_eq!(search("okapi").await, ["$batch-two"]);
    drop(conn);

    // And the server's own writer was not disturbed.
    let next = s.send_text(&alice.token, &room, "after").await;
    assert!(store.event(&next).await.expect("read").is_some());
}
