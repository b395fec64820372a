//! E-mail addresses on accounts, against a real SMTP server (aiosmtpd):
//! a link mailed to the address confirms it, the account binds it, and a
//! forgotten password is reset through it. Without SMTP set up, the
//! endpoints answer the spec's error.

use reqwest::redirect::Policy;
use serde_json::{Value, json};

use crate::{
    backend_tests,
    common::{Backend, Session, TestServer, smtp::SmtpSink},
};

backend_tests!(
    without_smtp_the_endpoints_say_so,
    an_address_is_confirmed_added_and_removed,
    a_forgotten_password_is_reset_by_email,
);

const ADD_TOKEN: &str = "/_matrix/client/v3/account/3pid/email/requestToken";
const RESET_TOKEN: &str = "/_matrix/client/v3/account/password/email/requestToken";
const ADD: &str = "/_matrix/client/v3/account/3pid/add";
const LIST: &str = "/_matrix/client/v3/account/3pid";
const PASSWORD: &str = "/_matrix/client/v3/account/password";

async fn mailing_server(backend: Backend, sink: &SmtpSink) -> TestServer {
    let url = sink.url();
    TestServer::start(backend, move |config| {
        config.email.smtp_url = Some(url);
        config.email.from = Some("Lattice <noreply@example.org>".into());
    })
    .await
}

fn token_request(email: &str, secret: &str, attempt: u64) -> Value {
    json!({"client_secret": secret, "email": email, "send_attempt": attempt})
}

/// The validation link in a mailed message, made relative to the server.
fn link_in(message: &str, s: &TestServer) -> String {
    let line = message
        .lines()
        .find(|line| line.contains("/_lattice/email/validate?"))
        .expect("a link in the e-mail");
    let start = line.find("/_lattice/").expect("path");
    assert!(line.starts_with(&format!("http://{}", s.config().server.bind)), "{line}");
    line[start..].trim().to_owned()
}

/// Opens a link as a browser would, without following redirects.
async fn open(s: &TestServer, path: &str) -> reqwest::Response {
    let http = reqwest::Client::builder().redirect(Policy::none()).build().expect("client");
    http.get(format!("{}{path}", s.url())).send().await.expect("get")
}

/// The addresses GET /account/3pid lists (the list is there even empty,
/// as Element reads it without checking).
async fn addresses(s: &TestServer, who: &Session) -> Vec<String> {
    let listed = s.get(LIST, Some(&who.token)).await.ok();
    listed["threepids"]
        .as_array()
        .expect("a threepids list")
        .iter()
        .filter_map(|threepid| threepid["address"].as_str().map(str::to_owned))
        .collect()
}

fn password_auth(who: &Session, session: &str) -> Value {
    json!({"type": "m.login.password", "session": session, "password": "pw",
        "identifier": {"type": "m.id.user", "user": who.user_id}})
}

/// Adds `email` to `who`'s account, through the mailed link.
async fn bind(s: &TestServer, sink: &mut SmtpSink, who: &Session, email: &str) {
    let sid = s.post(ADD_TOKEN, None, token_request(email, "secret", 1)).await.ok()["sid"].clone();
    let link = link_in(&sink.next_message().await, s);
    assert_eq!(open(s, &link).await.status(), 200);
    let body = json!({"sid": sid, "client_secret": "secret"});
    let started = s.post(ADD, Some(&who.token), body.clone()).await;
    let session = started.body["session"].as_str().expect("session").to_owned();
    let mut with_auth = body;
    with_auth["auth"] = password_auth(who, &session);
    s.post(ADD, Some(&who.token), with_auth).await.ok();
}

async fn without_smtp_the_endpoints_say_so(backend: Backend) {
    let s = TestServer::new(backend).await;
    let alice = s.register("alice", "pw").await;
    let request = token_request("alice@example.org", "secret", 1);
    s.post(ADD_TOKEN, None, request.clone()).await.err(400, "M_THREEPID_MEDIUM_NOT_SUPPORTED");
    s.post(RESET_TOKEN, None, request).await.err(400, "M_THREEPID_MEDIUM_NOT_SUPPORTED");
    let phone = json!({"client_secret": "s", "country": "GB", "phone_number": "07700900000",
        "send_attempt": 1});
    s.post("/_matrix/client/v3/account/3pid/msisdn/requestToken", None, phone)
        .await
        .err(400, "M_THREEPID_MEDIUM_NOT_SUPPORTED");
    assert!(addresses(&s, &alice).await.is_empty());
    s.get(LIST, None).await.err(401, "M_MISSING_TOKEN");
    let capabilities = s.get("/_matrix/client/v3/capabilities", Some(&alice.token)).await.ok();
    assert_eq!(capabilities["capabilities"]["m.3pid_changes"]["enabled"], false);
    // A password change without a session asks for the e-mail stage.
    let reset = s.post(PASSWORD, None, json!({"new_password": "new"})).await;
    assert_eq!(reset.status, 401);
    assert_eq!(reset.body["flows"], json!([{"stages": ["m.login.email.identity"]}]));
}

