//! Devices and the access and refresh tokens that belong to them.
//! Tokens are stored only as hashes (see `services::auth::tokens`).

use sqlx::{Any, Transaction};

use super::{
    Store,
    device_keys::{DeviceSelector, device_list_changed, forget_device_keys},
    now_ms,
    sliding_sync::forget_sliding_connections,
};
use crate::error::Result;

/// What a new login writes.
#[derive(Debug, Clone)]
pub struct NewSession {
    pub user_id: String,
    pub device_id: String,
    pub display_name: Option<String>,
    pub access_hash: String,
    pub access_expires_at: Option<i64>,
    pub refresh_hash: Option<String>,
}

/// What an access token resolves to.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct TokenLookup {
    pub user_id: String,
    pub device_id: String,
    pub expires_at: Option<i64>,
    pub first_use: i64,
    pub refresh_hash: Option<String>,
    /// When the session was last used (ms), if ever.
    pub last_seen_at: Option<i64>,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct DeviceRow {
    pub device_id: String,
    pub display_name: Option<String>,
    pub last_seen_at: Option<i64>,
    pub last_seen_ip: Option<String>,
}

/// Creates (or takes over) a device and gives it fresh tokens. A device that
/// logs in again loses the tokens it had before, as the spec asks.
pub(super) async fn insert_session(tx: &mut Transaction<'_, Any>, s: &NewSession) -> Result<()> {
    let now = now_ms();
    for sql in [
        "DELETE FROM access_tokens WHERE user_id = $1 AND device_id = $2",
        "DELETE FROM refresh_tokens WHERE user_id = $1 AND device_id = $2",
    ] {
        sqlx::query(sql).bind(&s.user_id).bind(&s.device_id).execute(&mut **tx).await?;
    }
    sqlx::query(
        "INSERT INTO devices (user_id, device_id, display_name, created_at) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (user_id, device_id) DO UPDATE \
         SET display_name = COALESCE(excluded.display_name, devices.display_name)",
    )
    .bind(&s.user_id)
    .bind(&s.device_id)
    .bind(s.display_name.as_deref())
    .bind(now)
    .execute(&mut **tx)
    .await?;
    insert_tokens(tx, s, now).await
}

