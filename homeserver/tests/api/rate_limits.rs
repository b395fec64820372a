//! Rate limits: a burst past the limit is answered 429 with a wait, and
//! the budget comes back.

use std::time::Duration;

use serde_json::json;

use crate::{
    backend_tests,
    common::{Backend, TestServer},
};

backend_tests!(bursts_are_limited_then_recover, login_attempts_are_limited_per_address);

async fn bursts_are_limited_then_recover(backend: Backend) {
    let s = TestServer::start(backend, |c| {
        c.rate_limits.enabled = true;
        c.rate_limits.client_per_second = 5;
        c.rate_limits.client_burst = 5;
    })
    .await;
    let alice = s.register("alice", "pw").await;
    let bob = s.register("bob", "pw").await;
    let room = s.create_room(&alice.token, json!({})).await;
    let mut limited = None;
    for i in 0..20 {
        let path = format!("/_matrix/client/v3/rooms/{room}/send/m.room.message/flood{i}");
        let answer =
            s.put(&path, Some(&alice.token), json!({"msgtype": "m.text", "body": "flood"})).await;
        if answer.status == 429 {
            limited = Some(answer);
            break;
        }
    }
    let limited = limited.expect("the burst ran out");
    assert_eq!(limited.errcode(), "M_LIMIT_EXCEEDED");
    let wait = limited.body["retry_after_ms"].as_u64().expect("retry_after_ms");
    assert!(wait > 0 && wait <= 1000, "{wait}");
    // Other users are not affected.
    s.get("/_matrix/client/v3/capabilities", Some(&bob.token)).await.ok();
    // Waiting as told is enough: the wait is the server's own answer, as
    // a client would honour it (the budget refills with time, nothing else).
    tokio::time::sleep(Duration::from_millis(wait)).await;
    s.put(
        &format!("/_matrix/client/v3/rooms/{room}/send/m.room.message/after"),
        Some(&alice.token),
        json!({"msgtype": "m.text", "body": "patient"}),
    )
    .await
    .ok();
}

async fn login_attempts_are_limited_per_address(backend: Backend) {
    let s = TestServer::start(backend, |c| {
        c.rate_limits.enabled = true;
        c.rate_limits.login_per_minute = 1;
        c.rate_limits.login_burst = 3;
    })
    .await;
    s.register("alice", "pw").await;
    let mut statuses = Vec::new();
    for _ in 0..4 {
        statuses.push(s.login("alice", "wrong", None).await.status.as_u16());
    }
    // One registration and two failed logins used the burst of three.
    assert_eq!(statuses[..2], [403, 403]);
    assert_eq!(statuses[2..], [429, 429]);
}
