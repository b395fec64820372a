//! Simplified sliding sync (MSC4186): connections, the positions handed to
//! clients, what each position had sent of each room, and the per-room
//! figures a room list is sorted by.

use sqlx::{Any, Transaction};

use super::ReceiptRow;
use super::{
    Store,
    device_keys::{DeviceSelector, next_position},
    now_ms,
};
use crate::error::Result;

/// What a connection had sent of one room, as of some position.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct SlidingRoomRow {
    pub room_id: String,
    /// `join`, `invite` or `leave`, as the room was last sent.
    pub membership: String,
    /// The event stream position its timeline was sent up to.
    pub stream: i64,
    /// The required_state it was sent with and the members sent for
    /// `$LAZY` (JSON, the service's to read).
    pub config: String,
}

/// A position handed to a client: the stream positions its answer was
/// made at and each list's room count (JSON).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct SlidingPositionRow {
    pub tokens: String,
    pub list_counts: String,
}

/// One of a user's rooms as a room list sees it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ListedRoomRow {
    pub room_id: String,
    pub membership: String,
    /// The stream position of the user's membership event.
    pub member_stream: i64,
    /// The room's newest event (none when the room is not known here).
    pub latest: Option<i64>,
    /// The room's newest event of a kind that moves it up a list.
    pub bump: Option<i64>,
}

/// Event types that move a room up a list; others (state, reactions,
/// receipts) do not reorder it. The same set as Synapse, so a room sorts
/// the same on any server.
pub const BUMP_EVENT_TYPES: &str = "'m.room.create', 'm.room.message', 'm.room.encrypted', \
     'm.sticker', 'm.call.invite', 'm.poll.start', 'm.beacon_info'";

/// Forgets what a connection's positions sent (its rows, not its key).
async fn clear_connection(tx: &mut Transaction<'_, Any>, conn_key: i64) -> Result<()> {
    for sql in [
        "DELETE FROM sliding_positions WHERE conn_key = $1",
        "DELETE FROM sliding_rooms WHERE conn_key = $1",
    ] {
        sqlx::query(sql).bind(conn_key).execute(&mut **tx).await?;
    }
    Ok(())
}

