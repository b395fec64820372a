//! Media bytes on the local filesystem, content-addressed by SHA-256 so
//! that equal uploads share a file. A write goes to a temporary file that
//! is synced and then renamed into place: a crash never leaves half a file
//! behind a valid mxc:// URI.

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use tokio::{fs, io::AsyncWriteExt};

use crate::error::{Error, Result};

#[derive(Debug, Clone)]
pub struct FileStorage {
    root: PathBuf,
}

/// An upload being written.
pub struct Upload {
    file: fs::File,
    temp: PathBuf,
    root: PathBuf,
    hasher: Sha256,
    size: u64,
    limit: u64,
}

impl FileStorage {
    pub fn new(root: PathBuf) -> Self {
        Self { root }
    }

    fn path_for(root: &Path, sha256: &str) -> PathBuf {
        root.join(&sha256[..2]).join(&sha256[2..4]).join(sha256)
    }

    /// Starts an upload that refuses to grow past `limit` bytes.
    pub async fn begin(&self, limit: u64) -> Result<Upload> {
        let temp_dir = self.root.join("tmp");
        fs::create_dir_all(&temp_dir).await.map_err(Error::internal)?;
        let name = crate::services::auth::tokens::random_letters(20)?;
        let temp = temp_dir.join(name);
        let file = fs::File::create(&temp).await.map_err(Error::internal)?;
        Ok(Upload { file, temp, root: self.root.clone(), hasher: Sha256::new(), size: 0, limit })
    }

    /// Opens stored content for reading.
    pub async fn open(&self, sha256: &str) -> Result<Option<fs::File>> {
        if sha256.len() < 4 || !sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Ok(None);
        }
        match fs::File::open(Self::path_for(&self.root, sha256)).await {
            Ok(file) => Ok(Some(file)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(Error::internal(e)),
        }
    }
}

impl Upload {
    pub async fn write(&mut self, chunk: &[u8]) -> Result<()> {
        self.size += chunk.len() as u64;
        if self.size > self.limit {
            return Err(Error::TooLarge);
        }
        self.hasher.update(chunk);
        self.file.write_all(chunk).await.map_err(Error::internal)
    }

    /// Bytes received so far.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Makes the upload durable under its hash; returns (sha256, size).
    pub async fn finish(mut self) -> Result<(String, u64)> {
        self.file.flush().await.map_err(Error::internal)?;
        self.file.sync_all().await.map_err(Error::internal)?;
        let sha256: String = std::mem::take(&mut self.hasher)
            .finalize()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        let target = FileStorage::path_for(&self.root, &sha256);
        if let Some(parent) = target.parent() {
            fs::create_dir_all(parent).await.map_err(Error::internal)?;
        }
        if fs::try_exists(&target).await.unwrap_or(false) {
            // Same content already stored: keep that file.
            let _ = fs::remove_file(&self.temp).await;
        } else {
            fs::rename(&self.temp, &target).await.map_err(Error::internal)?;
        }
        Ok((sha256, self.size))
    }

    /// Drops a refused upload.
    pub async fn abort(self) {
        let _ = fs::remove_file(&self.temp).await;
    }
}
