//! Account data (global and per room) and sync filters.

use serde_json::json;

use reqwest::Method;

use crate::{
    backend_tests,
    common::{Backend, TestServer, call_at},
};

backend_tests!(
    account_data_round_trips,
    account_data_is_private,
    filters_are_stored_and_validated,
    room_tags_round_trip_and_reach_sync,
    concurrent_tags_are_all_kept,
);

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

async fn room_tags_round_trip_and_reach_sync(backend: Backend) {
    let s = TestServer::new(backend).await;
    let alice = s.register("alice", "pw").await;
    let bob = s.register("bob", "pw").await;
    let room = s.create_room(&alice.token, json!({})).await;
    let tags = format!("/_matrix/client/v3/user/{}/rooms/{room}/tags", alice.user_id);
    assert_eq!(s.get(&tags, Some(&alice.token)).await.ok(), json!({"tags": {}}));
    let since = s.sync(&alice.token, None, 0).await["next_batch"].as_str().map(str::to_owned);

    s.put(&format!("{tags}/m.favourite"), Some(&alice.token), json!({"order": 0.25})).await.ok();
    s.put(&format!("{tags}/u.work"), Some(&alice.token), json!({})).await.ok();
    let expected = json!({"tags": {"m.favourite": {"order": 0.25}, "u.work": {}}});
    assert_eq!(s.get(&tags, Some(&alice.token)).await.ok(), expected);

    // Element reads favourites from the room's account data in sync.
    let sync = s.sync(&alice.token, since.as_deref(), 0).await;
    let events = &sync["rooms"]["join"][&room]["account_data"]["events"];
    let tag_event = events.as_array().into_iter().flatten().find(|e| e["type"] == "m.tag");
    assert_eq!(tag_event.map(|e| e["content"].clone()), Some(expected));

    s.delete(&format!("{tags}/m.favourite"), Some(&alice.token), None).await.ok();
    assert_eq!(s.get(&tags, Some(&alice.token)).await.ok(), json!({"tags": {"u.work": {}}}));
    // Deleting what is not there is no error and changes nothing.
    s.delete(&format!("{tags}/m.lowpriority"), Some(&alice.token), None).await.ok();

    // Another user's tags are theirs alone; bad orders and names are refused.
    s.get(&tags, Some(&bob.token)).await.err(403, "M_FORBIDDEN");
    s.put(&format!("{tags}/u.spy"), Some(&bob.token), json!({})).await.err(403, "M_FORBIDDEN");
    s.put(&format!("{tags}/u.x"), Some(&alice.token), json!({"order": 7}))
        .await
        .err(400, "M_INVALID_PARAM");
    s.put(&format!("{tags}/u.x"), Some(&alice.token), json!({"order": "first"}))
        .await
        .err(400, "M_BAD_JSON");
    let long = "u.".to_owned() + &"x".repeat(300);
    s.put(&format!("{tags}/{long}"), Some(&alice.token), json!({}))
        .await
        .err(400, "M_INVALID_PARAM");
    assert_eq!(s.get(&tags, Some(&alice.token)).await.ok(), json!({"tags": {"u.work": {}}}));
}

async fn concurrent_tags_are_all_kept(backend: Backend) {
    let s = TestServer::new(backend).await;
    let alice = s.register("alice", "pw").await;
    let room = s.create_room(&alice.token, json!({})).await;
    let tags = format!("/_matrix/client/v3/user/{}/rooms/{room}/tags", alice.user_id);
    // Each PUT reads the tags and writes them back: none may undo another.
    let mut puts = tokio::task::JoinSet::new();
    for n in 0..12 {
        let (http, url, token) = (s.http().clone(), s.url().to_owned(), alice.token.clone());
        let path = format!("{tags}/u.tag{n}");
        puts.spawn(async move {
            call_at(&http, &url, Method::PUT, &path, Some(&token), Some(json!({}))).await
        });
    }
    for answer in puts.join_all().await {
        answer.ok();
    }
    let all = s.get(&tags, Some(&alice.token)).await.ok();
    assert_eq!(all["tags"].as_object().map(|tags| tags.len()), Some(12), "{all}");
}
