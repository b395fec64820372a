//! Versions, discovery, capabilities, and how malformed requests are refused.

use serde_json::json;

use crate::{
    backend_tests,
    common::{Backend, TestServer},
};

backend_tests!(
    health_and_readiness,
    versions_and_well_known,
    federation_delegation_when_configured,
    capabilities_need_a_token,
    malformed_requests_get_matrix_errors,
    oversized_body_is_refused,
    unauthenticated_bodies_get_less_room,
    deeply_nested_json_is_refused,
    turn_credentials_only_when_configured,
    no_bridged_protocols_yet,
);

async fn versions_and_well_known(backend: Backend) {
    let s = TestServer::new(backend).await;
    let versions = s.get("/_matrix/client/versions", None).await.ok();
    let list: Vec<&str> =
        versions["versions"].as_array().expect("array").iter().filter_map(|v| v.as_str()).collect();
    for needed in ["v1.1", "v1.11", "v1.12"] {
        assert!(list.contains(&needed), "{needed} missing from {list:?}");
    }
    let well_known = s.get("/.well-known/matrix/client", None).await.ok();
    assert!(well_known["m.homeserver"]["base_url"].as_str().expect("base_url").starts_with("http"));
}

/// `/.well-known/matrix/server` names the delegate only when one is set
/// (a proxy may serve the path instead), and only while we federate.
async fn federation_delegation_when_configured(backend: Backend) {
    let plain = TestServer::new(backend).await;
    plain.get("/.well-known/matrix/server", None).await.err(404, "M_NOT_FOUND");

    let delegating = TestServer::start(backend, |c| {
        c.federation.well_known_server = Some("matrix.example.org:443".try_into().expect("name"));
    })
    .await;
    let answer = delegating.get("/.well-known/matrix/server", None).await.ok();
    assert_eq!(answer, json!({ "m.server": "matrix.example.org:443" }));

    let closed = TestServer::start(backend, |c| {
        c.federation.well_known_server = Some("matrix.example.org:443".try_into().expect("name"));
        c.federation.enabled = false;
    })
    .await;
    closed.get("/.well-known/matrix/server", None).await.err(404, "M_NOT_FOUND");
}

async fn health_and_readiness(backend: Backend) {
    let s = TestServer::new(backend).await;
    for path in ["/health", "/ready"] {
        let answer = s.http().get(format!("{}{path}", s.url())).send().await.expect("sent");
        assert_eq!(answer.status(), 200, "{path}");
        assert_eq!(answer.text().await.expect("text"), "OK");
    }
}

async fn capabilities_need_a_token(backend: Backend) {
    let s = TestServer::new(backend).await;
    s.get("/_matrix/client/v3/capabilities", None).await.err(401, "M_MISSING_TOKEN");
    let alice = s.register("alice", "secret-pw").await;
    let caps = s.get("/_matrix/client/v3/capabilities", Some(&alice.token)).await.ok();
    // Absent means enabled; ruma leaves defaults out.
    assert_ne!(caps["capabilities"]["m.change_password"]["enabled"], json!(false));
    assert_eq!(caps["capabilities"]["m.room_versions"]["default"], json!("12"));
    assert_eq!(caps["capabilities"]["m.room_versions"]["available"]["12"], json!("stable"));
}

async fn malformed_requests_get_matrix_errors(backend: Backend) {
    let s = TestServer::new(backend).await;
    let not_json = s
        .http()
        .post(format!("{}/_matrix/client/v3/login", s.url()))
        .body("{this is not json")
        .send()
        .await
        .expect("sent");
    assert_eq!(not_json.status(), 400);
    let body: serde_json::Value = not_json.json().await.expect("json error body");
    assert_eq!(body["errcode"], "M_NOT_JSON");

    // Valid JSON, wrong shape: the password must be a string.
    s.post(
        "/_matrix/client/v3/login",
        None,
        json!({"type": "m.login.password", "identifier": {"type": "m.id.user", "user": "a"}, "password": 5}),
    )
    .await
    .err(400, "M_BAD_JSON");

    s.get("/_matrix/client/v3/no/such/endpoint", None).await.err(404, "M_UNRECOGNIZED");
    s.put("/_matrix/client/versions", None, json!({})).await.err(405, "M_UNRECOGNIZED");
    s.post("/_matrix/client/v3/login", None, json!({"type": "m.login.carrier_pigeon"}))
        .await
        .err(400, "M_UNKNOWN");
}

