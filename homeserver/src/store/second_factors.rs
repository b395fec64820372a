//! Second factors: TOTP secrets and recovery codes.

use super::Store;
use crate::error::Result;

impl Store {
    /// Starts (or restarts) a TOTP enrolment; unconfirmed until a first code.
    pub async fn set_totp_secret(&self, user_id: &str, secret: &str) -> Result<()> {
        sqlx::query(
            "INSERT INTO totp_factors (user_id, secret, confirmed, last_step) VALUES ($1, $2, 0, 0) \
             ON CONFLICT (user_id) DO UPDATE SET secret = excluded.secret, confirmed = 0, last_step = 0",
        )
        .bind(user_id)
        .bind(secret)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Every TOTP secret as stored, by user (to seal those kept in clear).
    pub async fn totp_secrets(&self) -> Result<Vec<(String, String)>> {
        Ok(sqlx::query_as("SELECT user_id, secret FROM totp_factors").fetch_all(&self.pool).await?)
    }

    /// Replaces a TOTP secret's stored form if it is still `old`.
    pub async fn replace_totp_secret(&self, user_id: &str, old: &str, new: &str) -> Result<()> {
        sqlx::query("UPDATE totp_factors SET secret = $3 WHERE user_id = $1 AND secret = $2")
            .bind(user_id)
            .bind(old)
            .bind(new)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// The user's TOTP secret, whether it is confirmed, and the last step used.
    pub async fn totp(&self, user_id: &str) -> Result<Option<(String, bool, i64)>> {
        let row: Option<(String, i64, i64)> = sqlx::query_as(
            "SELECT secret, confirmed, last_step FROM totp_factors WHERE user_id = $1",
        )
        .bind(user_id)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(|(secret, confirmed, step)| (secret, confirmed != 0, step)))
    }

    /// Records a used time step (and confirms the factor); false if that
    /// step or a later one was already used (a replay).
    pub async fn use_totp_step(&self, user_id: &str, step: i64) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE totp_factors SET last_step = $2, confirmed = 1 \
             WHERE user_id = $1 AND last_step < $2",
        )
        .bind(user_id)
        .bind(step)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Turns TOTP off; false if it was not set up.
    pub async fn remove_totp(&self, user_id: &str) -> Result<bool> {
        let done = sqlx::query("DELETE FROM totp_factors WHERE user_id = $1 AND confirmed = 1")
            .bind(user_id)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Replaces a user's recovery codes.
    pub async fn set_recovery_codes(&self, user_id: &str, hashes: &[String]) -> Result<()> {
        let mut tx = self.begin().await?;
        sqlx::query("DELETE FROM recovery_codes WHERE user_id = $1")
            .bind(user_id)
            .execute(&mut *tx)
            .await?;
        for hash in hashes {
            sqlx::query("INSERT INTO recovery_codes (user_id, code_hash) VALUES ($1, $2)")
                .bind(user_id)
                .bind(hash)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Uses up a recovery code; false if it is not (or no longer) valid.
    pub async fn use_recovery_code(&self, user_id: &str, hash: &str) -> Result<bool> {
        let done = sqlx::query("DELETE FROM recovery_codes WHERE user_id = $1 AND code_hash = $2")
            .bind(user_id)
            .bind(hash)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    pub async fn recovery_codes_left(&self, user_id: &str) -> Result<i64> {
        Ok(sqlx::query_scalar("SELECT COUNT(*) FROM recovery_codes WHERE user_id = $1")
            .bind(user_id)
            .fetch_one(&self.pool)
            .await?)
    }
}
