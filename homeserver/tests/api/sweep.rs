//! The route sweep: every route the router knows — read from the router
//! itself, so that a new endpoint is covered without a line here — is sent
//! a corpus of hostile input: bodies that are empty, of the wrong type, not
//! JSON, too deep, too large, or hold NUL and lone surrogates; malformed
//! path values and query strings; no token, a garbage token and a valid
//! (server admin's) one. Whatever is sent, the server answers: never a
//! dropped connection, never a 5xx, only the spec's error codes, and a
//! refused request leaves the database as it was.

use std::{collections::BTreeMap, time::Duration};

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::common::{Backend, TestServer, session_from};

/// The error codes of the client-server and server-server specs.
const SPEC_ERRCODES: &[&str] = &[
    "M_FORBIDDEN",
    "M_UNKNOWN_TOKEN",
    "M_MISSING_TOKEN",
    "M_USER_LOCKED",
    "M_USER_SUSPENDED",
    "M_BAD_JSON",
    "M_NOT_JSON",
    "M_NOT_FOUND",
    "M_LIMIT_EXCEEDED",
    "M_UNRECOGNIZED",
    "M_UNKNOWN",
    "M_UNAUTHORIZED",
    "M_USER_DEACTIVATED",
    "M_USER_IN_USE",
    "M_INVALID_USERNAME",
    "M_ROOM_IN_USE",
    "M_INVALID_ROOM_STATE",
    "M_THREEPID_IN_USE",
    "M_THREEPID_NOT_FOUND",
    "M_THREEPID_AUTH_FAILED",
    "M_THREEPID_DENIED",
    "M_SERVER_NOT_TRUSTED",
    "M_UNSUPPORTED_ROOM_VERSION",
    "M_INCOMPATIBLE_ROOM_VERSION",
    "M_BAD_STATE",
    "M_GUEST_ACCESS_FORBIDDEN",
    "M_CAPTCHA_NEEDED",
    "M_CAPTCHA_INVALID",
    "M_MISSING_PARAM",
    "M_INVALID_PARAM",
    "M_TOO_LARGE",
    "M_EXCLUSIVE",
    "M_RESOURCE_LIMIT_EXCEEDED",
    "M_CANNOT_LEAVE_SERVER_NOTICE_ROOM",
    "M_WEAK_PASSWORD",
    "M_NOT_YET_UPLOADED",
    "M_CANNOT_OVERWRITE_MEDIA",
    "M_WRONG_ROOM_KEYS_VERSION",
    "M_UNABLE_TO_AUTHORISE_JOIN",
    "M_UNABLE_TO_GRANT_JOIN",
    "M_THREEPID_MEDIUM_NOT_SUPPORTED",
    "M_DUPLICATE_ANNOTATION",
    "M_INVALID_SIGNATURE",
    "M_MISSING_PARAMS",
];

/// Tables a refused request may still write, by design: the audit log and
/// failed-login counters record refusals, and a UIA flow's first step
/// (answered 401) opens its session.
const WRITTEN_ON_REFUSAL: &[&str] = &["audit_log", "login_failures", "uia_sessions"];

/// Routes that answer HTML or plain text (the web login, fallback,
/// e-mail and account pages, health).
fn answers_json(path: &str) -> bool {
    !(path.starts_with("/_lattice/sso")
        || path.starts_with("/_lattice/static")
        || path.starts_with("/_lattice/email")
        || path.starts_with("/_lattice/account")
        || path.contains("/login/sso/redirect")
        || path.ends_with("/fallback/web")
        || path == "/health"
        || path == "/ready")
}

