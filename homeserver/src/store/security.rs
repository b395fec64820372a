//! Login failures (for lockout) and the audit log.

use super::{Store, now_ms};
use crate::error::Result;

impl Store {
    /// When the account's lockout ends, if it is locked now.
    pub async fn locked_until(&self, user_id: &str) -> Result<Option<i64>> {
        let until: Option<Option<i64>> =
            sqlx::query_scalar("SELECT locked_until FROM login_failures WHERE user_id = $1")
                .bind(user_id)
                .fetch_optional(&self.pool)
                .await?;
        Ok(until.flatten().filter(|at| *at > now_ms()))
    }

    /// Counts a failure; locks the account once `threshold` failures are in
    /// a row. Returns the lockout's end when this failure locked it.
    pub async fn record_login_failure(
        &self,
        user_id: &str,
        threshold: i64,
        first_lock_ms: i64,
    ) -> Result<Option<i64>> {
        let mut tx = self.begin().await?;
        let (failures, lockouts): (i64, i64) = sqlx::query_as(
            "INSERT INTO login_failures (user_id, failures) VALUES ($1, 1) \
             ON CONFLICT (user_id) DO UPDATE SET failures = login_failures.failures + 1 \
             RETURNING failures, lockouts",
        )
        .bind(user_id)
        .fetch_one(&mut *tx)
        .await?;
        let mut locked = None;
        if failures >= threshold {
            // Each lockout lasts twice the one before.
            let until = now_ms() + first_lock_ms.saturating_mul(1 << lockouts.min(20));
            sqlx::query(
                "UPDATE login_failures SET failures = 0, lockouts = lockouts + 1, locked_until = $1 \
                 WHERE user_id = $2",
            )
            .bind(until)
            .bind(user_id)
            .execute(&mut *tx)
            .await?;
            locked = Some(until);
        }
        tx.commit().await?;
        Ok(locked)
    }

    pub async fn clear_login_failures(&self, user_id: &str) -> Result<()> {
        sqlx::query("DELETE FROM login_failures WHERE user_id = $1")
            .bind(user_id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    pub async fn audit(
        &self,
        kind: &str,
        user_id: Option<&str>,
        address: Option<&str>,
        details: &str,
    ) -> Result<()> {
        sqlx::query("INSERT INTO audit_log (ts, kind, user_id, address, details) VALUES ($1, $2, $3, $4, $5)")
            .bind(now_ms())
            .bind(kind)
            .bind(user_id)
            .bind(address)
            .bind(details)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// The newest audit records: (ts, kind, user, address, details).
    pub async fn audit_records(
        &self,
        limit: i64,
    ) -> Result<Vec<(i64, String, Option<String>, Option<String>, String)>> {
        Ok(sqlx::query_as(
            "SELECT ts, kind, user_id, address, details FROM audit_log ORDER BY ts DESC LIMIT $1",
        )
        .bind(limit)
        .fetch_all(&self.pool)
        .await?)
    }
}
