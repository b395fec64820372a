//! Spaces: the room tree Element's space panel shows (GET /hierarchy),
//! and restricted rooms that admit the members of a space, on one server
//! and across two.

use serde_json::{Value, json};

use crate::{
    backend_tests,
    common::{
        Backend, Session, TestServer,
        federation::{TestCa, server},
    },
};

backend_tests!(
    a_space_is_walked_depth_first_showing_what_the_user_may_see,
    hierarchy_pages_keep_their_parameters,
    restricted_rooms_admit_members_of_the_rooms_they_name,
    spaces_and_restricted_joins_work_across_servers,
    rooms_are_previewed_here_and_elsewhere,
);

fn hierarchy_path(space: &str, query: &str) -> String {
    format!("/_matrix/client/v1/rooms/{space}/hierarchy{query}")
}

/// The rooms of a hierarchy page, in order.
pub(crate) fn room_ids(page: &Value) -> Vec<String> {
    page["rooms"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|room| room["room_id"].as_str().map(str::to_owned))
        .collect()
}

async fn create_space(s: &TestServer, who: &Session, name: &str, preset: &str) -> String {
    let body = json!({
        "name": name,
        "preset": preset,
        "creation_content": {"type": "m.space"},
    });
    s.create_room(&who.token, body).await
}

async fn add_child(s: &TestServer, who: &Session, space: &str, child: &str, content: Value) {
    let path = format!("/_matrix/client/v3/rooms/{space}/state/m.space.child/{child}");
    s.put(&path, Some(&who.token), content).await.ok();
}

fn restricted_to(rooms: &[&str], rule: &str) -> Value {
    let allow: Vec<Value> =
        rooms.iter().map(|room| json!({"type": "m.room_membership", "room_id": room})).collect();
    json!({
        "preset": "private_chat",
        "initial_state": [{
            "type": "m.room.join_rules",
            "state_key": "",
            "content": {"join_rule": rule, "allow": allow},
        }],
    })
}

/// A space with two rooms and a sub-space holding a third; one room is
/// invite-only.
struct Tree {
    space: String,
    general: String,
    sub: String,
    deep: String,
    secret: String,
}

async fn build_tree(s: &TestServer, alice: &Session) -> Tree {
    let space = create_space(s, alice, "Team", "public_chat").await;
    let general =
        s.create_room(&alice.token, json!({"name": "General", "preset": "public_chat"})).await;
    let sub = create_space(s, alice, "Sub", "public_chat").await;
    let deep = s.create_room(&alice.token, json!({"name": "Deep", "preset": "public_chat"})).await;
    let secret = s.create_room(&alice.token, json!({"name": "Secret"})).await;
    let via = json!([s.config().server.server_name]);
    add_child(s, alice, &space, &secret, json!({"via": via})).await;
    add_child(s, alice, &space, &sub, json!({"via": via, "order": "b"})).await;
    add_child(s, alice, &space, &general, json!({"via": via, "order": "a", "suggested": true}))
        .await;
    add_child(s, alice, &sub, &deep, json!({"via": via})).await;
    // A child event without `via` removes the child.
    let gone = s.create_room(&alice.token, json!({"preset": "public_chat"})).await;
    add_child(s, alice, &space, &gone, json!({})).await;
    Tree { space, general, sub, deep, secret }
}

