//! Interoperability with Synapse: a Lattice server and a real Synapse (see
//! common/synapse.rs) share rooms over federation, both ways round, and
//! their users talk, invite, kick and see each other's typing.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::common::{
    Backend, Session, TestServer,
    federation::{TestCa, server},
    synapse::Synapse,
};

fn timeline_bodies(sync: &Value, room_id: &str) -> Vec<String> {
    TestServer::bodies(&sync["rooms"]["join"][room_id]["timeline"]["events"])
}

/// Lattice's sync until `found` says yes.
async fn lattice_sees(
    server: &TestServer,
    session: &Session,
    found: impl FnMut(&Value) -> bool,
) -> Value {
    crate::common::sync_until(
        |since| async move { server.sync(&session.token, since.as_deref(), 5_000).await },
        found,
    )
    .await
}

fn encode(room: &str) -> String {
    serde_urlencoded::to_string([("", room)]).expect("encode")[1..].to_owned()
}

async fn synapse_sends(synapse: &Synapse, session: &Session, room_id: &str, text: &str) -> String {
    let txn = format!("t{}", rand_suffix());
    let path = format!("/_matrix/client/v3/rooms/{}/send/m.room.message/{txn}", encode(room_id));
    let sent = synapse.put(&path, &session.token, json!({"msgtype": "m.text", "body": text})).await;
    sent.ok()["event_id"].as_str().expect("event id").to_owned()
}

fn rand_suffix() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    NEXT.fetch_add(1, Ordering::SeqCst)
}

/// A room made on Lattice: a Synapse user joins it by alias, both talk,
/// both see the same members, Synapse's typing reaches Lattice.
async fn synapse_user_joins_lattice_room(backend: Backend) {
    let ca = TestCa::new();
    let Some(synapse) = Synapse::start(&ca).await else { return };
    let lattice = server(backend, &ca).await;
    let alice = lattice.register("alice", "correct horse").await;
    let bob = synapse.register("bob").await;
    assert!(bob.user_id.ends_with(synapse.name()), "{} is not on Synapse", bob.user_id);

    let room_id = lattice
        .create_room(&alice.token, json!({"preset": "public_chat", "room_alias_name": "interop"}))
        .await;
    let alias = format!("#interop:{}", lattice.name());
    let join = format!("/_matrix/client/v3/join/{}", encode(&alias));
    let joined = synapse.post(&join, &bob.token, json!({})).await;
    assert_eq!(joined.status, StatusCode::OK, "{}", joined.body);
    assert_eq!(joined.body["room_id"], room_id.as_str());

    synapse_sends(&synapse, &bob, &room_id, "hello from synapse").await;
    lattice_sees(&lattice, &alice, |sync| {
        timeline_bodies(sync, &room_id).contains(&"hello from synapse".to_owned())
    })
    .await;

    lattice.send_text(&alice.token, &room_id, "hello from lattice").await;
    synapse
        .sync_until(&bob, |sync| {
            timeline_bodies(sync, &room_id).contains(&"hello from lattice".to_owned())
        })
        .await;

    // Both servers agree on who is in the room.
    let members_path = format!("/_matrix/client/v3/rooms/{}/joined_members", encode(&room_id));
    let on_lattice = lattice.get(&members_path, Some(&alice.token)).await.ok();
    let on_synapse = synapse.get(&members_path, &bob.token).await.ok();
    let names = |body: &Value| {
        let mut users: Vec<String> =
            body["joined"].as_object().expect("joined").keys().cloned().collect();
        users.sort();
        users
    };
    let mut expected = vec![alice.user_id.clone(), bob.user_id.clone()];
    expected.sort();
    assert_eq!(names(&on_lattice), expected);
    assert_eq!(names(&on_synapse), expected);

    // Typing on Synapse shows on Lattice.
    let typing = format!("/_matrix/client/v3/rooms/{}/typing/{}", encode(&room_id), bob.user_id);
    synapse.put(&typing, &bob.token, json!({"typing": true, "timeout": 10_000})).await.ok();
    lattice_sees(&lattice, &alice, |sync| {
        sync["rooms"]["join"][room_id.as_str()]["ephemeral"]["events"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|e| e["type"] == "m.typing" && e["content"]["user_ids"][0] == bob.user_id.as_str())
    })
    .await;
}

/// A room made on Synapse (its default room version): a Lattice user is
/// invited, joins, talks, and is then kicked by the Synapse room's owner.
async fn lattice_user_invited_to_synapse_room(backend: Backend) {
    let ca = TestCa::new();
    let Some(synapse) = Synapse::start(&ca).await else { return };
    let lattice = server(backend, &ca).await;
    let alice = lattice.register("alice", "correct horse").await;
    let bob = synapse.register("bob").await;

    let created = synapse
        .post("/_matrix/client/v3/createRoom", &bob.token, json!({"preset": "private_chat"}))
        .await
        .ok();
    let room_id = created["room_id"].as_str().expect("room id").to_owned();
    let invite = format!("/_matrix/client/v3/rooms/{}/invite", encode(&room_id));
    let invited = synapse.post(&invite, &bob.token, json!({"user_id": alice.user_id})).await;
    assert_eq!(invited.status, StatusCode::OK, "{}", invited.body);

    lattice_sees(&lattice, &alice, |sync| !sync["rooms"]["invite"][room_id.as_str()].is_null())
        .await;
    let joined = lattice.join(&alice.token, &room_id).await;
    assert_eq!(joined.status, StatusCode::OK, "{}", joined.body);

    lattice.send_text(&alice.token, &room_id, "lattice in a synapse room").await;
    synapse
        .sync_until(&bob, |sync| {
            timeline_bodies(sync, &room_id).contains(&"lattice in a synapse room".to_owned())
        })
        .await;
    synapse_sends(&synapse, &bob, &room_id, "welcome").await;
    lattice_sees(&lattice, &alice, |sync| {
        timeline_bodies(sync, &room_id).contains(&"welcome".to_owned())
    })
    .await;

    // The owner on Synapse kicks the Lattice user: Lattice applies it.
    let kick = format!("/_matrix/client/v3/rooms/{}/kick", encode(&room_id));
    synapse.post(&kick, &bob.token, json!({"user_id": alice.user_id, "reason": "bye"})).await.ok();
    lattice_sees(&lattice, &alice, |sync| !sync["rooms"]["leave"][room_id.as_str()].is_null())
        .await;
    let refused = lattice
        .put(
            &format!(
                "/_matrix/client/v3/rooms/{}/send/m.room.message/after-kick",
                encode(&room_id)
            ),
            Some(&alice.token),
            json!({"msgtype": "m.text", "body": "still here?"}),
        )
        .await;
    refused.err(403, "M_FORBIDDEN");
}

crate::backend_tests!(synapse_user_joins_lattice_room, lattice_user_invited_to_synapse_room);
