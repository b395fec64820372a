//! Content reports: what users reported (an event or a whole room) and
//! why, for the server's admins.

use super::{Store, now_ms};
use crate::error::Result;

/// A stored report: of an event, or (no `event_id`) of a whole room.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ReportRow {
    pub received_at: i64,
    pub reporter: String,
    pub room_id: String,
    pub event_id: Option<String>,
    pub reason: Option<String>,
}

impl Store {
    pub async fn add_report(
        &self,
        reporter: &str,
        room_id: &str,
        event_id: Option<&str>,
        reason: Option<&str>,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO reports (received_at, reporter, room_id, event_id, reason) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(now_ms())
        .bind(reporter)
        .bind(room_id)
        .bind(event_id)
        .bind(reason)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The newest reports first.
    pub async fn reports(&self, limit: i64) -> Result<Vec<ReportRow>> {
        Ok(sqlx::query_as(
            "SELECT received_at, reporter, room_id, event_id, reason FROM reports ORDER BY received_at DESC LIMIT $1",
        )
        .bind(limit)
        .fetch_all(&self.pool)
        .await?)
    }
}
