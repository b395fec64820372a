//! User-interactive authentication sessions, kept in the database so that a
//! flow survives a restart and works across several instances.

use super::{Store, now_ms};
use crate::error::Result;

impl Store {
    pub async fn create_uia_session(
        &self,
        session_id: &str,
        user_id: Option<&str>,
        expires_at: i64,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO uia_sessions (session_id, user_id, completed, expires_at) \
             VALUES ($1, $2, '[]', $3)",
        )
        .bind(session_id)
        .bind(user_id)
        .bind(expires_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The session's owner and completed stages (JSON), if it exists and is live.
    pub async fn uia_session(&self, session_id: &str) -> Result<Option<(Option<String>, String)>> {
        Ok(sqlx::query_as(
            "SELECT user_id, completed FROM uia_sessions WHERE session_id = $1 AND expires_at > $2",
        )
        .bind(session_id)
        .bind(now_ms())
        .fetch_optional(&self.pool)
        .await?)
    }

    pub async fn set_uia_completed(&self, session_id: &str, completed: &str) -> Result<()> {
        sqlx::query("UPDATE uia_sessions SET completed = $1 WHERE session_id = $2")
            .bind(completed)
            .bind(session_id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Removes a finished session, and any that have expired.
    pub async fn delete_uia_session(&self, session_id: &str) -> Result<()> {
        sqlx::query("DELETE FROM uia_sessions WHERE session_id = $1 OR expires_at <= $2")
            .bind(session_id)
            .bind(now_ms())
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}
