//! SQLite checkpoints off the event writer's path. By default the connection
//! whose commit takes the WAL past 1,000 pages copies the WAL into the
//! database file inside that commit: the event writer, with every sender
//! of the batch waiting on it. The writer's connection instead checkpoints
//! only as a backstop, and every few batches a pooled connection runs a
//! passive checkpoint on another thread while the writer goes on.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use sqlx::{Any, Executor, pool::PoolConnection};

use super::{Backend, Store};
use crate::error::Result;

/// Committed batches between two passive checkpoints.
const BATCHES_BETWEEN: u64 = 16;

/// The writer connection's own checkpoint threshold, in pages: reached only
/// if the passive checkpoints fall behind (a reader holding an old snapshot).
const BACKSTOP_PAGES: u32 = 10_000;

#[derive(Debug, Default)]
pub(super) struct Checkpoints {
    batches: AtomicU64,
    running: AtomicBool,
}

impl Store {
    /// Readies the event writer's connection (see the module comment).
    pub(super) async fn prepare_writer(&self, conn: &mut PoolConnection<Any>) -> Result<()> {
        if self.backend == Backend::Sqlite {
            let pragma = format!("PRAGMA wal_autocheckpoint = {BACKSTOP_PAGES}");
            conn.execute(sqlx::AssertSqlSafe(pragma)).await?;
        }
        Ok(())
    }

    /// Called by the writer after each committed batch; starts a passive
    /// checkpoint every [`BATCHES_BETWEEN`] batches unless one is running.
    pub(super) fn batch_committed(&self) {
        let checkpoints = &self.checkpoints;
        if self.backend != Backend::Sqlite
            || !(checkpoints.batches.fetch_add(1, Ordering::Relaxed) + 1)
                .is_multiple_of(BATCHES_BETWEEN)
            || checkpoints.running.swap(true, Ordering::AcqRel)
        {
            return;
        }
        let (pool, checkpoints) = (self.pool.clone(), checkpoints.clone());
        tokio::spawn(async move {
            if let Err(error) = pool.execute("PRAGMA wal_checkpoint(PASSIVE)").await {
                tracing::warn!(%error, "WAL checkpoint failed");
            }
            checkpoints.running.store(false, Ordering::Release);
        });
    }
}
