//! The media repository: uploads (direct and asynchronous), downloads and
//! their limits. Independent of HTTP: bytes come in as chunks and go out
//! as a file.

mod multipart;
pub mod preview;
mod remote;
mod rewrite;
pub mod storage;
pub mod thumbnail;

use std::sync::Arc;

use ruma::{OwnedMxcUri, UserId};

pub use self::rewrite::RewriteCount;
use self::storage::{BlobStorage, EncryptedStorage, FileStorage, Reader, S3Storage, Upload};
use crate::services::encryption::Keyring;
use crate::{
    config::Config,
    error::{Error, Result},
    store::{MediaRow, Store, now_ms},
};

#[derive(Clone)]
pub struct Media {
    store: Store,
    config: Arc<Config>,
    files: Arc<dyn BlobStorage>,
    /// Decoding images is the costly part: at most two at a time.
    decoders: Arc<tokio::sync::Semaphore>,
    /// Present when URL previews are turned on.
    previews: Option<Arc<preview::Previewer>>,
    /// Where other servers' media is fetched from (absent when federation is off).
    federation: Option<crate::services::federation::Federation>,
    /// Held by a pass rewriting blobs (key rotation): one at a time.
    rewrites: Arc<tokio::sync::Mutex<()>>,
}

/// Stored media ready to stream.
pub struct Download {
    pub file: Reader,
    pub size: u64,
    pub content_type: Option<String>,
    pub filename: Option<String>,
}

impl Media {
    pub fn new(
        store: Store,
        config: Arc<Config>,
        federation: crate::services::federation::Federation,
        keys: Option<Keyring>,
    ) -> Result<Self> {
        let plain: Arc<dyn BlobStorage> = match config.media.s3.endpoint.is_empty() {
            true => Arc::new(FileStorage::new(config.server.data_dir.join("media"))),
            false => Arc::new(S3Storage::new(
                &config.media.s3,
                config.server.data_dir.join("media-cache"),
            )?),
        };
        // With a key, what is stored is ciphertext; older plain files still read.
        let files: Arc<dyn BlobStorage> = match keys {
            Some(keys) => Arc::new(EncryptedStorage::new(plain, keys)),
            None => plain,
        };
        let previews = match config.media.url_previews {
            true => Some(Arc::new(preview::Previewer::new(&config.media)?)),
            false => None,
        };
        let decoders = Arc::new(tokio::sync::Semaphore::new(2));
        let federation = config.federation.enabled.then_some(federation);
        let rewrites = Arc::default();
        Ok(Self { store, config, files, decoders, previews, federation, rewrites })
    }

    /// Checks at start that the media storage answers (an S3 bucket that
    /// does not exist or refuses the keys stops the start).
    pub async fn check_storage(&self) -> Result<()> {
        if self.config.media.s3.endpoint.is_empty() {
            return Ok(());
        }
        S3Storage::new(&self.config.media.s3, self.config.server.data_dir.join("media-cache"))?
            .check()
            .await
    }

    pub fn max_upload(&self) -> u64 {
        self.config.media.max_upload_bytes
    }

    fn mxc(&self, media_id: &str) -> OwnedMxcUri {
        OwnedMxcUri::from(format!("mxc://{}/{media_id}", self.config.server.server_name))
    }

    /// Starts receiving an upload's bytes.
    pub async fn begin_upload(&self, declared_size: Option<u64>) -> Result<Upload> {
        if declared_size.is_some_and(|size| size > self.max_upload()) {
            return Err(Error::TooLarge);
        }
        Upload::begin(self.files.as_ref(), self.max_upload()).await
    }

    /// Refuses an upload that would take the user past their quota.
    async fn within_quota(&self, uploader: &UserId, size: u64) -> Result<()> {
        let quota = self.config.media.user_quota_bytes;
        if quota == 0 {
            return Ok(());
        }
        let used = u64::try_from(self.store.media_usage(uploader.as_str()).await?).unwrap_or(0);
        if used + size > quota {
            return Err(Error::forbidden(format!(
                "upload quota exceeded ({used} of {quota} bytes used)"
            )));
        }
        Ok(())
    }

