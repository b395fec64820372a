//! Blobs in an S3-compatible bucket, each under its SHA-256, what is read
//! or written kept in a local cache. An upload is written to local disk
//! first (its name is its hash, known only at the end), then sent to the
//! bucket, in parts of 8 MiB when larger; it is durable when the bucket
//! has answered. A read the cache cannot serve streams from the bucket
//! and fills the cache on the way. Requests are signed by rusty-s3 (no
//! I/O of its own) and sent with the server's HTTP client.

use std::{path::PathBuf, sync::Arc, time::Duration};

use rusty_s3::{Bucket, Credentials, S3Action, UrlStyle, actions::CreateMultipartUpload};
use tokio::io::AsyncReadExt;

use super::{BlobStorage, BlobWriter, BoxFuture, FileStorage, Reader, cache::DiskCache, is_sha256};
use crate::{
    config::S3Config,
    error::{Error, Result},
};

/// Bytes per part of a multipart upload (S3 wants at least 5 MiB).
const PART: usize = 8 * 1024 * 1024;
/// How long a signed request stays valid.
const SIGNED_FOR: Duration = Duration::from_secs(300);

#[derive(Clone)]
pub struct S3Storage {
    inner: Arc<Inner>,
}

struct Inner {
    bucket: Bucket,
    credentials: Credentials,
    prefix: String,
    http: reqwest::Client,
    cache: DiskCache,
    /// The cache's folder (uploads are staged there).
    cache_root: PathBuf,
}

fn failed(what: &str, error: impl std::fmt::Display) -> Error {
    Error::internal(format!("object storage: {what}: {error}"))
}

impl S3Storage {
    /// The bucket `config` names, with its cache in `cache_root`.
    pub fn new(config: &S3Config, cache_root: PathBuf) -> Result<Self> {
        let endpoint = config
            .endpoint
            .parse()
            .map_err(|e| Error::Config(format!("media.s3.endpoint: {e}")))?;
        let style = match config.path_style {
            true => UrlStyle::Path,
            false => UrlStyle::VirtualHost,
        };
        let bucket = Bucket::new(endpoint, style, config.bucket.clone(), config.region.clone())
            .map_err(|e| Error::Config(format!("media.s3: {e}")))?;
        let credentials =
            Credentials::new(config.access_key_id.clone(), config.secret_access_key.clone());
        let http = crate::services::http::client_builder()
            .connect_timeout(Duration::from_secs(10))
            .build()
            .map_err(Error::internal)?;
        let cache = DiskCache::new(cache_root.clone(), config.cache_bytes);
        let inner =
            Inner { bucket, credentials, prefix: config.prefix.clone(), http, cache, cache_root };
        Ok(Self { inner: Arc::new(inner) })
    }

    /// Checks at start that the bucket answers to these credentials.
    pub async fn check(&self) -> Result<()> {
        let url = self.inner.bucket.head_bucket(Some(&self.inner.credentials)).sign(SIGNED_FOR);
        let answer =
            self.inner.http.head(url).send().await.map_err(|e| failed("HEAD bucket", e))?;
        if !answer.status().is_success() {
            return Err(Error::Config(format!(
                "media.s3: the bucket `{}` answered {} (does it exist, and may these keys use it?)",
                self.inner.bucket.name(),
                answer.status()
            )));
        }
        Ok(())
    }
}

impl Inner {
    fn key(&self, sha256: &str) -> String {
        format!("{}{sha256}", self.prefix)
    }

