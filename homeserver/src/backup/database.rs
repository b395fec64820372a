//! The database part of an archive: always an SQLite file, whatever the
//! server runs on. SQLite copies itself (`VACUUM INTO`, one read
//! transaction); PostgreSQL is copied into a new SQLite file in one
//! repeatable-read transaction. Both are taken while the server writes,
//! and both are encrypted under the at-rest key when one is set. Restoring
//! puts the file in place (SQLite) or copies it into the configured, empty
//! PostgreSQL database, as `lattice migrate` does.

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
};

use sqlx::Connection;

use crate::{
    Config,
    services::encryption::database_keys,
    store::{DatabaseKey, Store, sqlite_file_options},
};

/// Where the configured SQLite database is (`None`: PostgreSQL).
pub(super) fn sqlite_path(config: &Config) -> Option<PathBuf> {
    let url = config.database_url();
    let rest = url.strip_prefix("sqlite://")?;
    Some(PathBuf::from(rest.split('?').next().unwrap_or(rest)))
}

fn sqlite_url(path: &Path) -> String {
    format!("sqlite://{}", path.display())
}

/// A connection of one's own to an SQLite file, under `key` if any.
async fn open_file(
    path: &Path,
    key: Option<&DatabaseKey>,
) -> Result<sqlx::SqliteConnection, String> {
    let options = sqlite_file_options(path, key).map_err(|e| e.to_string())?;
    sqlx::SqliteConnection::connect_with(&options)
        .await
        .map_err(|e| format!("cannot open the database {}: {e}", path.display()))
}

/// Writes a consistent copy of the configured database to `snapshot`;
/// the row counts of the main tables in it.
pub(super) async fn snapshot(
    config: &Config,
    snapshot: &Path,
) -> Result<BTreeMap<String, i64>, String> {
    let keys = database_keys(&config.encryption).await.map_err(|e| e.to_string())?;
    let _ = std::fs::remove_file(snapshot);
    match sqlite_path(config) {
        Some(database) => {
            // VACUUM INTO writes under the database's own key.
            let mut connection = open_file(&database, keys.first()).await?;
            let copied = sqlx::query("VACUUM INTO $1")
                .bind(snapshot.display().to_string())
                .execute(&mut connection)
                .await;
            // Closed before the process may exit (see `Server::close`).
            connection.close().await.map_err(|e| e.to_string())?;
            copied.map_err(|e| format!("cannot copy the database: {e}"))?;
        }
        None => {
            let from = Store::open(&config.database_url(), 2).await.map_err(|e| e.to_string())?;
            let url = format!("{}?mode=rwc", sqlite_url(snapshot));
            let into = Store::open_encrypted(&url, 2, &keys).await.map_err(|e| e.to_string())?;
            let copied = from.snapshot_into(&into).await;
            from.close().await;
            into.close().await;
            copied.map_err(|e| format!("cannot copy the database: {e}"))?;
        }
    }
    let mut connection = open_file(snapshot, keys.first()).await?;
    let mut counts = BTreeMap::new();
    for table in ["users", "rooms", "events"] {
        let count: i64 =
            sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT COUNT(*) FROM {table}")))
                .fetch_one(&mut connection)
                .await
                .map_err(|e| e.to_string())?;
        counts.insert(table.to_owned(), count);
    }
    connection.close().await.map_err(|e| e.to_string())?;
    Ok(counts)
}

/// Where the archive's database file is written while restoring: the
/// SQLite database itself, or (PostgreSQL) a file to copy from, once the
/// configured database was found empty.
pub(super) async fn restore_target(config: &Config) -> Result<PathBuf, String> {
    if let Some(database) = sqlite_path(config) {
        if database.exists() {
            return Err(format!("refusing to restore over the database at {}", database.display()));
        }
        return Ok(database);
    }
    let store = Store::open(&config.database_url(), 2).await.map_err(|e| e.to_string())?;
    let users = store.count_users().await;
    store.close().await;
    if users.map_err(|e| e.to_string())? > 0 {
        return Err("refusing to restore into a PostgreSQL database that has users".into());
    }
    std::fs::create_dir_all(&config.server.data_dir).map_err(|e| e.to_string())?;
    let file = config.server.data_dir.join("restoring.db");
    let _ = std::fs::remove_file(&file);
    Ok(file)
}

/// Finishes restoring the database written to `file` (a no-op for SQLite):
/// copies it into PostgreSQL, checked table by table, then removes it.
pub(super) async fn install(config: &Config, file: &Path) -> Result<(), String> {
    if sqlite_path(config).is_some() {
        return Ok(());
    }
    let keys = database_keys(&config.encryption).await.map_err(|e| e.to_string())?;
    let from =
        Store::open_encrypted(&sqlite_url(file), 2, &keys).await.map_err(|e| e.to_string())?;
    let into = Store::open(&config.database_url(), 4).await.map_err(|e| e.to_string())?;
    let copied = from.copy_into(&into, |_, _| {}).await;
    from.close().await;
    into.close().await;
    copied.map_err(|e| format!("cannot copy the database into PostgreSQL: {e}"))?;
    std::fs::remove_file(file).map_err(|e| e.to_string())
}
