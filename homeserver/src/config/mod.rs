//! The server's configuration: one typed struct, read from defaults, then
//! `lattice.toml`, then `LATTICE_SECTION__KEY` environment variables.

use std::{net::SocketAddr, path::PathBuf, time::Duration};

use figment::{
    Figment,
    providers::{Env, Format, Serialized, Toml},
};
use ruma::{OwnedServerName, ServerName};
use serde::{Deserialize, Serialize};

/// The commented configuration file that `lattice generate-config` writes.
/// A unit test checks that it parses to exactly [`Config::default()`].
pub const TEMPLATE: &str = include_str!("template.toml");

/// Everything the server can be told.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub server: ServerConfig,
    pub database: DatabaseConfig,
    pub logging: LoggingConfig,
    pub registration: RegistrationConfig,
    pub auth: AuthConfig,
    pub limits: LimitsConfig,
    pub presence: PresenceConfig,
    pub user_directory: UserDirectoryConfig,
    pub turn: TurnConfig,
    pub push: PushConfig,
    pub email: EmailConfig,
    pub delayed_events: DelayedEventsConfig,
    pub retention: RetentionConfig,
    pub encryption: EncryptionConfig,
    pub appservice: AppserviceConfig,
    pub media: MediaConfig,
    pub rate_limits: RateLimitConfig,
    pub metrics: MetricsConfig,
    pub security: SecurityConfig,
    pub server_notices: ServerNoticesConfig,
    pub federation: FederationConfig,
    pub cluster: ClusterConfig,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FederationConfig {
    /// Talk to other homeservers (and answer them).
    pub enabled: bool,
    /// Address of a listener that serves the federation API over TLS
    /// itself (needs `tls_certificate` and `tls_private_key`). Unset: the
    /// federation API is served on `server.bind` behind a TLS-terminating
    /// reverse proxy.
    pub bind: Option<SocketAddr>,
    /// PEM certificate chain and private key for `bind`.
    pub tls_certificate: Option<PathBuf>,
    pub tls_private_key: Option<PathBuf>,
    /// PEM files of certificate authorities trusted besides the system's
    /// (a private federation, tests).
    pub extra_ca_certificates: Vec<PathBuf>,
    /// Seconds a request to another server may take.
    pub request_timeout: u64,
    /// Longest wait, in seconds, between attempts to reach a server that is down.
    pub max_retry_interval: u64,
    /// Notaries asked for a server's signing keys when that server cannot
    /// be reached (for example `matrix.org`). Empty: only servers themselves
    /// are believed.
    pub trusted_key_servers: Vec<OwnedServerName>,
    /// Address ranges other servers may be reached at although they are
    /// private, loopback or link-local (a federation inside one network,
    /// tests). Empty: such addresses are never connected to, whatever a
    /// server name, `.well-known` or SRV record says.
    pub allowed_ranges: Vec<ipnet::IpNet>,
    /// Where other servers should send federation traffic for our server
    /// name (`matrix.example.org:443`), answered at
    /// `/.well-known/matrix/server`. Unset: that path answers 404, for a
    /// proxy or web server in front to serve it.
    pub well_known_server: Option<OwnedServerName>,
}

impl Default for FederationConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            bind: None,
            tls_certificate: None,
            tls_private_key: None,
            extra_ca_certificates: Vec::new(),
            request_timeout: 30,
            max_retry_interval: 3600,
            trusted_key_servers: Vec::new(),
            allowed_ranges: Vec::new(),
            well_known_server: None,
        }
    }
}

/// Several instances on one PostgreSQL database (ignored on SQLite, which
/// one process owns).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ClusterConfig {
    /// This instance's name among those sharing the database, unique while
    /// it runs; empty: the machine's host name (a pod's name on Kubernetes).
    pub instance_name: String,
    /// Seconds a stopping instance keeps serving with /ready answering 503,
    /// so that the load balancer sends new requests elsewhere first.
    pub drain_seconds: u64,
}

