//! Server discovery: where to connect for a server name.
//!
//! Follows the spec's order: an IP literal or a name with an explicit port
//! is used as is; otherwise `https://<name>/.well-known/matrix/server` may
//! delegate to another name (which may carry a port); a name without a port
//! is looked up as `_matrix-fed._tcp.<name>` (then the older
//! `_matrix._tcp.<name>`) SRV record; otherwise port 8448. An SRV record
//! changes only where we connect: TLS and the Host header still name the
//! server. Answers are cached for a day, failures for an hour.

use std::{
    collections::HashMap,
    future::Future,
    pin::Pin,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use ruma::{OwnedServerName, ServerName};
use serde::Deserialize;

use crate::address::AddressPolicy;

/// The default federation port.
pub const DEFAULT_PORT: u16 = 8448;
const WELL_KNOWN_TTL: Duration = Duration::from_secs(24 * 3600);
const WELL_KNOWN_FAILURE_TTL: Duration = Duration::from_secs(3600);
/// A delegation document larger than this is not a delegation document.
const WELL_KNOWN_MAX_BYTES: usize = 64 * 1024;

/// Whether `name` follows the spec's server-name grammar strictly: an IP
/// literal, or a DNS name of ASCII labels (letters, digits, inner hyphens,
/// at most 63 characters each, none empty), with an optional non-zero port.
/// ruma's parser is laxer (it lets `..` or non-ASCII letters through); no
/// connection is tried for such a name.
pub fn is_valid_server_name(name: &ServerName) -> bool {
    if name.port() == Some(0) {
        return false;
    }
    if name.is_ip_literal() {
        return true;
    }
    let host = name.host();
    host.len() <= 253
        && host.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
}

/// Where requests for one server go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Destination {
    /// `https://host:port`, the base of every request URL. The host is also
    /// what the TLS certificate must name and what the Host header says.
    pub base_url: String,
    /// The host to connect to instead of the URL's (an SRV target).
    pub connect_to: Option<String>,
}

impl Destination {
    fn of(name: &ServerName) -> Self {
        let port = name.port().unwrap_or(DEFAULT_PORT);
        Self { base_url: format!("https://{}:{port}", name.host()), connect_to: None }
    }
}

/// An SRV answer: the host and port to connect to.
pub type SrvTarget = (String, u16);

/// How SRV records are looked up: DNS ([`DnsSrv`]), or what a test says.
pub trait SrvLookup: Send + Sync {
    /// The best target of the SRV record `name`, if there is one.
    fn srv<'a>(
        &'a self,
        name: &'a str,
    ) -> Pin<Box<dyn Future<Output = Option<SrvTarget>> + Send + 'a>>;
}

/// SRV lookups through the system's DNS servers.
pub struct DnsSrv(hickory_resolver::TokioResolver);

impl DnsSrv {
    /// A resolver with the system's configuration (`/etc/resolv.conf`).
    pub fn from_system() -> Option<Self> {
        let builder = hickory_resolver::TokioResolver::builder_tokio().ok()?;
        Some(Self(builder.build().ok()?))
    }
}

impl SrvLookup for DnsSrv {
    fn srv<'a>(
        &'a self,
        name: &'a str,
    ) -> Pin<Box<dyn Future<Output = Option<SrvTarget>> + Send + 'a>> {
        Box::pin(async move {
            let lookup = self.0.srv_lookup(name).await.ok()?;
            lookup
                .answers()
                .iter()
                .filter_map(|record| match &record.data {
                    hickory_resolver::proto::rr::RData::SRV(srv) => Some(srv.clone()),
                    _ => None,
                })
                // Lowest priority first, then the heaviest weight.
                .min_by_key(|srv| (srv.priority, std::cmp::Reverse(srv.weight)))
                .map(|srv| (srv.target.to_utf8().trim_end_matches('.').to_owned(), srv.port))
        })
    }
}

