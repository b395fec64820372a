//! Test harness: a real server on 127.0.0.1:0 with its own database (a
//! SQLite file in a temporary folder, or a fresh PostgreSQL database), and
//! a small HTTP client to talk to it.

pub mod federation;
pub mod s3;
pub mod smtp;
pub mod synapse;

use std::sync::atomic::{AtomicU32, Ordering};

use lattice_homeserver::{Config, testing};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

pub use lattice_homeserver::testing::Backend;

/// A server under test, and an HTTP client to talk to it.
pub struct TestServer {
    server: testing::TestServer,
    http: reqwest::Client,
}

/// A logged-in user.
#[derive(Debug, Clone)]
pub struct Session {
    pub user_id: String,
    pub device_id: String,
    pub token: String,
}

/// An HTTP answer: status and JSON body (Null when the body is not JSON).
#[derive(Debug)]
pub struct Answer {
    pub status: StatusCode,
    pub body: Value,
}

impl Answer {
    pub fn errcode(&self) -> &str {
        self.body["errcode"].as_str().unwrap_or("")
    }

    /// Asserts a success and returns the body.
    #[track_caller]
    pub fn ok(self) -> Value {
        assert_eq!(self.status, StatusCode::OK, "unexpected answer: {}", self.body);
        self.body
    }

    /// Asserts an error with this status and errcode.
    #[track_caller]
    pub fn err(self, status: u16, errcode: &str) -> Value {
        assert_eq!(self.status.as_u16(), status, "unexpected answer: {}", self.body);
        assert_eq!(self.errcode(), errcode, "unexpected answer: {}", self.body);
        self.body
    }
}

impl TestServer {
    /// Starts a server with the test configuration.
    pub async fn new(backend: Backend) -> Self {
        Self::start(backend, |_| {}).await
    }

    /// Starts a server; `tweak` adjusts the test configuration first.
    pub async fn start(backend: Backend, tweak: impl FnOnce(&mut Config)) -> Self {
        let http =
            lattice_homeserver::services::http::client_builder().build().expect("http client");
        Self { server: testing::TestServer::start(backend, tweak).await, http }
    }

    /// Another instance of this server, on the same PostgreSQL database.
    pub async fn another_instance(&self) -> Self {
        self.another_instance_with(|_| {}).await
    }

    /// [`Self::another_instance`], its configuration adjusted by `tweak`.
    pub async fn another_instance_with(&self, tweak: impl FnOnce(&mut Config)) -> Self {
        Self { server: self.server.another_instance_with(tweak).await, http: self.http.clone() }
    }

    /// Stops the server and starts it again on the same database.
    pub async fn restart(&mut self) {
        self.server.restart().await;
    }

    /// Stops the server, keeping its data.
    pub async fn stop(&mut self) {
        self.server.stop().await;
    }

    /// Starts a stopped server again.
    pub async fn start_again(&mut self) {
        self.server.start_again().await;
    }

    /// The running server's services, for setting up what has no client
    /// API (such as making someone a server admin).
    pub fn services(&self) -> &lattice_homeserver::services::Services {
        self.server.services()
    }

    pub fn url(&self) -> &str {
        self.server.url()
    }

    /// The configuration the server runs with.
    pub fn config(&self) -> &Config {
        self.server.config()
    }

    /// The configuration for the next start (stop the server first).
    pub fn config_mut(&mut self) -> &mut Config {
        self.server.config_mut()
    }

    pub fn http(&self) -> &reqwest::Client {
        &self.http
    }

