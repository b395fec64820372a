//! Federation test rig: a certificate authority made for the test run, and
//! servers named `localhost:<port>` that serve federation over TLS with a
//! certificate from it and trust it for their own outbound requests.

use std::path::PathBuf;

use lattice_homeserver::Config;
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair};

use super::{Backend, TestServer};

/// A CA and one leaf certificate (localhost, 127.0.0.1), as PEM files.
pub struct TestCa {
    _dir: tempfile::TempDir,
    pub ca: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
}

impl TestCa {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().expect("temporary folder");
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, "Lattice test CA");
        let ca = CertifiedIssuer::self_signed(params, KeyPair::generate().expect("CA key"))
            .expect("CA certificate");
        let leaf_params =
            CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
                .expect("leaf params");
        let leaf_key = KeyPair::generate().expect("leaf key");
        let leaf = leaf_params.signed_by(&leaf_key, &ca).expect("leaf certificate");
        let (ca_path, cert, key) =
            (dir.path().join("ca.pem"), dir.path().join("cert.pem"), dir.path().join("key.pem"));
        std::fs::write(&ca_path, ca.pem()).expect("write CA");
        std::fs::write(&cert, leaf.pem()).expect("write certificate");
        std::fs::write(&key, leaf_key.serialize_pem()).expect("write key");
        Self { _dir: dir, ca: ca_path, cert, key }
    }

    /// A client that trusts this CA.
    pub fn client(&self) -> reqwest::Client {
        self.client_builder().build().expect("client")
    }

    /// A client builder that trusts this CA.
    pub fn client_builder(&self) -> reqwest::ClientBuilder {
        let pem = std::fs::read(&self.ca).expect("read CA");
        let certs = reqwest::Certificate::from_pem_bundle(&pem).expect("CA PEM");
        lattice_homeserver::services::http::client_builder().tls_certs_merge(certs)
    }
}

/// A free port on 127.0.0.1 for a federation listener. It is taken below
/// the kernel's ephemeral range (32768 and up), so that no server of a
/// parallel test binding port 0 can grab it before our server binds it.
pub fn free_port() -> u16 {
    static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let base = std::process::id() % 600 * 20;
    loop {
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let port = 20_000 + ((base + n) % 12_000) as u16;
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

/// The ranges test servers are reached at.
pub const LOOPBACK: [&str; 2] = ["127.0.0.0/8", "::1/128"];

/// An address policy that lets a test's own client reach its servers.
pub fn loopback() -> lattice_federation::address::AddressPolicy {
    let ranges: Vec<ipnet::IpNet> = LOOPBACK.iter().map(|r| r.parse().expect("range")).collect();
    lattice_federation::address::AddressPolicy::new(&ranges)
}

/// Makes `config` a federating server named `<host>:<port>`.
pub fn federate(config: &mut Config, ca: &TestCa, host: &str, port: u16) {
    config.server.server_name =
        ruma::ServerName::parse(format!("{host}:{port}")).expect("server name");
    config.federation.bind = Some(std::net::SocketAddr::from(([127, 0, 0, 1], port)));
    config.federation.tls_certificate = Some(ca.cert.clone());
    config.federation.tls_private_key = Some(ca.key.clone());
    config.federation.extra_ca_certificates = vec![ca.ca.clone()];
    // Every server of a test lives on this machine's loopback.
    config.federation.allowed_ranges = LOOPBACK.iter().map(|r| r.parse().expect("range")).collect();
    // Tests stop servers for seconds, not hours.
    config.federation.max_retry_interval = 2;
}

/// A server that federates with the others of this CA.
pub async fn server(backend: Backend, ca: &TestCa) -> TestServer {
    server_on(backend, ca, "localhost").await
}

/// A federating server whose name has the given host (`127.0.0.1` makes an
/// IP-literal server name).
pub async fn server_on(backend: Backend, ca: &TestCa, host: &str) -> TestServer {
    server_with(backend, ca, host, |_| {}).await
}

/// A federating server; `tweak` adjusts its configuration further.
pub async fn server_with(
    backend: Backend,
    ca: &TestCa,
    host: &str,
    tweak: impl FnOnce(&mut Config),
) -> TestServer {
    let port = free_port();
    TestServer::start(backend, |config| {
        federate(config, ca, host, port);
        tweak(config);
    })
    .await
}

impl TestServer {
    /// The server's name (`localhost:<port>`).
    pub fn name(&self) -> String {
        self.services().config.server.server_name.to_string()
    }

    /// The federation listener's base URL.
    pub fn federation_url(&self) -> String {
        let bind = self.services().config.federation.bind.expect("federation listener");
        format!("https://localhost:{}", bind.port())
    }
}

/// Asks `server` over federation, as `asker` would, for a `width`×`height`
/// thumbnail of its media `media_id`; the decoded image.
pub async fn federation_thumbnail(
    asker: &TestServer,
    server: &str,
    media_id: &str,
    (width, height): (u32, u32),
) -> image::DynamicImage {
    use lattice_federation::federation::authenticated_media::{
        FileOrLocation, get_content_thumbnail,
    };
    let mut request =
        get_content_thumbnail::v1::Request::new(media_id.to_owned(), width.into(), height.into());
    request.method = Some(ruma::media::Method::Crop);
    let server = ruma::ServerName::parse(server).expect("server name");
    let answer = asker.services().federation.send(&server, request).await.expect("thumbnail");
    let FileOrLocation::File(content) = answer.content else { panic!("a redirect") };
    image::load_from_memory(&content.file).expect("a real image")
}

/// A federation client speaking as the server `name` with its `key` (to
/// send, from a test, what that server would or should not).
pub fn client_as(
    ca: &TestCa,
    key: &lattice_homeserver::services::server_key::ServerKey,
    name: &str,
) -> lattice_federation::client::FederationClient {
    lattice_federation::client::FederationClient::new(
        ca.client_builder(),
        ruma::ServerName::parse(name).expect("name"),
        key.key_pair.clone(),
        loopback(),
    )
    .expect("client")
}
