//! SQLite encrypted page by page (SQLCipher, bundled with the SQLite the
//! store links): every page of the database file and of its WAL is
//! AES-256 ciphertext with an HMAC, under a key derived from the at-rest
//! key. Before the pool opens, a database still in clear is encrypted in
//! place, one under an earlier key is moved to the current one, and one
//! that no configured key opens stops the start with a clear message.

use std::{
    io::Read,
    path::{Path, PathBuf},
    str::FromStr,
};

use sqlx::{Connection, SqliteConnection, sqlite::SqliteConnectOptions};

use crate::error::{Error, Result};

/// What an SQLite file in clear starts with; an encrypted one starts with
/// its random salt.
const PLAIN_HEADER: &[u8; 16] = b"SQLite format 3\0";

/// A database key: 32 bytes handed to SQLCipher as a raw key (no password
/// stretching, so opening a connection costs nothing).
#[derive(Clone)]
pub struct DatabaseKey {
    /// The key id of the at-rest key it comes from, for messages.
    pub id: String,
    hex: String,
}

impl DatabaseKey {
    pub fn new(id: String, bytes: [u8; 32]) -> Self {
        // Before SQLCipher starts OpenSSL: ours registers no exit handler.
        openssl_sys::init();
        Self { id, hex: bytes.iter().map(|b| format!("{b:02x}")).collect() }
    }

    /// The value of `PRAGMA key` (and of `ATTACH ... KEY`).
    pub(super) fn raw(&self) -> String {
        format!("x'{}'", self.hex)
    }

    /// The statement a connection must run before it reads anything.
    pub(super) fn pragma(&self) -> String {
        format!("PRAGMA key = \"{}\";", self.raw())
    }
}

/// The database file an SQLite URL names (`None`: in memory).
pub(super) fn sqlite_file(url: &str) -> Option<PathBuf> {
    let path = url.strip_prefix("sqlite://").or_else(|| url.strip_prefix("sqlite:"))?;
    let path = path.split('?').next().unwrap_or(path);
    (!path.is_empty() && path != ":memory:").then(|| PathBuf::from(path))
}

/// Whether `path` holds an SQLite database in clear (`None`: no database
/// yet, or an empty file).
fn in_clear(path: &Path) -> Result<Option<bool>> {
    let mut header = Vec::with_capacity(16);
    match std::fs::File::open(path) {
        Ok(file) => file.take(16).read_to_end(&mut header).map_err(Error::internal)?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::internal(format!("{}: {e}", path.display()))),
    };
    Ok((!header.is_empty()).then(|| header == PLAIN_HEADER))
}

/// Makes the database at `path` readable with `key` (the first of `keys`)
/// before the pool opens it: encrypts it if it is in clear, re-encrypts it
/// if an earlier key (the rest of `keys`) opens it. Without keys, an
/// encrypted database stops the start.
pub(super) async fn prepare(path: &Path, keys: &[DatabaseKey]) -> Result<()> {
    let Some(clear) = in_clear(path)? else { return Ok(()) };
    let Some(current) = keys.first() else {
        return if clear {
            Ok(())
        } else {
            Err(Error::internal(format!(
                "the database {} is encrypted: configure its key in [encryption]",
                path.display()
            )))
        };
    };
    if clear {
        tracing::info!(database = %path.display(), "encrypting the database (once)");
        return reencrypt(path, None, current).await;
    }
    for (index, key) in keys.iter().enumerate() {
        if opens(path, key).await {
            if index > 0 {
                tracing::info!(
                    database = %path.display(), from = %key.id, to = %current.id,
                    "re-encrypting the database under the new key"
                );
                reencrypt(path, Some(key), current).await?;
            }
            return Ok(());
        }
    }
    let ids: Vec<&str> = keys.iter().map(|key| key.id.as_str()).collect();
    Err(Error::internal(format!(
        "the database {} does not open with the configured encryption key ({}); \
         nothing was changed",
        path.display(),
        ids.join(", ")
    )))
}

/// Options for a connection of one's own (backups, key checks) to the
/// SQLite file at `path`, which must exist, under `key` if any.
pub fn file_options(path: &Path, key: Option<&DatabaseKey>) -> Result<SqliteConnectOptions> {
    let options = SqliteConnectOptions::from_str(&format!("sqlite://{}", path.display()))?
        .create_if_missing(false)
        // SQLCipher's own log (process-wide, on stderr) would report each
        // key a start tries and rejects as an error; the start's own message
        // says what matters.
        .pragma("cipher_log_level", "NONE");
    Ok(match key {
        Some(key) => options.pragma("key", format!("\"{}\"", key.raw())),
        None => options,
    })
}

async fn connect(path: &Path, key: Option<&DatabaseKey>) -> Result<SqliteConnection> {
    Ok(SqliteConnection::connect_with(&file_options(path, key)?).await?)
}

/// Whether `key` opens the database (a wrong key reads a page that fails
/// its HMAC: "file is not a database").
async fn opens(path: &Path, key: &DatabaseKey) -> bool {
    let Ok(mut connection) = connect(path, Some(key)).await else { return false };
    let read = sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM sqlite_master")
        .fetch_one(&mut connection)
        .await;
    let _ = connection.close().await;
    read.is_ok()
}

/// Writes the database again beside itself under `to` (SQLCipher's
/// export: schema, rows, virtual tables), then puts the copy in its place.
/// The original stays whole until the rename, so a crash loses nothing.
async fn reencrypt(path: &Path, from: Option<&DatabaseKey>, to: &DatabaseKey) -> Result<()> {
    let copy = path.with_extension("db-encrypting");
    let _ = std::fs::remove_file(&copy);
    // `ATTACH` creates the copy only on a connection allowed to create.
    let options = file_options(path, from)?.create_if_missing(true);
    let mut connection = SqliteConnection::connect_with(&options).await?;
    // Everything committed must be in the main file, which is what is copied.
    sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)").execute(&mut connection).await?;
    sqlx::query("ATTACH DATABASE $1 AS encrypted KEY $2")
        .bind(copy.display().to_string())
        .bind(to.raw())
        .execute(&mut connection)
        .await?;
    sqlx::query("SELECT sqlcipher_export('encrypted')").execute(&mut connection).await?;
    sqlx::query("DETACH DATABASE encrypted").execute(&mut connection).await?;
    connection.close().await?;
    std::fs::File::open(&copy).and_then(|file| file.sync_all()).map_err(Error::internal)?;
    for leftover in ["-wal", "-shm"] {
        let mut name = path.as_os_str().to_owned();
        name.push(leftover);
        let _ = std::fs::remove_file(PathBuf::from(name));
    }
    std::fs::rename(&copy, path).map_err(Error::internal)?;
    if let Some(dir) = path.parent().filter(|dir| !dir.as_os_str().is_empty()) {
        std::fs::File::open(dir).and_then(|dir| dir.sync_all()).map_err(Error::internal)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_name_their_file() {
        assert_eq!(sqlite_file("sqlite:///d/l.db?mode=rwc"), Some(PathBuf::from("/d/l.db")));
        assert_eq!(sqlite_file("sqlite://rel/l.db"), Some(PathBuf::from("rel/l.db")));
        assert_eq!(sqlite_file("sqlite::memory:"), None);
        assert_eq!(sqlite_file("postgres://x/y"), None);
    }
}
