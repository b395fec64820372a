//! Security events: the audit log, alerts to operators' webhooks, and the
//! lockout of accounts under password guessing.

use std::sync::Arc;

use serde_json::json;

use crate::{config::Config, error::Result, store::Store};

#[derive(Clone)]
pub struct Security {
    store: Store,
    config: Arc<Config>,
    http: reqwest::Client,
}

impl Security {
    pub fn new(store: Store, config: Arc<Config>) -> Self {
        let http = super::http::client_builder()
            .timeout(std::time::Duration::from_secs(10))
            .build()
            .unwrap_or_default();
        Self { store, config, http }
    }

    /// Records an event in the audit log (and the log).
    pub async fn audit(
        &self,
        kind: &str,
        user_id: Option<&str>,
        details: serde_json::Value,
    ) -> Result<()> {
        tracing::warn!(target: "audit", kind, user = user_id, %details, "security event");
        self.store.audit(kind, user_id, None, &details.to_string()).await
    }

    /// Audits and tells every configured webhook, without making the caller wait.
    pub async fn alert(
        &self,
        kind: &str,
        user_id: Option<&str>,
        details: serde_json::Value,
    ) -> Result<()> {
        self.audit(kind, user_id, details.clone()).await?;
        let body = json!({
            "server": self.config.server.server_name,
            "kind": kind,
            "user_id": user_id,
            "details": details,
        });
        for hook in self.config.security.alert_webhooks.clone() {
            let http = self.http.clone();
            let body = body.clone();
            tokio::spawn(async move {
                if let Err(error) = http.post(&hook).json(&body).send().await {
                    tracing::error!(%error, hook, "alert webhook failed");
                }
            });
        }
        Ok(())
    }

    /// M_LIMIT_EXCEEDED while an account is locked; checked before the
    /// password, so a locked account reveals nothing about it.
    pub async fn ensure_not_locked(&self, user_id: &str) -> Result<()> {
        match self.store.locked_until(user_id).await? {
            Some(until) => Err(crate::error::Error::LimitExceeded {
                retry_after_ms: u64::try_from(until - crate::store::now_ms()).unwrap_or(1).max(1),
            }),
            None => Ok(()),
        }
    }

    /// Counts a wrong password; locks the account (and alerts, once per
    /// lockout) when too many came in a row.
    pub async fn login_failed(&self, user_id: &str) -> Result<()> {
        let threshold = i64::from(self.config.security.lockout_after.max(1));
        let first_lock_ms = (self.config.security.lockout_seconds * 1000) as i64;
        self.audit("login_failed", Some(user_id), json!({})).await?;
        if let Some(until) =
            self.store.record_login_failure(user_id, threshold, first_lock_ms).await?
        {
            self.alert(
                "account_locked",
                Some(user_id),
                json!({"locked_until": until, "failures": threshold}),
            )
            .await?;
        }
        Ok(())
    }

    pub async fn login_succeeded(&self, user_id: &str) -> Result<()> {
        self.store.clear_login_failures(user_id).await
    }
}
