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

backend_tests!(guessing_locks_the_account_and_alerts_once);

/// Answers the webhook and tells the test, so that it can wait for the
/// alert instead of polling for it.
struct Announce(tokio::sync::mpsc::UnboundedSender<()>);

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