    /// Sends a staged file to the bucket under `key`: one PUT, or parts.
    async fn upload(&self, key: &str, path: &std::path::Path) -> Result<()> {
        let mut file = tokio::fs::File::open(path).await.map_err(Error::internal)?;
        let size = file.metadata().await.map_err(Error::internal)?.len();
        if size <= PART as u64 {
            let mut body = Vec::with_capacity(size as usize);
            file.read_to_end(&mut body).await.map_err(Error::internal)?;
            let url = self.bucket.put_object(Some(&self.credentials), key).sign(SIGNED_FOR);
            self.send(self.http.put(url).body(body), "PUT").await?;
            return Ok(());
        }
        let url =
            self.bucket.create_multipart_upload(Some(&self.credentials), key).sign(SIGNED_FOR);
        let created = self.send(self.http.post(url), "create multipart upload").await?;
        let text = created.text().await.map_err(|e| failed("create multipart upload", e))?;
        let created = CreateMultipartUpload::parse_response(&text)
            .map_err(|e| failed("create multipart upload", e))?;
        let upload_id = created.upload_id();
        let sent = self.upload_parts(key, upload_id, &mut file).await;
        let complete = match sent {
            Ok(etags) => {
                let action = self.bucket.complete_multipart_upload(
                    Some(&self.credentials),
                    key,
                    upload_id,
                    etags.iter().map(String::as_str),
                );
                let url = action.sign(SIGNED_FOR);
                self.send(self.http.post(url).body(action.body()), "complete multipart upload")
                    .await
                    .map(|_| ())
            }
            Err(error) => Err(error),
        };
        if complete.is_err() {
            // Parts left behind cost storage until aborted.
            let abort = self.bucket.abort_multipart_upload(Some(&self.credentials), key, upload_id);
            let _ = self.http.delete(abort.sign(SIGNED_FOR)).send().await;
        }
        complete
    }

    /// Sends the file's parts in order; their ETags.
    async fn upload_parts(
        &self,
        key: &str,
        upload_id: &str,
        file: &mut tokio::fs::File,
    ) -> Result<Vec<String>> {
        let mut etags = Vec::new();
        loop {
            let mut part = Vec::with_capacity(PART);
            (&mut *file).take(PART as u64).read_to_end(&mut part).await.map_err(Error::internal)?;
            if part.is_empty() {
                return Ok(etags);
            }
            let number = u16::try_from(etags.len() + 1)
                .map_err(|_| Error::internal("object storage: too many parts"))?;
            let url = self
                .bucket
                .upload_part(Some(&self.credentials), key, number, upload_id)
                .sign(SIGNED_FOR);
            let answer = self.send(self.http.put(url).body(part), "upload part").await?;
            let etag = answer
                .headers()
                .get(reqwest::header::ETAG)
                .and_then(|v| v.to_str().ok())
                .ok_or_else(|| failed("upload part", "no ETag"))?;
            etags.push(etag.to_owned());
        }
    }

    async fn send(
        &self,
        request: reqwest::RequestBuilder,
        what: &str,
    ) -> Result<reqwest::Response> {
        let answer = request.send().await.map_err(|e| failed(what, e))?;
        if !answer.status().is_success() {
            return Err(failed(what, answer.status()));
        }
        Ok(answer)
    }

    /// A blob read from the bucket, copied into the cache as it streams.
    async fn fetch(self: Arc<Self>, sha256: &str) -> Result<Option<Reader>> {
        let url =
            self.bucket.get_object(Some(&self.credentials), &self.key(sha256)).sign(SIGNED_FOR);
        let answer = self.http.get(url).send().await.map_err(|e| failed("GET", e))?;
        if answer.status() == reqwest::StatusCode::NOT_FOUND {
            return Ok(None);
        }
        if !answer.status().is_success() {
            return Err(failed("GET", answer.status()));
        }
        metrics::counter!("lattice_media_cache_misses_total").increment(1);
        let copy = self.cache.create().await.ok();
        // A reader that knows the size stops at the last byte without
        // asking for the end: the copy is kept once every byte arrived.
        let left = answer.content_length();
        let state = Tee { answer, copy, left, storage: self, sha256: sha256.to_owned() };
        let chunks = futures_util::stream::unfold(Some(state), |state| async move {
            let mut tee = state?;
            match tee.answer.chunk().await {
                Ok(Some(chunk)) => {
                    tee.left = tee.left.map(|left| left.saturating_sub(chunk.len() as u64));
                    if let Some(copy) = &mut tee.copy
                        && copy.write(&chunk).await.is_err()
                        && let Some(copy) = tee.copy.take()
                    {
                        copy.abort().await;
                    }
                    if tee.left == Some(0) {
                        tee.keep().await;
                    }
                    Some((Ok(chunk), Some(tee)))
                }
                Ok(None) => {
                    tee.keep().await;
                    None
                }
                Err(error) => {
                    if let Some(copy) = tee.copy.take() {
                        copy.abort().await;
                    }
                    Some((Err(std::io::Error::other(error)), None))
                }
            }
        });
        Ok(Some(Box::pin(tokio_util::io::StreamReader::new(Box::pin(chunks))) as Reader))
    }
}

