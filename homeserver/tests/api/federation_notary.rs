//! A server whose keys cannot be fetched from it (it is down) is vouched
//! for by a notary we trust: joining a room through another server works
//! while the room's creator is offline.

use crate::{
    backend_tests,
    common::{
        Backend,
        federation::{TestCa, server, server_with},
    },
};
use serde_json::json;

backend_tests!(keys_of_a_server_that_is_down_come_from_a_notary);

async fn keys_of_a_server_that_is_down_come_from_a_notary(backend: Backend) {
    let ca = TestCa::new();
    let mut a = server(backend, &ca).await;
    let b = server(backend, &ca).await;
    let alice = a.register("alice", "correct horse").await;
    let bob = b.register("bob", "battery staple").await;
    let room_id = a.create_room(&alice.token, json!({"preset": "public_chat"})).await;
    b.join(&bob.token, &format!("{room_id}?server_name={}", a.name())).await.ok();
    a.send_text(&alice.token, &room_id, "before going offline").await;
    let b_name = b.name();
    let c = server_with(backend, &ca, "localhost", |config| {
        config.federation.trusted_key_servers = vec![b_name.parse().expect("server name")];
    })
    .await;
    let d = server(backend, &ca).await;
    let carol = c.register("carol", "carol's password").await;
    let dave = d.register("dave", "dave's password").await;

    // A goes away: its events, signed by its key, reach C and D only via B.
    a.stop().await;
    let via_b = format!("{room_id}?server_name={b_name}");
    // D trusts no notary: it cannot check A's signatures, so it cannot join.
    let refused = d.join(&dave.token, &via_b).await;
    assert!(!refused.status.is_success(), "joined without A's keys: {}", refused.body);
    // C asks B for A's keys and joins.
    c.join(&carol.token, &via_b).await.ok();
    let members = c
        .get(&format!("/_matrix/client/v3/rooms/{room_id}/joined_members"), Some(&carol.token))
        .await
        .ok();
    let joined = members["joined"].as_object().expect("joined");
    assert!(joined.contains_key(alice.user_id.as_str()) && joined.contains_key(&carol.user_id));
}
