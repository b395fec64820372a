//! Account data (global and per room) and sync filters.

use serde_json::json;

use crate::{
    backend_tests,
    common::{Backend, TestServer},
};

backend_tests!(account_data_round_trips, account_data_is_private, filters_are_stored_and_validated);

async fn account_data_round_trips(backend: Backend) {
    let s = TestServer::new(backend).await;
    let alice = s.register("alice", "pw").await;
    let global = format!("/_matrix/client/v3/user/{}/account_data/m.direct", alice.user_id);
    s.get(&global, Some(&alice.token)).await.err(404, "M_NOT_FOUND");
    let direct = json!({"@bob:localhost": ["!room:localhost"]});
    s.put(&global, Some(&alice.token), direct.clone()).await.ok();
    assert_eq!(s.get(&global, Some(&alice.token)).await.ok(), direct);
    s.put(&global, Some(&alice.token), json!({})).await.ok();
    assert_eq!(s.get(&global, Some(&alice.token)).await.ok(), json!({}));

    let room = format!(
        "/_matrix/client/v3/user/{}/rooms/!abc:localhost/account_data/m.tag.custom",
        alice.user_id
    );
    s.put(&room, Some(&alice.token), json!({"colour": "blue"})).await.ok();
    assert_eq!(s.get(&room, Some(&alice.token)).await.ok(), json!({"colour": "blue"}));

    // Server-managed types are refused through this API.
    let fully_read = format!(
        "/_matrix/client/v3/user/{}/rooms/!abc:localhost/account_data/m.fully_read",
        alice.user_id
    );
    s.put(&fully_read, Some(&alice.token), json!({"event_id": "$x"})).await.err(405, "M_BAD_JSON");
    let rules = format!("/_matrix/client/v3/user/{}/account_data/m.push_rules", alice.user_id);
    s.put(&rules, Some(&alice.token), json!({})).await.err(405, "M_BAD_JSON");
    // Content must be an object.
    s.put(&global, Some(&alice.token), json!([1, 2])).await;
    assert_eq!(s.get(&global, Some(&alice.token)).await.ok(), json!({}));
}

async fn account_data_is_private(backend: Backend) {
    let s = TestServer::new(backend).await;
    let alice = s.register("alice", "pw").await;
    let bob = s.register("bob", "pw").await;
    let path = format!("/_matrix/client/v3/user/{}/account_data/org.example.secret", alice.user_id);
    s.put(&path, Some(&alice.token), json!({"pin": "1234"})).await.ok();
    s.get(&path, Some(&bob.token)).await.err(403, "M_FORBIDDEN");
    s.put(&path, Some(&bob.token), json!({"pin": "0000"})).await.err(403, "M_FORBIDDEN");
    assert_eq!(s.get(&path, Some(&alice.token)).await.ok(), json!({"pin": "1234"}));
}

async fn filters_are_stored_and_validated(backend: Backend) {
    let s = TestServer::new(backend).await;
    let alice = s.register("alice", "pw").await;
    let bob = s.register("bob", "pw").await;
    let create = format!("/_matrix/client/v3/user/{}/filter", alice.user_id);
    let filter = json!({
        "room": {"timeline": {"limit": 10, "types": ["m.room.message"]},
                 "state": {"lazy_load_members": true}},
        "presence": {"not_types": ["m.presence"]},
    });
    let created = s.post(&create, Some(&alice.token), filter).await.ok();
    let id = created["filter_id"].as_str().expect("filter id").to_owned();
    let fetched = s.get(&format!("{create}/{id}"), Some(&alice.token)).await.ok();
    assert_eq!(fetched["room"]["timeline"]["limit"], 10);
    assert_eq!(fetched["room"]["timeline"]["types"], json!(["m.room.message"]));
    assert_eq!(fetched["room"]["state"]["lazy_load_members"], json!(true));

    s.get(&format!("{create}/{id}"), Some(&bob.token)).await.err(403, "M_FORBIDDEN");
    s.get(&format!("{create}/99999"), Some(&alice.token)).await.err(404, "M_NOT_FOUND");
    s.get(&format!("{create}/not-a-number"), Some(&alice.token)).await.err(404, "M_NOT_FOUND");
    s.post(&create, Some(&alice.token), json!({"room": {"timeline": {"limit": "ten"}}}))
        .await
        .err(400, "M_BAD_JSON");
}