/// Bodies that no endpoint should be unsettled by.
fn bodies() -> Vec<(&'static str, Vec<u8>)> {
    let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
    let large = format!("{{\"body\": \"{}\"}}", "a".repeat(1024 * 1024));
    // Fields endpoints read, each with a type no endpoint expects there.
    let wrong_types: serde_json::Map<String, Value> = [
        ("type", json!(5)),
        ("body", json!([])),
        ("msgtype", json!({})),
        ("content", json!("x")),
        ("room_id", json!(1)),
        ("user_id", json!([])),
        ("device_id", json!({})),
        ("password", json!(5)),
        ("auth", json!("x")),
        ("visibility", json!(7)),
        ("preset", json!([])),
        ("name", json!({})),
        ("topic", json!(1)),
        ("invite", json!("x")),
        ("initial_state", json!({})),
        ("reason", json!([])),
        ("membership", json!(3)),
        ("timeout", json!("x")),
        ("limit", json!("x")),
        ("filter", json!(5)),
        ("search_categories", json!([])),
        ("one_time_keys", json!(5)),
        ("device_keys", json!("x")),
        ("messages", json!(5)),
        ("presence", json!(1)),
        ("typing", json!("x")),
        ("new_password", json!(1)),
        ("server_name", json!([])),
        ("via", json!("x")),
        ("algorithm", json!(1)),
        ("auth_data", json!("x")),
        ("rooms", json!(5)),
        ("erase", json!("x")),
        ("admin", json!("x")),
        ("displayname", json!(5)),
        ("avatar_url", json!([])),
        ("creation_content", json!(5)),
        ("power_level_content_override", json!("x")),
        ("room_version", json!(12)),
        ("is_direct", json!("x")),
        ("identifier", json!(5)),
        ("token", json!(5)),
        ("refresh_token", json!(5)),
        ("initial_device_display_name", json!({})),
    ]
    .into_iter()
    .map(|(key, value)| (key.to_owned(), value))
    .collect();
    vec![
        ("empty", Vec::new()),
        ("empty object", b"{}".to_vec()),
        ("array", b"[]".to_vec()),
        ("null", b"null".to_vec()),
        ("not JSON", b"this is not JSON".to_vec()),
        ("huge number", b"1e400".to_vec()),
        (
            "huge number in a field",
            br#"{"limit": 1e400, "timeout": 18446744073709551616}"#.to_vec(),
        ),
        ("duplicate keys", br#"{"type": "a", "type": "b"}"#.to_vec()),
        ("deep nesting", deep.into_bytes()),
        ("1 MB string", large.into_bytes()),
        ("NUL", br#"{"body": "a\u0000b", "\u0000": "\u0000"}"#.to_vec()),
        ("lone surrogate", br#"{"body": "\ud800", "name": "\udfff"}"#.to_vec()),
        ("wrong types", serde_json::to_vec(&wrong_types).expect("JSON")),
    ]
}

/// Values put in place of every path parameter at once.
const MALFORMED_PATH_VALUES: &[&str] =
    &["%zz", "%00", "%ff%fe", "a..b", "127.0.0.1:1", "@:", "!:", "$"];

/// The query string that rides along with one request per route.
const MALFORMED_QUERY: &str =
    "limit=abc&from=%zz&dir=sideways&since=%00&timeout=-1&filter=%7B&width=x&user_id=@";

/// What the sweep fills path parameters with: ids that exist where it
/// matters, so that handlers run past their first lookup.
struct Samples {
    server: String,
    room_id: String,
    counter: u64,
}

impl Samples {
    fn value(&mut self, name: &str) -> String {
        let name = name.to_ascii_lowercase();
        self.counter += 1;
        if name.contains("txn") {
            format!("sweep{}", self.counter)
        } else if name.contains("alias") && !name.contains("room_id") {
            format!("%23sweep:{}", self.server)
        } else if name.contains("room") {
            self.room_id.replace('!', "%21")
        } else if name.contains("user") {
            format!("@bob:{}", self.server)
        } else if name.contains("event_id") {
            "%24event".to_owned()
        } else if name.contains("event_type") || name == "type" {
            "m.room.topic".to_owned()
        } else if name.contains("server") || name == "origin" {
            self.server.clone()
        } else if name.contains("version") {
            "1".to_owned()
        } else {
            "sweep".to_owned()
        }
    }
}

/// `template` with each `{param}` replaced by `value(param)`.
fn fill(template: &str, mut value: impl FnMut(&str) -> String) -> String {
    template
        .split('/')
        .map(|segment| match segment.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
            Some(name) => value(name.trim_start_matches('*')),
            None => segment.to_owned(),
        })
        .collect::<Vec<_>>()
        .join("/")
}

struct Sweep<'a> {
    server: &'a TestServer,
    http: reqwest::Client,
    token: String,
    counts: BTreeMap<String, i64>,
    sent: usize,
    failures: Vec<String>,
}

impl Sweep<'_> {
    async fn send(&mut self, method: &Method, path: &str, token: Option<&str>, body: &[u8]) -> u16 {
        let token = token.map(|t| if t == "valid" { self.token.clone() } else { t.to_owned() });
        let url = format!("{}{path}", self.server.url());
        let mut request = self
            .http
            .request(method.clone(), &url)
            .header("content-type", "application/json")
            .body(body.to_vec());
        if let Some(token) = &token {
            request = request.bearer_auth(token);
        }
        self.sent += 1;
        let what = format!("{method} {path} ({} bytes)", body.len());
        let response = match request.send().await {
            Ok(response) => response,
            Err(error) => {
                self.failures.push(format!("{what}: no answer: {error}"));
                return 0;
            }
        };
        let status = response.status();
        let json: Option<Value> =
            response.bytes().await.ok().and_then(|b| serde_json::from_slice(&b).ok());
        if status.is_server_error() {
            self.failures.push(format!("{what}: {status} {json:?}"));
        }
        // A 401 that asks for user-interactive auth carries flows, not an errcode.
        let uia = json.as_ref().is_some_and(|j| j.get("flows").is_some());
        if status.is_client_error() && !uia && answers_json(path.split('?').next().unwrap_or(path))
        {
            let errcode = json.as_ref().and_then(|j| j["errcode"].as_str()).unwrap_or("(none)");
            if !SPEC_ERRCODES.contains(&errcode) {
                self.failures.push(format!("{what}: {status} with errcode {errcode}"));
            }
        }
        self.check_database(&what, status).await;
        // A logout (or anything else) that ended the valid session: sign in again.
        if token.is_some() && status == StatusCode::UNAUTHORIZED {
            let still =
                self.server.get("/_matrix/client/v3/account/whoami", Some(&self.token)).await;
            if still.status == StatusCode::UNAUTHORIZED {
                self.token = session_from(&self.server.login("root", "pw", None).await.ok()).token;
                self.counts = self.server.services().store.row_counts().await.expect("counts");
            }
        }
        status.as_u16()
    }

    /// A refused request must have changed nothing (but for the tables a
    /// refusal writes by design).
    async fn check_database(&mut self, what: &str, status: StatusCode) {
        let counts = self.server.services().store.row_counts().await.expect("row counts");
        if !status.is_success() {
            let changed: Vec<String> = counts
                .iter()
                .filter(|(table, n)| {
                    !WRITTEN_ON_REFUSAL.contains(&table.as_str())
                        && self.counts.get(*table) != Some(n)
                })
                .map(|(table, n)| format!("{table}: {:?} -> {n}", self.counts.get(table)))
                .collect();
            if !changed.is_empty() {
                self.failures.push(format!("{what}: refused ({status}) but changed {changed:?}"));
            }
        }
        self.counts = counts;
    }
}

