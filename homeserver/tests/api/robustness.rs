//! Defects found by trying the server as a hostile client and as ordinary
//! third-party clients would: each test failed before its fix.

use reqwest::Method;
use serde_json::{Value, json};

use crate::common::{Answer, Backend, TestServer};

/// Sends `body` as it is (no JSON encoding) with an optional token.
async fn raw(
    server: &TestServer,
    method: Method,
    path: &str,
    token: Option<&str>,
    body: &'static [u8],
) -> Answer {
    let mut request = server.http().request(method, format!("{}{path}", server.url())).body(body);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.expect("an answer, not a dropped connection");
    let status = response.status();
    let bytes = response.bytes().await.expect("body");
    Answer { status, body: serde_json::from_slice(&bytes).unwrap_or(Value::Null) }
}

async fn login_without_a_type_is_bad_json(backend: Backend) {
    let server = TestServer::new(backend).await;
    server.register("alice", "correct horse").await;
    for body in [&b"{}"[..], b"{\"password\": \"x\"}", b"", b"{\"type\": 5}"] {
        let answer = raw(&server, Method::POST, "/_matrix/client/v3/login", None, body).await;
        answer.err(400, "M_BAD_JSON");
    }
    // The server is still there, and a real login still works.
    server.login("alice", "correct horse", None).await.ok();
}

async fn an_empty_body_stands_for_an_empty_object(backend: Backend) {
    let server = TestServer::new(backend).await;
    let alice = server.register("alice", "correct horse").await;
    let bob = server.register("bob", "battery staple").await;
    let room_id = server
        .create_room(&alice.token, json!({"preset": "public_chat", "room_alias_name": "nio"}))
        .await;
    // matrix-nio joins with no body at all.
    let alias = format!("%23nio:{}", server.config().server.server_name);
    let path = format!("/_matrix/client/v3/join/{alias}");
    let joined = raw(&server, Method::POST, &path, Some(&bob.token), b"").await.ok();
    assert_eq!(joined["room_id"], room_id.as_str());
    let rooms = server.get("/_matrix/client/v3/joined_rooms", Some(&bob.token)).await.ok();
    assert_eq!(rooms["joined_rooms"], json!([room_id]));
    // Where a field is required, the empty body says which one is missing.
    let path = format!("/_matrix/client/v3/rooms/{room_id}/invite");
    raw(&server, Method::POST, &path, Some(&alice.token), b"").await.err(400, "M_BAD_JSON");
}

async fn nul_and_lone_surrogates_are_refused(backend: Backend) {
    let server = TestServer::new(backend).await;
    let alice = server.register("alice", "correct horse").await;
    let room_id = server.create_room(&alice.token, json!({})).await;
    let token = Some(alice.token.as_str());
    let search = br#"{"search_categories": {"room_events": {"search_term": "a\u0000b"}}}"#;
    raw(&server, Method::POST, "/_matrix/client/v3/search", token, search)
        .await
        .err(400, "M_BAD_JSON");
    let surrogate = br#"{"search_categories": {"room_events": {"search_term": "\ud800"}}}"#;
    raw(&server, Method::POST, "/_matrix/client/v3/search", token, surrogate)
        .await
        .err(400, "M_NOT_JSON");

    // Nothing with them is stored: a message, a state event, account data.
    let send = format!("/_matrix/client/v3/rooms/{room_id}/send/m.room.message/t1");
    let text = br#"{"msgtype": "m.text", "body": "x\u0000"}"#;
    raw(&server, Method::PUT, &send, token, text).await.err(400, "M_BAD_JSON");
    let topic = format!("/_matrix/client/v3/rooms/{room_id}/state/m.room.topic");
    raw(&server, Method::PUT, &topic, token, br#"{"topic": "\udfff"}"#)
        .await
        .err(400, "M_NOT_JSON");
    let messages = format!("/_matrix/client/v3/rooms/{room_id}/messages?dir=b&limit=50");
    let page = server.get(&messages, token).await.ok();
    let kinds: Vec<&str> = page["chunk"]
        .as_array()
        .expect("chunk")
        .iter()
        .filter_map(|e| e["type"].as_str())
        .collect();
    assert!(!kinds.contains(&"m.room.message") && !kinds.contains(&"m.room.topic"), "{kinds:?}");

    // A NUL in the path or the query is refused as well.
    let path = format!("/_matrix/client/v3/rooms/{room_id}/state/m.room.name/%00");
    server.get(&path, token).await.err(400, "M_INVALID_PARAM");
    let path = format!("/_matrix/client/v3/rooms/{room_id}/messages?dir=b&from=%00");
    server.get(&path, token).await.err(400, "M_INVALID_PARAM");
}

async fn create_room_refuses_wrongly_typed_fields(backend: Backend) {
    let server = TestServer::new(backend).await;
    let alice = server.register("alice", "correct horse").await;
    let token = Some(alice.token.as_str());
    for body in [
        json!({"power_level_content_override": "x"}),
        json!({"power_level_content_override": {"ban": "not a number"}}),
        json!({"creation_content": 5}),
        json!({"initial_state": ["not an event"]}),
        json!({"initial_state": [{"type": "m.room.name", "state_key": "", "content": {"name": 5}}]}),
    ] {
        let answer = server.post("/_matrix/client/v3/createRoom", token, body.clone()).await;
        assert_eq!(answer.status, 400, "{body}: {}", answer.body);
        assert_eq!(answer.errcode(), "M_BAD_JSON", "{body}: {}", answer.body);
    }
    let rooms = server.get("/_matrix/client/v3/joined_rooms", token).await.ok();
    assert_eq!(rooms["joined_rooms"], json!([]), "no room was made");
    // Well-typed overrides still work.
    let body = json!({"power_level_content_override": {"events_default": 10}});
    server.post("/_matrix/client/v3/createRoom", token, body).await.ok();
}

async fn endpoints_clients_call_authenticate_first(backend: Backend) {
    let server = TestServer::new(backend).await;
    let alice = server.register("alice", "correct horse").await;
    for path in ["/_matrix/client/v1/media/config", "/_matrix/media/v3/config"] {
        server.get(path, None).await.err(401, "M_MISSING_TOKEN");
        let config = server.get(path, Some(&alice.token)).await.ok();
        assert!(config["m.upload.size"].as_u64().is_some_and(|size| size > 0), "{config}");
    }
    server.get("/_matrix/client/v3/account/3pid", None).await.err(401, "M_MISSING_TOKEN");
    let ids = server.get("/_matrix/client/v3/account/3pid", Some(&alice.token)).await.ok();
    assert!(ids["threepids"].as_array().is_none_or(Vec::is_empty), "{ids}");
    server.get("/_matrix/client/v3/notifications", None).await.err(401, "M_MISSING_TOKEN");
    let search = json!({"search_term": "alice"});
    server
        .post("/_matrix/client/v3/user_directory/search", None, search)
        .await
        .err(401, "M_MISSING_TOKEN");
}

/// A listener that counts the connections made to it.
async fn watched_port() -> (u16, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("address").port();
    let count = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let seen = count.clone();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            seen.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            drop(stream);
        }
    });
    (port, count)
}

