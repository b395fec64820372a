//! Password change and deactivation.

use serde_json::json;

use crate::{
    backend_tests,
    common::{Backend, TestServer, password_auth, session_from},
};

backend_tests!(
    password_change_logs_out_other_devices,
    password_change_can_keep_devices,
    deactivation_is_final,
);

async fn password_change_logs_out_other_devices(backend: Backend) {
    let s = TestServer::new(backend).await;
    let alice = s.register("alice", "old-pw").await;
    let other = session_from(&s.login("alice", "old-pw", None).await.ok());

    let challenge = s
        .post(
            "/_matrix/client/v3/account/password",
            Some(&alice.token),
            json!({"new_password": "new-pw"}),
        )
        .await;
    assert_eq!(challenge.status, 401);
    s.post(
        "/_matrix/client/v3/account/password",
        Some(&alice.token),
        json!({"new_password": "new-pw", "auth": password_auth("alice", "wrong")}),
    )
    .await;
    s.login("alice", "new-pw", None).await.err(403, "M_FORBIDDEN");

    s.post(
        "/_matrix/client/v3/account/password",
        Some(&alice.token),
        json!({"new_password": "new-pw", "auth": password_auth("alice", "old-pw")}),
    )
    .await
    .ok();
    s.get("/_matrix/client/v3/account/whoami", Some(&alice.token)).await.ok();
    s.get("/_matrix/client/v3/account/whoami", Some(&other.token))
        .await
        .err(401, "M_UNKNOWN_TOKEN");
    s.login("alice", "old-pw", None).await.err(403, "M_FORBIDDEN");
    s.login("alice", "new-pw", None).await.ok();

    // Without a session, the change is a reset proved by e-mail.
    let reset =
        s.post("/_matrix/client/v3/account/password", None, json!({"new_password": "x"})).await;
    assert_eq!(reset.status, 401);
    assert_eq!(reset.body["flows"], json!([{"stages": ["m.login.email.identity"]}]));
    s.login("alice", "new-pw", None).await.ok();
}

async fn password_change_can_keep_devices(backend: Backend) {
    let s = TestServer::new(backend).await;
    let alice = s.register("alice", "old-pw").await;
    let other = session_from(&s.login("alice", "old-pw", None).await.ok());
    s.post(
        "/_matrix/client/v3/account/password",
        Some(&alice.token),
        json!({"new_password": "new-pw", "logout_devices": false,
               "auth": password_auth("alice", "old-pw")}),
    )
    .await
    .ok();
    s.get("/_matrix/client/v3/account/whoami", Some(&other.token)).await.ok();
}

async fn deactivation_is_final(backend: Backend) {
    let s = TestServer::new(backend).await;
    let alice = s.register("alice", "pw").await;
    let bob = s.register("bob", "pw").await;
    let challenge =
        s.post("/_matrix/client/v3/account/deactivate", Some(&alice.token), json!({})).await;
    assert_eq!(challenge.status, 401);

    let done = s
        .post(
            "/_matrix/client/v3/account/deactivate",
            Some(&alice.token),
            json!({"erase": true, "auth": password_auth("alice", "pw")}),
        )
        .await
        .ok();
    assert_eq!(done["id_server_unbind_result"], "no-support");

    s.get("/_matrix/client/v3/account/whoami", Some(&alice.token))
        .await
        .err(401, "M_UNKNOWN_TOKEN");
    s.login("alice", "pw", None).await.err(403, "M_USER_DEACTIVATED");
    s.login("alice", "wrong", None).await.err(403, "M_FORBIDDEN");
    let again = json!({"username": "alice", "password": "pw", "auth": {"type": "m.login.dummy"}});
    s.post("/_matrix/client/v3/register", None, again).await.err(400, "M_USER_IN_USE");
    s.get("/_matrix/client/v3/profile/@alice:localhost", Some(&bob.token))
        .await
        .err(404, "M_NOT_FOUND");
}
