//! Content reports: what users reported (an event or a whole room) and
//! why, for the server's admins.

use super::{Store, now_ms};
use crate::error::Result;

/// A stored report: (received_at, reporter, room, event, reason).
pub type ReportRow = (i64, String, String, Option<String>, Option<String>);

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
