//! Instances sharing one PostgreSQL database: their registration, which
//! one writes each room, and the lock that keeps event stream positions in
//! commit order. SQLite has one process, so none of this runs there.

use sqlx::{Any, Executor, Postgres, Transaction};

use super::{Backend, Store};
use crate::error::{Error, Result};

/// The first key of every advisory lock Lattice takes ("La").
pub const LOCK_CLASS: i32 = 0x4c61;
/// The second key of the lock held while a transaction writes events.
const EVENT_STREAM_LOCK: i32 = 0;
/// The second key of the lock the instance running the background jobs holds.
pub const JOBS_LOCK: i32 = -1;

/// Takes the advisory lock that says instance `id` runs; false when
/// another running process holds it (the name is in use).
pub async fn claim_instance_lock<'e>(
    conn: impl Executor<'e, Database = Postgres>,
    id: i32,
) -> Result<bool> {
    Ok(sqlx::query_scalar("SELECT pg_try_advisory_lock($1, $2)")
        .bind(LOCK_CLASS)
        .bind(id)
        .fetch_one(conn)
        .await?)
}

impl Store {
    /// Takes a name's instance id (the same one each time it starts).
    pub async fn register_instance(&self, name: &str, now_ms: i64) -> Result<i32> {
        // Two instances starting at once may pick the same id: the loser asks again.
        let mut last = None;
        for _ in 0..8 {
            let taken = sqlx::query_scalar::<_, i64>(
                "INSERT INTO cluster_instances (id, name, started_at) \
                 VALUES ((SELECT COALESCE(MAX(id), 0) + 1 FROM cluster_instances), $1, $2) \
                 ON CONFLICT (name) DO UPDATE SET started_at = excluded.started_at RETURNING id",
            )
            .bind(name)
            .bind(now_ms)
            .fetch_one(&self.pool)
            .await;
            match taken {
                Ok(id) => return i32::try_from(id).map_err(Error::internal),
                Err(e) => last = Some(e),
            }
        }
        Err(Error::internal(format!("cannot register this instance: {last:?}")))
    }

    /// Makes `instance` the writer of `room_id` if the room has none, has
    /// this one, or has one that no longer runs; returns the writer now.
    /// None for a room this server does not know, unless `new_room` (it is
    /// being created or joined).
    pub async fn take_room_writer(
        &self,
        room_id: &str,
        instance: i32,
        new_room: bool,
    ) -> Result<Option<i32>> {
        let taken: Option<i64> = sqlx::query_scalar(
            "INSERT INTO room_writers (room_id, instance) SELECT $1, $2 \
             WHERE $4 OR EXISTS (SELECT 1 FROM rooms WHERE room_id = $1) \
             ON CONFLICT (room_id) DO UPDATE SET instance = excluded.instance \
             WHERE room_writers.instance = excluded.instance OR NOT EXISTS ( \
                 SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND classid = $3 \
                 AND objid = room_writers.instance AND objsubid = 2 AND granted \
                 AND database = (SELECT oid FROM pg_database WHERE datname = current_database())) \
             RETURNING instance",
        )
        .bind(room_id)
        .bind(i64::from(instance))
        .bind(i64::from(LOCK_CLASS))
        .bind(new_room)
        .fetch_optional(&self.pool)
        .await?;
        let writer = match taken {
            Some(writer) => Some(writer),
            None => {
                sqlx::query_scalar("SELECT instance FROM room_writers WHERE room_id = $1")
                    .bind(room_id)
                    .fetch_optional(&self.pool)
                    .await?
            }
        };
        writer.map(|w| i32::try_from(w).map_err(Error::internal)).transpose()
    }

    /// Hands a room this instance writes to instance `to`; false if it was
    /// not this instance's to give.
    pub async fn hand_room_writer(&self, room_id: &str, from: i32, to: i32) -> Result<bool> {
        let moved = sqlx::query(
            "UPDATE room_writers SET instance = $1 WHERE room_id = $2 AND instance = $3",
        )
        .bind(i64::from(to))
        .bind(room_id)
        .bind(i64::from(from))
        .execute(&self.pool)
        .await?;
        Ok(moved.rows_affected() == 1)
    }

    /// Gives up every room `instance` writes, and its registration (a
    /// graceful stop; a name that comes back registers again).
    pub async fn leave_cluster(&self, instance: i32) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        for sql in [
            "DELETE FROM room_writers WHERE instance = $1",
            "DELETE FROM cluster_instances WHERE id = $1",
        ] {
            sqlx::query(sql).bind(i64::from(instance)).execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// The instance whose room leases fence this store's event writes, once
    /// the cluster has registered it.
    pub fn set_writer_instance(&self, instance: i32) {
        let _ = self.writer_instance.set(instance);
    }
}

/// On PostgreSQL, at the start of a transaction that writes events: waits
/// for any other instance's event transaction to end, so stream positions
/// (taken after this) commit in the order they were given and a reader
/// that saw position N never misses an N-1 committed later. With `fence`,
/// checks that each of `rooms` is still this instance's to write, and
/// keeps their rows locked until the commit so none is taken meanwhile.
pub(super) async fn lock_event_stream(
    tx: &mut Transaction<'_, Any>,
    backend: Backend,
    fence: Option<i32>,
    rooms: &[&str],
) -> Result<()> {
    if backend != Backend::Postgres {
        return Ok(());
    }
    sqlx::query("SELECT pg_advisory_xact_lock($1, $2)")
        .bind(LOCK_CLASS)
        .bind(EVENT_STREAM_LOCK)
        .execute(&mut **tx)
        .await?;
    let Some(instance) = fence else { return Ok(()) };
    if rooms.is_empty() {
        return Ok(());
    }
    let list = (0..rooms.len()).map(|i| format!("${}", i + 2)).collect::<Vec<_>>().join(", ");
    let sql = format!(
        "SELECT room_id FROM room_writers WHERE instance = $1 AND room_id IN ({list}) FOR SHARE"
    );
    let mut query =
        sqlx::query_scalar::<_, String>(sqlx::AssertSqlSafe(sql)).bind(i64::from(instance));
    for room in rooms {
        query = query.bind(*room);
    }
    let held = query.fetch_all(&mut **tx).await?;
    if let Some(lost) = rooms.iter().find(|room| !held.iter().any(|h| h == *room)) {
        return Err(Error::RoomMoving(lost.to_string()));
    }
    Ok(())
}
