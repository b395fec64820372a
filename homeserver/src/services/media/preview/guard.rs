//! What keeps URL previews from becoming a way into the server's network
//! (SSRF): every address is checked after DNS resolution, so a name that
//! resolves to 10.0.0.1 is refused like the literal, and the connection
//! goes to the address that was checked (no second lookup to rebind).

use std::{
    net::{IpAddr, SocketAddr},
    sync::{Arc, LazyLock},
};

use ipnet::IpNet;
use reqwest::{
    Url,
    dns::{Addrs, Name, Resolve, Resolving},
};

/// Ranges no preview may reach unless the operator allows them: private,
/// loopback, link-local, shared, multicast, documentation and reserved.
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

/// Why a preview was refused.
#[derive(Debug)]
pub struct Blocked(pub String);

impl std::fmt::Display for Blocked {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Blocked {}

/// Whether a preview may connect to `ip`.
pub fn reachable(ip: IpAddr, allowed: &[IpNet]) -> bool {
    // An IPv4-mapped IPv6 address is the IPv4 address in disguise.
    let ip = match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    };
    allowed.iter().any(|net| net.contains(&ip)) || !DENIED.iter().any(|net| net.contains(&ip))
}

/// Checks what can be checked before any lookup: the scheme, and hosts
/// written as addresses (those never reach the resolver).
pub fn check_url(url: &Url, allowed: &[IpNet]) -> Result<(), Blocked> {
    if !matches!(url.scheme(), "http" | "https") {
        return Err(Blocked(format!("{} URLs are not previewed", url.scheme())));
    }
    let host = url.host_str().ok_or_else(|| Blocked("the URL has no host".into()))?;
    let literal = host.trim_start_matches('[').trim_end_matches(']');
    match literal.parse::<IpAddr>() {
        Ok(ip) if !reachable(ip, allowed) => Err(Blocked(format!("{ip} is not reachable"))),
        _ => Ok(()),
    }
}

/// A resolver that drops every address previews may not reach, and fails
/// when none is left.
pub struct GuardedResolver {
    pub allowed: Arc<[IpNet]>,
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let allowed = self.allowed.clone();
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let found = tokio::net::lookup_host((host.as_str(), 0)).await?;
            let addrs: Vec<SocketAddr> =
                found.filter(|addr| reachable(addr.ip(), &allowed)).collect();
            if addrs.is_empty() {
                return Err(Box::new(Blocked(format!("{host} resolves to no reachable address")))
                    as Box<dyn std::error::Error + Send + Sync>);
            }
            Ok(Box::new(addrs.into_iter()) as Addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_private_space_unless_allowed() {
        let none: [IpNet; 0] = [];
        for ip in ["127.0.0.1", "10.1.2.3", "192.168.1.1", "169.254.169.254", "::1", "fe80::1"] {
            assert!(!reachable(ip.parse().expect("address"), &none), "{ip}");
        }
        assert!(!reachable("::ffff:127.0.0.1".parse().expect("address"), &none));
        assert!(reachable("93.184.215.14".parse().expect("address"), &none));
        assert!(reachable("2606:4700::1".parse().expect("address"), &none));
        let lan: [IpNet; 1] = ["10.1.0.0/16".parse().expect("range")];
        assert!(reachable("10.1.2.3".parse().expect("address"), &lan));
        assert!(!reachable("10.2.0.1".parse().expect("address"), &lan));
    }

    #[test]
    fn checks_literal_hosts_and_schemes() {
        let none: [IpNet; 0] = [];
        let check = |url: &str| check_url(&Url::parse(url).expect("url"), &none).is_ok();
        assert!(!check("http://127.0.0.1:8008/"));
        assert!(!check("http://[::1]/"));
        assert!(!check("file:///etc/passwd"));
        assert!(check("https://example.org/page"));
    }
}