async fn a_space_is_walked_depth_first_showing_what_the_user_may_see(backend: Backend) {
    let s = TestServer::new(backend).await;
    let alice = s.register("alice", "pw").await;
    let bob = s.register("bob", "pw").await;
    let tree = build_tree(&s, &alice).await;

    let page = s.get(&hierarchy_path(&tree.space, ""), Some(&alice.token)).await.ok();
    let expected = [
        tree.space.as_str(),
        tree.general.as_str(),
        tree.sub.as_str(),
        tree.deep.as_str(),
        tree.secret.as_str(),
    ];
    assert_eq!(room_ids(&page), expected, "ordered children, depth first");
    assert!(page.get("next_batch").is_none());
    let root = &page["rooms"][0];
    assert_eq!(root["room_type"], "m.space");
    assert_eq!(root["name"], "Team");
    assert_eq!(root["num_joined_members"], 1);
    // `public` is the spec's default for an absent join_rule.
    assert!(root.get("join_rule").is_none_or(|rule| rule == "public"));
    assert_eq!(root["room_version"], "12");
    let children: Vec<&str> = root["children_state"]
        .as_array()
        .expect("children_state")
        .iter()
        .map(|child| child["state_key"].as_str().expect("state_key"))
        .collect();
    assert_eq!(children, [tree.general.as_str(), tree.sub.as_str(), tree.secret.as_str()]);
    let child = &root["children_state"][0];
    assert_eq!(child["type"], "m.space.child");
    assert_eq!(child["sender"], alice.user_id.as_str());
    assert!(child["origin_server_ts"].as_u64().is_some());
    assert_eq!(page["rooms"][1]["name"], "General");
    assert_eq!(page["rooms"][1]["children_state"], json!([]));

    // Bob is in none of them: the invite-only room is hidden from him.
    let page = s.get(&hierarchy_path(&tree.space, ""), Some(&bob.token)).await.ok();
    assert_eq!(
        room_ids(&page),
        [tree.space.as_str(), tree.general.as_str(), tree.sub.as_str(), tree.deep.as_str()]
    );
    // ...until he is invited.
    s.invite(&alice.token, &tree.secret, &bob.user_id).await.ok();
    let page = s.get(&hierarchy_path(&tree.space, ""), Some(&bob.token)).await.ok();
    assert!(room_ids(&page).contains(&tree.secret));

    let page = s.get(&hierarchy_path(&tree.space, "?max_depth=1"), Some(&bob.token)).await.ok();
    assert_eq!(
        room_ids(&page),
        [tree.space.as_str(), tree.general.as_str(), tree.sub.as_str(), tree.secret.as_str()]
    );
    let page = s.get(&hierarchy_path(&tree.space, "?max_depth=0"), Some(&bob.token)).await.ok();
    assert_eq!(room_ids(&page), [tree.space.as_str()]);
    let page =
        s.get(&hierarchy_path(&tree.space, "?suggested_only=true"), Some(&bob.token)).await.ok();
    assert_eq!(room_ids(&page), [tree.space.as_str(), tree.general.as_str()]);

    // A private space is not shown to outsiders, nor is an unknown room.
    let private = create_space(&s, &alice, "Private", "private_chat").await;
    s.get(&hierarchy_path(&private, ""), Some(&bob.token)).await.err(403, "M_FORBIDDEN");
    let unknown = format!("!nowhere:{}", s.config().server.server_name);
    s.get(&hierarchy_path(&unknown, ""), Some(&bob.token)).await.err(403, "M_FORBIDDEN");
    s.get(&hierarchy_path(&tree.space, ""), None).await.err(401, "M_MISSING_TOKEN");
}

async fn hierarchy_pages_keep_their_parameters(backend: Backend) {
    let s = TestServer::new(backend).await;
    let alice = s.register("alice", "pw").await;
    let tree = build_tree(&s, &alice).await;

    let mut seen = Vec::new();
    let mut from: Option<String> = None;
    let mut pages = 0;
    loop {
        let query = match &from {
            Some(token) => format!("?limit=2&from={token}"),
            None => "?limit=2".to_owned(),
        };
        let page = s.get(&hierarchy_path(&tree.space, &query), Some(&alice.token)).await.ok();
        assert!(room_ids(&page).len() <= 2);
        seen.extend(room_ids(&page));
        pages += 1;
        match page["next_batch"].as_str() {
            Some(token) => from = Some(token.to_owned()),
            None => break,
        }
    }
    assert_eq!(pages, 3);
    assert_eq!(
        seen,
        [
            tree.space.as_str(),
            tree.general.as_str(),
            tree.sub.as_str(),
            tree.deep.as_str(),
            tree.secret.as_str()
        ]
    );

    let first = s.get(&hierarchy_path(&tree.space, "?limit=2"), Some(&alice.token)).await.ok();
    let token = first["next_batch"].as_str().expect("next_batch");
    let changed = format!("?limit=2&suggested_only=true&from={token}");
    s.get(&hierarchy_path(&tree.space, &changed), Some(&alice.token))
        .await
        .err(400, "M_INVALID_PARAM");
    let bogus = "?from=not-a-token";
    s.get(&hierarchy_path(&tree.space, bogus), Some(&alice.token))
        .await
        .err(400, "M_INVALID_PARAM");
    s.get(&hierarchy_path(&tree.space, "?limit=0"), Some(&alice.token))
        .await
        .err(400, "M_INVALID_PARAM");
}

