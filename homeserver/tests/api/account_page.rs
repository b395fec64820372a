//! The account page, where users manage the second factors Element has
//! no screen for: signing in (password, then a factor once there is one),
//! turning the authenticator app on and off, new recovery codes, a session
//! cookie that changes need a form token with, and signing out.

use reqwest::{StatusCode, redirect::Policy};

use crate::{
    backend_tests,
    common::{Backend, TestServer},
    web_login::{Page, field},
};

backend_tests!(
    second_factors_are_managed_on_the_account_page,
    changes_need_the_session_and_its_form
);

const ACCOUNT: &str = "/_lattice/account";

/// A browser without script that keeps the page's cookie.
struct Browser {
    http: reqwest::Client,
    base: String,
    cookie: Option<String>,
}

impl Browser {
    fn new(s: &TestServer) -> Self {
        let http = reqwest::Client::builder().redirect(Policy::none()).build().expect("client");
        Self { http, base: s.url().to_owned(), cookie: None }
    }

    async fn read(&mut self, response: reqwest::Response) -> Page {
        if let Some(set) = response.headers().get("set-cookie").and_then(|v| v.to_str().ok()) {
            let pair = set.split(';').next().unwrap_or_default().to_owned();
            assert!(set.contains("HttpOnly") && set.contains("SameSite=Strict"), "{set}");
            self.cookie = if pair.ends_with('=') { None } else { Some(pair) };
        }
        let status = response.status();
        let location =
            response.headers().get("location").and_then(|v| v.to_str().ok()).map(str::to_owned);
        Page { status, location, body: response.text().await.expect("body") }
    }

    async fn get(&mut self, path: &str) -> Page {
        let mut request = self.http.get(format!("{}{path}", self.base));
        if let Some(cookie) = &self.cookie {
            request = request.header("cookie", cookie);
        }
        let response = request.send().await.expect("get");
        self.read(response).await
    }

    async fn post(&mut self, path: &str, fields: &[(&str, &str)]) -> Page {
        let mut request = self
            .http
            .post(format!("{}{path}", self.base))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(serde_urlencoded::to_string(fields).expect("form"));
        if let Some(cookie) = &self.cookie {
            request = request.header("cookie", cookie);
        }
        let response = request.send().await.expect("post");
        self.read(response).await
    }

    /// Signs in with the password; returns the page that follows.
    async fn sign_in(&mut self) -> Page {
        let form = [("username", "alice"), ("password", "pw")];
        self.post(&format!("{ACCOUNT}/password"), &form).await
    }
}

/// The recovery codes a page lists.
fn codes(page: &Page) -> Vec<String> {
    page.body
        .split("<li><code>")
        .skip(1)
        .filter_map(|rest| rest.split("</code>").next())
        .map(str::to_owned)
        .collect()
}

