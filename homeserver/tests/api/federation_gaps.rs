//! A peer that lies about history: it sends an event whose prev_events
//! name, besides the room's latest events, one it never hands over, and
//! answers "the state before" that event with a state it forged (here a
//! power-level event that makes its own user an admin). The state it
//! claims is one side of a state resolution against what this server
//! knows, never the room's new state as it stands: a state reset through
//! a crafted gap must change nothing it could not change by the rules.
//!
//! The peer is a real Lattice server until the lie; then a scripted
//! responder takes its federation port and answers with its key.

use std::sync::{
    Arc,
    atomic::{AtomicUsize, Ordering},
};

use axum::{
    Json, Router,
    extract::State,
    routing::{get, post},
};
use lattice_homeserver::{
    config::{FederationConfig, LimitsConfig},
    services::{rooms::EventDraft, server_key::ServerKey},
};
use serde_json::{Value, json};

use crate::{
    common::{
        Backend,
        federation::{TestCa, server},
    },
    federation_abuse::{forge_edited, power_levels, push_as},
};

/// What the scripted peer answers, and how often it was asked for state.
struct Script {
    name: String,
    key_document: Value,
    state_ids: Vec<String>,
    forged: Vec<(String, Value)>,
    asked_for_state: AtomicUsize,
}

/// Serves the peer's federation API from `script` on 127.0.0.1:`port`
/// over TLS, until the returned sender is dropped.
async fn scripted_peer(
    ca: &TestCa,
    port: u16,
    script: Arc<Script>,
) -> tokio::sync::oneshot::Sender<()> {
    let app = Router::new()
        .route(
            "/_matrix/key/v2/server",
            get(|State(s): State<Arc<Script>>| async move { Json(s.key_document.clone()) }),
        )
        .route(
            "/_matrix/federation/v1/get_missing_events/{room_id}",
            post(|| async { Json(json!({"events": []})) }),
        )
        .route(
            "/_matrix/federation/v1/state_ids/{room_id}",
            get(|State(s): State<Arc<Script>>| async move {
                s.asked_for_state.fetch_add(1, Ordering::SeqCst);
                Json(json!({"pdu_ids": s.state_ids, "auth_chain_ids": []}))
            }),
        )
        .route(
            "/_matrix/federation/v1/event/{event_id}",
            get(
                |State(s): State<Arc<Script>>,
                 axum::extract::Path(id): axum::extract::Path<String>| async move {
                    let pdus: Vec<&Value> =
                        s.forged.iter().filter(|(i, _)| *i == id).map(|(_, e)| e).collect();
                    Json(json!({"origin": s.name, "origin_server_ts": 1, "pdus": pdus}))
                },
            ),
        )
        .with_state(script);
    let tls = FederationConfig {
        tls_certificate: Some(ca.cert.clone()),
        tls_private_key: Some(ca.key.clone()),
        ..FederationConfig::default()
    };
    let acceptor = lattice_homeserver::connections::tls_acceptor(&tls).expect("TLS");
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await.expect("the port");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(async move {
        let limits = LimitsConfig::default();
        let shutdown = async move {
            let _ = stopped.await;
        };
        lattice_homeserver::connections::serve(listener, app, &limits, Some(acceptor), shutdown)
            .await;
    });
    stop
}

async fn a_crafted_gap_cannot_reset_the_rooms_state(backend: Backend) {
    let ca = TestCa::new();
    let a = server(backend, &ca).await;
    let mut c = server(backend, &ca).await;
    let alice = a.register("alice", "correct horse").await;
    let mallory = c.register("mallory", "mischief managed").await;
    let room_id = a
        .create_room(&alice.token, json!({"preset": "public_chat", "room_alias_name": "gap"}))
        .await;
    c.join(&mallory.token, &format!("#gap:{}", a.name())).await.ok();
    let before = power_levels(&a, &alice, &room_id).await;

    // Mallory (power 0) makes himself an admin: refused if sent as it is.
    let mut raised = before.clone();
    raised["users"][&mallory.user_id] = json!(100);
    let draft = EventDraft::state("m.room.power_levels", "", raised);
    let (forged_id, forged_pl) = forge_edited(&c, &room_id, &mallory.user_id, draft, |_| {}).await;
    // A message on top of the room's latest events and one never handed over.
    let unknown = "$NeverHandedOverNeverHandedOverNeverHanded0";
    let message = EventDraft::message("m.room.message", json!({"msgtype": "m.text", "body": "hi"}));
    let (_, gap_event) = forge_edited(&c, &room_id, &mallory.user_id, message, |event| {
        event["prev_events"].as_array_mut().expect("prev_events").push(json!(unknown));
    })
    .await;
    // The state the peer will claim: A's, with its forged power levels.
    let state =
        a.get(&format!("/_matrix/client/v3/rooms/{room_id}/state"), Some(&alice.token)).await.ok();
    let mut state_ids: Vec<String> = state
        .as_array()
        .expect("state")
        .iter()
        .filter(|event| event["type"] != "m.room.power_levels")
        .map(|event| event["event_id"].as_str().expect("id").to_owned())
        .collect();
    state_ids.push(forged_id.clone());

    // The peer goes; a script answers in its name, with its key.
    let key = ServerKey::load_or_create(&c.services().store).await.expect("key");
    let key_document: Value =
        serde_json::from_str(c.services().federation.key_document().expect("keys").json().get())
            .expect("JSON");
    let (name, port) = (c.name(), c.config().federation.bind.expect("bind").port());
    c.stop().await;
    let script = Arc::new(Script {
        name: name.clone(),
        key_document,
        state_ids,
        forged: vec![(forged_id, forged_pl)],
        asked_for_state: AtomicUsize::new(0),
    });
    let _peer = scripted_peer(&ca, port, script.clone()).await;

    let _ = push_as(&ca, &key, &name, &name, &a, vec![gap_event], vec![]).await;
    assert!(script.asked_for_state.load(Ordering::SeqCst) > 0, "A asked for the gap's state");
    let after = power_levels(&a, &alice, &room_id).await;
    assert_eq!(after, before, "the forged power levels did not become the room's");
}

crate::backend_tests!(a_crafted_gap_cannot_reset_the_rooms_state);
