//! The client's local store, in SQLite: the session, the sync token, the
//! rooms with their state and latest events, and account data. A store
//! in memory (SQLite's `:memory:`) serves tests and short-lived bots with
//! the same code.

mod schema;
pub mod sqlite;
mod sync;

use std::path::Path;

use sqlx::{Row, SqliteExecutor, sqlite::SqlitePool};

pub(crate) use self::sync::{RoomChanges, SyncChanges};
use crate::{
    error::{Error, Result},
    session::Session,
};

/// Where a client keeps what it learned from the server.
#[derive(Clone, Debug)]
pub struct Store {
    pool: SqlitePool,
}

/// Latest events kept per room; older history is paginated from the server.
const RECENT_EVENTS: i64 = 100;

impl Store {
    /// Opens (or creates) a store in the SQLite file at `path`.
    pub async fn open(path: impl AsRef<Path>) -> Result<Self> {
        Self::ready(sqlite::open(path).await?).await
    }

    /// A store that lives as long as the client (nothing survives a restart).
    pub async fn in_memory() -> Result<Self> {
        Self::ready(sqlite::in_memory().await?).await
    }

    async fn ready(pool: SqlitePool) -> Result<Self> {
        schema::migrate(&pool).await?;
        Ok(Self { pool })
    }

    async fn value(&self, key: &str) -> Result<Option<String>> {
        Ok(sqlx::query_scalar("SELECT value FROM kv WHERE key = ?")
            .bind(key)
            .fetch_optional(&self.pool)
            .await?)
    }

    /// The saved session, if the client logged in before.
    pub(crate) async fn session(&self) -> Result<Option<Session>> {
        match self.value("session").await? {
            Some(json) => Ok(Some(serde_json::from_str(&json)?)),
            None => Ok(None),
        }
    }

    pub(crate) async fn save_session(&self, session: &Session) -> Result<()> {
        put_value(&self.pool, "session", &serde_json::to_string(session)?).await
    }

    /// Forgets the session and everything synced with it.
    pub(crate) async fn clear(&self) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        for table in schema::TABLES {
            sqlx::query(sqlx::AssertSqlSafe(format!("DELETE FROM {table}")))
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// A device's pickled crypto state, if any.
    pub(crate) async fn crypto_state(&self, device_id: &str) -> Result<Option<String>> {
        self.value(&format!("crypto:{device_id}")).await
    }

    pub(crate) async fn save_crypto_state(&self, device_id: &str, json: &str) -> Result<()> {
        put_value(&self.pool, &format!("crypto:{device_id}"), json).await
    }

    /// The key that encrypts crypto secrets, from `passphrase` and the
    /// store's own random salt (made on first use).
    pub(crate) async fn pickle_key(&self, passphrase: &str) -> Result<[u8; 32]> {
        let salt = match self.value("pickle_salt").await? {
            Some(salt) => salt,
            None => {
                let mut bytes = [0u8; 16];
                getrandom::fill(&mut bytes).map_err(|e| Error::Invalid(e.to_string()))?;
                let salt: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
                put_value(&self.pool, "pickle_salt", &salt).await?;
                salt
            }
        };
        let mut key = [0u8; 32];
        argon2::Argon2::default()
            .hash_password_into(passphrase.as_bytes(), salt.as_bytes(), &mut key)
            .map_err(|e| Error::Invalid(format!("cannot derive the store key: {e}")))?;
        Ok(key)
    }

    /// Where the next sync continues from.
    pub(crate) async fn sync_token(&self) -> Result<Option<String>> {
        self.value("sync_token").await
    }

    /// Rooms the user is or was in, with their membership.
    pub(crate) async fn rooms(&self) -> Result<Vec<(String, String)>> {
        let rows = sqlx::query("SELECT room_id, membership FROM rooms ORDER BY room_id")
            .fetch_all(&self.pool)
            .await?;
        Ok(rows.iter().map(|row| (row.get(0), row.get(1))).collect())
    }

    pub(crate) async fn membership(&self, room_id: &str) -> Result<Option<String>> {
        Ok(sqlx::query_scalar("SELECT membership FROM rooms WHERE room_id = ?")
            .bind(room_id)
            .fetch_optional(&self.pool)
            .await?)
    }

    /// One state event of a room, as JSON.
    pub(crate) async fn state_event(
        &self,
        room_id: &str,
        event_type: &str,
        state_key: &str,
    ) -> Result<Option<String>> {
        Ok(sqlx::query_scalar(
            "SELECT event FROM room_state WHERE room_id = ? AND event_type = ? AND state_key = ?",
        )
        .bind(room_id)
        .bind(event_type)
        .bind(state_key)
        .fetch_optional(&self.pool)
        .await?)
    }

    /// All state events of one type in a room, as JSON.
    pub(crate) async fn state_events(
        &self,
        room_id: &str,
        event_type: &str,
    ) -> Result<Vec<String>> {
        Ok(sqlx::query_scalar(
            "SELECT event FROM room_state WHERE room_id = ? AND event_type = ? ORDER BY state_key",
        )
        .bind(room_id)
        .bind(event_type)
        .fetch_all(&self.pool)
        .await?)
    }

    /// The latest events of a room, oldest first, as JSON.
    pub(crate) async fn latest_events(&self, room_id: &str) -> Result<Vec<String>> {
        let mut events: Vec<String> = sqlx::query_scalar(
            "SELECT event FROM timeline WHERE room_id = ? ORDER BY seq DESC LIMIT ?",
        )
        .bind(room_id)
        .bind(RECENT_EVENTS)
        .fetch_all(&self.pool)
        .await?;
        events.reverse();
        Ok(events)
    }

    pub(crate) async fn save_account_data(&self, event_type: &str, content: &str) -> Result<()> {
        put_account_data(&self.pool, event_type, content).await
    }

    /// Global account data of one type, as JSON content.
    pub(crate) async fn account_data(&self, event_type: &str) -> Result<Option<String>> {
        Ok(sqlx::query_scalar("SELECT content FROM account_data WHERE event_type = ?")
            .bind(event_type)
            .fetch_optional(&self.pool)
            .await?)
    }
}

/// Sets a key of the store's key-value table.
async fn put_value<'e>(db: impl SqliteExecutor<'e>, key: &str, value: &str) -> Result<()> {
    sqlx::query(
        "INSERT INTO kv (key, value) VALUES (?, ?) \
         ON CONFLICT (key) DO UPDATE SET value = excluded.value",
    )
    .bind(key)
    .bind(value)
    .execute(db)
    .await?;
    Ok(())
}

/// Replaces one type of global account data.
async fn put_account_data<'e>(
    db: impl SqliteExecutor<'e>,
    event_type: &str,
    content: &str,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO account_data (event_type, content) VALUES (?, ?) \
         ON CONFLICT (event_type) DO UPDATE SET content = excluded.content",
    )
    .bind(event_type)
    .bind(content)
    .execute(db)
    .await?;
    Ok(())
}
