//! POST /register with user-interactive auth, and its helper endpoints.

use serde_json::json;

use crate::{
    backend_tests,
    common::{Backend, TestServer},
};

backend_tests!(
    registration_walks_the_dummy_flow,
    taken_and_invalid_usernames_are_refused,
    inhibit_login_and_device_names,
    registration_token_is_required_when_configured,
    closed_registration_is_forbidden,
);

const REGISTER: &str = "/_matrix/client/v3/register";

async fn registration_walks_the_dummy_flow(backend: Backend) {
    let s = TestServer::new(backend).await;
    let first = s.post(REGISTER, None, json!({"username": "alice", "password": "pw-1"})).await;
    assert_eq!(first.status, 401, "{}", first.body);
    assert_eq!(first.body["flows"], json!([{"stages": ["m.login.dummy"]}]));
    let session = first.body["session"].as_str().expect("session").to_owned();

    let done = s
        .post(
            REGISTER,
            None,
            json!({"username": "alice", "password": "pw-1",
                   "auth": {"type": "m.login.dummy", "session": session}}),
        )
        .await
        .ok();
    assert_eq!(done["user_id"], "@alice:localhost");
    let token = done["access_token"].as_str().expect("token");
    let me = s.get("/_matrix/client/v3/account/whoami", Some(token)).await.ok();
    assert_eq!(me["user_id"], "@alice:localhost");
    assert_eq!(me["device_id"], done["device_id"]);
    assert_ne!(me["is_guest"], json!(true));

    // The finished session cannot be replayed.
    s.post(
        REGISTER,
        None,
        json!({"username": "bob", "password": "pw", "auth": {"type": "m.login.dummy", "session": session}}),
    )
    .await
    .err(400, "M_INVALID_PARAM");
}

async fn taken_and_invalid_usernames_are_refused(backend: Backend) {
    let s = TestServer::new(backend).await;
    s.register("alice", "pw").await;
    let again = json!({"username": "alice", "password": "x", "auth": {"type": "m.login.dummy"}});
    s.post(REGISTER, None, again).await.err(400, "M_USER_IN_USE");
    for bad in ["Alice", "al ice", "al!ce", "", "é"] {
        let body = json!({"username": bad, "password": "x", "auth": {"type": "m.login.dummy"}});
        s.post(REGISTER, None, body).await.err(400, "M_INVALID_USERNAME");
    }
    let long = "a".repeat(260);
    s.post(REGISTER, None, json!({"username": long, "auth": {"type": "m.login.dummy"}}))
        .await
        .err(400, "M_INVALID_USERNAME");

    let free = s.get("/_matrix/client/v3/register/available?username=bob", None).await.ok();
    assert_eq!(free["available"], json!(true));
    s.get("/_matrix/client/v3/register/available?username=alice", None)
        .await
        .err(400, "M_USER_IN_USE");
    s.get("/_matrix/client/v3/register/available?username=B%21", None)
        .await
        .err(400, "M_INVALID_USERNAME");
}

async fn inhibit_login_and_device_names(backend: Backend) {
    let s = TestServer::new(backend).await;
    let quiet = s
        .post(
            REGISTER,
            None,
            json!({"username": "carol", "password": "pw", "inhibit_login": true,
                   "auth": {"type": "m.login.dummy"}}),
        )
        .await
        .ok();
    assert_eq!(quiet["user_id"], "@carol:localhost");
    assert!(quiet.get("access_token").is_none(), "{quiet}");

    let named = s
        .post(
            REGISTER,
            None,
            json!({"username": "dave", "password": "pw", "device_id": "DAVEPHONE",
                   "initial_device_display_name": "Dave's phone", "auth": {"type": "m.login.dummy"}}),
        )
        .await
        .ok();
    assert_eq!(named["device_id"], "DAVEPHONE");
    let token = named["access_token"].as_str().expect("token");
    let devices = s.get("/_matrix/client/v3/devices", Some(token)).await.ok();
    assert_eq!(devices["devices"][0]["device_id"], "DAVEPHONE");
    assert_eq!(devices["devices"][0]["display_name"], "Dave's phone");

    // A server-chosen username when none is given.
    let anonymous = s
        .post(REGISTER, None, json!({"password": "pw", "auth": {"type": "m.login.dummy"}}))
        .await
        .ok();
    assert!(anonymous["user_id"].as_str().expect("user id").ends_with(":localhost"));
}

async fn registration_token_is_required_when_configured(backend: Backend) {
    let s = TestServer::start(backend, |c| {
        c.registration.token_required = true;
        c.registration.tokens = vec!["let-me-in".into()];
    })
    .await;
    let first = s.post(REGISTER, None, json!({"username": "eve", "password": "pw"})).await;
    assert_eq!(first.status, 401);
    assert_eq!(first.body["flows"], json!([{"stages": ["m.login.registration_token"]}]));
    let session = first.body["session"].as_str().expect("session");

    // The dummy stage is not offered, and a wrong token fails the stage.
    let dummy = json!({"username": "eve", "password": "pw",
                       "auth": {"type": "m.login.dummy", "session": session}});
    let refused = s.post(REGISTER, None, dummy).await;
    assert_eq!(refused.status, 401);
    let wrong = json!({"username": "eve", "password": "pw",
        "auth": {"type": "m.login.registration_token", "token": "guess", "session": session}});
    let refused = s.post(REGISTER, None, wrong).await;
    assert_eq!(refused.status, 401);
    assert_eq!(refused.body["errcode"], "M_FORBIDDEN", "{}", refused.body);
    assert!(refused.body["completed"].as_array().is_none_or(|c| c.is_empty()), "{}", refused.body);

    let right = json!({"username": "eve", "password": "pw",
        "auth": {"type": "m.login.registration_token", "token": "let-me-in", "session": session}});
    assert_eq!(s.post(REGISTER, None, right).await.ok()["user_id"], "@eve:localhost");

    let validity = "/_matrix/client/v1/register/m.login.registration_token/validity";
    let ok = s.get(&format!("{validity}?token=let-me-in"), None).await.ok();
    assert_eq!(ok["valid"], json!(true));
    let bad = s.get(&format!("{validity}?token=nope"), None).await.ok();
    assert_eq!(bad["valid"], json!(false));
}

async fn closed_registration_is_forbidden(backend: Backend) {
    let s = TestServer::start(backend, |c| c.registration.enabled = false).await;
    let body = json!({"username": "frank", "password": "pw", "auth": {"type": "m.login.dummy"}});
    s.post(REGISTER, None, body).await.err(403, "M_FORBIDDEN");
    s.get("/_matrix/client/v3/register/available?username=frank", None)
        .await
        .err(403, "M_FORBIDDEN");
    // Nothing was created: logging in as frank fails like any unknown user.
    s.login("frank", "pw", None).await.err(403, "M_FORBIDDEN");
}
