//! What keeps URL previews from becoming a way into the server's network
//! (SSRF): the outbound address policy every connection of this server
//! passes (`lattice_federation::address`), plus what only a URL has: its
//! scheme, checked before the first request and on every redirect.

use lattice_federation::address::{AddressPolicy, Denied};
use reqwest::Url;

/// Checks what can be checked before any lookup: the scheme, and hosts
/// written as addresses (those never reach the resolver).
pub fn check_url(url: &Url, policy: &AddressPolicy) -> Result<(), Denied> {
    if !matches!(url.scheme(), "http" | "https") {
        return Err(Denied(format!("{} URLs are not previewed", url.scheme())));
    }
    let host = url.host_str().ok_or_else(|| Denied("the URL has no host".into()))?;
    policy.check_host(host)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checks_literal_hosts_and_schemes() {
        let policy = AddressPolicy::default();
        let check = |url: &str| check_url(&Url::parse(url).expect("url"), &policy).is_ok();
        assert!(!check("http://127.0.0.1:8008/"));
        assert!(!check("http://[::1]/"));
        assert!(!check("file:///etc/passwd"));
        assert!(check("https://example.org/page"));
    }
}