impl ClusterConfig {
    /// The configured name, or the host name when none is set.
    pub fn instance_name(&self) -> String {
        if !self.instance_name.is_empty() {
            return self.instance_name.clone();
        }
        std::env::var("HOSTNAME")
            .ok()
            .or_else(|| std::fs::read_to_string("/etc/hostname").ok())
            .map(|name| name.trim().to_owned())
            .filter(|name| !name.is_empty())
            .unwrap_or_else(|| "lattice".to_owned())
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerNoticesConfig {
    /// The account that sends server notices (created when first needed).
    pub localpart: String,
    /// The name of each user's server notices room.
    pub room_name: String,
}

impl Default for ServerNoticesConfig {
    fn default() -> Self {
        Self { localpart: "server-notices".into(), room_name: "Server Notices".into() }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SecurityConfig {
    /// Failed logins in a row that lock an account.
    pub lockout_after: u32,
    /// First lockout, in seconds; each further lockout doubles it.
    pub lockout_seconds: u64,
    /// HTTP(S) endpoints that receive security alerts as JSON.
    pub alert_webhooks: Vec<String>,
    /// Server errors (5xx) within a minute that raise an alert; 0: never.
    pub server_error_alert_threshold: u32,
    /// Requests from one server refused for bad signatures within a minute
    /// that raise an intrusion alert; 0: never.
    pub federation_rejections_alert_threshold: u32,
}

impl Default for SecurityConfig {
    fn default() -> Self {
        Self {
            lockout_after: 10,
            lockout_seconds: 60,
            alert_webhooks: Vec::new(),
            server_error_alert_threshold: 50,
            federation_rejections_alert_threshold: 20,
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MetricsConfig {
    /// Address of the Prometheus listener (its own port, never the client
    /// API's); unset means no metrics.
    pub bind: Option<SocketAddr>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RateLimitConfig {
    pub enabled: bool,
    /// Sustained requests per second, and burst, per user (per IP before login).
    pub client_per_second: u32,
    pub client_burst: u32,
    /// Login attempts per minute, and burst, per IP.
    pub login_per_minute: u32,
    pub login_burst: u32,
    /// Registrations per minute, and burst, per IP.
    pub registration_per_minute: u32,
    pub registration_burst: u32,
    /// Events sent (messages, state, redactions) per second, and burst, per user.
    pub messages_per_second: u32,
    pub messages_burst: u32,
    /// Joins and knocks per minute, and burst, per user.
    pub joins_per_minute: u32,
    pub joins_burst: u32,
    /// One-time key claims per minute, and burst, per user.
    pub key_claims_per_minute: u32,
    pub key_claims_burst: u32,
    /// Media uploads per minute, and burst, per user.
    pub upload_per_minute: u32,
    pub upload_burst: u32,
    /// Requests per second, and burst, per other server.
    pub federation_per_second: u32,
    pub federation_burst: u32,
}

impl Default for RateLimitConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            client_per_second: 20,
            client_burst: 100,
            login_per_minute: 30,
            login_burst: 10,
            registration_per_minute: 10,
            registration_burst: 5,
            messages_per_second: 10,
            messages_burst: 50,
            joins_per_minute: 60,
            joins_burst: 20,
            key_claims_per_minute: 300,
            key_claims_burst: 100,
            upload_per_minute: 60,
            upload_burst: 20,
            federation_per_second: 50,
            federation_burst: 200,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MediaConfig {
    /// Largest upload accepted, in bytes.
    pub max_upload_bytes: u64,
    /// Serve the unauthenticated /_matrix/media/v3 download paths (frozen
    /// since spec v1.11) for media uploaded before `freeze_after`.
    pub legacy_downloads: bool,
    /// Unix seconds; media uploaded later is only served on the
    /// authenticated paths. 0 freezes everything.
    pub freeze_after: u64,
    /// Seconds an async upload (POST /create) may wait for its content.
    pub pending_lifetime: u64,
    /// Bytes each user may have stored in all; 0 for no limit.
    pub user_quota_bytes: u64,
    /// Serve URL previews (the server fetches pages for its users).
    pub url_previews: bool,
    /// Address ranges previews may reach although they are private,
    /// loopback or link-local (an intranet wiki, say). Empty by default.
    pub url_preview_allowed_ranges: Vec<ipnet::IpNet>,
    /// Largest page or image a preview downloads, in bytes.
    pub url_preview_max_bytes: u64,
    /// Seconds a preview's download may take in all.
    pub url_preview_timeout: u64,
    /// Media in S3-compatible object storage instead of the data folder.
    pub s3: S3Config,
}

/// An S3-compatible bucket for media (AWS S3, MinIO, Ceph, Garage...),
/// with a local cache of what was read or written recently.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct S3Config {
    /// The service's URL, e.g. https://s3.eu-west-1.amazonaws.com or
    /// http://minio:9000. Empty: media stays in the data folder.
    pub endpoint: String,
    pub bucket: String,
    pub region: String,
    pub access_key_id: String,
    /// Better given as LATTICE_MEDIA__S3__SECRET_ACCESS_KEY than in the file.
    pub secret_access_key: String,
    /// Bucket in the path (http://host/bucket/key: MinIO and most
    /// self-hosted services) rather than in the host name (AWS).
    pub path_style: bool,
    /// Put before every object's name, e.g. "media/".
    pub prefix: String,
    /// Bytes of recently used media kept on local disk (data folder,
    /// media-cache/); the oldest go first. 0: nothing kept.
    pub cache_bytes: u64,
}

impl Default for S3Config {
    fn default() -> Self {
        Self {
            endpoint: String::new(),
            bucket: String::new(),
            region: "us-east-1".into(),
            access_key_id: String::new(),
            secret_access_key: String::new(),
            path_style: true,
            prefix: String::new(),
            cache_bytes: 1024 * 1024 * 1024,
        }
    }
}

impl Default for MediaConfig {
    fn default() -> Self {
        Self {
            max_upload_bytes: 50 * 1024 * 1024,
            legacy_downloads: true,
            freeze_after: 0,
            pending_lifetime: 24 * 3600,
            user_quota_bytes: 0,
            url_previews: false,
            url_preview_allowed_ranges: Vec::new(),
            url_preview_max_bytes: 4 * 1024 * 1024,
            url_preview_timeout: 10,
            s3: S3Config::default(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PresenceConfig {
    /// Presence costs a write and a fan-out per change; small servers may turn it off.
    pub enabled: bool,
}

impl Default for PresenceConfig {
    fn default() -> Self {
        Self { enabled: true }
    }
}

/// The TURN server clients relay calls through (coturn's REST API scheme:
/// short-lived credentials made from a secret shared with it).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TurnConfig {
    /// `turn:` / `turns:` URIs handed to clients; none means no TURN server.
    pub uris: Vec<String>,
    /// coturn's `static-auth-secret`.
    pub shared_secret: String,
    /// How long handed-out credentials last.
    #[serde(with = "seconds")]
    pub user_lifetime: Duration,
}

impl Default for TurnConfig {
    fn default() -> Self {
        Self {
            uris: Vec::new(),
            shared_secret: String::new(),
            user_lifetime: Duration::from_secs(86_400),
        }
    }
}

/// Push notifications through push gateways.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PushConfig {
    /// Private ranges push gateways may sit in (a gateway on the same
    /// host or network); public addresses are always allowed.
    pub allowed_ranges: Vec<ipnet::IpNet>,
}

/// Application services (bridges): the registration files they ship.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AppserviceConfig {
    /// Registration files (YAML), read at start; a bad one stops the
    /// server. Synapse's name for the list is accepted too.
    #[serde(alias = "app_service_config_files")]
    pub registration_files: Vec<PathBuf>,
}

/// Delayed events (MSC4140): events a client schedules to be sent later,
/// such as Element Call's "left the call" should the app vanish.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DelayedEventsConfig {
    /// The longest delay a client may ask for; 0 turns delayed events off.
    #[serde(with = "seconds")]
    pub max_delay: Duration,
    /// How many delayed events one user may have waiting.
    pub max_per_user: u32,
}

impl Default for DelayedEventsConfig {
    fn default() -> Self {
        Self { max_delay: Duration::from_secs(86_400), max_per_user: 100 }
    }
}

/// Encryption at rest of the media store and the database's secrets (the
/// signing key, TOTP secrets): a 256-bit key (64 hex digits,
/// `lattice generate-key` makes one) from one of these places. Unset: no
/// encryption.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EncryptionConfig {
    /// A file holding the key (readable by the server only).
    pub key_file: Option<PathBuf>,
    /// The name of an environment variable holding it.
    pub key_env: Option<String>,
    /// A shell command printing it (a KMS or secret manager's client).
    pub key_command: Option<String>,
    /// Files holding earlier keys, during a rotation: what they encrypted
    /// still reads while it is moved to the key above.
    pub previous_key_files: Vec<PathBuf>,
}

/// Message retention: rooms' `m.room.retention` policies (and a default
/// for rooms without one) enforced by a purge job that deletes messages
/// past their lifetime. Durations in seconds; 0 means none.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RetentionConfig {
    /// Off: policies are stored and shown, nothing is deleted.
    pub enabled: bool,
    /// The lifetime of messages in rooms that set none (0: kept forever).
    #[serde(with = "seconds")]
    pub default_max_lifetime: Duration,
    /// Bounds on a room's `max_lifetime`: a shorter one is raised to the
    /// first, a longer one lowered to the second (0: no bound).
    #[serde(with = "seconds")]
    pub allowed_min_lifetime: Duration,
    #[serde(with = "seconds")]
    pub allowed_max_lifetime: Duration,
    /// How often the purge job runs.
    #[serde(with = "seconds")]
    pub purge_interval: Duration,
}

impl Default for RetentionConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            default_max_lifetime: Duration::ZERO,
            allowed_min_lifetime: Duration::from_secs(86_400),
            allowed_max_lifetime: Duration::ZERO,
            purge_interval: Duration::from_secs(3600),
        }
    }
}

/// Outgoing e-mail: the validation links that bind an address to an
/// account and reset a forgotten password. Off until an SMTP URL is set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EmailConfig {
    /// The mail server, as lettre reads it: `smtps://user:password@host`
    /// (TLS), `smtp://user:password@host:587?tls=required` (STARTTLS), or
    /// `smtp://host:25` (plain, for a relay on the same host).
    pub smtp_url: Option<String>,
    /// The From header; unset, `noreply@<server_name>`.
    pub from: Option<String>,
    /// How long a validation link works.
    #[serde(with = "seconds")]
    pub token_lifetime: Duration,
}

impl Default for EmailConfig {
    fn default() -> Self {
        Self { smtp_url: None, from: None, token_lifetime: Duration::from_secs(3600) }
    }
}

/// Who the user directory (the invite dialog's search) lets users find.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct UserDirectoryConfig {
    /// Every local user, not only those sharing a room with the searcher
    /// or sitting in a public room.
    pub search_all_users: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// The name in every user and room id; cannot change once users exist.
    pub server_name: OwnedServerName,
    /// Address of the client-server API listener.
    pub bind: SocketAddr,
    /// Where the SQLite file and the media live.
    pub data_dir: PathBuf,
    /// The URL clients reach us at, for /.well-known/matrix/client.
    pub public_baseurl: Option<String>,
    /// Reverse proxies whose X-Forwarded-For header is believed: addresses
    /// or ranges (an ingress controller's pods change address).
    #[serde(with = "address_ranges")]
    pub trusted_proxies: Vec<ipnet::IpNet>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DatabaseConfig {
    /// `sqlite://path` or `postgres://...`; empty means `<data_dir>/lattice.db`.
    pub url: String,
    pub max_connections: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Pretty,
    Json,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LoggingConfig {
    /// A tracing filter such as `info` or `lattice=debug,info`; RUST_LOG wins.
    pub level: String,
    pub format: LogFormat,
    /// Folder for a daily-rotated log file, in addition to the terminal.
    pub file_dir: Option<PathBuf>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RegistrationConfig {
    pub enabled: bool,
    /// Require the m.login.registration_token stage.
    pub token_required: bool,
    /// Tokens accepted by that stage.
    pub tokens: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthConfig {
    /// Lifetime of an access token issued with a refresh token (clients that
    /// do not ask for refresh tokens get non-expiring access tokens).
    #[serde(with = "seconds")]
    pub access_token_lifetime: Duration,
    /// How long a user-interactive auth session stays valid.
    #[serde(with = "seconds")]
    pub uia_session_lifetime: Duration,
    /// A session unused this long is logged out (soft logout); 0: never.
    #[serde(with = "seconds")]
    pub session_idle_timeout: Duration,
    /// How long a loginToken from the web login page stays valid.
    #[serde(with = "seconds")]
    pub login_token_lifetime: Duration,
    /// Whether a signed-in device may mint a login token for another one
    /// (POST /login/get_token: "sign in with QR code" and the like).
    pub allow_login_get_token: bool,
    pub argon2: Argon2Config,
    pub webauthn: WebauthnConfig,
}

/// The WebAuthn relying party that passkeys and security keys are bound
/// to. Unset, both come from `server.public_baseurl` (else the server name).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WebauthnConfig {
    /// The domain credentials belong to, e.g. `example.com`.
    pub rp_id: Option<String>,
    /// The web origin the login page is served from, e.g.
    /// `https://matrix.example.com`; it must be `rp_id` or a subdomain.
    pub rp_origin: Option<String>,
}

/// argon2id cost parameters; the defaults follow OWASP's recommendation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Argon2Config {
    pub memory_kib: u32,
    pub iterations: u32,
    pub parallelism: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LimitsConfig {
    /// Largest JSON request body accepted, in bytes.
    pub max_request_bytes: usize,
    /// Largest body of a request without an access token (login,
    /// registration...): anyone can send those, so they get less room.
    pub max_unauthenticated_request_bytes: usize,
    /// Requests taking longer are answered 503 (long-poll syncs excepted).
    #[serde(with = "seconds")]
    pub request_timeout: Duration,
    /// A client that has not sent its request headers within this time is
    /// disconnected (slow-loris protection); so is a kept-alive connection
    /// that asks nothing more for as long.
    #[serde(with = "seconds")]
    pub header_read_timeout: Duration,
    /// Connections served at once; more wait to be accepted.
    pub max_connections: usize,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            server_name: ServerName::parse("localhost").expect("valid literal"),
            bind: SocketAddr::from(([127, 0, 0, 1], 8008)),
            data_dir: PathBuf::from("lattice-data"),
            public_baseurl: None,
            trusted_proxies: Vec::new(),
        }
    }
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        Self { url: String::new(), max_connections: 16 }
    }
}