    /// Sends a request to a path under the server, with an optional token
    /// and JSON body.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Answer {
        call_at(&self.http, self.url(), method, path, token, body).await
    }

    pub async fn get(&self, path: &str, token: Option<&str>) -> Answer {
        self.call(Method::GET, path, token, None).await
    }

    pub async fn post(&self, path: &str, token: Option<&str>, body: Value) -> Answer {
        self.call(Method::POST, path, token, Some(body)).await
    }

    pub async fn put(&self, path: &str, token: Option<&str>, body: Value) -> Answer {
        self.call(Method::PUT, path, token, Some(body)).await
    }

    pub async fn delete(&self, path: &str, token: Option<&str>, body: Option<Value>) -> Answer {
        self.call(Method::DELETE, path, token, body).await
    }

    /// The first step of a login for a user with a second factor: the
    /// password, answered 401 with the session and stages of the second.
    pub async fn password_step(&self, user: &str, password: &str) -> Value {
        let body = json!({"type": "m.login.password",
            "identifier": {"type": "m.id.user", "user": user}, "password": password});
        let answer = self.post("/_matrix/client/v3/login", None, body).await;
        assert_eq!(answer.status, 401, "{}", answer.body);
        answer.body
    }

    /// Registers `name` with `password` through the dummy flow.
    pub async fn register(&self, name: &str, password: &str) -> Session {
        let body = self
            .post(
                "/_matrix/client/v3/register",
                None,
                json!({"username": name, "password": password, "auth": {"type": "m.login.dummy"}}),
            )
            .await
            .ok();
        session_from(&body)
    }

    /// Logs in with a password, optionally on a given device.
    /// A server admin ("root", password "pw"), logged in.
    pub async fn admin(&self) -> Session {
        self.services().admin.create_user("root", "pw", true).await.expect("admin created");
        session_from(&self.login("root", "pw", None).await.ok())
    }

    /// Logs in with a password asking for a refresh token; the raw answer.
    pub async fn login_with_refresh(&self, user: &str, password: &str) -> Value {
        let body = json!({"type": "m.login.password", "identifier": {"type": "m.id.user", "user": user},
                          "password": password, "refresh_token": true});
        self.post("/_matrix/client/v3/login", None, body).await.ok()
    }

    pub async fn login(&self, user: &str, password: &str, device_id: Option<&str>) -> Answer {
        let mut body = json!({
            "type": "m.login.password",
            "identifier": {"type": "m.id.user", "user": user},
            "password": password,
        });
        if let Some(device_id) = device_id {
            body["device_id"] = json!(device_id);
        }
        self.post("/_matrix/client/v3/login", None, body).await
    }
}

impl TestServer {
    /// Enrols TOTP for `who` (whose password is `password`) as an
    /// authenticator app would; returns the secret for [`Self::totp_now`].
    pub async fn enrol_totp(&self, who: &Session, password: &str) -> Vec<u8> {
        let mfa = "/_matrix/client/unstable/org.lattice.mfa";
        let token = Some(who.token.as_str());
        let auth = json!({"type": "m.login.password", "password": password,
            "identifier": {"type": "m.id.user", "user": who.user_id}});
        let setup =
            self.post(&format!("{mfa}/totp/setup"), token, json!({"auth": auth})).await.ok();
        let secret = setup["secret"].as_str().expect("secret");
        let secret = lattice_homeserver::services::auth::totp::from_base32(secret).expect("base32");
        let code = self.totp_now(&secret);
        self.post(&format!("{mfa}/totp/confirm"), token, json!({"code": code})).await.ok();
        secret
    }

    /// The TOTP code of `secret` at the server's clock.
    pub fn totp_now(&self, secret: &[u8]) -> String {
        use lattice_homeserver::services::auth::totp;
        let now = self.services().auth.clock().now_ms();
        totp::code(secret, now / 1000 / totp::STEP)
    }
}

impl TestServer {
    /// Creates a room and returns its id.
    pub async fn create_room(&self, token: &str, body: Value) -> String {
        let created = self.post("/_matrix/client/v3/createRoom", Some(token), body).await.ok();
        created["room_id"].as_str().expect("room_id").to_owned()
    }

    /// Sends a text message with a fresh transaction id; returns the event id.
    pub async fn send_text(&self, token: &str, room_id: &str, text: &str) -> String {
        let txn = TXNS.fetch_add(1, Ordering::SeqCst);
        let path = format!("/_matrix/client/v3/rooms/{room_id}/send/m.room.message/t{txn}");
        let sent =
            self.put(&path, Some(token), json!({"msgtype": "m.text", "body": text})).await.ok();
        sent["event_id"].as_str().expect("event_id").to_owned()
    }

    /// Joins a room by id or alias.
    pub async fn join(&self, token: &str, room: &str) -> Answer {
        let room = room.replace('#', "%23");
        self.post(&format!("/_matrix/client/v3/join/{room}"), Some(token), json!({})).await
    }

    pub async fn invite(&self, token: &str, room_id: &str, user_id: &str) -> Answer {
        let path = format!("/_matrix/client/v3/rooms/{room_id}/invite");
        self.post(&path, Some(token), json!({"user_id": user_id})).await
    }

    /// GET /sync with an optional since token and long-poll timeout (ms).
    pub async fn sync(&self, token: &str, since: Option<&str>, timeout_ms: u64) -> Value {
        let mut path = format!("/_matrix/client/v3/sync?timeout={timeout_ms}");
        if let Some(since) = since {
            path.push_str(&format!("&since={since}"));
        }
        self.get(&path, Some(token)).await.ok()
    }

    /// Bodies of the m.room.message events of a /messages page or timeline.
    /// Long-polls `session`'s sync until `found` says yes.
    pub async fn sync_until(&self, session: &Session, found: impl FnMut(&Value) -> bool) -> Value {
        sync_until(
            |since| async move { self.sync(&session.token, since.as_deref(), 5_000).await },
            found,
        )
        .await
    }

