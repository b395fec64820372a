//! A real Synapse for interoperability tests: started as a process from the
//! Python environment named by LATTICE_SYNAPSE (its `python`), named
//! `localhost:<port>`, serving federation over TLS with a certificate of
//! the test CA and trusting that CA for its own requests.
//!
//! Without LATTICE_SYNAPSE the tests that need it say they were skipped,
//! unless LATTICE_REQUIRE_SYNAPSE is set (as in CI, which installs it).

use std::{
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::Duration,
};

use serde_json::{Value, json};

use super::{Answer, Session, federation::TestCa, federation::free_port};

/// A running Synapse; stopped (and its folder removed) when dropped.
pub struct Synapse {
    dir: tempfile::TempDir,
    child: Child,
    client_url: String,
    name: String,
    http: reqwest::Client,
}

impl Synapse {
    /// Starts Synapse, or returns None (after saying why) when no Synapse
    /// is installed and none is required.
    pub async fn start(ca: &TestCa) -> Option<Self> {
        let python =
            super::peer_python("LATTICE_SYNAPSE", "LATTICE_REQUIRE_SYNAPSE", "matrix-synapse")?;
        let dir = tempfile::tempdir().expect("temporary folder");
        let (federation_port, client_port) = (free_port(), free_port());
        let name = format!("localhost:{federation_port}");
        let config = dir.path().join("homeserver.yaml");
        std::fs::write(&config, config_text(dir.path(), &name, federation_port, client_port, ca))
            .expect("write Synapse config");

        let generated = Command::new(&python)
            .args(["-m", "synapse.app.homeserver", "--generate-keys", "-c"])
            .arg(&config)
            .output()
            .expect("run Synapse's key generation");
        assert!(generated.status.success(), "Synapse --generate-keys: {generated:?}");

        let mut child = Command::new(&python)
            .args(["-m", "synapse.app.homeserver", "-c"])
            .arg(&config)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start Synapse");
        let ready = copy_log_until_listening(
            child.stderr.take().expect("Synapse's log"),
            dir.path().join("synapse.log"),
            client_port,
        );
        let synapse = Self {
            dir,
            child,
            client_url: format!("http://127.0.0.1:{client_port}"),
            name,
            http: lattice_homeserver::services::http::client_builder().build().expect("client"),
        };
        // Synapse starts in a few seconds (the deadline bounds a failure).
        let started = tokio::time::timeout(Duration::from_secs(60), ready).await;
        assert!(
            started.is_ok_and(|said| said.is_ok()),
            "Synapse did not start:\n{}",
            synapse.log_tail()
        );
        Some(synapse)
    }

    /// The client-server API's base URL.
    pub fn url(&self) -> &str {
        &self.client_url
    }

    /// The server's name (`localhost:<port>`).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The end of Synapse's log, for failure messages.
    fn log_tail(&self) -> String {
        let log = std::fs::read_to_string(self.dir.path().join("synapse.log")).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(60)..].join("\n")
    }

    /// A client-server API call to Synapse.
    pub async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Answer {
        super::call_at(&self.http, &self.client_url, method, path, token, body).await
    }

    pub async fn get(&self, path: &str, token: &str) -> Answer {
        self.call(reqwest::Method::GET, path, Some(token), None).await
    }

    pub async fn post(&self, path: &str, token: &str, body: Value) -> Answer {
        self.call(reqwest::Method::POST, path, Some(token), Some(body)).await
    }

    pub async fn put(&self, path: &str, token: &str, body: Value) -> Answer {
        self.call(reqwest::Method::PUT, path, Some(token), Some(body)).await
    }

    /// Registers a user through the dummy interactive-auth stage.
    pub async fn register(&self, name: &str) -> Session {
        let path = "/_matrix/client/v3/register";
        let mut body = json!({"username": name, "password": "synapse password 1"});
        let first = self.call(reqwest::Method::POST, path, None, Some(body.clone())).await;
        assert_eq!(first.status, 401, "Synapse register: {}", first.body);
        body["auth"] = json!({"type": "m.login.dummy", "session": first.body["session"]});
        let done = self.call(reqwest::Method::POST, path, None, Some(body)).await.ok();
        Session {
            user_id: done["user_id"].as_str().expect("user_id").to_owned(),
            device_id: done["device_id"].as_str().expect("device_id").to_owned(),
            token: done["access_token"].as_str().expect("access_token").to_owned(),
        }
    }

    /// One sync (long-polling up to `timeout_ms` when `since` is given).
    pub async fn sync(&self, token: &str, since: Option<&str>, timeout_ms: u64) -> Value {
        let mut path = format!("/_matrix/client/v3/sync?timeout={timeout_ms}");
        if let Some(since) = since {
            path.push_str(&format!("&since={}", urlencoding(since)));
        }
        self.get(&path, token).await.ok()
    }

    /// Long-polls `session`'s sync until `found` says yes.
    pub async fn sync_until(&self, session: &Session, found: impl FnMut(&Value) -> bool) -> Value {
        super::sync_until(
            |since| async move { self.sync(&session.token, since.as_deref(), 5_000).await },
            found,
        )
        .await
    }
}

