//! Spaces and restricted rooms with a real Synapse, both ways round: each
//! server's hierarchy lists rooms only the other is in (federation
//! /hierarchy), and each vouches for and countersigns the other's users'
//! joins to its restricted rooms.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::{
    common::Backend,
    federation_synapse::{Pair, encode, pair},
    spaces::room_ids,
};

crate::backend_tests!(restricted_rooms_admit_space_members_across_synapse);

fn space(name: &str) -> Value {
    json!({"name": name, "preset": "public_chat", "room_version": "10",
        "creation_content": {"type": "m.space"}})
}

fn restricted_to(space: &str) -> Value {
    json!({"preset": "private_chat", "room_version": "10", "name": "Members",
        "initial_state": [{"type": "m.room.join_rules", "state_key": "",
            "content": {"join_rule": "restricted",
                "allow": [{"type": "m.room_membership", "room_id": space}]}}]})
}

async fn restricted_rooms_admit_space_members_across_synapse(backend: Backend) {
    let Some(Pair { _ca, synapse, lattice, alice, bob }) = pair(backend).await else { return };
    let (on_lattice, on_synapse) = (lattice.name(), synapse.name().to_owned());

    // Lattice's space with a restricted room; bob on Synapse.
    let space_l = lattice.create_room(&alice.token, space("Lattice space")).await;
    let room_l = lattice.create_room(&alice.token, restricted_to(&space_l)).await;
    let child = format!("/_matrix/client/v3/rooms/{space_l}/state/m.space.child/{room_l}");
    lattice.put(&child, Some(&alice.token), json!({"via": [on_lattice]})).await.ok();
    let join_l = format!("/_matrix/client/v3/join/{}?server_name={on_lattice}", encode(&room_l));
    let refused = synapse.post(&join_l, &bob.token, json!({})).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "{}", refused.body);
    let join_space =
        format!("/_matrix/client/v3/join/{}?server_name={on_lattice}", encode(&space_l));
    synapse.post(&join_space, &bob.token, json!({})).await.ok();
    // Synapse is in the space, not the room: it asks Lattice.
    let hierarchy = format!("/_matrix/client/v1/rooms/{}/hierarchy", encode(&space_l));
    let page = synapse.get(&hierarchy, &bob.token).await.ok();
    assert_eq!(room_ids(&page), [space_l.clone(), room_l.clone()], "{page}");
    let joined = synapse.post(&join_l, &bob.token, json!({})).await;
    assert_eq!(joined.status, StatusCode::OK, "{}", joined.body);
    let member = format!("/_matrix/client/v3/rooms/{room_l}/state/m.room.member/{}", bob.user_id);
    let vouched = lattice.get(&member, Some(&alice.token)).await.ok();
    assert_eq!(vouched["membership"], "join");
    assert_eq!(vouched["join_authorised_via_users_server"], alice.user_id.as_str());

    // Synapse's space with a restricted room; alice on Lattice.
    let space_s =
        synapse.post("/_matrix/client/v3/createRoom", &bob.token, space("Synapse space")).await;
    let space_s = space_s.ok()["room_id"].as_str().expect("room_id").to_owned();
    let room_s = synapse.post("/_matrix/client/v3/createRoom", &bob.token, restricted_to(&space_s));
    let room_s = room_s.await.ok()["room_id"].as_str().expect("room_id").to_owned();
    let child = format!(
        "/_matrix/client/v3/rooms/{}/state/m.space.child/{}",
        encode(&space_s),
        encode(&room_s)
    );
    synapse.put(&child, &bob.token, json!({"via": [on_synapse]})).await.ok();
    let join_s = format!("/_matrix/client/v3/join/{}?server_name={on_synapse}", encode(&room_s));
    lattice.post(&join_s, Some(&alice.token), json!({})).await.err(403, "M_FORBIDDEN");
    let join_space =
        format!("/_matrix/client/v3/join/{}?server_name={on_synapse}", encode(&space_s));
    lattice.post(&join_space, Some(&alice.token), json!({})).await.ok();
    let hierarchy = format!("/_matrix/client/v1/rooms/{}/hierarchy", encode(&space_s));
    let page = lattice.get(&hierarchy, Some(&alice.token)).await.ok();
    assert_eq!(room_ids(&page), [space_s.clone(), room_s.clone()], "{page}");
    assert_eq!(page["rooms"][1]["join_rule"], "restricted");
    lattice.post(&join_s, Some(&alice.token), json!({})).await.ok();
    let member = format!(
        "/_matrix/client/v3/rooms/{}/state/m.room.member/{}",
        encode(&room_s),
        encode(&alice.user_id)
    );
    let vouched = synapse.get(&member, &bob.token).await.ok();
    assert_eq!(vouched["membership"], "join");
    assert_eq!(vouched["join_authorised_via_users_server"], bob.user_id.as_str());
}
