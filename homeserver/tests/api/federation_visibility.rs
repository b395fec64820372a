//! What other servers may read of a room's history: in a room whose
//! history is visible to joined members only, a server whose user joined
//! late gets the events from before that join redacted — their place in
//! the graph, not their content — over /event and /backfill alike.

use lattice_federation::federation::{backfill::get_backfill, event::get_event};
use lattice_homeserver::services::server_key::ServerKey;
use ruma::{EventId, RoomId, ServerName, UInt};
use serde_json::{Value, json};

use crate::common::{
    Backend,
    federation::{TestCa, client_as, server},
};

async fn history_before_a_servers_join_goes_out_redacted(backend: Backend) {
    let ca = TestCa::new();
    let a = server(backend, &ca).await;
    let b = server(backend, &ca).await;
    let alice = a.register("alice", "correct horse").await;
    let bob = b.register("bob", "battery staple").await;
    let visibility = json!({"type": "m.room.history_visibility", "state_key": "",
                            "content": {"history_visibility": "joined"}});
    let room_id = a
        .create_room(
            &alice.token,
            json!({"preset": "public_chat", "room_alias_name": "joined", "initial_state": [visibility]}),
        )
        .await;
    let secret = a.send_text(&alice.token, &room_id, "before bob came").await;
    b.join(&bob.token, &format!("#joined:{}", a.name())).await.ok();
    let open = a.send_text(&alice.token, &room_id, "after bob came").await;

    // B asks A directly, as B.
    let key = ServerKey::load_or_create(&b.services().store).await.expect("key");
    let as_b = client_as(&ca, &key, &b.name());
    let a_name = ServerName::parse(a.name()).expect("name");
    let event = |id: &str| get_event::v1::Request::new(EventId::parse(id).expect("id"));
    let body_of = |raw: &serde_json::value::RawValue| -> Value {
        serde_json::from_str::<Value>(raw.get()).expect("JSON")["content"]["body"].clone()
    };
    let got = as_b.send(&a_name, event(&secret)).await.expect("the event, redacted");
    assert_eq!(body_of(&got.pdu), Value::Null, "no content from before B's user joined");
    let got = as_b.send(&a_name, event(&open)).await.expect("the event");
    assert_eq!(body_of(&got.pdu), "after bob came");

    let room = RoomId::parse(&room_id).expect("room id");
    let mut request = get_backfill::v1::Request::new(
        room,
        vec![EventId::parse(&open).expect("id")],
        UInt::from(20u32),
    );
    request.limit = UInt::from(20u32);
    let page = as_b.send(&a_name, request).await.expect("backfill");
    let bodies: Vec<Value> = page.pdus.iter().map(|pdu| body_of(pdu)).collect();
    assert!(bodies.contains(&json!("after bob came")), "{bodies:?}");
    assert!(!bodies.contains(&json!("before bob came")), "{bodies:?}");
    assert!(page.pdus.len() > 2, "the earlier events are there, redacted: {bodies:?}");
}

/// In a room whose history is shared, an erased user's events go out
/// redacted to a server none of whose users was joined when they were sent.
async fn an_erased_users_events_go_out_redacted_to_newcomers(backend: Backend) {
    let ca = TestCa::new();
    let a = server(backend, &ca).await;
    let b = server(backend, &ca).await;
    let alice = a.register("alice", "correct horse").await;
    let bob = b.register("bob", "battery staple").await;
    let body = json!({"preset": "public_chat", "room_alias_name": "shared"});
    let room_id = a.create_room(&alice.token, body).await;
    let before = a.send_text(&alice.token, &room_id, "before bob came").await;
    b.join(&bob.token, &format!("#shared:{}", a.name())).await.ok();
    let after = a.send_text(&alice.token, &room_id, "after bob came").await;
    let auth = crate::common::password_auth("alice", "correct horse");
    let erase = json!({"erase": true, "auth": auth});
    a.post("/_matrix/client/v3/account/deactivate", Some(&alice.token), erase).await.ok();

    let key = ServerKey::load_or_create(&b.services().store).await.expect("key");
    let as_b = client_as(&ca, &key, &b.name());
    let a_name = ServerName::parse(a.name()).expect("name");
    let body_of = |raw: &serde_json::value::RawValue| -> Value {
        serde_json::from_str::<Value>(raw.get()).expect("JSON")["content"]["body"].clone()
    };
    let event = |id: &str| get_event::v1::Request::new(EventId::parse(id).expect("id"));
    let got = as_b.send(&a_name, event(&before)).await.expect("the event, redacted");
    assert_eq!(body_of(&got.pdu), Value::Null, "erased, and B had no one there");
    let got = as_b.send(&a_name, event(&after)).await.expect("the event");
    assert_eq!(body_of(&got.pdu), "after bob came", "bob saw it when it was sent");
}

crate::backend_tests!(
    history_before_a_servers_join_goes_out_redacted,
    an_erased_users_events_go_out_redacted_to_newcomers,
);