async fn request_supplied_server_names_never_reach_private_addresses(backend: Backend) {
    let server = TestServer::new(backend).await;
    let alice = server.register("alice", "correct horse").await;
    let token = Some(alice.token.as_str());
    let (port, connections) = watched_port().await;
    let internal = [
        format!("127.0.0.1:{port}"),
        format!("localhost:{port}"),
        format!("[::ffff:127.0.0.1]:{port}"),
    ];
    for name in &internal {
        let paths = [
            format!("/_matrix/client/v1/media/download/{name}/abc"),
            format!("/_matrix/client/v1/media/thumbnail/{name}/abc?width=32&height=32"),
            format!("/_matrix/client/v3/profile/@bob:{name}"),
            format!("/_matrix/client/v3/directory/room/%23room:{name}"),
        ];
        for path in paths {
            let answer = server.get(&path, token).await;
            assert!(answer.status.is_client_error(), "{path}: {answer:?}");
            // The answer names the server asked for, never how it failed.
            let text = answer.body.to_string().to_lowercase();
            for detail in ["connect", "tcp", "error sending", "dns", "tls"] {
                assert!(!text.contains(detail), "{path}: {text}");
            }
        }
        let join = format!("/_matrix/client/v3/join/%23room:{name}?server_name={name}");
        let answer = server.post(&join, token, json!({})).await;
        assert!(answer.status.is_client_error(), "{join}: {answer:?}");
        let keys = json!({"device_keys": {format!("@bob:{name}"): []}});
        server.post("/_matrix/client/v3/keys/query", token, keys).await.ok();
    }
    assert_eq!(connections.load(std::sync::atomic::Ordering::SeqCst), 0, "no connection made");

    // Names outside the spec's grammar are refused before any lookup.
    for name in ["a..b", "-x.org", "x_y.org"] {
        let path = format!("/_matrix/client/v1/media/download/{name}/abc");
        server.get(&path, token).await.err(400, "M_INVALID_PARAM");
        let join = format!("/_matrix/client/v3/join/%23room:{name}");
        server.post(&join, token, json!({})).await.err(400, "M_INVALID_PARAM");
    }
}

crate::backend_tests!(
    login_without_a_type_is_bad_json,
    an_empty_body_stands_for_an_empty_object,
    nul_and_lone_surrogates_are_refused,
    create_room_refuses_wrongly_typed_fields,
    endpoints_clients_call_authenticate_first,
    request_supplied_server_names_never_reach_private_addresses,
);
