//! Lattice, a Matrix homeserver.
//!
//! Layers, outside in: [`api`] (HTTP handlers, thin) -> [`services`] (the
//! logic) -> [`store`] (SQL). [`Server`] wires them together.

pub mod api;
pub mod backup;
pub mod config;
pub mod connections;
pub mod error;
pub mod logging;
pub mod services;
pub mod store;
#[cfg(feature = "testing")]
pub mod testing;

use std::net::SocketAddr;

use tokio::{net::TcpListener, sync::oneshot, task::JoinHandle};

pub use crate::{config::Config, error::Error};
use crate::{error::Result, services::Services, store::Store};

/// A bound federation port and the TLS it speaks.
type FederationListener = (TcpListener, tokio_rustls::TlsAcceptor);

/// A configured server, ready to serve.
pub struct Server {
    services: Services,
}

impl Server {
    /// Opens (and migrates) the database and builds the services.
    pub async fn new(config: Config) -> Result<Self> {
        if config.database.url.is_empty() {
            std::fs::create_dir_all(&config.server.data_dir).map_err(|e| {
                Error::internal(format!("cannot create {}: {e}", config.server.data_dir.display()))
            })?;
        }
        // The keys come first: with SQLite they open the database itself.
        let keys = services::encryption::Keyring::load(&config.encryption).await?;
        let database_keys = keys.as_ref().map(|keys| keys.database_keys()).unwrap_or_default();
        let store = Store::open_encrypted(
            &config.database_url(),
            config.database.max_connections,
            &database_keys,
        )
        .await?;
        let services = match Services::new(config, store.clone(), keys).await {
            Ok(services) => services,
            Err(error) => {
                // A refused start exits: nothing may be left closing then.
                store.close().await;
                return Err(error);
            }
        };
        Ok(Self { services })
    }

    pub fn services(&self) -> &Services {
        &self.services
    }

    /// Closes the database, for a command that built the server but serves
    /// nothing: SQLCipher frees its state when the process exits, so no
    /// encrypted connection may still be closing then.
    pub async fn close(self) {
        self.services.store.close().await;
    }

    /// Serves on `listener` until `shutdown` resolves, then finishes the
    /// requests in flight and closes the database.
    pub async fn serve(
        self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let federation = self.bind_federation().await?;
        self.serve_bound(listener, federation, shutdown).await
    }

    /// The federation listener, if federation has one of its own.
    async fn bind_federation(&self) -> std::io::Result<Option<FederationListener>> {
        let config = &self.services.config.federation;
        match config.bind {
            Some(bind) if config.enabled => {
                let acceptor = connections::tls_acceptor(config)
                    .map_err(|e| std::io::Error::other(e.to_string()))?;
                Ok(Some((TcpListener::bind(bind).await?, acceptor)))
            }
            _ => Ok(None),
        }
    }

    async fn serve_bound(
        self,
        listener: TcpListener,
        federation: Option<FederationListener>,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let store = self.services.store.clone();
        let cluster = self.services.cluster.clone();
        let drain = std::time::Duration::from_secs(self.services.config.cluster.drain_seconds);
        let limits = self.services.config.limits.clone();
        let app = api::router(self.services);
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let federation_task = federation.map(|(listener, acceptor)| {
            let (app, limits, mut stopped) = (app.clone(), limits.clone(), stopped.clone());
            tokio::spawn(async move {
                let shutdown = async move {
                    let _ = stopped.wait_for(|stop| *stop).await;
                };
                connections::serve(listener, app, &limits, Some(acceptor), shutdown).await;
            })
        });
        let draining = cluster.clone();
        let main = async move {
            shutdown.await;
            // Still serving, but no longer ready: the load balancer moves on.
            draining.start_draining();
            tokio::time::sleep(drain).await;
            let _ = stop.send(true);
        };
        connections::serve(listener, app, &limits, None, main).await;
        drop(stopped);
        if let Some(task) = federation_task {
            let _ = task.await;
        }
        // The other instances may write this one's rooms at once.
        cluster.stop().await;
        store.close().await;
        Ok(())
    }

    /// Binds the configured address and serves in a background task.
    pub async fn spawn(self) -> Result<RunningServer> {
        let listener = TcpListener::bind(self.services.config.server.bind)
            .await
            .map_err(|e| Error::internal(format!("cannot listen: {e}")))?;
        let addr = listener.local_addr().map_err(Error::internal)?;
        // Bound before returning: a caller may talk to either port at once.
        let federation = self
            .bind_federation()
            .await
            .map_err(|e| Error::internal(format!("cannot listen for federation: {e}")))?;
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(self.serve_bound(listener, federation, async {
            let _ = stopped.await;
        }));
        Ok(RunningServer { addr, stop, task })
    }
}

/// A server running in the background (tests, embedding).
pub struct RunningServer {
    pub addr: SocketAddr,
    stop: oneshot::Sender<()>,
    task: JoinHandle<std::io::Result<()>>,
}

impl RunningServer {
    /// Base URL of the client API, e.g. `http://127.0.0.1:41234`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Shuts down gracefully and waits until the database is closed.
    pub async fn stop(self) {
        let _ = self.stop.send(());
        let _ = self.task.await;
    }
}