    /// POST /upload: stores the content under a new media id.
    pub async fn upload(
        &self,
        uploader: &UserId,
        upload: Upload,
        content_type: Option<&str>,
        filename: Option<&str>,
    ) -> Result<OwnedMxcUri> {
        if let Err(e) = self.within_quota(uploader, upload.size()).await {
            upload.abort().await;
            return Err(e);
        }
        let (sha256, size) = upload.finish().await?;
        let media_id = crate::services::auth::tokens::random_letters(24)?;
        self.store
            .insert_media(
                &media_id,
                uploader.as_str(),
                content_type,
                filename,
                Some(size as i64),
                Some(&sha256),
                None,
            )
            .await?;
        Ok(self.mxc(&media_id))
    }

    /// Stores bytes the server already holds (a preview's image).
    async fn store_bytes(
        &self,
        uploader: &UserId,
        content_type: &str,
        bytes: &[u8],
    ) -> Result<OwnedMxcUri> {
        let mut upload = self.begin_upload(Some(bytes.len() as u64)).await?;
        if let Err(e) = upload.write(bytes).await {
            upload.abort().await;
            return Err(e);
        }
        self.upload(uploader, upload, Some(content_type), None).await
    }

    /// POST /create: reserves a media id for content sent later.
    pub async fn create_pending(&self, uploader: &UserId) -> Result<(OwnedMxcUri, i64)> {
        let media_id = crate::services::auth::tokens::random_letters(24)?;
        let expires_at = now_ms() + (self.config.media.pending_lifetime * 1000) as i64;
        self.store
            .insert_media(&media_id, uploader.as_str(), None, None, None, None, Some(expires_at))
            .await?;
        Ok((self.mxc(&media_id), expires_at))
    }

    /// PUT /upload/{server}/{id}: the content of a reserved id, once, by its creator.
    pub async fn upload_pending(
        &self,
        uploader: &UserId,
        server: &str,
        media_id: &str,
        upload: Upload,
        content_type: Option<&str>,
        filename: Option<&str>,
    ) -> Result<()> {
        let row = match self.local_row(server, media_id).await? {
            Some(row) => row,
            None => {
                upload.abort().await;
                return Err(Error::not_found("unknown media id"));
            }
        };
        if row.uploader != uploader.as_str() {
            upload.abort().await;
            return Err(Error::forbidden("this media id was reserved by someone else"));
        }
        if row.sha256.is_some() {
            upload.abort().await;
            return Err(Error::CannotOverwriteMedia);
        }
        if row.expires_at.is_some_and(|at| at <= now_ms()) {
            upload.abort().await;
            return Err(Error::not_found("this media id has expired"));
        }
        if let Err(e) = self.within_quota(uploader, upload.size()).await {
            upload.abort().await;
            return Err(e);
        }
        let (sha256, size) = upload.finish().await?;
        if !self
            .store
            .complete_media(media_id, content_type, filename, size as i64, &sha256)
            .await?
        {
            return Err(Error::CannotOverwriteMedia);
        }
        Ok(())
    }

    async fn local_row(&self, server: &str, media_id: &str) -> Result<Option<MediaRow>> {
        if server != self.config.server.server_name.as_str() {
            return self.remote_row(server, media_id).await;
        }
        self.store.media(media_id).await
    }

    /// Opens media for download; M_NOT_FOUND for unknown media,
    /// M_NOT_YET_UPLOADED for a reserved id still waiting for content.
    pub async fn download(&self, server: &str, media_id: &str, legacy: bool) -> Result<Download> {
        let row = self
            .local_row(server, media_id)
            .await?
            .ok_or_else(|| Error::not_found("media not found"))?;
        if legacy {
            let frozen_after = (self.config.media.freeze_after * 1000) as i64;
            if !self.config.media.legacy_downloads || row.created_at > frozen_after {
                return Err(Error::not_found("use the authenticated media endpoints"));
            }
        }
        if row.quarantined_by.is_some() {
            return Err(Error::not_found("this media was quarantined"));
        }
        let Some(sha256) = &row.sha256 else {
            return Err(Error::NotYetUploaded);
        };
        let file =
            self.files.open(sha256).await?.ok_or_else(|| Error::not_found("media not found"))?;
        Ok(Download {
            file,
            size: row.size.unwrap_or(0) as u64,
            content_type: row.content_type,
            filename: row.filename,
        })
    }
}

