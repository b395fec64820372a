//! Server-side room key backups: versions, and the encrypted session keys
//! stored under each.

use super::Store;
use crate::error::Result;

/// A backed-up session key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackupKeyRow {
    pub room_id: String,
    pub session_id: String,
    pub first_message_index: i64,
    pub forwarded_count: i64,
    pub is_verified: bool,
    /// The encrypted key data, as the client sent it (JSON).
    pub session_data: String,
}

/// A backup version.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct BackupVersionRow {
    pub version: i64,
    pub algorithm: String,
    /// The whole algorithm object as the client sent it (JSON with
    /// `algorithm` and `auth_data`).
    pub auth_data: String,
    pub etag: i64,
}

impl Store {
    /// Creates a backup version; returns its number.
    pub async fn create_backup(
        &self,
        user_id: &str,
        algorithm: &str,
        auth_data: &str,
    ) -> Result<i64> {
        let mut tx = self.begin().await?;
        let last: Option<i64> =
            sqlx::query_scalar("SELECT MAX(version) FROM backup_versions WHERE user_id = $1")
                .bind(user_id)
                .fetch_one(&mut *tx)
                .await?;
        let version = last.unwrap_or(0) + 1;
        sqlx::query(
            "INSERT INTO backup_versions (user_id, version, algorithm, auth_data, etag, deleted) \
             VALUES ($1, $2, $3, $4, 0, 0)",
        )
        .bind(user_id)
        .bind(version)
        .bind(algorithm)
        .bind(auth_data)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(version)
    }

    /// A backup version that was not deleted; the latest when `version` is `None`.
    pub async fn backup_version(
        &self,
        user_id: &str,
        version: Option<i64>,
    ) -> Result<Option<BackupVersionRow>> {
        let query = match version {
            Some(version) => sqlx::query_as(
                "SELECT version, algorithm, auth_data, etag FROM backup_versions \
                 WHERE user_id = $1 AND deleted = 0 AND version = $2",
            )
            .bind(user_id)
            .bind(version),
            None => sqlx::query_as(
                "SELECT version, algorithm, auth_data, etag FROM backup_versions \
                 WHERE user_id = $1 AND deleted = 0 ORDER BY version DESC LIMIT 1",
            )
            .bind(user_id),
        };
        Ok(query.fetch_optional(&self.pool).await?)
    }

