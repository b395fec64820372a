//! Logging in and out, tokens, refresh tokens and soft logout.

use serde_json::json;

use crate::{
    backend_tests,
    common::{Backend, TestServer, at_once, session_from},
};

backend_tests!(
    password_login_by_localpart_and_full_id,
    wrong_password_and_unknown_user_look_alike,
    device_id_reuse_replaces_the_old_token,
    unknown_and_missing_tokens,
    logout_and_logout_all,
    refresh_tokens_rotate,
    a_refresh_token_spent_at_once_twice_leaves_one_session,
    expired_access_token_is_a_soft_logout,
);

const WHOAMI: &str = "/_matrix/client/v3/account/whoami";

async fn password_login_by_localpart_and_full_id(backend: Backend) {
    let s = TestServer::new(backend).await;
    let flows = s.get("/_matrix/client/v3/login", None).await.ok();
    assert!(
        flows["flows"].as_array().expect("flows").iter().any(|f| f["type"] == "m.login.password")
    );

    s.register("alice", "correct horse").await;
    let by_local = session_from(&s.login("alice", "correct horse", None).await.ok());
    let by_full = session_from(&s.login("@alice:localhost", "correct horse", None).await.ok());
    assert_ne!(by_local.device_id, by_full.device_id);
    for session in [&by_local, &by_full] {
        let me = s.get(WHOAMI, Some(&session.token)).await.ok();
        assert_eq!(me["user_id"], "@alice:localhost");
        assert_eq!(me["device_id"], session.device_id.as_str());
    }
    // The deprecated top-level `user` field still works.
    let legacy = s
        .post(
            "/_matrix/client/v3/login",
            None,
            json!({"type": "m.login.password", "user": "alice", "password": "correct horse"}),
        )
        .await
        .ok();
    assert_eq!(legacy["user_id"], "@alice:localhost");
    // The access token may also come as a query parameter.
    let query = s.get(&format!("{WHOAMI}?access_token={}", by_local.token), None).await.ok();
    assert_eq!(query["user_id"], "@alice:localhost");
}

async fn wrong_password_and_unknown_user_look_alike(backend: Backend) {
    let s = TestServer::new(backend).await;
    s.register("alice", "right").await;
    let wrong = s.login("alice", "wrong", None).await.err(403, "M_FORBIDDEN");
    let unknown = s.login("nobody", "wrong", None).await.err(403, "M_FORBIDDEN");
    assert_eq!(wrong["error"], unknown["error"]);
    s.login("@alice:elsewhere.example", "right", None).await.err(403, "M_FORBIDDEN");
}

async fn device_id_reuse_replaces_the_old_token(backend: Backend) {
    let s = TestServer::new(backend).await;
    s.register("alice", "pw").await;
    let first = session_from(&s.login("alice", "pw", Some("LAPTOP")).await.ok());
    let second = session_from(&s.login("alice", "pw", Some("LAPTOP")).await.ok());
    assert_eq!(first.device_id, "LAPTOP");
    assert_eq!(second.device_id, "LAPTOP");
    s.get(WHOAMI, Some(&first.token)).await.err(401, "M_UNKNOWN_TOKEN");
    s.get(WHOAMI, Some(&second.token)).await.ok();
    let devices = s.get("/_matrix/client/v3/devices", Some(&second.token)).await.ok();
    let laptops = devices["devices"]
        .as_array()
        .expect("devices")
        .iter()
        .filter(|d| d["device_id"] == "LAPTOP");
    assert_eq!(laptops.count(), 1);
}

async fn unknown_and_missing_tokens(backend: Backend) {
    let s = TestServer::new(backend).await;
    s.get(WHOAMI, None).await.err(401, "M_MISSING_TOKEN");
    let unknown = s.get(WHOAMI, Some("lat_at_forged")).await.err(401, "M_UNKNOWN_TOKEN");
    assert_ne!(unknown["soft_logout"], json!(true));
}