impl Default for LoggingConfig {
    fn default() -> Self {
        Self { level: "info".into(), format: LogFormat::Pretty, file_dir: None }
    }
}

impl Default for RegistrationConfig {
    fn default() -> Self {
        Self { enabled: true, token_required: false, tokens: Vec::new() }
    }
}

impl Default for AuthConfig {
    fn default() -> Self {
        Self {
            access_token_lifetime: Duration::from_secs(300),
            uia_session_lifetime: Duration::from_secs(900),
            session_idle_timeout: Duration::from_secs(30 * 24 * 3600),
            login_token_lifetime: Duration::from_secs(120),
            allow_login_get_token: false,
            argon2: Argon2Config::default(),
            webauthn: WebauthnConfig::default(),
        }
    }
}

impl Default for Argon2Config {
    fn default() -> Self {
        Self { memory_kib: 19_456, iterations: 2, parallelism: 1 }
    }
}

impl Default for LimitsConfig {
    fn default() -> Self {
        Self {
            max_request_bytes: 1024 * 1024,
            max_unauthenticated_request_bytes: 64 * 1024,
            request_timeout: Duration::from_secs(60),
            header_read_timeout: Duration::from_secs(10),
            max_connections: 10_000,
        }
    }
}

/// A configuration that could not be read, with the offending key in its message.
#[derive(Debug, thiserror::Error)]
#[error("invalid configuration: {0}")]
pub struct ConfigError(String);

