//! Which addresses this server may connect to. A server name or URL that a
//! request supplies (a media server, a room's via, a previewed link) names
//! an address we would connect to, so every outbound connection passes one
//! policy: after DNS resolution, every address is checked against a
//! denylist of private, loopback and otherwise internal ranges, unless the
//! operator allows a range (a private federation, tests). The connection
//! then goes to an address that was checked: there is no second lookup
//! that a DNS rebinding could answer differently.

use std::{
    net::{IpAddr, SocketAddr},
    sync::{Arc, LazyLock},
};

use ipnet::IpNet;

/// Ranges no outbound connection may reach unless allowed: this host,
/// private networks, link-local, shared (CGNAT), multicast, broadcast,
/// documentation and reserved space, and their IPv6 counterparts.
static DENIED: LazyLock<Vec<IpNet>> = LazyLock::new(|| {
    [
        "0.0.0.0/8",
        "10.0.0.0/8",
        "100.64.0.0/10",
        "127.0.0.0/8",
        "169.254.0.0/16",
        "172.16.0.0/12",
        "192.0.0.0/24",
        "192.0.2.0/24",
        "192.168.0.0/16",
        "198.18.0.0/15",
        "198.51.100.0/24",
        "203.0.113.0/24",
        "224.0.0.0/4",
        "240.0.0.0/4",
        "::/128",
        "::1/128",
        "64:ff9b::/96",
        "100::/64",
        "2001:db8::/32",
        "fc00::/7",
        "fe80::/10",
        "fec0::/10",
        "ff00::/8",
    ]
    .iter()
    .filter_map(|net| net.parse().ok())
    .collect()
});

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// An address the policy refuses, as an error a resolver can return.
#[derive(Debug)]
pub struct Denied(pub String);

impl std::fmt::Display for Denied {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Denied {}

/// The outbound address policy: the denylist, less what the operator allows.
#[derive(Clone, Debug, Default)]
pub struct AddressPolicy {
    allowed: Arc<[IpNet]>,
}

impl AddressPolicy {
    /// A policy that lets connections reach `allowed` although those ranges
    /// are on the denylist.
    pub fn new(allowed: &[IpNet]) -> Self {
        Self { allowed: allowed.into() }
    }

    /// Whether a connection may go to `ip`.
    pub fn permits(&self, ip: IpAddr) -> bool {
        // An IPv4-mapped IPv6 address is the IPv4 address in disguise.
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        self.allowed.iter().any(|net| net.contains(&ip))
            || !DENIED.iter().any(|net| net.contains(&ip))
    }

    /// Checks a host as written in a URL: an address literal is judged at
    /// once (those never reach a resolver); a name is judged once resolved.
    pub fn check_host(&self, host: &str) -> Result<(), Denied> {
        let literal = host.trim_start_matches('[').trim_end_matches(']');
        match literal.parse::<IpAddr>() {
            Ok(ip) if !self.permits(ip) => Err(Denied(format!("{ip} may not be connected to"))),
            _ => Ok(()),
        }
    }

    /// The addresses of `host` that connections may go to; an error when
    /// the name resolves to none of those.
    /// A refusal is a [`Denied`], which a caller finds in reqwest's error
    /// chain.
    pub async fn resolve(&self, host: &str) -> Result<Vec<SocketAddr>, BoxError> {
        let found = tokio::net::lookup_host((host, 0)).await?;
        let addrs: Vec<SocketAddr> = found.filter(|addr| self.permits(addr.ip())).collect();
        if addrs.is_empty() {
            let denied = Denied(format!("{host} resolves to no address that may be connected to"));
            return Err(Box::new(denied));
        }
        Ok(addrs)
    }

    /// Whether `error`, or anything in its chain, is this policy's refusal.
    pub fn denied_in<'a>(error: &'a (dyn std::error::Error + 'static)) -> Option<&'a Denied> {
        let mut source = Some(error);
        while let Some(cause) = source {
            if let Some(denied) = cause.downcast_ref::<Denied>() {
                return Some(denied);
            }
            source = cause.source();
        }
        None
    }
}

/// A reqwest resolver that applies the policy to every name it resolves.
#[derive(Clone, Debug, Default)]
pub struct GuardedResolver(pub AddressPolicy);

impl reqwest::dns::Resolve for GuardedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let policy = self.0.clone();
        Box::pin(async move {
            let addrs = policy.resolve(name.as_str()).await?;
            Ok(Box::new(addrs.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::AddressPolicy;

    fn ip(text: &str) -> std::net::IpAddr {
        text.parse().expect("address")
    }

    #[test]
    fn private_space_is_refused_unless_allowed() {
        let policy = AddressPolicy::default();
        for denied in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "224.0.0.1",
            "255.255.255.255",
            "::1",
            "::",
            "fe80::1",
            "fd00::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
        ] {
            assert!(!policy.permits(ip(denied)), "{denied}");
        }
        assert!(policy.permits(ip("93.184.215.14")));
        assert!(policy.permits(ip("2606:4700::1")));
        let lan = AddressPolicy::new(&["10.1.0.0/16".parse().expect("range")]);
        assert!(lan.permits(ip("10.1.2.3")));
        assert!(!lan.permits(ip("10.2.0.1")));
    }

    #[test]
    fn literal_hosts_are_judged_without_a_lookup() {
        let policy = AddressPolicy::default();
        assert!(policy.check_host("127.0.0.1").is_err());
        assert!(policy.check_host("[::1]").is_err());
        assert!(policy.check_host("example.org").is_ok(), "names are judged once resolved");
        assert!(policy.check_host("93.184.215.14").is_ok());
    }

    #[tokio::test]
    async fn names_resolving_to_private_space_are_refused() {
        let policy = AddressPolicy::default();
        assert!(policy.resolve("localhost").await.is_err());
        let loopback = AddressPolicy::new(&["127.0.0.0/8".parse().expect("range")]);
        let addrs = loopback.resolve("127.0.0.1").await.expect("allowed");
        assert!(addrs.iter().all(|addr| addr.ip().is_loopback()));
    }
}
