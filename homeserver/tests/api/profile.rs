//! Profiles: display names, avatars and extended fields.

use serde_json::json;

use crate::{
    backend_tests,
    common::{Backend, TestServer},
};

backend_tests!(profile_fields_round_trip, profiles_are_guarded);

async fn profile_fields_round_trip(backend: Backend) {
    let s = TestServer::new(backend).await;
    let alice = s.register("alice", "pw").await;
    let base = "/_matrix/client/v3/profile/@alice:localhost";

    // A new account is named after its localpart.
    let name = s.get(&format!("{base}/displayname"), None).await.ok();
    assert_eq!(name, json!({"displayname": "alice"}));

    s.put(&format!("{base}/displayname"), Some(&alice.token), json!({"displayname": "Alice 🌸"}))
        .await
        .ok();
    s.put(
        &format!("{base}/avatar_url"),
        Some(&alice.token),
        json!({"avatar_url": "mxc://localhost/abcdef"}),
    )
    .await
    .ok();
    s.put(&format!("{base}/m.tz"), Some(&alice.token), json!({"m.tz": "Europe/Paris"})).await.ok();

    let profile = s.get(base, None).await.ok();
    assert_eq!(profile["displayname"], "Alice 🌸");
    assert_eq!(profile["avatar_url"], "mxc://localhost/abcdef");
    assert_eq!(profile["m.tz"], "Europe/Paris");
    let avatar = s.get(&format!("{base}/avatar_url"), None).await.ok();
    assert_eq!(avatar, json!({"avatar_url": "mxc://localhost/abcdef"}));

    s.delete(&format!("{base}/m.tz"), Some(&alice.token), None).await.ok();
    s.get(&format!("{base}/m.tz"), None).await.err(404, "M_NOT_FOUND");
}

async fn profiles_are_guarded(backend: Backend) {
    let s = TestServer::new(backend).await;
    s.register("alice", "pw").await;
    let bob = s.register("bob", "pw").await;
    let base = "/_matrix/client/v3/profile/@alice:localhost";
    s.put(&format!("{base}/displayname"), Some(&bob.token), json!({"displayname": "Not Alice"}))
        .await
        .err(403, "M_FORBIDDEN");
    s.put(&format!("{base}/displayname"), None, json!({"displayname": "x"}))
        .await
        .err(401, "M_MISSING_TOKEN");
    assert_eq!(s.get(&format!("{base}/displayname"), None).await.ok()["displayname"], "alice");
    s.get("/_matrix/client/v3/profile/@ghost:localhost", None).await.err(404, "M_NOT_FOUND");
    s.put(
        "/_matrix/client/v3/profile/@bob:localhost/avatar_url",
        Some(&bob.token),
        json!({"avatar_url": 42}),
    )
    .await
    .err(400, "M_BAD_JSON");
}

mod in_rooms {
    use serde_json::json;

    use crate::{
        backend_tests,
        common::{Backend, TestServer},
    };

    backend_tests!(profile_changes_reach_joined_rooms, ignored_users_are_hidden);

    async fn profile_changes_reach_joined_rooms(backend: Backend) {
        let s = TestServer::new(backend).await;
        let alice = s.register("alice", "pw").await;
        let bob = s.register("bob", "pw").await;
        let room = s.create_room(&alice.token, json!({"preset": "public_chat"})).await;
        s.join(&bob.token, &room).await.ok();
        let since =
            s.sync(&bob.token, None, 0).await["next_batch"].as_str().expect("token").to_owned();
        s.put(
            "/_matrix/client/v3/profile/@alice:localhost/displayname",
            Some(&alice.token),
            json!({"displayname": "Alice Liddell"}),
        )
        .await
        .ok();
        let member = s
            .get(
                &format!("/_matrix/client/v3/rooms/{room}/state/m.room.member/{}", alice.user_id),
                Some(&bob.token),
            )
            .await
            .ok();
        assert_eq!(member["displayname"], "Alice Liddell");
        assert_eq!(member["membership"], "join");
        let synced = s.sync(&bob.token, Some(&since), 0).await;
        let timeline =
            synced["rooms"]["join"][&room]["timeline"]["events"].as_array().expect("timeline");
        assert!(timeline.iter().any(
            |e| e["type"] == "m.room.member" && e["content"]["displayname"] == "Alice Liddell"
        ));
    }

    async fn ignored_users_are_hidden(backend: Backend) {
        let s = TestServer::new(backend).await;
        let alice = s.register("alice", "pw").await;
        let bob = s.register("bob", "pw").await;
        let troll = s.register("troll", "pw").await;
        let room = s.create_room(&alice.token, json!({"preset": "public_chat"})).await;
        s.join(&bob.token, &room).await.ok();
        s.join(&troll.token, &room).await.ok();
        s.put(
            &format!("/_matrix/client/v3/user/{}/account_data/m.ignored_user_list", bob.user_id),
            Some(&bob.token),
            json!({"ignored_users": {troll.user_id.clone(): {}}}),
        )
        .await
        .ok();
        s.send_text(&troll.token, &room, "spam spam").await;
        s.send_text(&alice.token, &room, "hello bob").await;
        let page = s
            .get(
                &format!("/_matrix/client/v3/rooms/{room}/messages?dir=b&limit=20"),
                Some(&bob.token),
            )
            .await
            .ok();
        assert_eq!(TestServer::bodies(&page["chunk"]), vec!["hello bob"]);
        let synced = s.sync(&bob.token, None, 0).await;
        assert_eq!(
            TestServer::bodies(&synced["rooms"]["join"][&room]["timeline"]["events"]),
            vec!["hello bob"]
        );
        // Invites from an ignored user are not shown either.
        let trap = s.create_room(&troll.token, json!({"invite": [bob.user_id]})).await;
        let synced = s.sync(&bob.token, None, 0).await;
        assert!(synced["rooms"]["invite"].get(&trap).is_none(), "{}", synced["rooms"]["invite"]);
        // Alice, who ignores no one, sees everything.
        let page = s
            .get(
                &format!("/_matrix/client/v3/rooms/{room}/messages?dir=b&limit=20"),
                Some(&alice.token),
            )
            .await
            .ok();
        assert_eq!(TestServer::bodies(&page["chunk"]), vec!["hello bob", "spam spam"]);
    }
}
