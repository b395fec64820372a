//! Rate limits: a burst past the limit is answered 429 with a wait, and
//! the budget comes back.

use std::time::Duration;

use serde_json::json;

use crate::{
    backend_tests,
    common::{Backend, TestServer},
};

backend_tests!(
    bursts_are_limited_then_recover,
    each_class_has_its_own_budget,
    login_attempts_are_limited_per_address,
    a_trusted_proxy_range_names_the_client,
    admins_override_a_users_limit,
);

async fn bursts_are_limited_then_recover(backend: Backend) {
    let s = TestServer::start(backend, |c| {
        c.rate_limits.enabled = true;
        c.rate_limits.messages_per_second = 5;
        c.rate_limits.messages_burst = 5;
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
    // Three failed logins use the burst of three (registering has its own).
    assert_eq!(statuses[..3], [403, 403, 403]);
    assert_eq!(statuses[3..], [429]);
}

/// Behind a trusted proxy (given as a range, as an ingress controller's
/// pods need) each client's address from X-Forwarded-For has its own
/// login budget; from anyone else the header changes nothing.
async fn a_trusted_proxy_range_names_the_client(backend: Backend) {
    let failed_logins = |s: &TestServer, forwarded_for: &'static str| {
        let request = s
            .http()
            .post(format!("{}/_matrix/client/v3/login", s.url()))
            .header("x-forwarded-for", forwarded_for)
            .json(&json!({
                "type": "m.login.password",
                "identifier": { "type": "m.id.user", "user": "alice" },
                "password": "wrong",
            }));
        async move { request.send().await.expect("sent").status().as_u16() }
    };
    let limited = |c: &mut lattice_homeserver::Config| {
        c.rate_limits.enabled = true;
        c.rate_limits.login_per_minute = 1;
        c.rate_limits.login_burst = 2;
    };

    let proxied = TestServer::start(backend, |c| {
        limited(c);
        c.server.trusted_proxies = vec!["127.0.0.0/8".parse().expect("range")];
    })
    .await;
    proxied.register("alice", "pw").await;
    let mut first = Vec::new();
    for _ in 0..3 {
        first.push(failed_logins(&proxied, "203.0.113.7").await);
    }
    assert_eq!(first, [403, 403, 429]);
    // Another client behind the same proxy still has its budget.
    assert_eq!(failed_logins(&proxied, "198.51.100.20").await, 403);

    let direct = TestServer::start(backend, limited).await;
    direct.register("alice", "pw").await;
    assert_eq!(failed_logins(&direct, "203.0.113.7").await, 403);
    assert_eq!(failed_logins(&direct, "198.51.100.20").await, 403);
    // A forged header does not buy a new budget: both came from 127.0.0.1.
    assert_eq!(failed_logins(&direct, "192.0.2.1").await, 429);
}

/// Joining draws on its own budget: a user who joins too fast is slowed
/// there, and can still talk.
async fn each_class_has_its_own_budget(backend: Backend) {
    let s = TestServer::start(backend, |c| {
        c.rate_limits.enabled = true;
        c.rate_limits.joins_per_minute = 1;
        c.rate_limits.joins_burst = 2;
    })
    .await;
    let alice = s.register("alice", "pw").await;
    let bob = s.register("bob", "pw").await;
    let mut rooms = Vec::new();
    for name in ["one", "two", "three"] {
        rooms.push(
            s.create_room(&alice.token, json!({"preset": "public_chat", "name": name})).await,
        );
    }
    s.join(&bob.token, &rooms[0]).await.ok();
    s.join(&bob.token, &rooms[1]).await.ok();
    let third = s.join(&bob.token, &rooms[2]).await.err(429, "M_LIMIT_EXCEEDED");
    assert!(third["retry_after_ms"].as_u64().is_some_and(|ms| ms > 0));
    s.send_text(&bob.token, &rooms[0], "joined enough, still talking").await;
    // Another user's joins are their own.
    s.join(&alice.token, &rooms[0]).await.ok();
}

async fn admins_override_a_users_limit(backend: Backend) {
    let mut s = TestServer::start(backend, |c| {
        c.rate_limits.enabled = true;
        c.rate_limits.client_per_second = 1;
        c.rate_limits.client_burst = 3;
    })
    .await;
    s.services().admin.create_user("root", "pw", true).await.expect("admin");
    let root_id = ruma::UserId::parse("@root:localhost").expect("user id");
    // The admin's own tools must not be throttled: exempt them first.
    s.services().admin.set_ratelimit_override(&root_id, 0, 0).await.expect("exempt");
    let root = crate::common::session_from(&s.login("root", "pw", None).await.ok());
    let alice = s.register("alice", "pw").await;
    let bob = s.register("bob", "pw").await;
    let path = format!("/_synapse/admin/v1/users/{}/override_ratelimit", alice.user_id);
    let token = Some(root.token.as_str());
    assert_eq!(s.get(&path, token).await.ok(), json!({}));
    let set = s.post(&path, token, json!({"messages_per_second": 0, "burst_count": 0})).await.ok();
    assert_eq!(set, json!({"messages_per_second": 0, "burst_count": 0}));

    let whoami = "/_matrix/client/v3/account/whoami";
    for _ in 0..10 {
        s.get(whoami, Some(&alice.token)).await.ok();
    }
    let mut bob_limited = false;
    for _ in 0..10 {
        bob_limited |= s.get(whoami, Some(&bob.token)).await.status == 429;
    }
    assert!(bob_limited, "Bob keeps the server's limit");

    // A budget of its own survives a restart.
    s.post(&path, token, json!({"messages_per_second": 1, "burst_count": 1})).await.ok();
    s.restart().await;
    let root = crate::common::session_from(&s.login("root", "pw", None).await.ok());
    let token = Some(root.token.as_str());
    assert_eq!(s.get(&path, token).await.ok()["burst_count"], 1);
    let mut statuses = Vec::new();
    for _ in 0..3 {
        statuses.push(s.get(whoami, Some(&alice.token)).await.status.as_u16());
    }
    assert!(statuses.contains(&429), "one request per second for Alice now: {statuses:?}");
    s.delete(&path, token, None).await.ok();
    assert_eq!(s.get(&path, token).await.ok(), json!({}));
}
