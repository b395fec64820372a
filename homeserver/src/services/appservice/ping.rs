//! Pinging an application service
//! ([`POST /appservice/{id}/ping`](https://spec.matrix.org/latest/application-service-api/#post_matrixclientv1appserviceappserviceidping)):
//! the service asks us to call its `/_matrix/app/v1/ping`, to learn that
//! both directions work (its URL, our `hs_token`).

use std::time::{Duration, Instant};

use serde_json::json;

use super::Appservices;
use crate::error::{Error, Result};

/// How long the service has to answer a ping.
const PING_TIMEOUT: Duration = Duration::from_secs(15);

impl Appservices {
    /// Pings the service `id` on behalf of the service `asking` (only a
    /// service may ping itself); returns how long its answer took.
    pub async fn ping(&self, asking: &str, id: &str, txn_id: Option<&str>) -> Result<Duration> {
        if asking != id {
            return Err(Error::forbidden("an application service may only ping itself"));
        }
        let registration =
            self.by_id(id).ok_or_else(|| Error::not_found("no such application service"))?;
        let base = registration.url.as_ref().ok_or(Error::UrlNotSet)?;
        let url = format!("{}/_matrix/app/v1/ping", base.as_str().trim_end_matches('/'));
        let mut body = json!({});
        if let Some(txn_id) = txn_id {
            body["transaction_id"] = json!(txn_id);
        }
        let started = Instant::now();
        let answer = self
            .http()
            .post(url)
            .bearer_auth(&registration.hs_token)
            .json(&body)
            .timeout(PING_TIMEOUT)
            .send()
            .await
            .map_err(|error| match error.is_timeout() {
                true => Error::ConnectionTimeout,
                false => Error::ConnectionFailed(error.to_string()),
            })?;
        let took = started.elapsed();
        let status = answer.status();
        if !status.is_success() {
            let body = answer.text().await.unwrap_or_default();
            return Err(Error::BadStatus { status, body });
        }
        Ok(took)
    }
}