async fn oversized_body_is_refused(backend: Backend) {
    let s = TestServer::start(backend, |c| c.limits.max_request_bytes = 1024).await;
    let alice = s.register("alice", "secret-pw").await;
    let big = "x".repeat(4096);
    s.put(
        &format!("/_matrix/client/v3/user/{}/account_data/org.example.big", alice.user_id),
        Some(&alice.token),
        json!({ "blob": big }),
    )
    .await
    .err(413, "M_TOO_LARGE");
    s.get(
        &format!("/_matrix/client/v3/user/{}/account_data/org.example.big", alice.user_id),
        Some(&alice.token),
    )
    .await
    .err(404, "M_NOT_FOUND");
}

async fn deeply_nested_json_is_refused(backend: Backend) {
    let s = TestServer::new(backend).await;
    let alice = s.register("alice", "secret-pw").await;
    let room = s.create_room(&alice.token, json!({})).await;
    let deep = format!("{{\"body\": {}1{}}}", "[".repeat(1000), "]".repeat(1000));
    let send = |path: String| {
        s.http()
            .put(format!("{}{path}", s.url()))
            .bearer_auth(&alice.token)
            .body(deep.clone())
            .send()
    };
    let data = format!("/_matrix/client/v3/user/{}/account_data/org.example.deep", alice.user_id);
    let message = format!("/_matrix/client/v3/rooms/{room}/send/m.room.message/deep");
    for path in [data.clone(), message] {
        let answer = send(path).await.expect("sent");
        assert_eq!(answer.status(), 400);
        let body: serde_json::Value = answer.json().await.expect("JSON");
        assert_eq!(body["errcode"], "M_NOT_JSON", "{body}");
    }
    s.get(&data, Some(&alice.token)).await.err(404, "M_NOT_FOUND");
    let messages = format!("/_matrix/client/v3/rooms/{room}/messages?dir=b");
    let page = s.get(&messages, Some(&alice.token)).await.ok();
    assert!(TestServer::bodies(&page["chunk"]).is_empty());
}

async fn unauthenticated_bodies_get_less_room(backend: Backend) {
    let s = TestServer::new(backend).await;
    let alice = s.register("alice", "secret-pw").await;
    let padding = "x".repeat(100 * 1024);
    // 100 KiB is too much for a login...
    let login = json!({"type": "m.login.password", "user": "alice", "password": "secret-pw", "padding": padding});
    s.post("/_matrix/client/v3/login", None, login).await.err(413, "M_TOO_LARGE");
    // ...but fine for a logged-in user's own data.
    let path = format!("/_matrix/client/v3/user/{}/account_data/org.example.big", alice.user_id);
    s.put(&path, Some(&alice.token), json!({"blob": padding})).await.ok();
}

async fn turn_credentials_only_when_configured(backend: Backend) {
    let plain = TestServer::new(backend).await;
    let alice = plain.register("alice", "pw").await;
    let path = "/_matrix/client/v3/voip/turnServer";
    plain.get(path, None).await.err(401, "M_MISSING_TOKEN");
    assert_eq!(plain.get(path, Some(&alice.token)).await.ok(), json!({}));

    let s = TestServer::start(backend, |c| {
        c.turn.uris = vec!["turn:turn.example.org:3478?transport=udp".into()];
        c.turn.shared_secret = "north-wind".into();
        c.turn.user_lifetime = std::time::Duration::from_secs(3600);
    })
    .await;
    let alice = s.register("alice", "pw").await;
    let answer = s.get(path, Some(&alice.token)).await.ok();
    assert_eq!(answer["uris"], json!(["turn:turn.example.org:3478?transport=udp"]));
    assert_eq!(answer["ttl"], 3600);
    // coturn's scheme: "<expiry>:<user id>", the expiry an hour from now.
    let username = answer["username"].as_str().expect("username");
    let (expiry, user) = username.split_once(':').expect("expiry:user");
    assert_eq!(user, alice.user_id);
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock");
    let expiry: u64 = expiry.parse().expect("seconds");
    assert!((now.as_secs() + 3590..=now.as_secs() + 3610).contains(&expiry), "{expiry}");
    assert_eq!(answer["password"].as_str().map(str::len), Some(28), "base64 of 20 bytes");
}

async fn no_bridged_protocols_yet(backend: Backend) {
    let s = TestServer::new(backend).await;
    let alice = s.register("alice", "pw").await;
    let path = "/_matrix/client/v3/thirdparty/protocols";
    s.get(path, None).await.err(401, "M_MISSING_TOKEN");
    assert_eq!(s.get(path, Some(&alice.token)).await.ok(), json!({}));
}
