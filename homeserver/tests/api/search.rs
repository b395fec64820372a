//! POST /search over messages.

use serde_json::json;

use crate::{
    backend_tests,
    common::{Backend, TestServer},
};

backend_tests!(search_finds_messages_in_my_rooms_only);

async fn search(
    s: &TestServer,
    token: &str,
    term: &str,
    extra: serde_json::Value,
) -> serde_json::Value {
    let mut criteria = json!({"search_term": term, "order_by": "recent"});
    if let Some(extra) = extra.as_object() {
        for (k, v) in extra {
            criteria[k] = v.clone();
        }
    }
    let body = json!({"search_categories": {"room_events": criteria}});
    s.post("/_matrix/client/v3/search", Some(token), body).await.ok()
}

async fn search_finds_messages_in_my_rooms_only(backend: Backend) {
    let s = TestServer::new(backend).await;
    let alice = s.register("alice", "pw").await;
    let bob = s.register("bob", "pw").await;
    let shared = s.create_room(&alice.token, json!({"preset": "public_chat"})).await;
    let private = s.create_room(&alice.token, json!({})).await;
    s.join(&bob.token, &shared).await.ok();
    s.send_text(&alice.token, &shared, "the quick brown fox").await;
    s.send_text(&alice.token, &shared, "lazy dogs sleep").await;
    s.send_text(&alice.token, &private, "a secret fox plan").await;
    let redacted = s.send_text(&bob.token, &shared, "fox typo").await;
    s.put(
        &format!("/_matrix/client/v3/rooms/{shared}/redact/{redacted}/r"),
        Some(&bob.token),
        json!({}),
    )
    .await
    .ok();

    let bodies = |answer: &serde_json::Value| -> Vec<String> {
        answer["search_categories"]["room_events"]["results"]
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or_default()
            .iter()
            .filter_map(|r| r["result"]["content"]["body"].as_str().map(str::to_owned))
            .collect()
    };
    let bobs = search(&s, &bob.token, "fox", json!({})).await;
    assert_eq!(bodies(&bobs), vec!["the quick brown fox"]);
    let alices = search(&s, &alice.token, "fox", json!({})).await;
    assert_eq!(bodies(&alices), vec!["a secret fox plan", "the quick brown fox"]);
    let scoped = search(&s, &alice.token, "fox", json!({"filter": {"rooms": [shared]}})).await;
    assert_eq!(bodies(&scoped), vec!["the quick brown fox"]);
    let none = search(&s, &alice.token, "\"unbalanced OR (", json!({})).await;
    assert!(bodies(&none).is_empty());
    let paged = search(&s, &alice.token, "fox", json!({"filter": {"limit": 1}})).await;
    assert_eq!(bodies(&paged).len(), 1);
    let next =
        paged["search_categories"]["room_events"]["next_batch"].as_str().expect("next_batch");
    let body = json!({"search_categories": {"room_events": {"search_term": "fox", "order_by": "recent", "filter": {"limit": 1}}}});
    let rest = s
        .post(&format!("/_matrix/client/v3/search?next_batch={next}"), Some(&alice.token), body)
        .await
        .ok();
    assert_eq!(bodies(&rest), vec!["the quick brown fox"]);
}