    pub fn bodies(events: &Value) -> Vec<String> {
        events
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or_default()
            .iter()
            .filter(|e| e["type"] == "m.room.message")
            .filter_map(|e| e["content"]["body"].as_str().map(str::to_owned))
            .collect()
    }
}

static TXNS: AtomicU32 = AtomicU32::new(0);

/// The Python a peer written by others runs in (Synapse, aiosmtpd, moto),
/// named by the variable `var`. Unset, the test says it was skipped,
/// unless `require` is set (as in CI): then it fails.
pub fn peer_python(var: &str, require: &str, what: &str) -> Option<std::ffi::OsString> {
    let python = std::env::var_os(var);
    if python.is_none() {
        assert!(
            std::env::var_os(require).is_none(),
            "{require} is set but {var} names no python with {what}"
        );
        eprintln!("skipped: {var} (a python with {what}) is not set");
    }
    python
}

/// Runs `script` in `python` with `port` as its argument, stdin and stdout
/// piped (the script says READY on stdout, and stops when stdin closes).
pub fn run_python_script(
    python: std::ffi::OsString,
    script: &str,
    port: u16,
) -> (std::process::Child, std::process::ChildStdin, std::process::ChildStdout) {
    let mut child = std::process::Command::new(python)
        .args(["-u", "-c", script, &port.to_string()])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("start the python peer");
    let stdin = child.stdin.take().expect("stdin");
    let stdout = child.stdout.take().expect("stdout");
    (child, stdin, stdout)
}

/// The `auth` of a user-interactive step with a password.
pub fn password_auth(user: &str, password: &str) -> Value {
    json!({"type": "m.login.password", "identifier": {"type": "m.id.user", "user": user},
           "password": password})
}

pub fn session_from(body: &Value) -> Session {
    Session {
        user_id: body["user_id"].as_str().expect("user_id").to_owned(),
        device_id: body["device_id"].as_str().expect("device_id").to_owned(),
        token: body["access_token"].as_str().expect("access_token").to_owned(),
    }
}

/// Syncs again and again (each `sync(since)` long-polls on the server's
/// side) until `found` says yes; the deadline only bounds a failing test.
pub async fn sync_until<F, Fut>(sync: F, found: impl FnMut(&Value) -> bool) -> Value
where
    F: FnMut(Option<String>) -> Fut,
    Fut: std::future::Future<Output = Value>,
{
    sync_from(None, sync, found).await
}

/// [`sync_until`], starting from the token `since`.
pub async fn sync_from<F, Fut>(
    mut since: Option<String>,
    mut sync: F,
    mut found: impl FnMut(&Value) -> bool,
) -> Value
where
    F: FnMut(Option<String>) -> Fut,
    Fut: std::future::Future<Output = Value>,
{
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let sync = sync(since.clone()).await;
        if found(&sync) {
            return sync;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "never saw what was expected; last sync: {sync}"
        );
        since = sync["next_batch"].as_str().map(str::to_owned);
    }
}

/// Uploads `bytes` to the server at `base_url` as `token`'s user; the
/// mxc:// URI.
pub async fn upload_media(
    http: &reqwest::Client,
    base_url: &str,
    token: &str,
    content_type: &str,
    bytes: Vec<u8>,
) -> String {
    let uploaded: Value = http
        .post(format!("{base_url}/_matrix/media/v3/upload"))
        .bearer_auth(token)
        .header("content-type", content_type)
        .body(bytes)
        .send()
        .await
        .expect("upload")
        .json()
        .await
        .expect("JSON");
    uploaded["content_uri"].as_str().expect("content_uri").to_owned()
}

/// A request to `path` under the server at `base_url`, with an optional
/// token and JSON body (for Lattice and Synapse alike).
pub async fn call_at(
    http: &reqwest::Client,
    base_url: &str,
    method: Method,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> Answer {
    let mut request = http.request(method, format!("{base_url}{path}"));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.expect("request sent");
    let status = response.status();
    let bytes = response.bytes().await.expect("body read");
    Answer { status, body: serde_json::from_slice(&bytes).unwrap_or(Value::Null) }
}

/// Sends the same POST `times` times at once (each on its own task); the
/// answers, in no particular order.
pub async fn at_once(server: &TestServer, path: &str, body: Value, times: usize) -> Vec<Answer> {
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..times {
        let (http, url, body) = (server.http().clone(), server.url().to_owned(), body.clone());
        let path = path.to_owned();
        tasks.spawn(
            async move { call_at(&http, &url, Method::POST, &path, None, Some(body)).await },
        );
    }
    tasks.join_all().await
}
