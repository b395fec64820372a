//! Fallback pages of user-interactive auth, as Element uses them for
//! stages it cannot do itself (our second factors): the client opens the
//! page with its session, the user answers there, and the client's request
//! sent again with only the session goes through.

use reqwest::StatusCode;
use serde_json::json;

use crate::{
    backend_tests,
    common::{Backend, Session, TestServer},
    web_login::Browser,
};

backend_tests!(
    the_password_page_completes_the_stage,
    a_second_factor_is_answered_on_its_page,
    pages_refuse_what_they_cannot_serve,
);

fn page_path(stage: &str, session: &str) -> String {
    format!("/_matrix/client/v3/auth/{stage}/fallback/web?session={session}")
}

/// Alice's second device, to delete.
async fn phone(s: &TestServer) -> String {
    let phone = s.login("alice", "pw", Some("PHONE")).await.ok();
    format!("/_matrix/client/v3/devices/{}", phone["device_id"].as_str().expect("device"))
}

/// Starts deleting alice's second device: the 401 and its session.
async fn start_delete(s: &TestServer, alice: &Session) -> (String, String) {
    start_delete_of(s, alice, phone(s).await).await
}

async fn start_delete_of(s: &TestServer, alice: &Session, path: String) -> (String, String) {
    let started = s.delete(&path, Some(&alice.token), Some(json!({}))).await;
    assert_eq!(started.status, 401);
    (path, started.body["session"].as_str().expect("session").to_owned())
}

async fn the_password_page_completes_the_stage(backend: Backend) {
    let s = TestServer::new(backend).await;
    let alice = s.register("alice", "pw").await;
    let (device, session) = start_delete(&s, &alice).await;
    let browser = Browser::new(&s);

    let page = browser.get(&page_path("m.login.password", &session)).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("action=\"/_matrix/client/v3/auth/m.login.password/fallback/web\""));
    assert!(page.body.contains("type=\"password\""));

    let action = "/_matrix/client/v3/auth/m.login.password/fallback/web";
    let wrong = browser.submit(action, &[("session", &session), ("password", "nope")]).await;
    assert_eq!(wrong.status, StatusCode::FORBIDDEN);
    assert!(wrong.body.contains("role=\"alert\""), "{}", wrong.body);
    assert!(!wrong.body.contains("auth-done"));
    // Acknowledging before the stage is done changes nothing.
    let early = s.delete(&device, Some(&alice.token), Some(json!({"auth": {"session": session}})));
    assert_eq!(early.await.status, 401);

    let done = browser.submit(action, &[("session", &session), ("password", "pw")]).await;
    assert_eq!(done.status, StatusCode::OK);
    assert!(done.body.contains("id=\"auth-done\""));
    assert!(done.body.contains("/_lattice/static/login.js"), "the script tells the client");
    s.delete(&device, Some(&alice.token), Some(json!({"auth": {"session": session}}))).await.ok();
    s.get(&device, Some(&alice.token)).await.err(404, "M_NOT_FOUND");
}

async fn a_second_factor_is_answered_on_its_page(backend: Backend) {
    let s = TestServer::new(backend).await;
    let alice = s.register("alice", "pw").await;
    let device = phone(&s).await;
    let secret = s.enrol_totp(&alice, "pw").await;
    let (device, session) = start_delete_of(&s, &alice, device).await;

    // The client does the password itself...
    let password = json!({"auth": {"type": "m.login.password", "session": session, "password": "pw",
        "identifier": {"type": "m.id.user", "user": "alice"}}});
    let answer = s.delete(&device, Some(&alice.token), Some(password)).await;
    assert_eq!(answer.status, 401, "the password alone is not enough");
    assert_eq!(answer.body["completed"], json!(["m.login.password"]));

    // ...and opens the page for the factor it does not know.
    let browser = Browser::new(&s);
    let stage = "org.lattice.login.totp";
    let page = browser.get(&page_path(stage, &session)).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("authenticator app"));
    let action = format!("/_matrix/client/v3/auth/{stage}/fallback/web");
    let wrong = browser.submit(&action, &[("session", &session), ("code", "000000")]).await;
    assert_eq!(wrong.status, StatusCode::FORBIDDEN);
    assert!(wrong.body.contains("authenticator app"), "the form again");
    // The code used at enrolment cannot be replayed: the next one.
    s.services().auth.clock().advance(std::time::Duration::from_secs(30));
    let code = s.totp_now(&secret);
    let done = browser.submit(&action, &[("session", &session), ("code", &code)]).await;
    assert!(done.body.contains("id=\"auth-done\""), "{}", done.body);

    s.delete(&device, Some(&alice.token), Some(json!({"auth": {"session": session}}))).await.ok();
    s.get(&device, Some(&alice.token)).await.err(404, "M_NOT_FOUND");
}

async fn pages_refuse_what_they_cannot_serve(backend: Backend) {
    let s = TestServer::new(backend).await;
    let alice = s.register("alice", "pw").await;
    let (_, session) = start_delete(&s, &alice).await;
    let browser = Browser::new(&s);

    let unknown = browser.get(&page_path("org.lattice.login.totp", "made-up")).await;
    assert_eq!(unknown.status, StatusCode::FORBIDDEN);
    assert!(unknown.body.contains("unknown or expired"));
    let no_session = browser.get("/_matrix/client/v3/auth/m.login.password/fallback/web").await;
    assert_eq!(no_session.status, StatusCode::BAD_REQUEST);
    let stage = browser.get(&page_path("m.login.recaptcha", &session)).await;
    assert_eq!(stage.status, StatusCode::NOT_FOUND);

    // Registration sessions have no owner: their stages stay in the client.
    let register = s.post("/_matrix/client/v3/register", None, json!({"username": "bob"})).await;
    let registering = register.body["session"].as_str().expect("session");
    let action = "/_matrix/client/v3/auth/m.login.password/fallback/web";
    let refused = browser.submit(action, &[("session", registering), ("password", "x")]).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);

    // The pages cannot be framed, and run only our script.
    let page = s.http().get(format!("{}{}", s.url(), page_path("m.login.password", &session)));
    let page = page.send().await.expect("page");
    let csp = page.headers()["content-security-policy"].to_str().expect("csp");
    assert!(csp.contains("frame-ancestors 'none'") && csp.contains("script-src 'self'"));
}