/// The member event of `user` in a room, as the room's state holds it.
async fn member_event(s: &TestServer, who: &Session, room: &str, user: &str) -> Value {
    let path = format!("/_matrix/client/v3/rooms/{room}/state/m.room.member/{user}?format=event");
    s.get(&path, Some(&who.token)).await.ok()
}

async fn restricted_rooms_admit_members_of_the_rooms_they_name(backend: Backend) {
    let s = TestServer::new(backend).await;
    let alice = s.register("alice", "pw").await;
    let bob = s.register("bob", "pw").await;
    let space = create_space(&s, &alice, "Team", "public_chat").await;
    let room = s.create_room(&alice.token, restricted_to(&[&space], "restricted")).await;

    // Not in the space: no way in without an invite.
    s.join(&bob.token, &room).await.err(403, "M_FORBIDDEN");
    s.join(&bob.token, &space).await.ok();
    s.join(&bob.token, &room).await.ok();
    let join = member_event(&s, &alice, &room, &bob.user_id).await;
    assert_eq!(join["content"]["membership"], "join");
    assert_eq!(join["content"]["join_authorised_via_users_server"], alice.user_id.as_str());

    // The space sees the restricted child once bob is a member of it.
    let carol = s.register("carol", "pw").await;
    let via = json!([s.config().server.server_name]);
    add_child(&s, &alice, &space, &room, json!({"via": via})).await;
    let page = s.get(&hierarchy_path(&space, ""), Some(&carol.token)).await.ok();
    assert_eq!(room_ids(&page), [space.as_str()], "carol is not in the space");
    let page = s.get(&hierarchy_path(&space, ""), Some(&bob.token)).await.ok();
    assert_eq!(room_ids(&page), [space.as_str(), room.as_str()]);
    assert_eq!(page["rooms"][1]["join_rule"], "restricted");
    assert_eq!(page["rooms"][1]["allowed_room_ids"], json!([space]));

    // knock_restricted: outsiders knock, members of the space walk in.
    let knockable = s.create_room(&alice.token, restricted_to(&[&space], "knock_restricted")).await;
    s.join(&carol.token, &knockable).await.err(403, "M_FORBIDDEN");
    let knock = format!("/_matrix/client/v3/knock/{knockable}");
    s.post(&knock, Some(&carol.token), json!({})).await.ok();
    s.join(&bob.token, &knockable).await.ok();

    // Leaving the space closes the door again.
    s.post(&format!("/_matrix/client/v3/rooms/{space}/leave"), Some(&bob.token), json!({}))
        .await
        .ok();
    s.post(&format!("/_matrix/client/v3/rooms/{room}/leave"), Some(&bob.token), json!({}))
        .await
        .ok();
    s.join(&bob.token, &room).await.err(403, "M_FORBIDDEN");

    // A room admitting members of a room this server is not in refuses
    // clearly rather than guessing.
    let elsewhere = "!unknown:elsewhere.example";
    let orphan = s.create_room(&alice.token, restricted_to(&[elsewhere], "restricted")).await;
    s.join(&carol.token, &orphan).await.err(403, "M_FORBIDDEN");
}

