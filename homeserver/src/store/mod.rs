//! The store: every SQL statement the server runs lives below this module.
//!
//! One dialect serves both backends (sqlx's `Any` driver, `$n` placeholders,
//! BIGINT columns, 0/1 flags); only the migrations differ per backend.

/// The columns an [`EventRow`] is read from, written once for every query
/// that returns one: `event_columns!()`, or `event_columns!(e)` where the
/// events table goes by the alias `e`. A literal, so `concat!` can splice it.
macro_rules! event_columns {
    ($($t:ident)?) => {
        concat!(
            $(stringify!($t), ".",)? "stream, ",
            $(stringify!($t), ".",)? "event_id, ",
            $(stringify!($t), ".",)? "room_id, ",
            $(stringify!($t), ".",)? "pdu, ",
            $(stringify!($t), ".",)? "state_group, ",
            $(stringify!($t), ".",)? "sender_device, ",
            $(stringify!($t), ".",)? "txn_id, ",
            $(stringify!($t), ".",)? "redacted_by"
        )
    };
}

mod account_data;
mod admin_rooms;
mod appservice;
mod backup;
mod checkpoint;
pub mod cluster;
mod copy;
mod delayed_events;
mod device_keys;
mod encryption;
mod ephemeral;
mod event_batch;
mod event_writes;
mod events;
mod export;
mod extremities;
mod federation;
mod inventory;
mod keys;
mod media;
mod memo;
mod migrations;
mod push_notifications;
mod pushers;
mod registration_tokens;
mod relations;
mod reports;
mod retention;
mod search;
mod second_factors;
mod security;
mod sessions;
mod sliding_sync;
mod snapshot;
mod sqlcipher;
mod state;
mod threepids;
mod to_device;
mod uia;
mod unread;
mod user_directory;
mod users;
mod web_sessions;
mod webauthn;

use std::{
    str::FromStr,
    sync::{
        Arc,
        atomic::{AtomicI64, Ordering},
    },
    time::Duration,
};

use sqlx::{
    Any, AnyPool, Connection, Executor,
    any::{AnyConnectOptions, AnyPoolOptions},
    pool::PoolConnection,
};

use self::memo::Memo;
pub use self::{
    admin_rooms::SummaryRow,
    appservice::AppserviceTxnRow,
    backup::{BackupKeyRow, BackupVersionRow},
    copy::CopyReport,
    delayed_events::DelayedEventRow,
    device_keys::OneTimeKeyRow,
    ephemeral::{PresenceRow, ReceiptRow},
    event_writes::{NewEvent, ResolvedState, StateEntry, StateGroupCache},
    events::EventRow,
    export::UploadRow,
    federation::{BackfilledEvent, OutboxRow},
    media::MediaRow,
    push_notifications::{ListedNotification, NotificationRow, RoomPusher},
    pushers::PusherRow,
    registration_tokens::TokenRow,
    retention::RetentionRow,
    search::SearchOrder,
    sessions::{DeviceRow, NewSession, TokenLookup},
    sliding_sync::{BUMP_EVENT_TYPES, ListedRoomRow, SlidingPositionRow, SlidingRoomRow},
    sqlcipher::{DatabaseKey, file_options as sqlite_file_options},
    state::StateRow,
    threepids::{ThreepidRow, ValidationRow},
    to_device::{AddressedToDevice, QueuedToDevice, ToDeviceRow},
    user_directory::{DirectoryEntry, DirectoryScope},
    users::UserRow,
    webauthn::WebauthnCredentialRow,
};
use crate::error::{Error, Result};

/// Which database is behind the pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A handle on the database; cheap to clone.
#[derive(Clone, Debug)]
pub struct Store {
    pool: AnyPool,
    backend: Backend,
    /// The newest stream position of a membership event this process
    /// stored. With SQLite this process is the only writer, so "which
    /// memberships changed since" (asked by every sync) needs no query
    /// when none did.
    members_moved: Arc<AtomicI64>,
    /// Each user's memberships (read by every sync).
    memberships: Arc<Memo<String, Vec<(String, String)>>>,
    /// Each device's one-time key counts and fallback keys (read by every sync).
    key_summaries: Arc<Memo<(String, String), Vec<device_keys::KeySummaryRow>>>,
    /// Each user's read position per room (read by every sync); moved only
    /// by the user's own events and receipts.
    read_positions: Arc<Memo<String, Vec<(String, i64)>>>,
    /// SQLite checkpoints, started by the writer's commits.
    checkpoints: Arc<checkpoint::Checkpoints>,
    /// The events something relates to (asked by every page of events).
    relation_targets: Arc<relations::RelationTargets>,
    /// This instance's id among those sharing a PostgreSQL database: its
    /// event writes check that it still writes their rooms.
    writer_instance: Arc<std::sync::OnceLock<i32>>,
}

impl Store {
    /// Connects to `url` (sqlite:// or postgres://) and applies pending migrations.
    pub async fn open(url: &str, max_connections: u32) -> Result<Self> {
        Self::open_encrypted(url, max_connections, &[]).await
    }

