//! Media metadata: which file an mxc:// URI names.

use super::{Store, now_ms};
use crate::error::Result;

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct MediaRow {
    pub media_id: String,
    pub uploader: String,
    pub content_type: Option<String>,
    pub filename: Option<String>,
    pub size: Option<i64>,
    pub sha256: Option<String>,
    pub created_at: i64,
    pub expires_at: Option<i64>,
    pub quarantined_by: Option<String>,
}

impl Store {
    /// Records a media id, with content (`sha256` set) or pending.
    #[allow(clippy::too_many_arguments)]
    pub async fn insert_media(
        &self,
        media_id: &str,
        uploader: &str,
        content_type: Option<&str>,
        filename: Option<&str>,
        size: Option<i64>,
        sha256: Option<&str>,
        expires_at: Option<i64>,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO media (media_id, uploader, content_type, filename, size, sha256, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(media_id)
        .bind(uploader)
        .bind(content_type)
        .bind(filename)
        .bind(size)
        .bind(sha256)
        .bind(now_ms())
        .bind(expires_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Fills in a pending upload; false if it was not pending any more.
    pub async fn complete_media(
        &self,
        media_id: &str,
        content_type: Option<&str>,
        filename: Option<&str>,
        size: i64,
        sha256: &str,
    ) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE media SET content_type = $1, filename = $2, size = $3, sha256 = $4, expires_at = NULL \
             WHERE media_id = $5 AND sha256 IS NULL",
        )
        .bind(content_type)
        .bind(filename)
        .bind(size)
        .bind(sha256)
        .bind(media_id)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Another server's media kept here, as a media row (the server as uploader).
    pub async fn remote_media(&self, server: &str, media_id: &str) -> Result<Option<MediaRow>> {
        Ok(sqlx::query_as(
            "SELECT media_id, server AS uploader, content_type, filename, size, sha256, created_at, \
             CAST(NULL AS BIGINT) AS expires_at, CAST(NULL AS TEXT) AS quarantined_by FROM remote_media WHERE server = $1 AND media_id = $2",
        )
        .bind(server)
        .bind(media_id)
        .fetch_optional(&self.pool)
        .await?)
    }

    pub async fn insert_remote_media(
        &self,
        server: &str,
        media_id: &str,
        content_type: Option<&str>,
        size: i64,
        sha256: &str,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO remote_media (server, media_id, content_type, size, sha256, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (server, media_id) DO NOTHING",
        )
        .bind(server)
        .bind(media_id)
        .bind(content_type)
        .bind(size)
        .bind(sha256)
        .bind(super::now_ms())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub async fn media(&self, media_id: &str) -> Result<Option<MediaRow>> {
        Ok(sqlx::query_as(
            "SELECT media_id, uploader, content_type, filename, size, sha256, created_at, expires_at, \
             quarantined_by FROM media WHERE media_id = $1",
        )
        .bind(media_id)
        .fetch_optional(&self.pool)
        .await?)
    }
}

/// A stored thumbnail.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ThumbnailRow {
    pub content_type: String,
    pub size: i64,
    /// Names the file in the media store.
    pub sha256: String,
}

impl Store {
    pub async fn thumbnail(
        &self,
        media_id: &str,
        width: i64,
        height: i64,
        method: &str,
    ) -> Result<Option<ThumbnailRow>> {
        Ok(sqlx::query_as(
            "SELECT content_type, size, sha256 FROM media_thumbnails \
             WHERE media_id = $1 AND width = $2 AND height = $3 AND method = $4",
        )
        .bind(media_id)
        .bind(width)
        .bind(height)
        .bind(method)
        .fetch_optional(&self.pool)
        .await?)
    }

    #[allow(clippy::too_many_arguments)]
    pub async fn insert_thumbnail(
        &self,
        media_id: &str,
        width: i64,
        height: i64,
        method: &str,
        content_type: &str,
        size: i64,
        sha256: &str,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO media_thumbnails (media_id, width, height, method, content_type, size, sha256) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING",
        )
        .bind(media_id)
        .bind(width)
        .bind(height)
        .bind(method)
        .bind(content_type)
        .bind(size)
        .bind(sha256)
        .execute(&self.pool)
        .await?;
        Ok(())
    }
}

impl Store {
    /// Bytes a user has uploaded in all.
    pub async fn media_usage(&self, uploader: &str) -> Result<i64> {
        // PostgreSQL sums BIGINTs as NUMERIC: cast back for both backends.
        Ok(sqlx::query_scalar(
            "SELECT CAST(COALESCE(SUM(size), 0) AS BIGINT) FROM media WHERE uploader = $1",
        )
        .bind(uploader)
        .fetch_one(&self.pool)
        .await?)
    }
}

impl Store {
    /// A user's uploads, newest first, and how many there are.
    pub async fn user_media(
        &self,
        uploader: &str,
        offset: i64,
        limit: i64,
    ) -> Result<(Vec<MediaRow>, i64)> {
        let rows = sqlx::query_as(
            "SELECT media_id, uploader, content_type, filename, size, sha256, created_at, expires_at, \
             quarantined_by FROM media WHERE uploader = $1 \
             ORDER BY created_at DESC, media_id LIMIT $2 OFFSET $3",
        )
        .bind(uploader)
        .bind(limit)
        .bind(offset)
        .fetch_all(&self.pool)
        .await?;
        let total = sqlx::query_scalar("SELECT COUNT(*) FROM media WHERE uploader = $1")
            .bind(uploader)
            .fetch_one(&self.pool)
            .await?;
        Ok((rows, total))
    }

