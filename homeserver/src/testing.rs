//! Throwaway servers for tests, of this crate and of the crates built on
//! it (the SDKs): a configuration that starts fast on 127.0.0.1:0, and a
//! fresh PostgreSQL database per test so that tests never share state.

use std::{
    path::Path,
    sync::atomic::{AtomicU32, Ordering},
};

use sqlx::{Connection, Executor, PgConnection};

use crate::{Config, RunningServer, Server, services::Services};

static DATABASES: AtomicU32 = AtomicU32::new(0);
static DATA_DIRS: AtomicU32 = AtomicU32::new(0);

/// Which database a test runs on: the store's own notion of it.
pub use crate::store::Backend;

/// Runs each listed `async fn name(backend: Backend)` once on SQLite and
/// once on PostgreSQL (skipped, with a note, when TEST_POSTGRES_URL is unset).
#[macro_export]
macro_rules! backend_tests {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test]
                async fn $name() {
                    super::$name($crate::testing::Backend::Sqlite).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test]
                async fn $name() {
                    if !$crate::testing::postgres_available() {
                        eprintln!("skipped: TEST_POSTGRES_URL is not set");
                        return;
                    }
                    super::$name($crate::testing::Backend::Postgres).await;
                }
            )*
        }
    };
}

/// A server running for a test, on its own database, that can be
/// restarted on the same data. Its data folder is removed when dropped.
pub struct TestServer {
    config: Config,
    running: Option<RunningServer>,
    services: Option<Services>,
    url: String,
}

impl TestServer {
    /// Starts a server on `backend`; `tweak` adjusts the configuration first.
    ///
    /// Panics when the server cannot start: the test cannot go on.
    pub async fn start(backend: Backend, tweak: impl FnOnce(&mut Config)) -> Self {
        let name = format!(
            "lattice-test-{}-{}",
            std::process::id(),
            DATA_DIRS.fetch_add(1, Ordering::SeqCst)
        );
        let data_dir = std::env::temp_dir().join(name);
        let mut config = self::config(&data_dir);
        if backend == Backend::Postgres {
            config.database.url = fresh_postgres_database().await;
        }
        tweak(&mut config);
        let mut server = Self { config, running: None, services: None, url: String::new() };
        server.boot().await;
        server
    }

    async fn boot(&mut self) {
        let server = Server::new(self.config.clone()).await.expect("server starts");
        self.services = Some(server.services().clone());
        let running = server.spawn().await.expect("server listens");
        self.url = running.url();
        self.running = Some(running);
    }

    /// Starts another instance on this server's PostgreSQL database (its
    /// own port, data folder and instance name): the two are one server.
    pub async fn another_instance(&self) -> Self {
        self.another_instance_with(|_| {}).await
    }

    /// [`Self::another_instance`], its configuration adjusted by `tweak`.
    pub async fn another_instance_with(&self, tweak: impl FnOnce(&mut Config)) -> Self {
        let number = DATA_DIRS.fetch_add(1, Ordering::SeqCst);
        let mut config = self.config.clone();
        config.server.data_dir =
            std::env::temp_dir().join(format!("lattice-test-{}-{number}", std::process::id()));
        config.cluster.instance_name = format!("instance-{number}");
        tweak(&mut config);
        let mut server = Self { config, running: None, services: None, url: String::new() };
        server.boot().await;
        server
    }

    /// Stops the server and starts it again on the same database.
    pub async fn restart(&mut self) {
        self.stop().await;
        self.boot().await;
    }

    /// Stops the server (its data stays for [`Self::start_again`]).
    pub async fn stop(&mut self) {
        if let Some(running) = self.running.take() {
            running.stop().await;
        }
    }

    /// Starts a stopped server again on the same database.
    pub async fn start_again(&mut self) {
        self.boot().await;
    }

    /// The running server's services, for setting up what has no client
    /// API (such as making someone a server admin).
    pub fn services(&self) -> &Services {
        self.services.as_ref().expect("server started")
    }

    /// The client API's base URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The configuration the server runs with.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The configuration for the next start (stop the server first).
    pub fn config_mut(&mut self) -> &mut Config {
        &mut self.config
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.config.server.data_dir);
    }
}

/// Whether TEST_POSTGRES_URL names a server for the PostgreSQL variants.
pub fn postgres_available() -> bool {
    std::env::var("TEST_POSTGRES_URL").is_ok_and(|url| !url.is_empty())
}

/// A configuration for a test server keeping its data in `data_dir`
/// (SQLite unless `database.url` is set afterwards).
pub fn config(data_dir: &Path) -> Config {
    let mut config = Config::default();
    config.server.bind = std::net::SocketAddr::from(([127, 0, 0, 1], 0));
    config.server.data_dir = data_dir.to_path_buf();
    // Cheap hashing keeps suites fast; production uses the defaults.
    config.auth.argon2.memory_kib = 256;
    config.auth.argon2.iterations = 1;
    config.database.max_connections = 4;
    // Tests hammer one server from one address; the limits have their own test.
    config.rate_limits.enabled = false;
    config
}

/// Creates an empty PostgreSQL database for one test and returns its URL.
/// Databases left by earlier runs of the suite are dropped on first use.
///
/// Panics when TEST_POSTGRES_URL is unset or unreachable: a test asked for
/// PostgreSQL and cannot run without it.
pub async fn fresh_postgres_database() -> String {
    let admin_url = std::env::var("TEST_POSTGRES_URL").expect("TEST_POSTGRES_URL");
    let mut admin = PgConnection::connect(&admin_url).await.expect("connect to TEST_POSTGRES_URL");
    let pid = std::process::id();
    if DATABASES.fetch_add(1, Ordering::SeqCst) == 0 {
        drop_stale_databases(&mut admin, pid).await;
    }
    let name = format!("lattice_t_{pid}_{}", DATABASES.fetch_add(1, Ordering::SeqCst));
    let create = format!("CREATE DATABASE {name}");
    admin.execute(sqlx::AssertSqlSafe(create)).await.expect("create test database");
    let mut url = reqwest::Url::parse(&admin_url).expect("TEST_POSTGRES_URL is a URL");
    url.set_path(&name);
    url.to_string()
}

/// Drops test databases whose process is gone.
async fn drop_stale_databases(admin: &mut PgConnection, own_pid: u32) {
    let names: Vec<String> =
        sqlx::query_scalar("SELECT datname FROM pg_database WHERE datname LIKE 'lattice_t_%'")
            .fetch_all(&mut *admin)
            .await
            .unwrap_or_default();
    for name in names {
        let pid: Option<u32> = name.split('_').nth(2).and_then(|p| p.parse().ok());
        let alive = pid
            .is_some_and(|p| p == own_pid || std::path::Path::new(&format!("/proc/{p}")).exists());
        if !alive {
            let drop = format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)");
            let _ = admin.execute(sqlx::AssertSqlSafe(drop)).await;
        }
    }
}
