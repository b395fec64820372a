//! Helpers: clients registered on a test server, and waiting for what a
//! sync brings.

use std::{path::Path, time::Duration};

use lattice_homeserver::testing::TestServer;
use lattice_sdk::{Client, SyncSettings};
use tokio::sync::mpsc::UnboundedReceiver;

/// A client on `server` with an in-memory store, registered as `name`.
pub async fn registered(server: &TestServer, name: &str) -> Client {
    let client = Client::builder().homeserver_url(server.url()).build().await.expect("client");
    client.register(name, "correct horse").await.expect("registered");
    client
}

/// A client on `server` keeping its store in the file at `store`.
pub async fn with_store(server: &TestServer, store: &Path) -> Client {
    Client::builder().homeserver_url(server.url()).store_path(store).build().await.expect("client")
}

/// Syncs (long-polling) until a handler has sent something on `seen`.
pub async fn sync_until<T>(client: &Client, seen: &mut UnboundedReceiver<T>) -> T {
    let wait = async {
        loop {
            if let Ok(item) = seen.try_recv() {
                return item;
            }
            client
                .sync_once(SyncSettings::new().timeout(Duration::from_secs(5)))
                .await
                .expect("sync");
        }
    };
    tokio::time::timeout(Duration::from_secs(30), wait).await.expect("the event arrived")
}
