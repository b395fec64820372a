//! Delayed events (MSC4140): events waiting for their time.

use super::{Store, now_ms};
use crate::error::Result;

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct DelayedEventRow {
    pub delay_id: String,
    pub user_id: String,
    pub device_id: String,
    pub txn_id: Option<String>,
    pub room_id: String,
    pub event_type: String,
    pub state_key: Option<String>,
    pub state_event_id: Option<String>,
    pub content: String,
    pub delay_ms: i64,
    pub running_since: i64,
    pub send_at: i64,
}

/// The columns of a [`DelayedEventRow`], spliced into queries with `concat!`.
macro_rules! columns {
    () => {
        "delay_id, user_id, device_id, txn_id, room_id, event_type, state_key, state_event_id, \
         content, delay_ms, running_since, send_at"
    };
}

/// How long an instance owns a due event it is sending: another instance
/// (or this one, restarted) sends it only once this much time has passed.
const SEND_LEASE_MS: i64 = 60_000;

impl Store {
    pub async fn insert_delayed_event(&self, row: &DelayedEventRow) -> Result<()> {
        sqlx::query(concat!(
            "INSERT INTO delayed_events (",
            columns!(),
            ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)"
        ))
        .bind(&row.delay_id)
        .bind(&row.user_id)
        .bind(&row.device_id)
        .bind(&row.txn_id)
        .bind(&row.room_id)
        .bind(&row.event_type)
        .bind(&row.state_key)
        .bind(&row.state_event_id)
        .bind(&row.content)
        .bind(row.delay_ms)
        .bind(row.running_since)
        .bind(row.send_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub async fn delayed_event(&self, delay_id: &str) -> Result<Option<DelayedEventRow>> {
        Ok(sqlx::query_as(concat!(
            "SELECT ",
            columns!(),
            " FROM delayed_events WHERE delay_id = $1"
        ))
        .bind(delay_id)
        .fetch_optional(&self.pool)
        .await?)
    }

    /// The delayed event a device scheduled under a transaction id.
    pub async fn delayed_event_by_txn(
        &self,
        user_id: &str,
        device_id: &str,
        txn_id: &str,
    ) -> Result<Option<String>> {
        Ok(sqlx::query_scalar(
            "SELECT delay_id FROM delayed_events \
             WHERE user_id = $1 AND device_id = $2 AND txn_id = $3",
        )
        .bind(user_id)
        .bind(device_id)
        .bind(txn_id)
        .fetch_optional(&self.pool)
        .await?)
    }

    /// A user's waiting events, the soonest first.
    pub async fn user_delayed_events(&self, user_id: &str) -> Result<Vec<DelayedEventRow>> {
        Ok(sqlx::query_as(concat!(
            "SELECT ",
            columns!(),
            " FROM delayed_events WHERE user_id = $1 ORDER BY send_at, delay_id"
        ))
        .bind(user_id)
        .fetch_all(&self.pool)
        .await?)
    }

    pub async fn count_delayed_events(&self, user_id: &str) -> Result<i64> {
        Ok(sqlx::query_scalar("SELECT COUNT(*) FROM delayed_events WHERE user_id = $1")
            .bind(user_id)
            .fetch_one(&self.pool)
            .await?)
    }

    /// Restarts a delayed event's timer; false if there is no such event.
    pub async fn restart_delayed_event(&self, delay_id: &str, now: i64) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE delayed_events SET running_since = $1, send_at = $1 + delay_ms \
             WHERE delay_id = $2",
        )
        .bind(now)
        .bind(delay_id)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Removes a delayed event (sent or cancelled); false if it was gone.
    pub async fn delete_delayed_event(&self, delay_id: &str) -> Result<bool> {
        let done = sqlx::query("DELETE FROM delayed_events WHERE delay_id = $1")
            .bind(delay_id)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() == 1)
    }

    /// When the next event is due, if any is waiting.
    pub async fn next_delayed_send(&self) -> Result<Option<i64>> {
        Ok(sqlx::query_scalar("SELECT MIN(send_at) FROM delayed_events")
            .fetch_one(&self.pool)
            .await?)
    }

    /// Takes the events now due: each is leased to the caller (its time
    /// pushed a minute on) so that no other instance sends it meanwhile.
    pub async fn take_due_delayed_events(&self) -> Result<Vec<DelayedEventRow>> {
        let now = now_ms();
        let mut due: Vec<DelayedEventRow> = sqlx::query_as(concat!(
            "UPDATE delayed_events SET send_at = $1 WHERE send_at <= $2 RETURNING ",
            columns!()
        ))
        .bind(now + SEND_LEASE_MS)
        .bind(now)
        .fetch_all(&self.pool)
        .await?;
        // RETURNING has no order: sent in the order they fell due.
        due.sort_by_key(|row| (row.running_since + row.delay_ms, row.delay_id.clone()));
        Ok(due)
    }
}