    /// [`Store::open`] with SQLite encrypted under the first of `keys`
    /// (SQLCipher); the others are earlier keys the file may still be
    /// under. PostgreSQL ignores them: its disk encryption is its own.
    pub async fn open_encrypted(
        url: &str,
        max_connections: u32,
        keys: &[DatabaseKey],
    ) -> Result<Self> {
        sqlx::any::install_default_drivers();
        let backend = if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            Backend::Postgres
        } else {
            return Err(Error::internal(format!(
                "unsupported database url `{url}`: use sqlite:// or postgres://"
            )));
        };
        let key = match (backend, sqlcipher::sqlite_file(url)) {
            (Backend::Sqlite, Some(path)) => {
                sqlcipher::prepare(&path, keys).await?;
                keys.first().map(DatabaseKey::pragma)
            }
            _ => None,
        };
        let options = AnyConnectOptions::from_str(url)?;
        let pool = AnyPoolOptions::new()
            // The event writer keeps one connection; the rest serve reads.
            .max_connections(max_connections.max(2))
            .acquire_timeout(Duration::from_secs(10))
            // A SQLite connection cannot drop like a socket, and pinging it
            // is a round trip to its thread before every statement.
            .test_before_acquire(backend == Backend::Postgres)
            .after_connect(move |conn, _meta| {
                let key = key.clone();
                Box::pin(async move {
                    // SQLCipher's key comes before anything reads a page.
                    if let Some(key) = key {
                        conn.execute(sqlx::AssertSqlSafe(key)).await?;
                    }
                    if backend == Backend::Sqlite {
                        // WAL lets readers run beside the writer; FULL syncs
                        // every commit so an answered write survives a crash.
                        // Temporary files (statement journals of multi-row
                        // INSERTs, sorts) stay in memory: creating and
                        // unlinking a file per statement cost 10% of a send.
                        conn.execute(
                            "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; \
                             PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 10000; \
                             PRAGMA temp_store = MEMORY;",
                        )
                        .await?;
                    }
                    Ok(())
                })
            })
            .connect_with(options)
            .await?;
        migrations::migrator(backend)
            .run(&pool)
            .await
            .map_err(|e| Error::internal(format!("migration failed: {e}")))?;
        let sqlite = backend == Backend::Sqlite;
        let mut store = Self {
            pool,
            backend,
            members_moved: Arc::default(),
            memberships: Arc::new(Memo::new(sqlite)),
            key_summaries: Arc::new(Memo::new(sqlite)),
            read_positions: Arc::new(Memo::new(sqlite)),
            checkpoints: Arc::default(),
            relation_targets: Arc::default(),
            writer_instance: Arc::default(),
        };
        store.relation_targets = Arc::new(store.load_relation_targets().await?);
        // Anything stored before this start counts as possibly moved.
        store.members_moved.store(store.max_event_stream().await?, Ordering::Release);
        Ok(store)
    }

    /// Notes that membership events were stored up to stream `position`.
    pub(crate) fn members_moved_to(&self, position: i64) {
        self.members_moved.fetch_max(position, Ordering::AcqRel);
    }

    /// Whether no membership event can have been stored after `since`
    /// (known only with SQLite, where this process is the only writer).
    pub(crate) fn no_member_events_after(&self, since: i64) -> bool {
        self.backend == Backend::Sqlite && self.members_moved.load(Ordering::Acquire) <= since
    }

    /// Starts a write transaction. On SQLite it takes the write lock at once
    /// (BEGIN IMMEDIATE): a transaction that reads first and writes later
    /// would fail with "database is locked" instead of waiting if another
    /// writer committed in between.
    pub(crate) async fn begin(&self) -> Result<sqlx::Transaction<'static, sqlx::Any>> {
        Ok(self.pool.begin_with(self.begin_statement()).await?)
    }

    fn begin_statement(&self) -> &'static str {
        match self.backend {
            Backend::Sqlite => "BEGIN IMMEDIATE",
            Backend::Postgres => "BEGIN",
        }
    }

    /// A connection of the pool kept by one long-lived user (the event
    /// writer): with SQLite its page cache then stays warm, where a pooled
    /// connection re-reads every page after another connection wrote.
    pub async fn dedicated(&self) -> Result<PoolConnection<Any>> {
        let mut conn = self.pool.acquire().await?;
        self.prepare_writer(&mut conn).await?;
        Ok(conn)
    }

    /// Resolves once [`Store::close`] was called: holders of a dedicated
    /// connection give it back then, or closing would wait for them forever.
    pub fn closing(&self) -> impl Future<Output = ()> + use<> {
        self.pool.close_event()
    }

    /// Starts a write transaction on a connection of one's own (see
    /// [`Store::begin`]).
    pub(crate) async fn begin_on<'c>(
        &self,
        conn: &'c mut PoolConnection<Any>,
    ) -> Result<sqlx::Transaction<'c, Any>> {
        Ok(conn.begin_with(self.begin_statement()).await?)
    }

    /// Connections open and idle in the pool.
    pub fn pool_use(&self) -> (u32, usize) {
        (self.pool.size(), self.pool.num_idle())
    }

    /// A trivial query, for readiness checks.
    pub async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Closes every connection; used on shutdown so SQLite checkpoints its WAL.
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

/// Ids read back from the database, typed: they were checked when they
/// were written, so one that does not parse is damage worth an error.
fn typed_ids<T: TryFrom<String>>(ids: Vec<String>) -> Result<Vec<T>> {
    ids.into_iter()
        .map(|id| T::try_from(id.clone()).map_err(|_| Error::internal(format!("stored id {id:?}"))))
        .collect()
}

/// Milliseconds since the Unix epoch, the unit of every timestamp column.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or_default()
}
