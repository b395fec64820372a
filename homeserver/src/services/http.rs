//! Outgoing HTTP: one place that sets up TLS (rustls on ring, the system's
//! roots) and identifies the server, for webhooks, URL previews and later
//! federation.

/// A client builder with TLS ready and the server's user agent.
pub fn client_builder() -> reqwest::ClientBuilder {
    // Installing twice fails harmlessly: the first provider stays.
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder().user_agent(concat!("lattice/", env!("CARGO_PKG_VERSION")))
}
