//! Pushers: where each user's notifications are pushed.

use super::{Store, now_ms};
use crate::error::Result;

/// A pusher to store.
#[derive(Debug, Clone)]
pub struct PusherRow {
    pub user_id: String,
    pub app_id: String,
    pub pushkey: String,
    /// The device that set it: the pusher goes when the device does.
    pub device_id: String,
    pub kind: String,
    /// The push gateway, for `http` pushers.
    pub url: Option<String>,
    /// The pusher as the client set it (JSON).
    pub pusher: String,
    /// The event stream's position when it was set: it pushes later events only.
    pub since_stream: i64,
}

impl Store {
    /// Every pusher's stored form: (user, app id, pushkey, pusher).
    pub async fn stored_pushers(&self) -> Result<Vec<(String, String, String, String)>> {
        Ok(sqlx::query_as("SELECT user_id, app_id, pushkey, pusher FROM pushers")
            .fetch_all(&self.pool)
            .await?)
    }

    /// Replaces a pusher's stored pushkey and pusher if they are still as
    /// read (sealing them must not undo a change made meanwhile).
    pub async fn replace_stored_pusher(
        &self,
        (user_id, app_id, old_key, old_pusher): (&str, &str, &str, &str),
        (new_key, new_pusher): (&str, &str),
    ) -> Result<()> {
        sqlx::query(
            "UPDATE pushers SET pushkey = $5, pusher = $6 \
             WHERE user_id = $1 AND app_id = $2 AND pushkey = $3 AND pusher = $4",
        )
        .bind(user_id)
        .bind(app_id)
        .bind(old_key)
        .bind(old_pusher)
        .bind(new_key)
        .bind(new_pusher)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Whether anyone has a pusher (else the push sender has nothing to read).
    pub async fn any_pushers(&self) -> Result<bool> {
        let one: Option<i64> =
            sqlx::query_scalar("SELECT 1 FROM pushers LIMIT 1").fetch_optional(&self.pool).await?;
        Ok(one.is_some())
    }

    /// Creates or replaces a pusher. Unless `append`, the same app id and
    /// pushkey are taken from any other user: a device pushes to one account.
    pub async fn set_pusher(&self, row: &PusherRow, append: bool) -> Result<()> {
        let mut tx = self.begin().await?;
        if !append {
            sqlx::query("DELETE FROM pushers WHERE app_id = $1 AND pushkey = $2 AND user_id <> $3")
                .bind(&row.app_id)
                .bind(&row.pushkey)
                .bind(&row.user_id)
                .execute(&mut *tx)
                .await?;
        }
        sqlx::query(
            "INSERT INTO pushers (user_id, app_id, pushkey, device_id, kind, url, pusher, \
             created_at, since_stream) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
             ON CONFLICT (user_id, app_id, pushkey) DO UPDATE SET device_id = excluded.device_id, \
             kind = excluded.kind, url = excluded.url, pusher = excluded.pusher",
        )
        .bind(&row.user_id)
        .bind(&row.app_id)
        .bind(&row.pushkey)
        .bind(&row.device_id)
        .bind(&row.kind)
        .bind(row.url.as_deref())
        .bind(&row.pusher)
        .bind(now_ms())
        .bind(row.since_stream)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Removes one of the user's pushers; false when there was none.
    pub async fn delete_pusher(&self, user_id: &str, app_id: &str, pushkey: &str) -> Result<bool> {
        let done =
            sqlx::query("DELETE FROM pushers WHERE user_id = $1 AND app_id = $2 AND pushkey = $3")
                .bind(user_id)
                .bind(app_id)
                .bind(pushkey)
                .execute(&self.pool)
                .await?;
        Ok(done.rows_affected() > 0)
    }
}