async fn second_factors_are_managed_on_the_account_page(backend: Backend) {
    let s = TestServer::new(backend).await;
    s.register("alice", "pw").await;
    let mut browser = Browser::new(&s);

    // The login page links here; signed out, the page asks to sign in.
    let login =
        browser.get("/_matrix/client/v3/login/sso/redirect?redirectUrl=https://c.example/").await;
    assert!(login.body.contains("href=\"/_lattice/account\""));
    assert!(browser.get(ACCOUNT).await.body.contains("action=\"/_lattice/account/password\""));
    let path = format!("{ACCOUNT}/password");
    let wrong = browser.post(&path, &[("username", "alice"), ("password", "x")]).await;
    assert_eq!(wrong.status, StatusCode::FORBIDDEN);

    // No second factor yet: the password alone signs in.
    let signed_in = browser.sign_in().await;
    assert_eq!(signed_in.status, StatusCode::SEE_OTHER);
    assert_eq!(signed_in.location.as_deref(), Some(ACCOUNT));
    let overview = browser.get(ACCOUNT).await;
    assert!(overview.body.contains("Signed in as <strong>@alice:localhost</strong>"));
    assert!(overview.body.contains("<p id=\"totp-state\">Off.</p>"));
    let csrf = field(&overview, "csrf");

    // The authenticator app: the key, then a code from it.
    let setup = browser.post(&format!("{ACCOUNT}/totp/setup"), &[("csrf", &csrf)]).await;
    assert!(setup.body.contains("<svg"), "a QR code to scan");
    let secret_start = setup.body.find("id=\"totp-secret\">").expect("secret") + 17;
    let secret = &setup.body[secret_start..].split('<').next().expect("secret");
    let secret = lattice_homeserver::services::auth::totp::from_base32(secret).expect("base32");
    let confirm = format!("{ACCOUNT}/totp/confirm");
    let wrong = browser.post(&confirm, &[("csrf", &csrf), ("code", "000000")]).await;
    assert_eq!(wrong.status, StatusCode::FORBIDDEN);
    let code = s.totp_now(&secret);
    let first_codes =
        browser.post(&format!("{ACCOUNT}/totp/confirm"), &[("csrf", &csrf), ("code", &code)]).await;
    let first_codes = codes(&first_codes);
    assert_eq!(first_codes.len(), 10, "the first factor brings recovery codes");
    let overview = browser.get(ACCOUNT).await;
    assert!(overview.body.contains("<p id=\"totp-state\">On"));
    assert!(overview.body.contains("<p id=\"recovery-left\">10 left.</p>"));

    // New recovery codes replace the old ones.
    let renewed = browser.post(&format!("{ACCOUNT}/recovery"), &[("csrf", &csrf)]).await;
    let renewed = codes(&renewed);
    assert_eq!(renewed.len(), 10);
    assert!(renewed.iter().all(|code| !first_codes.contains(code)));

    // Signing in again now takes the second factor; a recovery code does.
    let signed_out = browser.post(&format!("{ACCOUNT}/logout"), &[("csrf", &csrf)]).await;
    assert_eq!(signed_out.status, StatusCode::SEE_OTHER);
    assert!(browser.cookie.is_none(), "the cookie is cleared");
    let second = browser.sign_in().await;
    assert_eq!(second.status, StatusCode::OK);
    assert!(second.body.contains("authenticator app"));
    let session = field(&second, "session");
    let stage = "org.lattice.login.recovery_code";
    let form = [("session", session.as_str()), ("stage", stage), ("code", renewed[0].as_str())];
    let signed_in = browser.post(&format!("{ACCOUNT}/factor"), &form).await;
    assert_eq!(signed_in.status, StatusCode::SEE_OTHER, "{}", signed_in.body);

    // Turning the app off.
    let overview = browser.get(ACCOUNT).await;
    let csrf = field(&overview, "csrf");
    let removed = browser.post(&format!("{ACCOUNT}/totp/remove"), &[("csrf", &csrf)]).await;
    assert!(removed.body.contains("<p id=\"totp-state\">Off.</p>"));
    assert!(removed.body.contains("was removed"));
    // ...which the API agrees with.
    let alice = s.login("alice", "pw", None).await.ok();
    let token = alice["access_token"].as_str().expect("token");
    let factors = s.get("/_matrix/client/unstable/org.lattice.mfa/factors", Some(token)).await.ok();
    assert_eq!(factors["totp"], false);
}

async fn changes_need_the_session_and_its_form(backend: Backend) {
    let s = TestServer::new(backend).await;
    s.register("alice", "pw").await;
    let mut browser = Browser::new(&s);
    browser.sign_in().await;
    let overview = browser.get(ACCOUNT).await;
    let csrf = field(&overview, "csrf");

    // Without the form token (a forged cross-site form), nothing changes.
    let forged = browser.post(&format!("{ACCOUNT}/totp/setup"), &[("csrf", "guess")]).await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    let no_token = browser.post(&format!("{ACCOUNT}/totp/setup"), &[]).await;
    assert_eq!(no_token.status, StatusCode::FORBIDDEN);
    // Without the cookie, neither.
    let mut stranger = Browser::new(&s);
    let refused = stranger.post(&format!("{ACCOUNT}/totp/setup"), &[("csrf", &csrf)]).await;
    assert_eq!(refused.status, StatusCode::UNAUTHORIZED);
    let unknown = browser.post(&format!("{ACCOUNT}/nothing"), &[("csrf", &csrf)]).await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    let alice = s.login("alice", "pw", None).await.ok();
    let token = alice["access_token"].as_str().expect("token");
    let factors = s.get("/_matrix/client/unstable/org.lattice.mfa/factors", Some(token)).await.ok();
    assert_eq!(factors["totp"], false, "no enrolment was started: {factors}");

    // A session ends with sign-out: its cookie no longer works.
    let cookie = browser.cookie.clone();
    browser.post(&format!("{ACCOUNT}/logout"), &[("csrf", &csrf)]).await;
    browser.cookie = cookie;
    let after = browser.post(&format!("{ACCOUNT}/totp/setup"), &[("csrf", &csrf)]).await;
    assert_eq!(after.status, StatusCode::UNAUTHORIZED);
}
