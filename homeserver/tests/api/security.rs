//! Brute force: guessing locks the account, the right password does not
//! get through the lock, and operators hear about it exactly once.

use std::time::Duration;

use wiremock::{
    Mock, MockServer, Respond, ResponseTemplate,
    matchers::{body_partial_json, method, path},
};

use crate::{
    backend_tests,
    common::{Backend, TestServer},
};

backend_tests!(
    guessing_locks_the_account_and_alerts_once,
    alerts_reach_the_admins,
    server_errors_raise_one_alert,
);

/// Answers the webhook and tells the test, so that it can wait for the
/// alert instead of polling for it.
pub struct Announce(pub tokio::sync::mpsc::UnboundedSender<()>);

impl Respond for Announce {
    fn respond(&self, _: &wiremock::Request) -> ResponseTemplate {
        let _ = self.0.send(());
        ResponseTemplate::new(200)
    }
}

async fn guessing_locks_the_account_and_alerts_once(backend: Backend) {
    let hook = MockServer::start().await;
    let (alerted, mut alerts) = tokio::sync::mpsc::unbounded_channel();
    Mock::given(method("POST"))
        .and(path("/alerts"))
        .and(body_partial_json(
            serde_json::json!({"kind": "account_locked", "user_id": "@alice:localhost"}),
        ))
        .respond_with(Announce(alerted))
        .mount(&hook)
        .await;
    let url = format!("{}/alerts", hook.uri());
    let s = TestServer::start(backend, move |c| c.security.alert_webhooks = vec![url]).await;
    s.register("alice", "right password").await;

    let mut statuses = Vec::new();
    for _ in 0..20 {
        statuses.push(s.login("alice", "guess", None).await.status.as_u16());
    }
    assert_eq!(statuses[..10], [403; 10]);
    assert_eq!(statuses[10..], [429; 10]);
    // The right password does not get through the lock.
    let locked = s.login("alice", "right password", None).await.err(429, "M_LIMIT_EXCEEDED");
    assert!(locked["retry_after_ms"].as_u64().is_some_and(|ms| ms > 0));

    tokio::time::timeout(Duration::from_secs(10), alerts.recv())
        .await
        .expect("the alert arrives")
        .expect("webhook mock alive");
    // Give a second alert every chance to show up: there must be none.
    tokio::task::yield_now().await;
    assert_eq!(hook.received_requests().await.map_or(0, |r| r.len()), 1);
    // Other accounts are not affected.
    s.register("bob", "pw").await;
    s.login("bob", "pw", None).await.ok();
}

/// Admins hear of a lockout in their server-notices room, and can read the
/// audit log.
async fn alerts_reach_the_admins(backend: Backend) {
    let s = TestServer::start(backend, |c| c.security.lockout_after = 3).await;
    let root = s.admin().await;
    let first = s.sync(&root.token, None, 0).await;
    let mut since = first["next_batch"].as_str().expect("token").to_owned();
    s.register("alice", "right").await;
    for _ in 0..3 {
        s.login("alice", "guess", None).await;
    }
    // The notice arrives on its own: wait for it with long polls (the
    // deadline only bounds a failing test; a loaded CI machine is slow).
    let invite = tokio::time::timeout(Duration::from_secs(60), async {
        loop {
            let news = s.sync(&root.token, Some(&since), 5_000).await;
            if let Some(rooms) = news["rooms"]["invite"].as_object().filter(|r| !r.is_empty()) {
                return rooms.keys().next().expect("room").clone();
            }
            since = news["next_batch"].as_str().expect("token").to_owned();
        }
    })
    .await
    .expect("the alert arrived");
    s.join(&root.token, &invite).await.ok();
    // The notice itself may follow the invite by a moment: wait for it.
    s.sync_until(&root, |sync| {
        TestServer::bodies(&sync["rooms"]["join"][invite.as_str()]["timeline"]["events"])
            .iter()
            .any(|b| b.contains("account_locked") && b.contains("@alice:localhost"))
    })
    .await;
    let audit = s.get("/_lattice/admin/v1/audit_log?limit=50", Some(&root.token)).await.ok();
    let kinds: Vec<&str> = audit["records"]
        .as_array()
        .expect("records")
        .iter()
        .filter_map(|r| r["kind"].as_str())
        .collect();
    assert!(kinds.contains(&"account_locked") && kinds.contains(&"login_failed"), "{kinds:?}");
}

/// The database goes away: the server answers 500s, and the operators get
/// one alert for the incident, not one per failed request.
async fn server_errors_raise_one_alert(backend: Backend) {
    let hook = MockServer::start().await;
    let (alerted, mut alerts) = tokio::sync::mpsc::unbounded_channel();
    Mock::given(method("POST"))
        .and(path("/alerts"))
        .and(body_partial_json(serde_json::json!({"kind": "server_errors"})))
        .respond_with(Announce(alerted))
        .mount(&hook)
        .await;
    let url = format!("{}/alerts", hook.uri());
    let s = TestServer::start(backend, move |c| {
        c.security.alert_webhooks = vec![url];
        c.security.server_error_alert_threshold = 3;
    })
    .await;
    s.register("alice", "pw").await;
    s.services().store.close().await;
    for _ in 0..10 {
        assert_eq!(s.login("alice", "pw", None).await.status, 500);
    }
    tokio::time::timeout(Duration::from_secs(10), alerts.recv())
        .await
        .expect("the alert arrives")
        .expect("webhook mock alive");
    tokio::task::yield_now().await;
    assert_eq!(hook.received_requests().await.map_or(0, |r| r.len()), 1, "one incident, one alert");
}
