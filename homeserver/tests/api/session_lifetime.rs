//! Sessions end: access tokens expire and are renewed with refresh tokens,
//! and a session left unused past the idle timeout is logged out. Time is
//! moved forward on the server's clock, never slept.

use std::time::Duration;

use serde_json::json;

use crate::{
    backend_tests,
    common::{Backend, TestServer, session_from},
};

backend_tests!(idle_sessions_are_logged_out, access_tokens_expire_and_refresh_once);

const WHOAMI: &str = "/_matrix/client/v3/account/whoami";

async fn idle_sessions_are_logged_out(backend: Backend) {
    let s = TestServer::start(backend, |c| {
        c.auth.session_idle_timeout = Duration::from_secs(3600);
    })
    .await;
    let alice = s.register("alice", "pw").await;
    let clock = s.services().auth.clock().clone();
    s.get(WHOAMI, Some(&alice.token)).await.ok();
    // Used every 50 minutes, the session lives on.
    for _ in 0..3 {
        clock.advance(Duration::from_secs(50 * 60));
        s.get(WHOAMI, Some(&alice.token)).await.ok();
    }
    // Forgotten for two hours, it is gone: a soft logout.
    clock.advance(Duration::from_secs(2 * 3600));
    let gone = s.get(WHOAMI, Some(&alice.token)).await.err(401, "M_UNKNOWN_TOKEN");
    assert_eq!(gone["soft_logout"], true);
    // The device stays: logging in on it again keeps its id (and keys).
    let again = session_from(&s.login("alice", "pw", Some(&alice.device_id)).await.ok());
    assert_eq!(again.device_id, alice.device_id);
    s.get(WHOAMI, Some(&again.token)).await.ok();
    let devices = s.get("/_matrix/client/v3/devices", Some(&again.token)).await.ok();
    assert!(devices["devices"][0]["last_seen_ts"].as_i64().is_some(), "{devices}");
}

async fn access_tokens_expire_and_refresh_once(backend: Backend) {
    let s = TestServer::new(backend).await;
    s.register("alice", "pw").await;
    let login = s.login_with_refresh("alice", "pw").await;
    let token = login["access_token"].as_str().expect("token").to_owned();
    let refresh = login["refresh_token"].as_str().expect("refresh").to_owned();
    assert!(login["expires_in_ms"].as_u64().is_some());
    s.get(WHOAMI, Some(&token)).await.ok();
    s.services().auth.clock().advance(Duration::from_secs(301));
    let expired = s.get(WHOAMI, Some(&token)).await.err(401, "M_UNKNOWN_TOKEN");
    assert_eq!(expired["soft_logout"], true);

    let renewed =
        s.post("/_matrix/client/v3/refresh", None, json!({"refresh_token": refresh})).await.ok();
    let new_token = renewed["access_token"].as_str().expect("token");
    s.get(WHOAMI, Some(new_token)).await.ok();
    // Once the new token is used, the old refresh token is spent.
    s.post("/_matrix/client/v3/refresh", None, json!({"refresh_token": refresh}))
        .await
        .err(401, "M_UNKNOWN_TOKEN");
}