/// Removes the sliding sync connections of a user's devices (one, or all but one).
pub(super) async fn forget_sliding_connections(
    tx: &mut Transaction<'_, Any>,
    user_id: &str,
    device: DeviceSelector<'_>,
) -> Result<()> {
    let (matches, device_id) = match device {
        DeviceSelector::Only(id) => ("=", id),
        DeviceSelector::AllBut(id) => ("<>", id),
    };
    let keys = format!(
        "SELECT conn_key FROM sliding_connections WHERE user_id = $1 AND device_id {matches} $2"
    );
    for table in ["sliding_positions", "sliding_rooms", "sliding_connections"] {
        let sql = format!("DELETE FROM {table} WHERE conn_key IN ({keys})");
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(user_id)
            .bind(device_id)
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}

impl Store {
    /// Starts a connection afresh (a request without `pos`): what an
    /// earlier connection of the same id sent is forgotten. Returns its key.
    pub async fn reset_sliding_connection(
        &self,
        user_id: &str,
        device_id: &str,
        conn_id: &str,
    ) -> Result<i64> {
        let mut tx = self.begin().await?;
        let existing: Option<i64> = sqlx::query_scalar(
            "SELECT conn_key FROM sliding_connections \
             WHERE user_id = $1 AND device_id = $2 AND conn_id = $3",
        )
        .bind(user_id)
        .bind(device_id)
        .bind(conn_id)
        .fetch_optional(&mut *tx)
        .await?;
        let key = match existing {
            Some(key) => {
                clear_connection(&mut tx, key).await?;
                sqlx::query("UPDATE sliding_connections SET last_used = $2 WHERE conn_key = $1")
                    .bind(key)
                    .bind(now_ms())
                    .execute(&mut *tx)
                    .await?;
                key
            }
            None => {
                let key = next_position(&mut tx, "sliding_sync").await?;
                sqlx::query(
                    "INSERT INTO sliding_connections (conn_key, user_id, device_id, conn_id, last_used) \
                     VALUES ($1, $2, $3, $4, $5)",
                )
                .bind(key)
                .bind(user_id)
                .bind(device_id)
                .bind(conn_id)
                .bind(now_ms())
                .execute(&mut *tx)
                .await?;
                key
            }
        };
        tx.commit().await?;
        Ok(key)
    }

    /// Resumes a connection at position `pos`: its key, the position and
    /// what had been sent of each room as of it (rows of later positions,
    /// answers lost on the way, do not count); None when the connection or
    /// the position is unknown. Only reads: the cleaning up waits for the
    /// next answer's write.
    pub async fn resume_sliding_connection(
        &self,
        user_id: &str,
        device_id: &str,
        conn_id: &str,
        pos: i64,
    ) -> Result<Option<(i64, SlidingPositionRow, Vec<SlidingRoomRow>)>> {
        let found: Option<(i64, String, String)> = sqlx::query_as(
            "SELECT c.conn_key, p.tokens, p.list_counts FROM sliding_connections c \
             JOIN sliding_positions p ON p.conn_key = c.conn_key \
             WHERE c.user_id = $1 AND c.device_id = $2 AND c.conn_id = $3 AND p.pos = $4",
        )
        .bind(user_id)
        .bind(device_id)
        .bind(conn_id)
        .bind(pos)
        .fetch_optional(&self.pool)
        .await?;
        let Some((key, tokens, list_counts)) = found else {
            return Ok(None);
        };
        // Oldest first: a room's newest row as of `pos` is the last one kept.
        let rows: Vec<SlidingRoomRow> = sqlx::query_as(
            "SELECT room_id, membership, stream, config FROM sliding_rooms \
             WHERE conn_key = $1 AND pos <= $2 ORDER BY room_id, pos",
        )
        .bind(key)
        .bind(pos)
        .fetch_all(&self.pool)
        .await?;
        let mut rooms: Vec<SlidingRoomRow> = Vec::with_capacity(rows.len());
        for row in rows {
            match rooms.last_mut() {
                Some(last) if last.room_id == row.room_id => *last = row,
                _ => rooms.push(row),
            }
        }
        Ok(Some((key, SlidingPositionRow { tokens, list_counts }, rooms)))
    }

    /// Whether a connection's position still stands (a copy of it kept in
    /// memory counts only while it does: a logout, a new start of the
    /// connection or a later answer may have dropped it).
    pub async fn sliding_position_exists(&self, conn_key: i64, pos: i64) -> Result<bool> {
        Ok(sqlx::query_scalar::<_, i64>(
            "SELECT pos FROM sliding_positions WHERE pos = $1 AND conn_key = $2",
        )
        .bind(pos)
        .bind(conn_key)
        .fetch_optional(&self.pool)
        .await?
        .is_some())
    }

    /// Records an answer of a connection: a new position, and what it sent
    /// of each room it sent. The position the request came from
    /// (`confirmed`: the client got its answer) stays, for a retry; those
    /// before it, and those after it (answers the client did not get, whose
    /// rows no longer count), go. Returns the new position.
    pub async fn save_sliding_position(
        &self,
        conn_key: i64,
        confirmed: Option<i64>,
        position: &SlidingPositionRow,
        rooms: &[SlidingRoomRow],
    ) -> Result<i64> {
        let mut tx = self.begin().await?;
        if let Some(confirmed) = confirmed {
            for sql in [
                "DELETE FROM sliding_positions WHERE conn_key = $1 AND pos <> $2",
                "DELETE FROM sliding_rooms WHERE conn_key = $1 AND pos > $2",
                // Of each room, the row as of the confirmed position is enough.
                "DELETE FROM sliding_rooms WHERE conn_key = $1 AND pos < ( \
                   SELECT MAX(r.pos) FROM sliding_rooms r \
                   WHERE r.conn_key = sliding_rooms.conn_key AND r.room_id = sliding_rooms.room_id)",
            ] {
                sqlx::query(sql).bind(conn_key).bind(confirmed).execute(&mut *tx).await?;
            }
        }
        sqlx::query("UPDATE sliding_connections SET last_used = $2 WHERE conn_key = $1")
            .bind(conn_key)
            .bind(now_ms())
            .execute(&mut *tx)
            .await?;
        let pos = next_position(&mut tx, "sliding_sync").await?;
        sqlx::query(
            "INSERT INTO sliding_positions (pos, conn_key, tokens, list_counts) VALUES ($1, $2, $3, $4)",
        )
        .bind(pos)
        .bind(conn_key)
        .bind(&position.tokens)
        .bind(&position.list_counts)
        .execute(&mut *tx)
        .await?;
        // Many rows per statement: a first answer may send hundreds of rooms.
        for chunk in rooms.chunks(100) {
            let values: Vec<String> = (0..chunk.len())
                .map(|i| {
                    let n = i * 4 + 3;
                    format!("($1, ${}, $2, ${}, ${}, ${})", n, n + 1, n + 2, n + 3)
                })
                .collect();
            let sql = format!(
                "INSERT INTO sliding_rooms (conn_key, room_id, pos, membership, stream, config) \
                 VALUES {}",
                values.join(", ")
            );
            let mut query = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(conn_key).bind(pos);
            for room in chunk {
                query = query
                    .bind(&room.room_id)
                    .bind(&room.membership)
                    .bind(room.stream)
                    .bind(&room.config);
            }
            query.execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(pos)
    }

    /// The receipts a room shows when first sent: the user's own in
    /// `rooms`, and everyone's on the events in `events` (its timeline).
    pub async fn receipts_on(
        &self,
        user_id: &str,
        rooms: &[String],
        events: &[String],
    ) -> Result<Vec<ReceiptRow>> {
        if rooms.is_empty() {
            return Ok(Vec::new());
        }
        let list = |from: usize, n: usize| {
            (from..from + n).map(|i| format!("${i}")).collect::<Vec<_>>().join(", ")
        };
        let events_clause = match events.is_empty() {
            true => String::new(),
            false => format!(" OR event_id IN ({})", list(rooms.len() + 2, events.len())),
        };
        let sql = format!(
            "SELECT room_id, user_id, receipt_type, thread_id, event_id, ts FROM receipts \
             WHERE room_id IN ({}) AND (user_id = $1{events_clause}) ORDER BY stream_id",
            list(2, rooms.len())
        );
        let mut query = sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(user_id);
        for value in rooms.iter().chain(events) {
            query = query.bind(value);
        }
        Ok(query.fetch_all(&self.pool).await?)
    }

    /// The user's joined, invited and knocked rooms with what a room list
    /// sorts and filters them by, as of stream position `up_to`: one query.
    pub async fn listed_rooms(&self, user_id: &str, up_to: i64) -> Result<Vec<ListedRoomRow>> {
        let sql = format!(
            "SELECT c.room_id, c.membership, \
               COALESCE((SELECT m.stream FROM events m WHERE m.event_id = c.event_id), 0) \
                 AS member_stream, \
               (SELECT MAX(e.stream) FROM events e \
                 WHERE e.room_id = c.room_id AND e.stream <= $2) AS latest, \
               (SELECT MAX(b.stream) FROM events b \
                 WHERE b.room_id = c.room_id AND b.stream <= $2 \
                 AND b.event_type IN ({BUMP_EVENT_TYPES})) AS bump \
             FROM current_state c \
             WHERE c.event_type = 'm.room.member' AND c.state_key = $1 \
               AND c.membership IN ('join', 'invite', 'knock')"
        );
        Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(user_id)
            .bind(up_to)
            .fetch_all(&self.pool)
            .await?)
    }
}
