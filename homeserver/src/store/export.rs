//! What a user's data export reads (GDPR, article 20): the events they
//! sent, page by page, and the media they uploaded.

use super::{EventRow, Store};
use crate::error::Result;

/// A file the user uploaded.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct UploadRow {
    pub media_id: String,
    pub content_type: Option<String>,
    pub filename: Option<String>,
    pub size: Option<i64>,
    pub sha256: Option<String>,
    pub created_at: i64,
}

impl Store {
    /// Up to `limit` events `user_id` sent, after stream position `after`.
    pub async fn events_sent_by(
        &self,
        user_id: &str,
        after: i64,
        limit: i64,
    ) -> Result<Vec<EventRow>> {
        let sql = concat!(
            "SELECT ",
            event_columns!(),
            " FROM events WHERE sender = $1 AND stream > $2 ORDER BY stream LIMIT $3"
        );
        Ok(sqlx::query_as(sql).bind(user_id).bind(after).bind(limit).fetch_all(&self.pool).await?)
    }

    /// The media `user_id` uploaded, oldest first.
    pub async fn uploads_of(&self, user_id: &str) -> Result<Vec<UploadRow>> {
        Ok(sqlx::query_as(
            "SELECT media_id, content_type, filename, size, sha256, created_at FROM media \
             WHERE uploader = $1 ORDER BY created_at",
        )
        .bind(user_id)
        .fetch_all(&self.pool)
        .await?)
    }
}