/// Hosts whose connections go to an SRV target instead: the client's DNS
/// resolver consults it, so that URLs (and TLS) keep the server's name.
/// Every address it hands out passed the outbound [`AddressPolicy`].
#[derive(Clone, Default)]
pub struct ConnectOverrides {
    targets: Arc<Mutex<HashMap<String, String>>>,
    policy: AddressPolicy,
}

impl ConnectOverrides {
    /// No overrides yet; resolved addresses are checked against `policy`.
    pub fn new(policy: AddressPolicy) -> Self {
        Self { targets: Arc::default(), policy }
    }

    fn insert(&self, host: String, target: String) {
        self.targets.lock().unwrap_or_else(|e| e.into_inner()).insert(host, target);
    }
}

impl reqwest::dns::Resolve for ConnectOverrides {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let host = {
            let map = self.targets.lock().unwrap_or_else(|e| e.into_inner());
            map.get(name.as_str()).cloned().unwrap_or_else(|| name.as_str().to_owned())
        };
        let policy = self.policy.clone();
        Box::pin(async move {
            let addrs = policy.resolve(&host).await?;
            Ok(Box::new(addrs.into_iter()) as reqwest::dns::Addrs)
        })
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
    srv: Option<Box<dyn SrvLookup>>,
    overrides: ConnectOverrides,
    cache: Mutex<HashMap<OwnedServerName, (Destination, Instant)>>,
}

impl Resolver {
    /// A resolver that fetches `.well-known` documents with `http`, looks
    /// SRV records up with `srv`, and records SRV targets in `overrides`
    /// (which `http`'s connections should resolve through).
    pub fn new(
        http: reqwest::Client,
        srv: Option<Box<dyn SrvLookup>>,
        overrides: ConnectOverrides,
    ) -> Self {
        Self { http, srv, overrides, cache: Mutex::default() }
    }

