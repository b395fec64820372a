//! The web login page behind m.login.sso, driven over plain HTTP as a
//! browser would post its forms: password, second factor, then back to
//! the client with a loginToken that logs in once and expires.

use std::time::Duration;

use reqwest::{StatusCode, redirect::Policy};
use serde_json::json;

use crate::{
    backend_tests,
    common::{Backend, TestServer, at_once},
};

backend_tests!(
    the_web_page_hands_the_client_a_single_use_token,
    the_web_page_asks_for_the_second_factor,
    a_login_token_redeemed_at_once_twice_logs_in_once,
    a_device_mints_a_login_token_for_another_when_allowed,
);

const CLIENT: &str = "https://client.example/welcome?from=sso";
const LOGIN: &str = "/_matrix/client/v3/login";

/// A browser without script: posts forms, does not follow redirects.
pub struct Browser {
    http: reqwest::Client,
    base: String,
}

/// A page or redirect: status, body, and the Location header.
pub struct Page {
    pub status: StatusCode,
    pub body: String,
    pub location: Option<String>,
}

impl Browser {
    pub fn new(s: &TestServer) -> Self {
        let http = lattice_homeserver::services::http::client_builder()
            .redirect(Policy::none())
            .build()
            .expect("client");
        Self { http, base: s.url().to_owned() }
    }

    async fn page(response: reqwest::Response) -> Page {
        let status = response.status();
        let location =
            response.headers().get("location").and_then(|v| v.to_str().ok()).map(str::to_owned);
        Page { status, location, body: response.text().await.expect("body") }
    }

    pub async fn open(&self, redirect_url: &str) -> Page {
        let query = serde_urlencoded::to_string([("redirectUrl", redirect_url)]).expect("query");
        let url = format!("{}/_matrix/client/v3/login/sso/redirect?{query}", self.base);
        Self::page(self.http.get(url).send().await.expect("get")).await
    }

    pub async fn get(&self, path: &str) -> Page {
        let url = format!("{}{path}", self.base);
        Self::page(self.http.get(url).send().await.expect("get")).await
    }

    pub async fn submit(&self, action: &str, fields: &[(&str, &str)]) -> Page {
        let url = format!("{}{action}", self.base);
        let form = serde_urlencoded::to_string(fields).expect("form");
        let request =
            self.http.post(url).header("content-type", "application/x-www-form-urlencoded");
        Self::page(request.body(form).send().await.expect("post")).await
    }
}

/// The loginToken in a redirect to the client.
fn token_in(page: &Page) -> String {
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    let location = page.location.as_deref().expect("location");
    assert!(location.starts_with("https://client.example/welcome?from=sso&loginToken="));
    location.rsplit("loginToken=").next().expect("token").to_owned()
}

/// The value of a hidden form field on a page.
pub fn field(page: &Page, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let start = page.body.find(&marker).expect("field") + marker.len();
    page.body[start..].split('"').next().expect("value").to_owned()
}

async fn the_web_page_hands_the_client_a_single_use_token(backend: Backend) {
    let s = TestServer::new(backend).await;
    s.register("alice", "pw").await;
    let browser = Browser::new(&s);

    // Element sees the web flow offered next to the password.
    let types = s.get(LOGIN, None).await.ok().to_string();
    assert!(types.contains("m.login.sso") && types.contains("m.login.token"), "{types}");

    let page = browser.open(CLIENT).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("client.example"), "the page names the client");
    let form = [("redirect_url", CLIENT), ("username", "alice"), ("password", "wrong")];
    let refused = browser.submit("/_lattice/sso/password", &form).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert!(refused.body.contains("invalid username or password"));
    let form = [("redirect_url", CLIENT), ("username", "alice"), ("password", "pw")];
    let token = token_in(&browser.submit("/_lattice/sso/password", &form).await);

    let login = json!({"type": "m.login.token", "token": token});
    let done = s.post(LOGIN, None, login.clone()).await.ok();
    assert_eq!(done["user_id"], "@alice:localhost");
    s.get("/_matrix/client/v3/account/whoami", done["access_token"].as_str()).await.ok();
    s.post(LOGIN, None, login).await.err(403, "M_FORBIDDEN");

    // A token not used in time is worth nothing.
    let late = token_in(&browser.submit("/_lattice/sso/password", &form).await);
    s.services().auth.clock().advance(Duration::from_secs(121));
    s.post(LOGIN, None, json!({"type": "m.login.token", "token": late}))
        .await
        .err(403, "M_FORBIDDEN");

    // No page for a missing or script redirect.
    let missing = s.get("/_matrix/client/v3/login/sso/redirect", None).await;
    missing.err(400, "M_MISSING_PARAM");
    let script = browser.open("javascript:alert(1)").await;
    assert_eq!(script.status, StatusCode::BAD_REQUEST);
}

