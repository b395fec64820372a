//! SQLite connection pools, opened the way the SDK's own store opens
//! them: for crates built on the SDK that keep state of their own (the
//! application-service crate's state store, for one).

use std::{path::Path, str::FromStr};

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions};

use crate::error::Result;

/// A pool on the SQLite file at `path` (created if missing), in WAL mode.
pub async fn open(path: impl AsRef<Path>) -> Result<SqlitePool> {
    let options = SqliteConnectOptions::new()
        .filename(path)
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal);
    Ok(SqlitePoolOptions::new().max_connections(4).connect_with(options).await?)
}

/// A pool on a database in memory, gone when the pool is.
pub async fn in_memory() -> Result<SqlitePool> {
    let options = SqliteConnectOptions::from_str("sqlite::memory:")?;
    // Every connection to :memory: is its own database: keep one.
    Ok(SqlitePoolOptions::new()
        .max_connections(1)
        .idle_timeout(None)
        .max_lifetime(None)
        .connect_with(options)
        .await?)
}