async fn every_route_survives_hostile_input(backend: Backend) {
    // Refusals raise alerts, which post notices to the admins (a room and
    // its events): tested elsewhere, and not what "changed nothing" means.
    let server = TestServer::start(backend, |config| {
        config.security.federation_rejections_alert_threshold = 0;
        config.security.server_error_alert_threshold = 0;
    })
    .await;
    let root = server.admin().await;
    server.register("bob", "battery staple").await;
    let room_id = server
        .create_room(&root.token, json!({"preset": "public_chat", "room_alias_name": "sweep"}))
        .await;
    let http = reqwest::Client::builder().timeout(Duration::from_secs(60)).build().expect("client");
    let counts = server.services().store.row_counts().await.expect("row counts");
    assert!(counts.contains_key("events") && counts.contains_key("users"), "{counts:?}");
    let mut sweep =
        Sweep { server: &server, http, token: root.token, counts, sent: 0, failures: Vec::new() };
    let mut samples =
        Samples { server: server.config().server.server_name.to_string(), room_id, counter: 0 };

    let paths = lattice_homeserver::api::routes().paths().to_vec();
    assert!(paths.len() > 200, "the router lists its routes ({})", paths.len());
    let bodies = bodies();
    let mut routes_swept = 0;
    for template in &paths {
        for method in [Method::GET, Method::POST, Method::PUT, Method::DELETE] {
            let path = fill(template, |name| samples.value(name));
            // A method the path does not serve is 405: nothing more to try.
            if sweep.send(&method, &path, Some("valid"), b"{}").await == 405 {
                continue;
            }
            routes_swept += 1;
            for token in [None, Some("garbage")] {
                let path = fill(template, |name| samples.value(name));
                sweep.send(&method, &path, token, b"{}").await;
            }
            for (_, body) in &bodies {
                let path = fill(template, |name| samples.value(name));
                sweep.send(&method, &path, Some("valid"), body).await;
            }
            if template.contains('{') {
                for bad in MALFORMED_PATH_VALUES {
                    let path = fill(template, |_| (*bad).to_owned());
                    sweep.send(&method, &path, Some("valid"), b"{}").await;
                }
            }
            let path = format!("{}?{MALFORMED_QUERY}", fill(template, |name| samples.value(name)));
            sweep.send(&method, &path, Some("valid"), b"{}").await;
        }
    }
    eprintln!(
        "route sweep: {} path templates, {routes_swept} routes, {} requests",
        paths.len(),
        sweep.sent
    );
    assert!(
        sweep.failures.is_empty(),
        "{} failures:\n{}",
        sweep.failures.len(),
        sweep.failures.join("\n")
    );
    // The server is still healthy afterwards.
    server.get("/_matrix/client/versions", None).await.ok();
}

crate::backend_tests!(every_route_survives_hostile_input);
