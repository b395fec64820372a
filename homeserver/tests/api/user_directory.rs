//! The user directory: the search behind every client's invite dialog.

use serde_json::{Value, json};

use crate::{
    backend_tests,
    common::{
        Backend, Session, TestServer,
        federation::{TestCa, server},
    },
};

backend_tests!(
    finds_users_who_share_a_room_or_sit_in_a_public_one,
    follows_profile_and_membership_changes,
    ranks_and_limits_results,
    can_search_every_local_user,
    remote_users_are_learned_from_federated_rooms,
);

const SEARCH: &str = "/_matrix/client/v3/user_directory/search";

async fn search(s: &TestServer, who: &Session, term: &str) -> Value {
    s.post(SEARCH, Some(&who.token), json!({"search_term": term})).await.ok()
}

fn ids(found: &Value) -> Vec<String> {
    found["results"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|user| user["user_id"].as_str().map(str::to_owned))
        .collect()
}

async fn finds_users_who_share_a_room_or_sit_in_a_public_one(backend: Backend) {
    let s = TestServer::new(backend).await;
    let alice = s.register("alice", "pw").await;
    let bob = s.register("bob", "pw").await;
    let carol = s.register("carol", "pw").await;
    let dave = s.register("dave", "pw").await;
    s.post(SEARCH, None, json!({"search_term": "bob"})).await.err(401, "M_MISSING_TOKEN");

    // Nobody shares a room yet: a stranger is not found.
    assert_eq!(ids(&search(&s, &alice, "bob").await), Vec::<String>::new());

    let private = s.create_room(&alice.token, json!({})).await;
    s.invite(&alice.token, &private, &bob.user_id).await.ok();
    s.join(&bob.token, &private).await.ok();
    let found = search(&s, &alice, "bob").await;
    assert_eq!(ids(&found), vec![bob.user_id.clone()]);
    assert_eq!(found["results"][0]["display_name"], "bob");
    assert_eq!(found["limited"], false);
    // Only an invite is not enough: carol is invited, not joined.
    s.invite(&alice.token, &private, &carol.user_id).await.ok();
    assert!(ids(&search(&s, &alice, "carol").await).is_empty());

    // Members of a public room are findable by anyone.
    let public =
        s.create_room(&dave.token, json!({"visibility": "public", "preset": "public_chat"})).await;
    assert!(ids(&search(&s, &alice, "dave").await).contains(&dave.user_id));
    assert_eq!(ids(&search(&s, &carol, "dave").await), vec![dave.user_id.clone()]);
    s.post(&format!("/_matrix/client/v3/rooms/{public}/leave"), Some(&dave.token), json!({}))
        .await
        .ok();
    assert!(ids(&search(&s, &carol, "dave").await).is_empty(), "dave left the public room");

    // Wildcards in a term are plain characters.
    assert!(ids(&search(&s, &alice, "%").await).is_empty());
    assert!(ids(&search(&s, &alice, "b_b").await).is_empty());
}

async fn follows_profile_and_membership_changes(backend: Backend) {
    let s = TestServer::new(backend).await;
    let alice = s.register("alice", "pw").await;
    let bob = s.register("bob", "pw").await;
    let room = s.create_room(&alice.token, json!({})).await;
    s.invite(&alice.token, &room, &bob.user_id).await.ok();
    s.join(&bob.token, &room).await.ok();

    let name = format!("/_matrix/client/v3/profile/{}/displayname", bob.user_id);
    s.put(&name, Some(&bob.token), json!({"displayname": "Robert Zimmerman"})).await.ok();
    let found = search(&s, &alice, "zimmer").await;
    assert_eq!(ids(&found), vec![bob.user_id.clone()]);
    assert_eq!(found["results"][0]["display_name"], "Robert Zimmerman");
    assert!(ids(&search(&s, &alice, "ROBERT").await).contains(&bob.user_id), "case-insensitive");
    let avatar = format!("/_matrix/client/v3/profile/{}/avatar_url", bob.user_id);
    s.put(&avatar, Some(&bob.token), json!({"avatar_url": "mxc://localhost/abc"})).await.ok();
    assert_eq!(
        search(&s, &alice, "zimmer").await["results"][0]["avatar_url"],
        "mxc://localhost/abc"
    );

    // Leaving the only shared room hides bob again.
    s.post(&format!("/_matrix/client/v3/rooms/{room}/leave"), Some(&bob.token), json!({}))
        .await
        .ok();
    assert!(ids(&search(&s, &alice, "zimmer").await).is_empty());
}

async fn ranks_and_limits_results(backend: Backend) {
    let s = TestServer::new(backend).await;
    let alice = s.register("alice", "pw").await;
    let room =
        s.create_room(&alice.token, json!({"visibility": "public", "preset": "public_chat"})).await;
    // "annabel" holds the term mid-word; "ann" and "anna" start with it.
    for name in ["xannabel", "ann", "anna", "zed"] {
        let user = s.register(name, "pw").await;
        s.join(&user.token, &room).await.ok();
    }
    let found = search(&s, &alice, "ann").await;
    let names: Vec<&str> = found["results"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|u| u["display_name"].as_str())
        .collect();
    assert_eq!(names, ["ann", "anna", "xannabel"], "prefix matches first");
    assert_eq!(found["limited"], false);

    let limited =
        s.post(SEARCH, Some(&alice.token), json!({"search_term": "ann", "limit": 2})).await.ok();
    assert_eq!(ids(&limited).len(), 2);
    assert_eq!(limited["limited"], true);
    s.post(SEARCH, Some(&alice.token), json!({"limit": 2})).await.err(400, "M_BAD_JSON");
}

async fn can_search_every_local_user(backend: Backend) {
    let s = TestServer::start(backend, |c| c.user_directory.search_all_users = true).await;
    let alice = s.register("alice", "pw").await;
    let loner = s.register("loner", "pw").await;
    assert_eq!(ids(&search(&s, &alice, "lone").await), vec![loner.user_id.clone()]);

    // A deactivated account leaves the directory for good.
    let admin = s.admin().await;
    let path = format!("/_synapse/admin/v1/deactivate/{}", loner.user_id);
    s.post(&path, Some(&admin.token), json!({})).await.ok();
    assert!(ids(&search(&s, &alice, "lone").await).is_empty());
}

async fn remote_users_are_learned_from_federated_rooms(backend: Backend) {
    let ca = TestCa::new();
    let (a, b) = (server(backend, &ca).await, server(backend, &ca).await);
    let alice = a.register("alice", "pw").await;
    let bob = b.register("bob", "pw").await;
    a.create_room(&alice.token, json!({"preset": "public_chat", "room_alias_name": "dir"})).await;
    b.join(&bob.token, &format!("#dir:{}", a.name())).await.ok();

    // B learned alice from the room's state at the join; A learned bob
    // from his join event.
    assert_eq!(ids(&search(&b, &bob, "alice").await), vec![alice.user_id.clone()]);
    assert_eq!(ids(&search(&a, &alice, "bob").await), vec![bob.user_id.clone()]);

    // A new name reaches the other server with the member event it sends.
    let name = format!("/_matrix/client/v3/profile/{}/displayname", bob.user_id);
    b.put(&name, Some(&bob.token), json!({"displayname": "Roberto"})).await.ok();
    a.sync_until(&alice, |sync| sync.to_string().contains("Roberto")).await;
    assert_eq!(ids(&search(&a, &alice, "roberto").await), vec![bob.user_id.clone()]);
}
