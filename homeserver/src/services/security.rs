//! Security events: the audit log, alerts (to operators' webhooks and to
//! every admin's server-notices room), and the lockout of accounts under
//! password guessing.

use std::sync::{Arc, OnceLock};

use serde_json::json;
use tokio::sync::mpsc::UnboundedSender;

use crate::{config::Config, error::Result, store::Store};

/// An alert on its way to the admins' notices rooms: (text of the notice).
pub type AdminAlert = String;

#[derive(Clone)]
pub struct Security {
    store: Store,
    config: Arc<Config>,
    http: reqwest::Client,
    /// Where alerts for the admins' notices rooms go, once the admin
    /// service (built after this one) listens.
    admin_alerts: Arc<OnceLock<UnboundedSender<AdminAlert>>>,
    /// Incidents counted per kind and subject (5xx answers; refused
    /// federation requests per origin).
    incidents: Arc<std::sync::Mutex<std::collections::HashMap<String, IncidentWindow>>>,
}

/// Occurrences in the current minute, and when they were last alerted.
struct IncidentWindow {
    started: std::time::Instant,
    count: u32,
    alerted: Option<std::time::Instant>,
}

impl Security {
    pub fn new(store: Store, config: Arc<Config>) -> Self {
        let http = super::http::client_builder()
            .timeout(std::time::Duration::from_secs(10))
            .build()
            .unwrap_or_default();
        Self { store, config, http, admin_alerts: Arc::default(), incidents: Arc::default() }
    }

    /// Sends alerts to `sink` too (the admins' server-notices rooms).
    pub fn route_alerts_to_admins(&self, sink: UnboundedSender<AdminAlert>) {
        let _ = self.admin_alerts.set(sink);
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
        let body = json!({
            "server": self.config.server.server_name,
            "kind": kind,
            "user_id": user_id,
            "details": details,
        });
        if let Some(sink) = self.admin_alerts.get() {
            let who = user_id.map(|u| format!(" for {u}")).unwrap_or_default();
            let _ = sink.send(format!("Security alert: {kind}{who}. {details}"));
        }
        for hook in self.config.security.alert_webhooks.clone() {
            let http = self.http.clone();
            let body = body.clone();
            tokio::spawn(async move {
                if let Err(error) = http.post(&hook).json(&body).send().await {
                    tracing::error!(%error, hook, "alert webhook failed");
                }
            });
        }
        // Last: when the database is what failed, the alert still goes out.
        if let Err(error) = self.audit(kind, user_id, details).await {
            tracing::error!(%error, kind, "could not audit an alert");
        }
        Ok(())
    }

    /// Counts one occurrence of an incident; true when this one crosses
    /// `threshold` within a minute and no alert went out for it in the
    /// last ten minutes (one incident, one alert). The count itself is
    /// returned too, so callers can audit the first of a burst.
    fn count_incident(&self, key: &str, threshold: u32) -> (bool, u32) {
        let Ok(mut incidents) = self.incidents.lock() else { return (false, 0) };
        let now = std::time::Instant::now();
        let window = incidents.entry(key.to_owned()).or_insert(IncidentWindow {
            started: now,
            count: 0,
            alerted: None,
        });
        if now.duration_since(window.started) > std::time::Duration::from_secs(60) {
            window.started = now;
            window.count = 0;
        }
        window.count += 1;
        let quiet = window
            .alerted
            .is_none_or(|at| now.duration_since(at) > std::time::Duration::from_secs(600));
        let fire = threshold > 0 && window.count >= threshold && quiet;
        if fire {
            window.alerted = Some(now);
        }
        (fire, window.count)
    }

    /// Counts a 5xx answer; too many within a minute (the database gone,
    /// a bug) is an incident, alerted once per ten minutes.
    pub async fn server_error(&self) {
        let threshold = self.config.security.server_error_alert_threshold;
        if threshold == 0 {
            return;
        }
        if self.count_incident("server_errors", threshold).0 {
            let details = json!({"errors_in_a_minute": threshold});
            let _ = self.alert("server_errors", None, details).await;
        }
    }

    /// A federation request refused for its signature: the first of a
    /// minute is audited, and a burst from one origin is an intrusion alert.
    pub async fn federation_rejected(&self, origin: &str, reason: &str) {
        let threshold = self.config.security.federation_rejections_alert_threshold;
        let (fire, count) = self.count_incident(&format!("federation:{origin}"), threshold);
        let details = json!({"origin": origin, "reason": reason});
        if fire {
            let details =
                json!({"origin": origin, "refused_in_a_minute": count, "last_reason": reason});
            let _ = self.alert("federation_intrusion", None, details).await;
        } else if count == 1
            && let Err(error) = self.audit("federation_signature_refused", None, details).await
        {
            tracing::error!(%error, "could not audit a refused federation request");
        }
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
