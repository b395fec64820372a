//! The web login page in a real headless Chromium, driven over WebDriver
//! with a virtual WebAuthn authenticator: password, then the passkey, then
//! the redirect to the client with a loginToken that logs in.
//!
//! Needs Debian's `chromium` and `chromium-driver`; without them the test
//! says it was skipped, unless LATTICE_REQUIRE_BROWSER is set (as in CI).
//! With LATTICE_SCREENSHOTS=<dir> it saves the pages it sees there (the
//! pictures in spec/images come from it).

use std::{
    io::{BufRead, BufReader},
    process::{Child, Command, Stdio},
    time::Duration,
};

use axum::{Router, extract::Query, routing::get};
use base64::{Engine, engine::general_purpose::STANDARD};
use serde_json::{Value, json};
use tokio::sync::mpsc;

use crate::common::{Backend, Session, TestServer, federation::free_port};

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// A chromedriver process, stopped when dropped.
struct Driver {
    child: Child,
    url: String,
}

impl Driver {
    /// Starts chromedriver and waits for its "started" line.
    async fn start() -> Option<Self> {
        if !std::path::Path::new(CHROMEDRIVER).exists() || !std::path::Path::new(CHROMIUM).exists()
        {
            assert!(
                std::env::var_os("LATTICE_REQUIRE_BROWSER").is_none(),
                "LATTICE_REQUIRE_BROWSER is set but chromium/chromedriver are not installed"
            );
            eprintln!("skipped: chromium and chromium-driver are not installed");
            return None;
        }
        let port = free_port();
        let mut child = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts");
        let stdout = child.stdout.take().expect("stdout");
        let ready = tokio::task::spawn_blocking(move || {
            BufReader::new(stdout)
                .lines()
                .map_while(Result::ok)
                .any(|line| line.contains("started successfully"))
        });
        let ready = tokio::time::timeout(Duration::from_secs(30), ready).await;
        assert!(matches!(ready, Ok(Ok(true))), "chromedriver did not start");
        Some(Self { child, url: format!("http://127.0.0.1:{port}") })
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One WebDriver session: a headless Chromium window.
struct Browser {
    http: reqwest::Client,
    session: String,
}

impl Browser {
    async fn open(driver: &Driver) -> Self {
        let http = lattice_homeserver::services::http::client_builder().build().expect("client");
        let capabilities = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {"binary": CHROMIUM, "args": [
                "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--window-size=760,820", "--force-device-scale-factor=1"]}}}});
        let answer: Value = http
            .post(format!("{}/session", driver.url))
            .json(&capabilities)
            .send()
            .await
            .expect("new session")
            .json()
            .await
            .expect("json");
        let id = answer["value"]["sessionId"].as_str().expect("session id");
        let browser = Self { http, session: format!("{}/session/{id}", driver.url) };
        // A click that submits a form does not wait for the next page: the
        // driver waits (up to 10 s) for an element to appear instead.
        browser
            .post("/timeouts", json!({"implicit": 10_000, "pageLoad": 30_000, "script": 30_000}))
            .await;
        browser
    }

    async fn command(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let mut request = self.http.request(method, format!("{}{path}", self.session));
        if let Some(body) = body {
            request = request.json(&body);
        }
        let answer: Value =
            request.send().await.expect("webdriver").json().await.expect("webdriver json");
        assert!(answer["value"]["error"].is_null(), "webdriver {path}: {answer}");
        answer["value"].clone()
    }

    async fn post(&self, path: &str, body: Value) -> Value {
        self.command(reqwest::Method::POST, path, Some(body)).await
    }

    async fn go(&self, url: &str) {
        self.post("/url", json!({"url": url})).await;
    }

    async fn element(&self, css: &str) -> String {
        let found = self.post("/element", json!({"using": "css selector", "value": css})).await;
        found[ELEMENT].as_str().expect("element id").to_owned()
    }

    async fn type_into(&self, css: &str, text: &str) {
        let element = self.element(css).await;
        self.post(&format!("/element/{element}/value"), json!({"text": text})).await;
    }

    async fn click(&self, css: &str) {
        let element = self.element(css).await;
        self.post(&format!("/element/{element}/click"), json!({})).await;
    }

    async fn text(&self, css: &str) -> String {
        let element = self.element(css).await;
        let path = format!("/element/{element}/text");
        let text = self.command(reqwest::Method::GET, &path, None).await;
        text.as_str().unwrap_or_default().to_owned()
    }

    /// Saves the window as `<LATTICE_SCREENSHOTS>/<name>.png`, if asked to.
    async fn screenshot(&self, name: &str) {
        let Some(dir) = std::env::var_os("LATTICE_SCREENSHOTS") else { return };
        let png = self.command(reqwest::Method::GET, "/screenshot", None).await;
        let bytes = STANDARD.decode(png.as_str().expect("base64")).expect("png");
        std::fs::write(std::path::Path::new(&dir).join(format!("{name}.png")), bytes)
            .expect("screenshot saved");
    }

    async fn close(self) {
        let _ = self.http.delete(&self.session).send().await;
    }
}

