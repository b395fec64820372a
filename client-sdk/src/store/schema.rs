//! The store's tables. The schema's version is SQLite's `user_version`;
//! each step runs once, in order.

use sqlx::SqlitePool;

use crate::error::Result;

/// Tables cleared on logout.
pub(super) const TABLES: [&str; 5] = ["kv", "rooms", "room_state", "timeline", "account_data"];

const STEPS: &[&str] = &["
    CREATE TABLE kv (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    CREATE TABLE rooms (room_id TEXT PRIMARY KEY, membership TEXT NOT NULL);
    CREATE TABLE room_state (
        room_id    TEXT NOT NULL,
        event_type TEXT NOT NULL,
        state_key  TEXT NOT NULL,
        event      TEXT NOT NULL,
        PRIMARY KEY (room_id, event_type, state_key)
    );
    CREATE TABLE timeline (
        seq     INTEGER PRIMARY KEY AUTOINCREMENT,
        room_id TEXT NOT NULL,
        event   TEXT NOT NULL
    );
    CREATE INDEX timeline_by_room ON timeline (room_id, seq);
    CREATE TABLE account_data (event_type TEXT PRIMARY KEY, content TEXT NOT NULL);
"];

pub(super) async fn migrate(pool: &SqlitePool) -> Result<()> {
    let mut conn = pool.acquire().await?;
    let version: i64 = sqlx::query_scalar("PRAGMA user_version").fetch_one(&mut *conn).await?;
    for (index, step) in STEPS.iter().enumerate().skip(version.max(0) as usize) {
        let mut tx = sqlx::Connection::begin(&mut *conn).await?;
        sqlx::raw_sql(sqlx::AssertSqlSafe(*step)).execute(&mut *tx).await?;
        let bump = format!("PRAGMA user_version = {}", index + 1);
        sqlx::query(sqlx::AssertSqlSafe(bump)).execute(&mut *tx).await?;
        tx.commit().await?;
    }
    Ok(())
}