/// A download from the bucket on its way to a client and to the cache.
struct Tee {
    answer: reqwest::Response,
    copy: Option<Box<dyn BlobWriter>>,
    /// Bytes still to come, when the bucket said how many.
    left: Option<u64>,
    storage: Arc<Inner>,
    sha256: String,
}

impl Tee {
    /// Keeps the copy in the cache (all of it arrived).
    async fn keep(&mut self) {
        if let Some(copy) = self.copy.take()
            && copy.commit(self.sha256.clone(), true).await.is_ok()
        {
            self.storage.cache.keep(&self.sha256).await;
        }
    }
}

impl Drop for Tee {
    /// A download given up half-way leaves no partial copy behind.
    fn drop(&mut self) {
        if let Some(copy) = self.copy.take() {
            tokio::spawn(copy.abort());
        }
    }
}

impl BlobStorage for S3Storage {
    fn create(&self) -> BoxFuture<'_, Result<Box<dyn BlobWriter>>> {
        Box::pin(async move {
            let staged = self.inner.cache.create().await?;
            let writer: Box<dyn BlobWriter> =
                Box::new(S3Writer { staged, storage: self.inner.clone() });
            Ok(writer)
        })
    }

    fn open<'a>(&'a self, sha256: &'a str) -> BoxFuture<'a, Result<Option<Reader>>> {
        Box::pin(async move {
            if !is_sha256(sha256) {
                return Ok(None);
            }
            if let Some(cached) = self.inner.cache.open(sha256).await? {
                metrics::counter!("lattice_media_cache_hits_total").increment(1);
                return Ok(Some(cached));
            }
            self.inner.clone().fetch(sha256).await
        })
    }

    fn delete<'a>(&'a self, sha256: &'a str) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            if !is_sha256(sha256) {
                return Ok(());
            }
            let inner = &self.inner;
            let url = inner
                .bucket
                .delete_object(Some(&inner.credentials), &inner.key(sha256))
                .sign(SIGNED_FOR);
            // S3 answers 204 whether or not the object was there.
            inner.send(inner.http.delete(url), "DELETE").await?;
            inner.cache.remove(sha256).await
        })
    }
}

struct S3Writer {
    staged: Box<dyn BlobWriter>,
    storage: Arc<Inner>,
}

impl BlobWriter for S3Writer {
    fn write<'a>(&'a mut self, chunk: &'a [u8]) -> BoxFuture<'a, Result<()>> {
        self.staged.write(chunk)
    }

    fn commit(self: Box<Self>, sha256: String, _replace: bool) -> BoxFuture<'static, Result<()>> {
        Box::pin(async move {
            let storage = self.storage;
            // In the cache under its name, then in the bucket.
            self.staged.commit(sha256.clone(), true).await?;
            let path = FileStorage::path_for(&storage.cache_root, &sha256);
            match storage.upload(&storage.key(&sha256), &path).await {
                Ok(()) => {
                    storage.cache.keep(&sha256).await;
                    Ok(())
                }
                Err(error) => {
                    // Not durable: nothing may be served from it.
                    let _ = tokio::fs::remove_file(&path).await;
                    Err(error)
                }
            }
        })
    }

    fn abort(self: Box<Self>) -> BoxFuture<'static, ()> {
        self.staged.abort()
    }
}