async fn spaces_and_restricted_joins_work_across_servers(backend: Backend) {
    let ca = TestCa::new();
    let (a, b) = (server(backend, &ca).await, server(backend, &ca).await);
    let alice = a.register("alice", "pw").await;
    let bob = b.register("bob", "pw").await;
    let carol = b.register("carol", "pw").await;
    let space = a
        .create_room(
            &alice.token,
            json!({
                "name": "Team",
                "preset": "public_chat",
                "room_alias_name": "team",
                "creation_content": {"type": "m.space"},
            }),
        )
        .await;
    let lobby =
        a.create_room(&alice.token, json!({"name": "Lobby", "preset": "public_chat"})).await;
    let members = a.create_room(&alice.token, restricted_to(&[&space], "restricted")).await;
    let secret = a.create_room(&alice.token, json!({"name": "Secret"})).await;
    let via = json!([a.name()]);
    for child in [&lobby, &members, &secret] {
        add_child(&a, &alice, &space, child, json!({"via": via})).await;
    }

    // Bob joins the space on A; B knows none of its rooms and asks A.
    b.join(&bob.token, &format!("#team:{}", a.name())).await.ok();
    let page = b.get(&hierarchy_path(&space, ""), Some(&bob.token)).await.ok();
    assert_eq!(
        room_ids(&page),
        [space.as_str(), lobby.as_str(), members.as_str()],
        "the invite-only room is left out"
    );
    assert_eq!(page["rooms"][1]["name"], "Lobby");
    assert_eq!(page["rooms"][2]["allowed_room_ids"], json!([space]));
    // Carol on B is in no room of A's: the restricted room is not hers to see.
    let page = b.get(&hierarchy_path(&space, ""), Some(&carol.token)).await.ok();
    assert_eq!(room_ids(&page), [space.as_str(), lobby.as_str()]);

    // Bob's join to the restricted room goes through A, which vouches for
    // him and countersigns; both servers hold the same vouched-for join.
    // Clients join a child through the servers its child event names.
    let join = format!("/_matrix/client/v3/join/{members}?via={}", a.name());
    b.post(&join, Some(&bob.token), json!({})).await.ok();
    let on_b = member_event(&b, &bob, &members, &bob.user_id).await;
    assert_eq!(on_b["content"]["join_authorised_via_users_server"], alice.user_id.as_str());
    a.sync_until(&alice, |sync| {
        sync["rooms"]["join"][&members]["timeline"]["events"]
            .as_array()
            .is_some_and(|events| events.iter().any(|e| e["state_key"] == bob.user_id.as_str()))
    })
    .await;
    let on_a = member_event(&a, &alice, &members, &bob.user_id).await;
    assert_eq!(on_a["event_id"], on_b["event_id"]);

    // Carol is not in the space: A refuses her.
    b.post(&join, Some(&carol.token), json!({})).await.err(403, "M_FORBIDDEN");
}

fn summary_path(room: &str) -> String {
    format!("/_matrix/client/v1/room_summary/{}", room.replace('#', "%23"))
}

async fn rooms_are_previewed_here_and_elsewhere(backend: Backend) {
    let ca = TestCa::new();
    let (a, b) = (server(backend, &ca).await, server(backend, &ca).await);
    let alice = a.register("alice", "pw").await;
    let bob = b.register("bob", "pw").await;
    let carol = a.register("carol", "pw").await;
    let public = a
        .create_room(
            &alice.token,
            json!({"name": "Lobby", "topic": "Say hello", "preset": "public_chat",
                "room_alias_name": "lobby"}),
        )
        .await;
    let private = a.create_room(&alice.token, json!({"name": "Secret"})).await;

    // Here: anyone may preview the public room, members see their membership.
    let alias = format!("#lobby:{}", a.name());
    let seen = a.get(&summary_path(&alias), Some(&carol.token)).await.ok();
    assert_eq!(seen["room_id"], public.as_str());
    assert_eq!(seen["name"], "Lobby");
    assert_eq!(seen["topic"], "Say hello");
    assert_eq!(seen["num_joined_members"], 1);
    assert!(seen.get("membership").is_none());
    let anonymous = a.get(&summary_path(&public), None).await.ok();
    assert_eq!(anonymous["name"], "Lobby");
    let mine = a.get(&summary_path(&public), Some(&alice.token)).await.ok();
    assert_eq!(mine["membership"], "join");
    let unstable = format!("/_matrix/client/unstable/im.nheko.summary/rooms/{public}/summary");
    assert_eq!(a.get(&unstable, Some(&carol.token)).await.ok()["name"], "Lobby");

    // A private room is previewed by its members only.
    a.get(&summary_path(&private), Some(&carol.token)).await.err(404, "M_NOT_FOUND");
    a.get(&summary_path(&private), None).await.err(404, "M_NOT_FOUND");
    assert_eq!(a.get(&summary_path(&private), Some(&alice.token)).await.ok()["name"], "Secret");
    a.invite(&alice.token, &private, &carol.user_id).await.ok();
    let invited = a.get(&summary_path(&private), Some(&carol.token)).await.ok();
    assert_eq!(invited["membership"], "invite");

    // Elsewhere: B is in neither room and asks A.
    let remote = b.get(&summary_path(&alias), Some(&bob.token)).await.ok();
    assert_eq!(remote["room_id"], public.as_str());
    assert_eq!(remote["name"], "Lobby");
    let via = format!("{}?via={}", summary_path(&private), a.name());
    b.get(&via, Some(&bob.token)).await.err(404, "M_NOT_FOUND");
}