    /// Quarantines (by an admin) or releases (`None`) media; false if unknown.
    pub async fn set_quarantine(&self, media_id: &str, by: Option<&str>) -> Result<bool> {
        let done = sqlx::query("UPDATE media SET quarantined_by = $2 WHERE media_id = $1")
            .bind(media_id)
            .bind(by)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Deletes one local media and its thumbnails; `None` if there is no
    /// such media, else the blobs nothing uses any more.
    pub async fn delete_media(&self, media_id: &str) -> Result<Option<Vec<String>>> {
        let mut tx = self.begin().await?;
        let found = delete_media_where(&mut tx, "media_id", media_id).await?;
        tx.commit().await?;
        Ok(found.map(|(_, orphans)| orphans))
    }

    /// Deletes everything a user uploaded, with its thumbnails: how many
    /// uploads went, and the blobs nothing uses any more.
    pub async fn delete_media_of(&self, uploader: &str) -> Result<(usize, Vec<String>)> {
        let mut tx = self.begin().await?;
        let found = delete_media_where(&mut tx, "uploader", uploader).await?;
        tx.commit().await?;
        Ok(found.unwrap_or_default())
    }
}

/// Deletes the media rows whose `column` is `value`, their thumbnails
/// first; `None` if there were none, else how many and the blobs no row
/// refers to any more.
async fn delete_media_where(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    column: &'static str,
    value: &str,
) -> Result<Option<(usize, Vec<String>)>> {
    let thumbs: Vec<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "DELETE FROM media_thumbnails WHERE media_id IN \
         (SELECT media_id FROM media WHERE {column} = $1) RETURNING sha256"
    )))
    .bind(value)
    .fetch_all(&mut **tx)
    .await?;
    let main: Vec<Option<String>> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "DELETE FROM media WHERE {column} = $1 RETURNING sha256"
    )))
    .bind(value)
    .fetch_all(&mut **tx)
    .await?;
    if main.is_empty() {
        return Ok(None);
    }
    let deleted = main.len();
    let mut orphans: Vec<String> = Vec::new();
    for sha256 in main.into_iter().flatten().chain(thumbs) {
        if orphans.contains(&sha256) {
            continue;
        }
        let still_used: i64 = sqlx::query_scalar(
            "SELECT (SELECT COUNT(*) FROM media WHERE sha256 = $1) \
             + (SELECT COUNT(*) FROM media_thumbnails WHERE sha256 = $1)",
        )
        .bind(&sha256)
        .fetch_one(&mut **tx)
        .await?;
        if still_used == 0 {
            orphans.push(sha256);
        }
    }
    Ok(Some((deleted, orphans)))
}
