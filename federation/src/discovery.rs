//! Server discovery: where to connect for a server name.
//!
//! Follows the spec's order: an IP literal or a name with an explicit port
//! is used as is; otherwise `https://<name>/.well-known/matrix/server` may
//! delegate to another name (which may carry a port); otherwise port 8448.
//! Well-known answers are cached for a day, failures for an hour. SRV
//! records are not consulted yet.

use std::{
    collections::HashMap,
    sync::Mutex,
    time::{Duration, Instant},
};

use ruma::{OwnedServerName, ServerName};
use serde::Deserialize;

/// The default federation port.
pub const DEFAULT_PORT: u16 = 8448;
const WELL_KNOWN_TTL: Duration = Duration::from_secs(24 * 3600);
const WELL_KNOWN_FAILURE_TTL: Duration = Duration::from_secs(3600);
/// A delegation document larger than this is not a delegation document.
const WELL_KNOWN_MAX_BYTES: usize = 64 * 1024;

/// Where requests for one server go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Destination {
    /// `https://host:port`, the base of every request URL. The host is also
    /// what the TLS certificate must name and what the Host header says.
    pub base_url: String,
}

impl Destination {
    fn of(name: &ServerName) -> Self {
        let port = name.port().unwrap_or(DEFAULT_PORT);
        Self { base_url: format!("https://{}:{port}", name.host()) }
    }
}

#[derive(Deserialize)]
struct WellKnown {
    #[serde(rename = "m.server")]
    server: OwnedServerName,
}

/// Resolves server names, caching delegations.
pub struct Resolver {
    http: reqwest::Client,
    cache: Mutex<HashMap<OwnedServerName, (Destination, Instant)>>,
}

impl Resolver {
    /// A resolver that fetches `.well-known` documents with `http`.
    pub fn new(http: reqwest::Client) -> Self {
        Self { http, cache: Mutex::default() }
    }

    /// Where to send requests for `name`.
    pub async fn resolve(&self, name: &ServerName) -> Destination {
        if name.is_ip_literal() || name.port().is_some() {
            return Destination::of(name);
        }
        if let Some(found) = self.cached(name) {
            return found;
        }
        let (destination, ttl) = match self.well_known(name).await {
            Some(delegated) => (Destination::of(&delegated), WELL_KNOWN_TTL),
            None => (Destination::of(name), WELL_KNOWN_FAILURE_TTL),
        };
        let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        cache.insert(name.to_owned(), (destination.clone(), Instant::now() + ttl));
        destination
    }

    fn cached(&self, name: &ServerName) -> Option<Destination> {
        let cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        cache
            .get(name)
            .filter(|(_, until)| *until > Instant::now())
            .map(|(destination, _)| destination.clone())
    }

    async fn well_known(&self, name: &ServerName) -> Option<OwnedServerName> {
        let url = format!("https://{}/.well-known/matrix/server", name.host());
        let response = self.http.get(&url).send().await.ok()?;
        if !response.status().is_success() {
            return None;
        }
        if response.content_length().is_some_and(|n| n > WELL_KNOWN_MAX_BYTES as u64) {
            return None;
        }
        let body = response.bytes().await.ok()?;
        if body.len() > WELL_KNOWN_MAX_BYTES {
            return None;
        }
        let document: WellKnown = serde_json::from_slice(&body).ok()?;
        tracing::debug!(server = %name, delegated = %document.server, "well-known delegation");
        Some(document.server)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resolve_literal(name: &str) -> String {
        let name = ServerName::parse(name).expect("valid server name");
        assert!(name.is_ip_literal() || name.port().is_some());
        Destination::of(&name).base_url
    }

    #[test]
    fn literal_names_need_no_lookup() {
        assert_eq!(resolve_literal("example.org:8449"), "https://example.org:8449");
        assert_eq!(resolve_literal("1.2.3.4"), "https://1.2.3.4:8448");
        assert_eq!(resolve_literal("[::1]:9000"), "https://[::1]:9000");
    }
}
