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