impl Config {
    /// Reads defaults, then the file (if given), then `LATTICE_*` variables.
    pub fn load(file: Option<&std::path::Path>) -> Result<Self, ConfigError> {
        let mut figment = Figment::from(Serialized::defaults(Config::default()));
        if let Some(path) = file {
            if !path.exists() {
                return Err(ConfigError(format!("config file {} not found", path.display())));
            }
            figment = figment.merge(Toml::file_exact(path));
        }
        // Options are always in a section (LATTICE_SERVER__BIND); other
        // LATTICE_ variables (LATTICE_ADMIN_PASSWORD, a client's settings)
        // are not configuration.
        let options = Env::prefixed("LATTICE_").filter(|key| key.as_str().contains("__"));
        figment = figment.merge(options.split("__"));
        figment.extract().map_err(|e| ConfigError(describe(e)))
    }

    /// The database URL, defaulting to a SQLite file in the data folder.
    pub fn database_url(&self) -> String {
        if self.database.url.is_empty() {
            format!("sqlite://{}?mode=rwc", self.server.data_dir.join("lattice.db").display())
        } else {
            self.database.url.clone()
        }
    }
}

fn describe(error: figment::Error) -> String {
    error
        .into_iter()
        .map(|e| {
            let key = e.path.join(".");
            let origin = e.metadata.as_ref().map(|m| m.name.to_string()).unwrap_or_default();
            if key.is_empty() {
                format!("{} ({origin})", e.kind)
            } else {
                format!("key `{key}`: {} ({origin})", e.kind)
            }
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// Durations are written as whole seconds in the file and the environment.
mod seconds {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(d.as_secs())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        u64::deserialize(d).map(Duration::from_secs)
    }
}

/// A list of address ranges where a plain address means just that one
/// (`"10.0.0.7"` is `10.0.0.7/32`).
mod address_ranges {
    use ipnet::IpNet;
    use serde::{Deserialize, Deserializer, Serialize, Serializer, de::Error};

    pub fn serialize<S: Serializer>(ranges: &[IpNet], s: S) -> Result<S::Ok, S::Error> {
        ranges.serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<IpNet>, D::Error> {
        Vec::<String>::deserialize(d)?
            .iter()
            .map(|text| {
                text.parse::<IpNet>()
                    .or_else(|_| text.parse::<std::net::IpAddr>().map(IpNet::from))
                    .map_err(|_| D::Error::custom(format!("not an address or range: {text}")))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trusted_proxies_are_addresses_or_ranges() {
        let parsed: Config =
            toml::from_str("[server]\ntrusted_proxies = [\"10.0.0.7\", \"10.42.0.0/16\", \"::1\"]")
                .expect("parses");
        let ranges: Vec<String> =
            parsed.server.trusted_proxies.iter().map(ToString::to_string).collect();
        assert_eq!(ranges, ["10.0.0.7/32", "10.42.0.0/16", "::1/128"]);
        assert!(toml::from_str::<Config>("[server]\ntrusted_proxies = [\"proxy\"]").is_err());
    }

    #[test]
    fn template_parses_to_the_defaults() {
        let parsed: Config = toml::from_str(TEMPLATE).expect("template parses");
        assert_eq!(parsed, Config::default());
    }
}