/// Registers a passkey the way a web client on the server's origin would:
/// `navigator.credentials.create` with the options the API gave.
const CREATE_PASSKEY: &str = r#"
const [options, done] = arguments;
const decode = (s) => Uint8Array.from(atob(s.replace(/-/g, "+").replace(/_/g, "/")), (c) => c.charCodeAt(0));
const encode = (b) => btoa(String.fromCharCode(...new Uint8Array(b))).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
const publicKey = options.publicKey;
publicKey.challenge = decode(publicKey.challenge);
publicKey.user.id = decode(publicKey.user.id);
(publicKey.excludeCredentials || []).forEach((c) => { c.id = decode(c.id); });
navigator.credentials.create({ publicKey }).then((c) => done({
  id: c.id, rawId: encode(c.rawId), type: c.type, extensions: {},
  response: { attestationObject: encode(c.response.attestationObject),
              clientDataJSON: encode(c.response.clientDataJSON) },
}), (e) => done({ error: String(e) }));
"#;

/// A stand-in for the client the page redirects to: it reports the
/// loginToken it receives.
async fn client_landing() -> (String, mpsc::Receiver<String>) {
    let (sender, receiver) = mpsc::channel(1);
    let app = Router::new().route(
        "/done",
        get(move |Query(query): Query<std::collections::HashMap<String, String>>| {
            let sender = sender.clone();
            async move {
                if let Some(token) = query.get("loginToken") {
                    let _ = sender.send(token.clone()).await;
                }
                "Signed in; you can close this window."
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("addr").port();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://localhost:{port}/done"), receiver)
}

/// A server whose passkeys belong to `http://localhost:<port>`, and that origin.
async fn passkey_server() -> (TestServer, String) {
    let port = free_port();
    let origin = format!("http://localhost:{port}");
    let s = TestServer::start(Backend::Sqlite, |config| {
        config.server.bind = ([127, 0, 0, 1], port).into();
        config.auth.webauthn.rp_id = Some("localhost".into());
        config.auth.webauthn.rp_origin = Some(origin.clone());
    })
    .await;
    (s, origin)
}

/// Gives the window a virtual authenticator (a platform one, as on a
/// phone or laptop); returns its id.
async fn add_authenticator(browser: &Browser) -> String {
    let authenticator = json!({"protocol": "ctap2", "transport": "internal",
        "hasResidentKey": true, "hasUserVerification": true, "isUserConsenting": true,
        "isUserVerified": true});
    let id = browser.post("/webauthn/authenticator", authenticator).await;
    id.as_str().expect("authenticator id").to_owned()
}

/// Gives the browser a virtual authenticator and enrols a passkey of it
/// for `who`, as a web client on the server's origin would; returns the
/// authenticator's id.
async fn enrol_passkey(s: &TestServer, browser: &Browser, who: &Session, origin: &str) -> String {
    let authenticator = add_authenticator(browser).await;
    let register = "/_matrix/client/unstable/org.lattice.mfa/webauthn/register";
    let auth = json!({"type": "m.login.password", "password": "pw",
        "identifier": {"type": "m.id.user", "user": who.user_id}});
    let started = s.post(register, Some(&who.token), json!({"auth": auth})).await.ok();
    browser.go(&format!("{origin}/_matrix/client/versions")).await;
    let credential = browser
        .post("/execute/async", json!({"script": CREATE_PASSKEY, "args": [started["options"]]}))
        .await;
    assert!(credential["error"].is_null(), "{credential}");
    let finish = json!({"registration": started["registration"], "name": "Chromium",
        "credential": credential});
    s.post(&format!("{register}/finish"), Some(&who.token), finish).await.ok();
    authenticator
}

#[tokio::test]
async fn a_passkey_signs_in_through_the_web_page_in_chromium() {
    let Some(driver) = Driver::start().await else { return };
    let (s, origin) = passkey_server().await;
    let alice = s.register("alice", "pw").await;
    let browser = Browser::open(&driver).await;
    enrol_passkey(&s, &browser, &alice, &origin).await;

    // The sign-in a Matrix client starts with m.login.sso.
    let (client, mut tokens) = client_landing().await;
    let start = format!("{origin}/_matrix/client/v3/login/sso/redirect?redirectUrl={client}");
    browser.go(&start).await;
    browser.screenshot("web-login-password").await;
    browser.type_into("#username", "alice").await;
    browser.type_into("#password", "wrong").await;
    browser.click("#sign-in").await;
    assert!(browser.text(".error").await.contains("invalid username or password"));
    browser.type_into("#password", "pw").await;
    browser.click("#sign-in").await;
    browser.element("#use-passkey").await; // the second step has arrived
    browser.screenshot("web-login-second-factor").await;
    browser.click("#use-passkey").await;
    let token = tokio::time::timeout(Duration::from_secs(30), tokens.recv())
        .await
        .expect("the page redirected to the client in time")
        .expect("a loginToken");
    browser.close().await;

    let login = json!({"type": "m.login.token", "token": token});
    let done = s.post("/_matrix/client/v3/login", None, login).await.ok();
    assert_eq!(done["user_id"], "@alice:localhost");
}

/// Opens `url` in a window of its own, as Element opens a fallback page,
/// and switches to it; the first window keeps the messages it receives.
const OPEN_FALLBACK: &str = r#"
window.received = [];
window.addEventListener("message", (e) => window.received.push(e.data));
window.open(arguments[0], "fallback");
"#;

/// Waits in the first window for the fallback page's message.
const AWAIT_MESSAGE: &str = r#"
const done = arguments[0];
if (window.received.length) { done(window.received[0]); }
else { window.addEventListener("message", (e) => done(e.data)); }
"#;

#[tokio::test]
async fn a_passkey_answers_a_fallback_page_opened_by_a_client_in_chromium() {
    let Some(driver) = Driver::start().await else { return };
    let (s, origin) = passkey_server().await;
    let alice = s.register("alice", "pw").await;
    let phone = s.login("alice", "pw", Some("PHONE")).await.ok();
    let browser = Browser::open(&driver).await;
    let authenticator = enrol_passkey(&s, &browser, &alice, &origin).await;
    let path = format!("/webauthn/authenticator/{authenticator}/credentials");
    let passkeys = browser.command(reqwest::Method::GET, &path, None).await;

    // Deleting a device: the client does the password, not the passkey.
    let device = format!("/_matrix/client/v3/devices/{}", phone["device_id"].as_str().expect("id"));
    let started = s.delete(&device, Some(&alice.token), Some(json!({}))).await;
    let session = started.body["session"].as_str().expect("session").to_owned();
    let password = json!({"auth": {"type": "m.login.password", "session": session,
        "password": "pw", "identifier": {"type": "m.id.user", "user": "alice"}}});
    let answer = s.delete(&device, Some(&alice.token), Some(password)).await;
    assert_eq!(answer.body["completed"], json!(["m.login.password"]));

    // The client opens the fallback page of the passkey stage in a window.
    let page = format!(
        "{origin}/_matrix/client/v3/auth/org.lattice.login.webauthn/fallback/web?session={session}"
    );
    let opener = browser.command(reqwest::Method::GET, "/window", None).await;
    browser.post("/execute/sync", json!({"script": OPEN_FALLBACK, "args": [page]})).await;
    let handles = browser.command(reqwest::Method::GET, "/window/handles", None).await;
    let popup = handles
        .as_array()
        .expect("handles")
        .iter()
        .find(|handle| **handle != opener)
        .expect("the fallback window")
        .clone();
    browser.post("/window", json!({"handle": popup})).await;
    // Virtual authenticators belong to one window: the popup gets the same
    // passkey, as every window of a real device would.
    let authenticator = add_authenticator(&browser).await;
    for passkey in passkeys.as_array().expect("credentials") {
        let path = format!("/webauthn/authenticator/{authenticator}/credential");
        browser.post(&path, passkey.clone()).await;
    }
    browser.click("#use-passkey").await;
    browser.element("#auth-done").await; // the done page has arrived
    browser.screenshot("uia-fallback-done").await;

    // The page told the client, which sends its request again.
    browser.post("/window", json!({"handle": opener})).await;
    let message =
        browser.post("/execute/async", json!({"script": AWAIT_MESSAGE, "args": []})).await;
    assert_eq!(message, "authDone");
    browser.close().await;
    let ack = json!({"auth": {"session": session}});
    s.delete(&device, Some(&alice.token), Some(ack)).await.ok();
    s.get(&device, Some(&alice.token)).await.err(404, "M_NOT_FOUND");
}

#[tokio::test]
async fn a_passkey_is_added_on_the_account_page_in_chromium() {
    let Some(driver) = Driver::start().await else { return };
    let (s, origin) = passkey_server().await;
    let alice = s.register("alice", "pw").await;
    let browser = Browser::open(&driver).await;
    add_authenticator(&browser).await;

    browser.go(&format!("{origin}/_lattice/account")).await;
    browser.type_into("#username", "alice").await;
    browser.type_into("#password", "pw").await;
    browser.click("#sign-in").await;
    browser.type_into("#passkey-name", " on Chromium").await;
    browser.screenshot("account-page").await;
    browser.click("#add-passkey").await;
    // The first factor brings recovery codes, shown once.
    browser.element("#recovery-codes").await;
    browser.screenshot("account-page-recovery-codes").await;
    browser.close().await;

    let factors = s.get("/_matrix/client/unstable/org.lattice.mfa/factors", Some(&alice.token));
    let factors = factors.await.ok();
    let passkeys = factors["webauthn"].as_array().cloned().unwrap_or_default();
    assert_eq!(passkeys.len(), 1, "{factors}");
    assert_eq!(passkeys[0]["name"], "Passkey on Chromium");
    assert_eq!(factors["recovery_codes_left"], 10);
}
