//! Every route of a real server (read from its route table), called with
//! random path values, query strings and bodies, with and without a valid
//! token: the server answers every one with less than 500. A panic in any
//! handler would be a 500 (the router's catch-panic layer), so this is
//! also the harness that finds handlers that panic.

use std::sync::OnceLock;

use axum::body::Body;
use lattice_fuzz::json;
use lattice_homeserver::testing::{Backend, TestServer};
use proptest::prelude::*;
use tower::ServiceExt;

struct Fixture {
    runtime: tokio::runtime::Runtime,
    server: TestServer,
    token: String,
    paths: Vec<String>,
}

/// One server for every case of the run.
fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let runtime = tokio::runtime::Runtime::new().expect("runtime");
        let (server, token) = runtime.block_on(async {
            let server = TestServer::start(Backend::Sqlite, |config| {
                // Random server names must not become DNS lookups: nothing
                // leaves this machine (an unreachable server is a fair 502).
                config.federation.enabled = false;
                config.security.federation_rejections_alert_threshold = 0;
                config.security.server_error_alert_threshold = 0;
            })
            .await;
            let services = server.services();
            services.admin.create_user("fuzz", "pw", true).await.expect("user");
            let login = serde_json::json!({
                "type": "m.login.password", "identifier": {"type": "m.id.user", "user": "fuzz"},
                "password": "pw",
            });
            let answer =
                call(&server, "POST", "/_matrix/client/v3/login", None, login.to_string()).await;
            assert_eq!(answer.0, 200, "login: {}", answer.1);
            let body: serde_json::Value = serde_json::from_str(&answer.1).expect("JSON");
            let token = body["access_token"].as_str().expect("token").to_owned();
            (server, token)
        });
        let paths = lattice_homeserver::api::routes().paths().to_vec();
        Fixture { runtime, server, token, paths }
    })
}

async fn call(
    server: &TestServer,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: String,
) -> (u16, String) {
    let mut request = http::Request::builder().method(method).uri(path);
    if let Some(token) = token {
        request = request.header("authorization", format!("Bearer {token}"));
    }
    let request = request.body(Body::from(body)).expect("request");
    let router = lattice_homeserver::api::router(server.services().clone());
    let response = router.oneshot(request).await.expect("infallible");
    let status = response.status().as_u16();
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 20).await.unwrap_or_default();
    (status, String::from_utf8_lossy(&bytes).into_owned())
}

/// Any string as one path segment or query value: every byte outside the
/// unreserved set percent-encoded.
fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            other => format!("%{other:02X}"),
        })
        .collect()
}

fn path_value() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("@fuzz:localhost".to_owned()),
        Just("!nowhere:localhost".to_owned()),
        Just("$event".to_owned()),
        Just("localhost".to_owned()),
        "[@!$#]?[a-z0-9]{0,8}(:[a-z0-9.]{0,10})?",
        any::<String>(),
    ]
}

proptest! {
    #[test]
    fn routes_answer_below_500(
        route in any::<prop::sample::Index>(),
        method in prop::sample::select(vec!["GET", "POST", "PUT", "DELETE"]),
        values in prop::collection::vec(path_value(), 6),
        query in prop::collection::vec(("[a-z_]{1,10}", any::<String>()), 0..4),
        body in prop_oneof![json().prop_map(|v| v.to_string()), any::<String>()],
        authenticated in any::<bool>(),
    ) {
        let fixture = fixture();
        let template = route.get(&fixture.paths);
        let mut values = values.iter();
        let mut path: String = template
            .split('/')
            .map(|segment| match segment.starts_with('{') {
                true => encode(values.next().map_or("x", String::as_str)),
                false => segment.to_owned(),
            })
            .collect::<Vec<_>>()
            .join("/");
        if !query.is_empty() {
            let pairs: Vec<String> =
                query.iter().map(|(k, v)| format!("{k}={}", encode(v))).collect();
            path = format!("{path}?{}", pairs.join("&"));
        }
        let token = authenticated.then_some(fixture.token.as_str());
        let (status, answer) = fixture
            .runtime
            .block_on(call(&fixture.server, method, &path, token, body.clone()));
        prop_assert!(status < 500, "{method} {path} with {body}: {status} {answer}");
    }
}

/// Filters shaped like the spec's, with random values where the spec has
/// numbers, lists and flags.
fn filters() -> impl Strategy<Value = serde_json::Value> {
    (json(), json(), json(), json(), any::<i64>()).prop_map(|(types, fields, lazy, rooms, limit)| {
        serde_json::json!({
            "event_fields": fields,
            "room": {
                "rooms": rooms,
                "timeline": {"limit": limit, "types": types, "not_senders": ["@fuzz:localhost"]},
                "state": {"lazy_load_members": lazy, "limit": limit},
                "ephemeral": {"types": types},
            },
            "presence": {"not_types": types},
        })
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: ProptestConfig::default().cases / 2, ..ProptestConfig::default() })]

    /// A filter given inline to /sync, or stored first and named by id:
    /// applied or refused, never a 5xx.
    #[test]
    fn sync_filters_apply_or_are_refused(filter in filters(), stored in any::<bool>()) {
        let fixture = fixture();
        let token = Some(fixture.token.as_str());
        let text = filter.to_string();
        let (status, answer) = fixture.runtime.block_on(async {
            let name = if stored {
                let path = "/_matrix/client/v3/user/@fuzz:localhost/filter";
                let (status, answer) = call(&fixture.server, "POST", path, token, text.clone()).await;
                if status != 200 {
                    return (status, answer);
                }
                let made: serde_json::Value = serde_json::from_str(&answer).unwrap_or_default();
                made["filter_id"].as_str().unwrap_or_default().to_owned()
            } else {
                text.clone()
            };
            let path = format!("/_matrix/client/v3/sync?timeout=0&filter={}", encode(&name));
            call(&fixture.server, "GET", &path, token, String::new()).await
        });
        prop_assert!(status < 500, "filter {text}: {status} {answer}");
    }
}