async fn insert_tokens(tx: &mut Transaction<'_, Any>, s: &NewSession, now: i64) -> Result<()> {
    sqlx::query(
        "INSERT INTO access_tokens (token_hash, user_id, device_id, created_at, expires_at, refresh_hash) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(&s.access_hash)
    .bind(&s.user_id)
    .bind(&s.device_id)
    .bind(now)
    .bind(s.access_expires_at)
    .bind(s.refresh_hash.as_deref())
    .execute(&mut **tx)
    .await?;
    if let Some(refresh_hash) = &s.refresh_hash {
        sqlx::query(
            "INSERT INTO refresh_tokens (token_hash, user_id, device_id, created_at) \
             VALUES ($1, $2, $3, $4)",
        )
        .bind(refresh_hash)
        .bind(&s.user_id)
        .bind(&s.device_id)
        .bind(now)
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}

impl Store {
    pub async fn create_session(&self, session: &NewSession) -> Result<()> {
        let mut tx = self.begin().await?;
        insert_session(&mut tx, session).await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn lookup_access_token(&self, hash: &str) -> Result<Option<TokenLookup>> {
        Ok(sqlx::query_as(
            "SELECT t.user_id, t.device_id, t.expires_at, t.first_use, t.refresh_hash, d.last_seen_at \
             FROM access_tokens t LEFT JOIN devices d \
             ON d.user_id = t.user_id AND d.device_id = t.device_id WHERE t.token_hash = $1",
        )
        .bind(hash)
        .fetch_optional(&self.pool)
        .await?)
    }

    /// Records that a session was used at `at` (ms).
    pub async fn touch_device(&self, user_id: &str, device_id: &str, at: i64) -> Result<()> {
        sqlx::query("UPDATE devices SET last_seen_at = $3 WHERE user_id = $1 AND device_id = $2")
            .bind(user_id)
            .bind(device_id)
            .bind(at)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Ends a session's tokens but keeps its device (an idle session).
    pub async fn end_device_tokens(&self, user_id: &str, device_id: &str) -> Result<()> {
        let mut tx = self.begin().await?;
        for sql in [
            "DELETE FROM access_tokens WHERE user_id = $1 AND device_id = $2",
            "DELETE FROM refresh_tokens WHERE user_id = $1 AND device_id = $2",
        ] {
            sqlx::query(sql).bind(user_id).bind(device_id).execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// The first use of a refreshed access token revokes the refresh token it
    /// replaced; until then a client that lost the answer can refresh again.
    pub async fn confirm_refreshed_token(
        &self,
        access_hash: &str,
        refresh_hash: &str,
    ) -> Result<()> {
        let mut tx = self.begin().await?;
        sqlx::query("DELETE FROM refresh_tokens WHERE next_hash = $1")
            .bind(refresh_hash)
            .execute(&mut *tx)
            .await?;
        sqlx::query("UPDATE access_tokens SET first_use = 0 WHERE token_hash = $1")
            .bind(access_hash)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Swaps a refresh token for a new access/refresh pair. Returns the
    /// session's (user, device), or None if the refresh token is unknown.
    pub async fn refresh_session(
        &self,
        old_refresh_hash: &str,
        new_access_hash: &str,
        new_refresh_hash: &str,
        access_expires_at: Option<i64>,
    ) -> Result<Option<(String, String)>> {
        let mut tx = self.begin().await?;
        // A write first, so that it locks the row: a second refresh with the
        // same token waits, then sees the first one's successor and replaces
        // it (as a retry does) instead of issuing a second live pair.
        let owner: Option<(String, String, Option<String>)> = sqlx::query_as(
            "UPDATE refresh_tokens SET next_hash = next_hash WHERE token_hash = $1 \
             RETURNING user_id, device_id, next_hash",
        )
        .bind(old_refresh_hash)
        .fetch_optional(&mut *tx)
        .await?;
        let Some((user_id, device_id, earlier_successor)) = owner else {
            return Ok(None);
        };
        // A retried refresh replaces the pair the first attempt issued.
        if let Some(successor) = earlier_successor {
            for sql in [
                "DELETE FROM access_tokens WHERE refresh_hash = $1",
                "DELETE FROM refresh_tokens WHERE token_hash = $1",
            ] {
                sqlx::query(sql).bind(&successor).execute(&mut *tx).await?;
            }
        }
        // Using this refresh token proves its predecessor is no longer needed.
        sqlx::query("DELETE FROM refresh_tokens WHERE next_hash = $1")
            .bind(old_refresh_hash)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM access_tokens WHERE refresh_hash = $1")
            .bind(old_refresh_hash)
            .execute(&mut *tx)
            .await?;
        sqlx::query("UPDATE refresh_tokens SET next_hash = $1 WHERE token_hash = $2")
            .bind(new_refresh_hash)
            .bind(old_refresh_hash)
            .execute(&mut *tx)
            .await?;
        let session = NewSession {
            user_id: user_id.clone(),
            device_id: device_id.clone(),
            display_name: None,
            access_hash: new_access_hash.to_owned(),
            access_expires_at,
            refresh_hash: Some(new_refresh_hash.to_owned()),
        };
        insert_tokens(&mut tx, &session, now_ms()).await?;
        sqlx::query("UPDATE access_tokens SET first_use = 1 WHERE token_hash = $1")
            .bind(new_access_hash)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(Some((user_id, device_id)))
    }

    pub async fn list_devices(&self, user_id: &str) -> Result<Vec<DeviceRow>> {
        Ok(sqlx::query_as(
            "SELECT device_id, display_name, last_seen_at, last_seen_ip FROM devices \
             WHERE user_id = $1 ORDER BY device_id",
        )
        .bind(user_id)
        .fetch_all(&self.pool)
        .await?)
    }

    pub async fn get_device(&self, user_id: &str, device_id: &str) -> Result<Option<DeviceRow>> {
        Ok(sqlx::query_as(
            "SELECT device_id, display_name, last_seen_at, last_seen_ip FROM devices \
             WHERE user_id = $1 AND device_id = $2",
        )
        .bind(user_id)
        .bind(device_id)
        .fetch_optional(&self.pool)
        .await?)
    }

    /// Returns false if the device does not exist.
    pub async fn rename_device(
        &self,
        user_id: &str,
        device_id: &str,
        name: Option<&str>,
    ) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE devices SET display_name = $1 WHERE user_id = $2 AND device_id = $3",
        )
        .bind(name)
        .bind(user_id)
        .bind(device_id)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Deletes devices and, with them, their tokens and keys; returns the
    /// device-list position that tells the user's contacts.
    pub async fn delete_devices(&self, user_id: &str, device_ids: &[String]) -> Result<i64> {
        let mut tx = self.begin().await?;
        for device_id in device_ids {
            for sql in [
                "DELETE FROM access_tokens WHERE user_id = $1 AND device_id = $2",
                "DELETE FROM refresh_tokens WHERE user_id = $1 AND device_id = $2",
                "DELETE FROM devices WHERE user_id = $1 AND device_id = $2",
                "DELETE FROM pushers WHERE user_id = $1 AND device_id = $2",
            ] {
                sqlx::query(sql).bind(user_id).bind(device_id).execute(&mut *tx).await?;
            }
            forget_device_keys(&mut tx, user_id, DeviceSelector::Only(device_id)).await?;
            forget_sliding_connections(&mut tx, user_id, DeviceSelector::Only(device_id)).await?;
        }
        let position = device_list_changed(&mut tx, user_id).await?;
        tx.commit().await?;
        self.key_summaries.changed();
        Ok(position)
    }

    /// Deletes every device of a user but `keep`; returns the device-list position.
    pub async fn delete_other_devices(&self, user_id: &str, keep: Option<&str>) -> Result<i64> {
        let keep = keep.unwrap_or("");
        let mut tx = self.begin().await?;
        for sql in [
            "DELETE FROM access_tokens WHERE user_id = $1 AND device_id <> $2",
            "DELETE FROM refresh_tokens WHERE user_id = $1 AND device_id <> $2",
            "DELETE FROM devices WHERE user_id = $1 AND device_id <> $2",
            "DELETE FROM pushers WHERE user_id = $1 AND device_id <> $2",
        ] {
            sqlx::query(sql).bind(user_id).bind(keep).execute(&mut *tx).await?;
        }
        forget_device_keys(&mut tx, user_id, DeviceSelector::AllBut(keep)).await?;
        forget_sliding_connections(&mut tx, user_id, DeviceSelector::AllBut(keep)).await?;
        let position = device_list_changed(&mut tx, user_id).await?;
        tx.commit().await?;
        self.key_summaries.changed();
        Ok(position)
    }
}
