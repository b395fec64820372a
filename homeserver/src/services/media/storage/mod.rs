//! Where media bytes live, behind a small trait: the local filesystem or
//! an S3-compatible bucket (with a local cache), either of them possibly
//! wrapped in encryption. Content is addressed by its SHA-256: equal
//! uploads share one blob.

mod cache;
mod encrypted;
mod fs;
mod s3;

use std::{future::Future, pin::Pin};

use sha2::{Digest, Sha256};
use tokio::io::AsyncRead;

pub use self::{encrypted::EncryptedStorage, fs::FileStorage, s3::S3Storage};
use crate::error::{Error, Result};

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;
/// Stored content, read as a stream.
pub type Reader = Pin<Box<dyn AsyncRead + Send>>;

/// A place that keeps blobs by hash.
pub trait BlobStorage: Send + Sync {
    /// Starts writing a new blob; its hash is known only at the end.
    fn create(&self) -> BoxFuture<'_, Result<Box<dyn BlobWriter>>>;
    /// Opens a blob, or `None` if it is not stored.
    fn open<'a>(&'a self, sha256: &'a str) -> BoxFuture<'a, Result<Option<Reader>>>;
    /// Removes a blob nothing names any more (gone already is fine).
    fn delete<'a>(&'a self, sha256: &'a str) -> BoxFuture<'a, Result<()>>;
    /// Whether a blob is stored as this storage writes now (false: it is
    /// under an earlier encryption key, or from before encryption).
    fn up_to_date<'a>(&'a self, _sha256: &'a str) -> BoxFuture<'a, Result<bool>> {
        Box::pin(async { Ok(true) })
    }
}

/// A blob being written. Nothing is visible under the hash until
/// `commit`, and a commit is durable when it returns.
pub trait BlobWriter: Send {
    fn write<'a>(&'a mut self, chunk: &'a [u8]) -> BoxFuture<'a, Result<()>>;
    /// Makes the blob visible under `sha256`; a blob already there is
    /// kept (equal content), unless `replace` (rewriting it, re-encrypted).
    fn commit(self: Box<Self>, sha256: String, replace: bool) -> BoxFuture<'static, Result<()>>;
    fn abort(self: Box<Self>) -> BoxFuture<'static, ()>;
}

/// An upload being received: counts, limits and hashes the bytes on their
/// way to whichever storage holds them.
pub struct Upload {
    writer: Box<dyn BlobWriter>,
    hasher: Sha256,
    size: u64,
    limit: u64,
}

impl Upload {
    /// Starts an upload that refuses to grow past `limit` bytes.
    pub async fn begin(storage: &dyn BlobStorage, limit: u64) -> Result<Self> {
        Ok(Self { writer: storage.create().await?, hasher: Sha256::new(), size: 0, limit })
    }

    pub async fn write(&mut self, chunk: &[u8]) -> Result<()> {
        self.size += chunk.len() as u64;
        if self.size > self.limit {
            return Err(Error::TooLarge);
        }
        self.hasher.update(chunk);
        self.writer.write(chunk).await
    }

    /// Bytes received so far.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Makes the upload durable under its hash; returns (sha256, size).
    pub async fn finish(self) -> Result<(String, u64)> {
        let sha256: String = self.hasher.finalize().iter().map(|b| format!("{b:02x}")).collect();
        self.writer.commit(sha256.clone(), false).await?;
        Ok((sha256, self.size))
    }

    /// Drops a refused upload.
    pub async fn abort(self) {
        self.writer.abort().await;
    }
}

/// A SHA-256 in hex, as blobs are named; anything else names no blob.
pub(super) fn is_sha256(name: &str) -> bool {
    name.len() == 64 && name.bytes().all(|b| b.is_ascii_hexdigit())
}
