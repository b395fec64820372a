//! The service's state, in SQLite: transactions already handled (so a
//! retried one is not handled twice), the virtual users registered and
//! the rooms they joined (so each is asked of the homeserver once), and
//! the bridge's own mappings (an IRC channel to its room, say).

use std::path::Path;

use ruma::{RoomId, UserId};
use sqlx::sqlite::SqlitePool;

use crate::error::Result;

/// Handled transaction ids kept; older ones cannot come again.
const KEPT_TRANSACTIONS: i64 = 1000;

const SCHEMA: &str = "
    CREATE TABLE IF NOT EXISTS transactions (
        seq    INTEGER PRIMARY KEY AUTOINCREMENT,
        txn_id TEXT NOT NULL UNIQUE
    );
    CREATE TABLE IF NOT EXISTS users (
        user_id      TEXT PRIMARY KEY,
        display_name TEXT
    );
    CREATE TABLE IF NOT EXISTS memberships (
        room_id TEXT NOT NULL,
        user_id TEXT NOT NULL,
        PRIMARY KEY (room_id, user_id)
    );
    CREATE TABLE IF NOT EXISTS mappings (
        kind   TEXT NOT NULL,
        remote TEXT NOT NULL,
        matrix TEXT NOT NULL,
        PRIMARY KEY (kind, remote)
    );
    CREATE INDEX IF NOT EXISTS mappings_by_matrix ON mappings (kind, matrix);
";

/// Where an application service keeps what it knows.
#[derive(Clone, Debug)]
pub struct StateStore {
    pool: SqlitePool,
}

impl StateStore {
    /// Opens (or creates) the store in the SQLite file at `path`.
    pub async fn open(path: impl AsRef<Path>) -> Result<Self> {
        Self::ready(lattice_sdk::sqlite::open(path).await?).await
    }

    /// A store that forgets everything when the service stops.
    pub async fn in_memory() -> Result<Self> {
        Self::ready(lattice_sdk::sqlite::in_memory().await?).await
    }

    async fn ready(pool: SqlitePool) -> Result<Self> {
        sqlx::raw_sql(SCHEMA).execute(&pool).await?;
        Ok(Self { pool })
    }

    pub(crate) async fn transaction_handled(&self, txn_id: &str) -> Result<bool> {
        let found: Option<i64> =
            sqlx::query_scalar("SELECT seq FROM transactions WHERE txn_id = ?")
                .bind(txn_id)
                .fetch_optional(&self.pool)
                .await?;
        Ok(found.is_some())
    }

    pub(crate) async fn mark_transaction_handled(&self, txn_id: &str) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("INSERT OR IGNORE INTO transactions (txn_id) VALUES (?)")
            .bind(txn_id)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "DELETE FROM transactions WHERE seq <= (SELECT MAX(seq) FROM transactions) - ?",
        )
        .bind(KEPT_TRANSACTIONS)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Whether the service registered this user already.
    pub async fn is_registered(&self, user_id: &UserId) -> Result<bool> {
        let found: Option<String> =
            sqlx::query_scalar("SELECT user_id FROM users WHERE user_id = ?")
                .bind(user_id.as_str())
                .fetch_optional(&self.pool)
                .await?;
        Ok(found.is_some())
    }

    pub(crate) async fn set_registered(&self, user_id: &UserId) -> Result<()> {
        sqlx::query("INSERT OR IGNORE INTO users (user_id) VALUES (?)")
            .bind(user_id.as_str())
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    pub(crate) async fn display_name(&self, user_id: &UserId) -> Result<Option<String>> {
        let name: Option<Option<String>> =
            sqlx::query_scalar("SELECT display_name FROM users WHERE user_id = ?")
                .bind(user_id.as_str())
                .fetch_optional(&self.pool)
                .await?;
        Ok(name.flatten())
    }

    pub(crate) async fn set_display_name(&self, user_id: &UserId, name: &str) -> Result<()> {
        sqlx::query(
            "INSERT INTO users (user_id, display_name) VALUES (?, ?)
             ON CONFLICT (user_id) DO UPDATE SET display_name = excluded.display_name",
        )
        .bind(user_id.as_str())
        .bind(name)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Whether this user of the service is in the room, as far as the
    /// service knows (joins it made, and memberships the homeserver sent).
    pub async fn is_joined(&self, room_id: &RoomId, user_id: &UserId) -> Result<bool> {
        let found: Option<String> =
            sqlx::query_scalar("SELECT user_id FROM memberships WHERE room_id = ? AND user_id = ?")
                .bind(room_id.as_str())
                .bind(user_id.as_str())
                .fetch_optional(&self.pool)
                .await?;
        Ok(found.is_some())
    }

    pub(crate) async fn set_joined(
        &self,
        room_id: &RoomId,
        user_id: &UserId,
        joined: bool,
    ) -> Result<()> {
        let query = match joined {
            true => "INSERT OR IGNORE INTO memberships (room_id, user_id) VALUES (?, ?)",
            false => "DELETE FROM memberships WHERE room_id = ? AND user_id = ?",
        };
        sqlx::query(query)
            .bind(room_id.as_str())
            .bind(user_id.as_str())
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Remembers that `remote` (a channel, a chat, a contact of the other
    /// network; `kind` tells which) is `matrix` (a room or user id).
    pub async fn map(&self, kind: &str, remote: &str, matrix: &str) -> Result<()> {
        sqlx::query(
            "INSERT INTO mappings (kind, remote, matrix) VALUES (?, ?, ?)
             ON CONFLICT (kind, remote) DO UPDATE SET matrix = excluded.matrix",
        )
        .bind(kind)
        .bind(remote)
        .bind(matrix)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The Matrix id `remote` was mapped to.
    pub async fn matrix_of(&self, kind: &str, remote: &str) -> Result<Option<String>> {
        Ok(sqlx::query_scalar("SELECT matrix FROM mappings WHERE kind = ? AND remote = ?")
            .bind(kind)
            .bind(remote)
            .fetch_optional(&self.pool)
            .await?)
    }

    /// The remote name mapped to the Matrix id `matrix`.
    pub async fn remote_of(&self, kind: &str, matrix: &str) -> Result<Option<String>> {
        Ok(sqlx::query_scalar("SELECT remote FROM mappings WHERE kind = ? AND matrix = ?")
            .bind(kind)
            .bind(matrix)
            .fetch_optional(&self.pool)
            .await?)
    }

    /// Every mapping of a kind, as (remote, matrix).
    pub async fn mappings(&self, kind: &str) -> Result<Vec<(String, String)>> {
        Ok(sqlx::query_as("SELECT remote, matrix FROM mappings WHERE kind = ? ORDER BY remote")
            .bind(kind)
            .fetch_all(&self.pool)
            .await?)
    }
}