impl Drop for Synapse {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!("Synapse's log (end):\n{}", self.log_tail());
        }
    }
}

/// Copies Synapse's log (stderr) to `path` on a thread of its own; the
/// receiver hears once Synapse says its client listener is up.
fn copy_log_until_listening(
    stderr: std::process::ChildStderr,
    path: PathBuf,
    client_port: u16,
) -> tokio::sync::oneshot::Receiver<()> {
    let (listening, ready) = tokio::sync::oneshot::channel();
    let sign = format!("Synapse now listening on TCP port {client_port}");
    std::thread::spawn(move || {
        use std::io::{BufRead, Write};
        let mut log = std::fs::File::create(path).expect("log file");
        let mut listening = Some(listening);
        for line in std::io::BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = writeln!(log, "{line}");
            if line.ends_with(&sign)
                && let Some(listening) = listening.take()
            {
                let _ = listening.send(());
            }
        }
    });
    ready
}

fn urlencoding(text: &str) -> String {
    serde_urlencoded::to_string([("", text)]).expect("encode")[1..].to_owned()
}

/// Synapse's configuration: SQLite, open registration, no key notary (it
/// would ask matrix.org), loopback allowed for federation (Synapse refuses
/// private addresses by default), its room directory open to other
/// servers, rate limits out of the way.
fn config_text(
    dir: &Path,
    name: &str,
    federation_port: u16,
    client_port: u16,
    ca: &TestCa,
) -> String {
    let path = |p: PathBuf| p.display().to_string();
    let generous = "{per_second: 1000, burst_count: 1000}";
    format!(
        r#"server_name: "{name}"
report_stats: false
signing_key_path: "{key}"
media_store_path: "{media}"
database:
  name: sqlite3
  args:
    database: "{db}"
listeners:
  - port: {federation_port}
    bind_addresses: ['127.0.0.1']
    type: http
    tls: true
    resources: [{{names: [federation], compress: false}}]
  - port: {client_port}
    bind_addresses: ['127.0.0.1']
    type: http
    resources: [{{names: [client], compress: false}}]
tls_certificate_path: "{cert}"
tls_private_key_path: "{tls_key}"
federation_custom_ca_list: ["{ca}"]
ip_range_whitelist: ['127.0.0.0/8', '::1/128']
trusted_key_servers: []
suppress_key_server_warning: true
allow_public_rooms_over_federation: true
room_list_publication_rules: [{{action: allow}}]
enable_registration: true
enable_registration_without_verification: true
presence:
  enabled: true
rc_message: {generous}
rc_registration: {generous}
rc_room_creation: {generous}
rc_login:
  address: {generous}
  account: {generous}
rc_joins:
  local: {generous}
  remote: {generous}
rc_invites:
  per_room: {generous}
  per_user: {generous}
  per_issuer: {generous}
rc_federation:
  window_size: 1000
  sleep_limit: 1000
  sleep_delay: 1
  reject_limit: 1000
  concurrent: 100
"#,
        key = path(dir.join("signing.key")),
        media = path(dir.join("media")),
        db = path(dir.join("homeserver.db")),
        cert = path(ca.cert.clone()),
        tls_key = path(ca.key.clone()),
        ca = path(ca.ca.clone()),
    )
}
