//! Starts the server under test as its own process, so that its memory and
//! CPU can be read from /proc.

use std::{
    io::{BufRead, BufReader},
    process::{Child, Command, Stdio},
    time::Duration,
};

pub struct ServerProcess {
    pub url: String,
    pub pid: u32,
    pub backend: &'static str,
    /// None when measuring a server someone else started.
    child: Option<Child>,
    _dir: Option<tempfile::TempDir>,
}

impl ServerProcess {
    pub async fn start(binary: &str, postgres: Option<&str>) -> Result<Self, crate::client::Error> {
        Self::spawn(binary, postgres, false, false, None).await
    }

    /// One of several instances on one PostgreSQL database, named `name`.
    pub async fn start_instance(
        binary: &str,
        postgres: &str,
        name: &str,
    ) -> Result<Self, crate::client::Error> {
        Self::spawn(binary, Some(postgres), false, false, Some(name)).await
    }

    /// A server with an at-rest key: its SQLite database, media and secrets
    /// encrypted.
    pub async fn start_encrypted(
        binary: &str,
        postgres: Option<&str>,
    ) -> Result<Self, crate::client::Error> {
        Self::spawn(binary, postgres, false, true, None).await
    }

    /// A server with its rate limits on, as in production.
    pub async fn start_limited(binary: &str) -> Result<Self, crate::client::Error> {
        Self::spawn(binary, None, true, false, None).await
    }

    async fn spawn(
        binary: &str,
        postgres: Option<&str>,
        rate_limits: bool,
        encrypted: bool,
        instance_name: Option<&str>,
    ) -> Result<Self, crate::client::Error> {
        let dir = tempfile::tempdir()?;
        let mut command = Command::new(binary);
        if let Some(name) = instance_name {
            command.env("LATTICE_CLUSTER__INSTANCE_NAME", name);
        }
        if encrypted {
            let key = dir.path().join("at-rest.key");
            std::fs::write(&key, "5a".repeat(32))?;
            command.env("LATTICE_ENCRYPTION__KEY_FILE", key);
        }
        command
            .current_dir(dir.path())
            .env("LATTICE_SERVER__BIND", "127.0.0.1:0")
            .env("LATTICE_LOGGING__LEVEL", "warn,lattice=info")
            .env("LATTICE_LIMITS__REQUEST_TIMEOUT", "120")
            .env("LATTICE_MEDIA__MAX_UPLOAD_BYTES", "1073741824")
            // The load comes from one address and a few users on purpose.
            .env("LATTICE_RATE_LIMITS__ENABLED", rate_limits.to_string())
            .stdout(Stdio::piped());
        let backend = match postgres {
            Some(url) => {
                command.env("LATTICE_DATABASE__URL", url);
                "postgresql"
            }
            None => "sqlite",
        };
        let mut child = command.spawn()?;
        let stdout = child.stdout.take().ok_or("no stdout")?;
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(at) = line.find("listening on http://") {
                    let url = line[at + "listening on ".len()..]
                        .split_whitespace()
                        .next()
                        .map(str::to_owned);
                    let _ = tx.send(url);
                }
            }
        });
        let url = rx.recv_timeout(Duration::from_secs(60))?.ok_or("no address")?;
        Ok(Self { url, pid: child.id(), backend, child: Some(child), _dir: Some(dir) })
    }

    /// A server already running at `url` as process `pid` (for profiling it).
    pub fn attach(url: String, pid: u32) -> Self {
        Self { url, pid, backend: "as configured", child: None, _dir: None }
    }

    fn status_field(&self, field: &str) -> Result<u64, crate::client::Error> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid))?;
        let line = status.lines().find(|l| l.starts_with(field)).ok_or("no such field")?;
        Ok(line.split_whitespace().nth(1).ok_or("bad line")?.parse()?)
    }

    pub fn rss_kib(&self) -> Result<u64, crate::client::Error> {
        self.status_field("VmRSS:")
    }

    pub fn peak_rss_kib(&self) -> Result<u64, crate::client::Error> {
        self.status_field("VmHWM:")
    }

    /// User + system CPU time the server has used so far.
    pub fn cpu_time(&self) -> Result<Duration, crate::client::Error> {
        cpu_time(self.pid)
    }

    pub fn stop(self) {
        if let Some(mut child) = self.child {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// User + system CPU time process `pid` has used so far.
pub fn cpu_time(pid: u32) -> Result<Duration, crate::client::Error> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // Fields after the command name, which is in parentheses.
    let rest = stat.rsplit_once(')').ok_or("bad stat")?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 = fields[11].parse::<u64>()? + fields[12].parse::<u64>()?;
    Ok(Duration::from_millis(ticks * 10))
}