impl Media {
    /// A thumbnail of local media at the standard size nearest the request,
    /// made and stored the first time it is asked for.
    pub async fn thumbnail(
        &self,
        server: &str,
        media_id: &str,
        request: thumbnail::Request,
        legacy: bool,
    ) -> Result<Download> {
        let animated = request.animated;
        let (width, height, method) =
            thumbnail::standard_size(request.width, request.height, request.method);
        let (w, h) = (i64::from(width), i64::from(height));
        // Animated and still thumbnails of one size are stored apart.
        let key = if animated {
            format!("{}+animated", method.as_str())
        } else {
            method.as_str().to_owned()
        };
        let original = self.download(server, media_id, legacy).await?;
        if let Some(stored) = self.store.thumbnail(media_id, w, h, &key).await?
            && let Some(file) = self.files.open(&stored.sha256).await?
        {
            return Ok(Download {
                file,
                size: stored.size as u64,
                content_type: Some(stored.content_type),
                filename: None,
            });
        }
        if original.size > self.max_upload() {
            return Err(Error::TooLarge);
        }
        let mut bytes = Vec::with_capacity(original.size as usize);
        let mut file = original.file;
        tokio::io::AsyncReadExt::read_to_end(&mut file, &mut bytes)
            .await
            .map_err(Error::internal)?;
        let permit = self.decoders.clone().acquire_owned().await.map_err(Error::internal)?;
        let (content_type, thumb) = tokio::task::spawn_blocking(move || {
            let _permit = permit;
            thumbnail::make(&bytes, width, height, method, animated)
        })
        .await
        .map_err(Error::internal)??;
        let mut upload = Upload::begin(self.files.as_ref(), u64::MAX).await?;
        upload.write(&thumb).await?;
        let (sha256, size) = upload.finish().await?;
        self.store
            .insert_thumbnail(media_id, w, h, &key, content_type, size as i64, &sha256)
            .await?;
        let file =
            self.files.open(&sha256).await?.ok_or_else(|| Error::internal("thumbnail vanished"))?;
        Ok(Download { file, size, content_type: Some(content_type.to_owned()), filename: None })
    }
}

/// What admins do to media (the admin API checks who asks).
impl Media {
    /// A user's uploads as Synapse's admin API lists them, and the total.
    pub async fn user_media(
        &self,
        uploader: &UserId,
        offset: i64,
        limit: i64,
    ) -> Result<(Vec<serde_json::Value>, i64)> {
        let (rows, total) =
            self.store.user_media(uploader.as_str(), offset.max(0), limit.clamp(1, 1000)).await?;
        let media = rows
            .into_iter()
            .map(|row| {
                serde_json::json!({
                    "media_id": row.media_id, "media_type": row.content_type,
                    "media_length": row.size, "upload_name": row.filename,
                    "created_ts": row.created_at, "last_access_ts": null,
                    "quarantined_by": row.quarantined_by, "safe_from_quarantine": false,
                })
            })
            .collect();
        Ok((media, total))
    }

    /// Stops (or, with `by` = `None`, resumes) serving local media.
    pub async fn quarantine(
        &self,
        server: &str,
        media_id: &str,
        by: Option<&UserId>,
    ) -> Result<()> {
        self.local_row(server, media_id)
            .await?
            .ok_or_else(|| Error::not_found("media not found"))?;
        self.store.set_quarantine(media_id, by.map(|u| u.as_str())).await?;
        Ok(())
    }

    /// A stored blob's content, as it was uploaded (decrypted if need be).
    pub async fn open_blob(&self, sha256: &str) -> Result<Option<Reader>> {
        self.files.open(sha256).await
    }

    /// Deletes everything a user uploaded (erasure): how many uploads went.
    pub async fn delete_uploads_of(&self, uploader: &UserId) -> Result<usize> {
        let (deleted, orphans) = self.store.delete_media_of(uploader.as_str()).await?;
        for sha256 in orphans {
            self.files.delete(&sha256).await?;
        }
        Ok(deleted)
    }

    /// Deletes local media, its thumbnails, and the blobs nothing else uses.
    pub async fn delete(&self, server: &str, media_id: &str) -> Result<()> {
        self.local_row(server, media_id)
            .await?
            .ok_or_else(|| Error::not_found("media not found"))?;
        let orphans = self
            .store
            .delete_media(media_id)
            .await?
            .ok_or_else(|| Error::not_found("media not found"))?;
        for sha256 in orphans {
            self.files.delete(&sha256).await?;
        }
        Ok(())
    }
}