async fn the_web_page_asks_for_the_second_factor(backend: Backend) {
    let s = TestServer::new(backend).await;
    let alice = s.register("alice", "pw").await;
    let secret = s.enrol_totp(&alice, "pw").await;
    let code_now = || s.totp_now(&secret);

    let browser = Browser::new(&s);
    let form = [("redirect_url", CLIENT), ("username", "alice"), ("password", "pw")];
    let second = browser.submit("/_lattice/sso/password", &form).await;
    assert_eq!(second.status, StatusCode::OK, "the password alone does not redirect");
    assert!(second.location.is_none());
    assert!(second.body.contains("authenticator app"));
    let session = field(&second, "session");

    let attempt = |code: String| {
        let session = session.clone();
        let browser = &browser;
        async move {
            let form = [
                ("redirect_url", CLIENT),
                ("session", session.as_str()),
                ("stage", "org.lattice.login.totp"),
                ("code", code.as_str()),
            ];
            browser.submit("/_lattice/sso/factor", &form).await
        }
    };
    // A wrong code shows the step again; the session stays usable.
    let wrong = attempt("000000".into()).await;
    assert_eq!(wrong.status, StatusCode::FORBIDDEN);
    assert!(wrong.body.contains("wrong or already used code"));
    s.services().auth.clock().advance(Duration::from_secs(30));
    let token = token_in(&attempt(code_now()).await);
    s.post(LOGIN, None, json!({"type": "m.login.token", "token": token})).await.ok();
}

/// Clients that retry, or an attacker racing the user: of several
/// redemptions of one token at the same moment, one logs in.
async fn a_login_token_redeemed_at_once_twice_logs_in_once(backend: Backend) {
    let s = TestServer::new(backend).await;
    s.register("alice", "pw").await;
    let browser = Browser::new(&s);
    let form = [("redirect_url", CLIENT), ("username", "alice"), ("password", "pw")];
    let token = token_in(&browser.submit("/_lattice/sso/password", &form).await);
    let login = json!({"type": "m.login.token", "token": token});
    let answers = at_once(&s, LOGIN, login, 8).await;
    let statuses: Vec<u16> = answers.iter().map(|a| a.status.as_u16()).collect();
    assert_eq!(statuses.iter().filter(|s| **s == 200).count(), 1, "{statuses:?}");
    assert!(statuses.iter().all(|s| *s == 200 || *s == 403), "{statuses:?}");
}

/// A signed-in device mints a login token for a new one (how clients sign
/// in another device by QR code), only where the server allows it.
async fn a_device_mints_a_login_token_for_another_when_allowed(backend: Backend) {
    let get_token = "/_matrix/client/v1/login/get_token";
    let s = TestServer::new(backend).await;
    let alice = s.register("alice", "pw").await;
    s.post(get_token, Some(&alice.token), json!({})).await.err(404, "M_UNRECOGNIZED");
    let flows = s.get(LOGIN, None).await.ok();
    assert!(!flows.to_string().contains("\"get_login_token\":true"));

    let s = TestServer::start(backend, |config| config.auth.allow_login_get_token = true).await;
    let alice = s.register("alice", "pw").await;
    let flows = s.get(LOGIN, None).await.ok();
    let token_flow = flows["flows"]
        .as_array()
        .expect("flows")
        .iter()
        .find(|flow| flow["type"] == "m.login.token")
        .expect("m.login.token")
        .clone();
    assert_eq!(token_flow["get_login_token"], true);
    let capabilities = s.get("/_matrix/client/v3/capabilities", Some(&alice.token)).await.ok();
    assert_eq!(capabilities["capabilities"]["m.get_login_token"]["enabled"], true);

    // The password again first, as for every sensitive operation.
    let started = s.post(get_token, Some(&alice.token), json!({})).await;
    assert_eq!(started.status, 401);
    let auth = json!({"type": "m.login.password", "session": started.body["session"],
        "password": "pw", "identifier": {"type": "m.id.user", "user": "alice"}});
    let minted = s.post(get_token, Some(&alice.token), json!({"auth": auth})).await.ok();
    assert_eq!(minted["expires_in_ms"], 120_000);
    let token = minted["login_token"].as_str().expect("login_token");
    let login = json!({"type": "m.login.token", "token": token});
    let new_device = s.post(LOGIN, None, login.clone()).await.ok();
    assert_eq!(new_device["user_id"], alice.user_id.as_str());
    assert_ne!(new_device["device_id"], alice.device_id.as_str());
    s.post(LOGIN, None, login).await.err(403, "M_FORBIDDEN");
}