async fn logout_and_logout_all(backend: Backend) {
    let s = TestServer::new(backend).await;
    let alice = s.register("alice", "pw").await;
    let phone = session_from(&s.login("alice", "pw", None).await.ok());
    let tablet = session_from(&s.login("alice", "pw", None).await.ok());

    s.post("/_matrix/client/v3/logout", Some(&phone.token), json!({})).await.ok();
    s.get(WHOAMI, Some(&phone.token)).await.err(401, "M_UNKNOWN_TOKEN");
    let devices = s.get("/_matrix/client/v3/devices", Some(&alice.token)).await.ok();
    let ids: Vec<&str> = devices["devices"]
        .as_array()
        .expect("devices")
        .iter()
        .filter_map(|d| d["device_id"].as_str())
        .collect();
    assert!(!ids.contains(&phone.device_id.as_str()), "logout must delete the device: {ids:?}");
    assert_eq!(ids.len(), 2);

    s.post("/_matrix/client/v3/logout/all", Some(&tablet.token), json!({})).await.ok();
    for token in [&alice.token, &tablet.token] {
        s.get(WHOAMI, Some(token)).await.err(401, "M_UNKNOWN_TOKEN");
    }
    // The account itself survives.
    s.login("alice", "pw", None).await.ok();
}

async fn refresh_tokens_rotate(backend: Backend) {
    let s = TestServer::new(backend).await;
    s.register("alice", "pw").await;
    let login = s.login_with_refresh("alice", "pw").await;
    assert!(login["expires_in_ms"].as_u64().expect("expires_in_ms") > 0);
    let access1 = login["access_token"].as_str().expect("access").to_owned();
    let refresh1 = login["refresh_token"].as_str().expect("refresh").to_owned();
    s.get(WHOAMI, Some(&access1)).await.ok();

    let refreshed =
        s.post("/_matrix/client/v3/refresh", None, json!({"refresh_token": refresh1})).await.ok();
    let access2 = refreshed["access_token"].as_str().expect("access").to_owned();
    let refresh2 = refreshed["refresh_token"].as_str().expect("refresh").to_owned();
    assert!(refreshed["expires_in_ms"].as_u64().is_some());
    assert_ne!(access1, access2);
    s.get(WHOAMI, Some(&access1)).await.err(401, "M_UNKNOWN_TOKEN");

    // Until the new tokens are used, the old refresh token may be retried
    // (the client may have lost the answer); using them retires it.
    let retried =
        s.post("/_matrix/client/v3/refresh", None, json!({"refresh_token": refresh1})).await.ok();
    let access3 = retried["access_token"].as_str().expect("access").to_owned();
    let me = s.get(WHOAMI, Some(&access3)).await.ok();
    assert_eq!(me["device_id"], login["device_id"]);
    s.post("/_matrix/client/v3/refresh", None, json!({"refresh_token": refresh1}))
        .await
        .err(401, "M_UNKNOWN_TOKEN");
    // The pair issued by the first attempt died with the retry.
    s.get(WHOAMI, Some(&access2)).await.err(401, "M_UNKNOWN_TOKEN");
    s.post("/_matrix/client/v3/refresh", None, json!({"refresh_token": refresh2}))
        .await
        .err(401, "M_UNKNOWN_TOKEN");

    s.post("/_matrix/client/v3/refresh", None, json!({"refresh_token": "lat_rt_forged"}))
        .await
        .err(401, "M_UNKNOWN_TOKEN");
}

async fn expired_access_token_is_a_soft_logout(backend: Backend) {
    let s =
        TestServer::start(backend, |c| c.auth.access_token_lifetime = std::time::Duration::ZERO)
            .await;
    s.register("alice", "pw").await;
    let login = s.login_with_refresh("alice", "pw").await;
    let expired = s
        .get(WHOAMI, Some(login["access_token"].as_str().expect("token")))
        .await
        .err(401, "M_UNKNOWN_TOKEN");
    assert_eq!(expired["soft_logout"], json!(true));
    // The device survives a soft logout: a refresh brings it back.
    let refreshed = s
        .post("/_matrix/client/v3/refresh", None, json!({"refresh_token": login["refresh_token"]}))
        .await
        .ok();
    assert!(refreshed["access_token"].is_string());
}

/// Two refreshes with one token at the same moment (a client retrying, or a
/// stolen token racing its owner) leave one live session, not two.
async fn a_refresh_token_spent_at_once_twice_leaves_one_session(backend: Backend) {
    let s = TestServer::new(backend).await;
    s.register("alice", "pw").await;
    let login = s.login_with_refresh("alice", "pw").await;
    let refresh = login["refresh_token"].as_str().expect("refresh").to_owned();
    let body = json!({"refresh_token": refresh});
    let answers = at_once(&s, "/_matrix/client/v3/refresh", body, 6).await;
    let mut live = 0;
    for answer in answers {
        let Some(access) = answer.body["access_token"].as_str() else { continue };
        if s.get(WHOAMI, Some(access)).await.status == 200 {
            live += 1;
        }
    }
    assert_eq!(live, 1, "one refresh token, one session");
}