async fn an_address_is_confirmed_added_and_removed(backend: Backend) {
    let Some(mut sink) = SmtpSink::start().await else { return };
    let s = mailing_server(backend, &sink).await;
    let alice = s.register("alice", "pw").await;
    let bob = s.register("bob", "pw").await;
    let capabilities = s.get("/_matrix/client/v3/capabilities", Some(&alice.token)).await.ok();
    // Left out, the capability is on (the spec's default).
    let changes = &capabilities["capabilities"]["m.3pid_changes"];
    assert!(changes.is_null() || changes["enabled"] == true, "{changes}");

    let first = s.post(ADD_TOKEN, None, token_request("Alice@Example.org", "secret", 1)).await.ok();
    let sid = first["sid"].as_str().expect("sid").to_owned();
    let message = sink.next_message().await;
    assert!(message.contains("To: alice@example.org"), "{message}");
    assert!(message.contains("From: Lattice <noreply@example.org>"), "{message}");
    let old_link = link_in(&message, &s);
    // A retry with the same attempt is the same session; a new attempt
    // mails a new link, and the old one stops working.
    let again = s.post(ADD_TOKEN, None, token_request("alice@example.org", "secret", 1)).await;
    assert_eq!(again.ok()["sid"], sid.as_str());
    let next = s.post(ADD_TOKEN, None, token_request("alice@example.org", "secret", 2)).await;
    assert_eq!(next.ok()["sid"], sid.as_str());
    let link = link_in(&sink.next_message().await, &s);
    assert_ne!(link, old_link);
    assert_eq!(open(&s, &old_link).await.status(), 403);

    // Not confirmed yet: the address cannot be added.
    let body = json!({"sid": sid, "client_secret": "secret"});
    let started = s.post(ADD, Some(&alice.token), body.clone()).await;
    assert_eq!(started.status, 401);
    let session = started.body["session"].as_str().expect("session").to_owned();
    let mut with_auth = body.clone();
    with_auth["auth"] = password_auth(&alice, &session);
    let early = s.post(ADD, Some(&alice.token), with_auth.clone()).await;
    assert_eq!(early.status, 401);
    assert_eq!(early.body["errcode"], "M_THREEPID_AUTH_FAILED", "{}", early.body);

    let page = open(&s, &link).await;
    assert_eq!(page.status(), 200);
    assert!(page.text().await.expect("page").contains("id=\"confirmed\""));
    let started = s.post(ADD, Some(&alice.token), body).await;
    let session = started.body["session"].as_str().expect("session").to_owned();
    with_auth["auth"] = password_auth(&alice, &session);
    s.post(ADD, Some(&alice.token), with_auth).await.ok();
    let listed = s.get(LIST, Some(&alice.token)).await.ok();
    assert_eq!(listed["threepids"][0]["medium"], "email");
    assert_eq!(listed["threepids"][0]["address"], "alice@example.org");
    assert!(listed["threepids"][0]["validated_at"].as_u64().is_some());
    assert!(addresses(&s, &bob).await.is_empty());

    // The address is alice's: nobody else can start binding it.
    s.post(ADD_TOKEN, None, token_request("alice@example.org", "other", 1))
        .await
        .err(400, "M_THREEPID_IN_USE");
    s.post(ADD_TOKEN, None, token_request("not an address", "other", 1))
        .await
        .err(400, "M_INVALID_PARAM");

    let delete = "/_matrix/client/v3/account/3pid/delete";
    let address = json!({"medium": "email", "address": "alice@example.org"});
    s.post(delete, Some(&bob.token), address.clone()).await.err(404, "M_NOT_FOUND");
    let removed = s.post(delete, Some(&alice.token), address).await.ok();
    assert_eq!(removed["id_server_unbind_result"], "no-support");
    assert!(addresses(&s, &alice).await.is_empty());
}

async fn a_forgotten_password_is_reset_by_email(backend: Backend) {
    let Some(mut sink) = SmtpSink::start().await else { return };
    let s = mailing_server(backend, &sink).await;
    let alice = s.register("alice", "pw").await;
    bind(&s, &mut sink, &alice, "alice@example.org").await;

    s.post(RESET_TOKEN, None, token_request("nobody@example.org", "reset", 1))
        .await
        .err(400, "M_THREEPID_NOT_FOUND");
    let mut request = token_request("alice@example.org", "reset", 1);
    request["next_link"] = json!("https://client.example/reset-done");
    let sid = s.post(RESET_TOKEN, None, request).await.ok()["sid"].clone();
    let message = sink.next_message().await;
    assert!(message.contains("Subject: Reset your password"), "{message}");
    let link = link_in(&message, &s);

    let creds = json!({"type": "m.login.email.identity",
        "threepid_creds": {"sid": sid, "client_secret": "reset"}});
    let early = s.post(PASSWORD, None, json!({"new_password": "fresh", "auth": creds})).await;
    assert_eq!(early.status, 401, "the link was not opened yet");
    assert_eq!(early.body["errcode"], "M_THREEPID_AUTH_FAILED");

    // The link confirms, then sends the browser where the client asked.
    let page = open(&s, &link).await;
    assert_eq!(page.status(), 302);
    assert_eq!(page.headers()["location"], "https://client.example/reset-done");
    s.post(PASSWORD, None, json!({"new_password": "fresh", "auth": creds})).await.ok();

    s.login("alice", "pw", None).await.err(403, "M_FORBIDDEN");
    s.login("alice", "fresh", None).await.ok();
    // The address logs in too, as Element's "sign in with e-mail" does it.
    let by_email = json!({"type": "m.login.password", "password": "fresh",
        "identifier": {"type": "m.id.thirdparty", "medium": "email", "address": "Alice@example.org"}});
    let logged_in = s.post("/_matrix/client/v3/login", None, by_email).await.ok();
    assert_eq!(logged_in["user_id"], alice.user_id.as_str());
    let capabilities = s.get("/_matrix/client/v3/capabilities", Some(&alice.token)).await;
    assert_eq!(capabilities.status, 401, "alice's old token is gone");
    let whoami = s.get("/_matrix/client/v3/account/whoami", Some(&alice.token)).await;
    assert_eq!(whoami.status, 401, "the old session was logged out");
}