    /// Where to send requests for `name`.
    pub async fn resolve(&self, name: &ServerName) -> Destination {
        if name.is_ip_literal() || name.port().is_some() {
            return Destination::of(name);
        }
        if let Some(found) = self.cached(name) {
            return found;
        }
        let (target, ttl) = match self.well_known(name).await {
            Some(delegated) => (delegated, WELL_KNOWN_TTL),
            None => (name.to_owned(), WELL_KNOWN_FAILURE_TTL),
        };
        let destination = match target.is_ip_literal() || target.port().is_some() {
            true => Destination::of(&target),
            false => self.via_srv(&target).await.unwrap_or_else(|| Destination::of(&target)),
        };
        if let Some(host) = &destination.connect_to {
            self.overrides.insert(target.host().to_owned(), host.clone());
        }
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

    /// The SRV record of a name without a port, the current one first.
    async fn via_srv(&self, name: &ServerName) -> Option<Destination> {
        let srv = self.srv.as_ref()?;
        for service in ["_matrix-fed._tcp", "_matrix._tcp"] {
            if let Some((host, port)) = srv.srv(&format!("{service}.{}.", name.host())).await {
                return Some(Destination {
                    base_url: format!("https://{}:{port}", name.host()),
                    connect_to: Some(host),
                });
            }
        }
        None
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

    /// SRV answers from a table.
    struct FakeSrv(Vec<(&'static str, SrvTarget)>);

    impl SrvLookup for FakeSrv {
        fn srv<'a>(
            &'a self,
            name: &'a str,
        ) -> Pin<Box<dyn Future<Output = Option<SrvTarget>> + Send + 'a>> {
            let found = self.0.iter().find(|(n, _)| *n == name).map(|(_, t)| t.clone());
            Box::pin(async move { found })
        }
    }

    /// A resolver whose well-known fetches are refused at once.
    fn resolver(srv: Vec<(&'static str, SrvTarget)>) -> (Resolver, ConnectOverrides) {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let closed = std::net::SocketAddr::from(([127, 0, 0, 1], 1));
        let http = reqwest::Client::builder()
            .resolve("fed.test", closed)
            .resolve("old.test", closed)
            .resolve("plain.test", closed)
            .build()
            .expect("client");
        let overrides = ConnectOverrides::default();
        (Resolver::new(http, Some(Box::new(FakeSrv(srv))), overrides.clone()), overrides)
    }

    #[tokio::test]
    async fn srv_records_say_where_to_connect_not_whom() {
        let (resolver, overrides) = resolver(vec![
            ("_matrix-fed._tcp.fed.test.", ("matrix.host.test".to_owned(), 8449)),
            ("_matrix._tcp.fed.test.", ("ignored.test".to_owned(), 1)),
            ("_matrix._tcp.old.test.", ("legacy.host.test".to_owned(), 8450)),
        ]);
        let name = |n: &str| ServerName::parse(n).expect("name");
        let fed = resolver.resolve(&name("fed.test")).await;
        assert_eq!(fed.base_url, "https://fed.test:8449");
        assert_eq!(fed.connect_to.as_deref(), Some("matrix.host.test"));
        let old = resolver.resolve(&name("old.test")).await;
        assert_eq!(old.base_url, "https://old.test:8450");
        assert_eq!(old.connect_to.as_deref(), Some("legacy.host.test"));
        let plain = resolver.resolve(&name("plain.test")).await;
        assert_eq!(
            plain,
            Destination { base_url: "https://plain.test:8448".into(), connect_to: None }
        );
        let map = overrides.targets.lock().expect("lock");
        assert_eq!(map.get("fed.test").map(String::as_str), Some("matrix.host.test"));
        assert!(!map.contains_key("plain.test"));
    }

    #[tokio::test]
    async fn connections_follow_the_overrides() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let port = listener.local_addr().expect("address").port();
        tokio::spawn(async move {
            let (mut stream, _) = listener.accept().await.expect("accept");
            let mut request = [0u8; 1024];
            let read = stream.read(&mut request).await.expect("read");
            let host_header = String::from_utf8_lossy(&request[..read]).contains("host: fed.test");
            let body = if host_header { "named" } else { "unnamed" };
            let answer = format!("HTTP/1.1 200 OK\r\ncontent-length: {}\r\n\r\n{body}", body.len());
            stream.write_all(answer.as_bytes()).await.expect("write");
        });
        let _ = rustls::crypto::ring::default_provider().install_default();
        let loopback = AddressPolicy::new(&["127.0.0.0/8".parse().expect("range")]);
        let overrides = ConnectOverrides::new(loopback);
        overrides.insert("fed.test".into(), "127.0.0.1".into());
        let http =
            reqwest::Client::builder().dns_resolver(Arc::new(overrides)).build().expect("client");
        let answer = http.get(format!("http://fed.test:{port}/")).send().await.expect("connected");
        assert_eq!(answer.text().await.expect("body"), "named", "the Host header keeps the name");
    }

    #[test]
    fn server_names_follow_the_grammar_strictly() {
        let valid = |n: &str| is_valid_server_name(&ServerName::parse(n).expect("ruma accepts it"));
        for good in ["example.org", "matrix.example.org:8448", "1.2.3.4", "[::1]:80", "localhost"] {
            assert!(valid(good), "{good}");
        }
        let bad_names = [
            "..",
            "a..b",
            ".example.org",
            "example.org.",
            "-a.org",
            "a-.org",
            "\u{e4}.org",
            "a.org:0",
        ];
        for bad in bad_names {
            assert!(ServerName::parse(bad).is_err() || !valid(bad), "{bad}");
        }
    }

    #[test]
    fn literal_names_need_no_lookup() {
        assert_eq!(resolve_literal("example.org:8449"), "https://example.org:8449");
        assert_eq!(resolve_literal("1.2.3.4"), "https://1.2.3.4:8448");
        assert_eq!(resolve_literal("[::1]:9000"), "https://[::1]:9000");
    }
}