    /// Replaces a version's auth data; false if there is no such version.
    pub async fn update_backup(
        &self,
        user_id: &str,
        version: i64,
        auth_data: &str,
    ) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE backup_versions SET auth_data = $3 \
             WHERE user_id = $1 AND version = $2 AND deleted = 0",
        )
        .bind(user_id)
        .bind(version)
        .bind(auth_data)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Deletes a version and its keys; false if there was none.
    pub async fn delete_backup(&self, user_id: &str, version: i64) -> Result<bool> {
        let mut tx = self.begin().await?;
        let done = sqlx::query(
            "UPDATE backup_versions SET deleted = 1 WHERE user_id = $1 AND version = $2 AND deleted = 0",
        )
        .bind(user_id)
        .bind(version)
        .execute(&mut *tx)
        .await?;
        sqlx::query("DELETE FROM backup_keys WHERE user_id = $1 AND version = $2")
            .bind(user_id)
            .bind(version)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(done.rows_affected() > 0)
    }

    /// Stored keys of a version, optionally of one room or one session.
    pub async fn backup_keys(
        &self,
        user_id: &str,
        version: i64,
        room_id: Option<&str>,
        session_id: Option<&str>,
    ) -> Result<Vec<BackupKeyRow>> {
        let rows: Vec<(String, String, i64, i64, i64, String)> = sqlx::query_as(
            "SELECT room_id, session_id, first_message_index, forwarded_count, is_verified, \
             session_data FROM backup_keys WHERE user_id = $1 AND version = $2 \
             AND ($3 = '' OR room_id = $3) AND ($4 = '' OR session_id = $4) \
             ORDER BY room_id, session_id",
        )
        .bind(user_id)
        .bind(version)
        .bind(room_id.unwrap_or(""))
        .bind(session_id.unwrap_or(""))
        .fetch_all(&self.pool)
        .await?;
        // The flag is a 0/1 column on both backends.
        Ok(rows
            .into_iter()
            .map(
                |(
                    room_id,
                    session_id,
                    first_message_index,
                    forwarded_count,
                    verified,
                    session_data,
                )| {
                    BackupKeyRow {
                        room_id,
                        session_id,
                        first_message_index,
                        forwarded_count,
                        is_verified: verified != 0,
                        session_data,
                    }
                },
            )
            .collect())
    }

    /// Writes the keys that won against what was stored (the caller
    /// decides) and bumps the version's etag; returns (count, etag).
    pub async fn put_backup_keys(
        &self,
        user_id: &str,
        version: i64,
        keys: &[BackupKeyRow],
    ) -> Result<(i64, i64)> {
        let mut tx = self.begin().await?;
        for key in keys {
            sqlx::query(
                "INSERT INTO backup_keys (user_id, version, room_id, session_id, \
                 first_message_index, forwarded_count, is_verified, session_data) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
                 ON CONFLICT (user_id, version, room_id, session_id) DO UPDATE SET \
                 first_message_index = excluded.first_message_index, \
                 forwarded_count = excluded.forwarded_count, \
                 is_verified = excluded.is_verified, session_data = excluded.session_data",
            )
            .bind(user_id)
            .bind(version)
            .bind(&key.room_id)
            .bind(&key.session_id)
            .bind(key.first_message_index)
            .bind(key.forwarded_count)
            .bind(i64::from(key.is_verified))
            .bind(&key.session_data)
            .execute(&mut *tx)
            .await?;
        }
        let etag = bump_etag(&mut tx, user_id, version, !keys.is_empty()).await?;
        let count = count_keys(&mut tx, user_id, version).await?;
        tx.commit().await?;
        Ok((count, etag))
    }

    /// Deletes keys of a version (all, one room's, or one session);
    /// returns (count, etag).
    pub async fn delete_backup_keys(
        &self,
        user_id: &str,
        version: i64,
        room_id: Option<&str>,
        session_id: Option<&str>,
    ) -> Result<(i64, i64)> {
        let mut tx = self.begin().await?;
        let deleted = sqlx::query(
            "DELETE FROM backup_keys WHERE user_id = $1 AND version = $2 \
             AND ($3 = '' OR room_id = $3) AND ($4 = '' OR session_id = $4)",
        )
        .bind(user_id)
        .bind(version)
        .bind(room_id.unwrap_or(""))
        .bind(session_id.unwrap_or(""))
        .execute(&mut *tx)
        .await?
        .rows_affected();
        let etag = bump_etag(&mut tx, user_id, version, deleted > 0).await?;
        let count = count_keys(&mut tx, user_id, version).await?;
        tx.commit().await?;
        Ok((count, etag))
    }

    /// How many keys a version holds.
    pub async fn backup_key_count(&self, user_id: &str, version: i64) -> Result<i64> {
        let mut conn = self.pool.acquire().await?;
        count_keys(&mut conn, user_id, version).await
    }
}

async fn bump_etag(
    tx: &mut sqlx::AnyConnection,
    user_id: &str,
    version: i64,
    changed: bool,
) -> Result<i64> {
    if changed {
        sqlx::query(
            "UPDATE backup_versions SET etag = etag + 1 WHERE user_id = $1 AND version = $2",
        )
        .bind(user_id)
        .bind(version)
        .execute(&mut *tx)
        .await?;
    }
    Ok(sqlx::query_scalar("SELECT etag FROM backup_versions WHERE user_id = $1 AND version = $2")
        .bind(user_id)
        .bind(version)
        .fetch_one(&mut *tx)
        .await?)
}

async fn count_keys(conn: &mut sqlx::AnyConnection, user_id: &str, version: i64) -> Result<i64> {
    Ok(sqlx::query_scalar("SELECT COUNT(*) FROM backup_keys WHERE user_id = $1 AND version = $2")
        .bind(user_id)
        .bind(version)
        .fetch_one(&mut *conn)
        .await?)
}
