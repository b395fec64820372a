//! Blobs on the local filesystem under the data directory. A write goes to
//! a temporary file that is synced and then renamed into place: a crash
//! never leaves half a file behind a valid mxc:// URI.

use std::path::{Path, PathBuf};

use tokio::{fs, io::AsyncWriteExt};

use super::{BlobStorage, BlobWriter, BoxFuture, Reader, is_sha256};
use crate::error::{Error, Result};

#[derive(Debug, Clone)]
pub struct FileStorage {
    root: PathBuf,
}

impl FileStorage {
    pub fn new(root: PathBuf) -> Self {
        Self { root }
    }

    pub(super) fn path_for(root: &Path, sha256: &str) -> PathBuf {
        root.join(&sha256[..2]).join(&sha256[2..4]).join(sha256)
    }
}

impl BlobStorage for FileStorage {
    fn create(&self) -> BoxFuture<'_, Result<Box<dyn BlobWriter>>> {
        Box::pin(async move {
            let temp_dir = self.root.join("tmp");
            fs::create_dir_all(&temp_dir).await.map_err(Error::internal)?;
            let temp = temp_dir.join(crate::services::auth::tokens::random_letters(20)?);
            let file = fs::File::create(&temp).await.map_err(Error::internal)?;
            let writer: Box<dyn BlobWriter> =
                Box::new(FileWriter { file, temp, root: self.root.clone() });
            Ok(writer)
        })
    }

    fn delete<'a>(&'a self, sha256: &'a str) -> BoxFuture<'a, Result<()>> {
        Box::pin(self.remove(sha256))
    }

    fn open<'a>(&'a self, sha256: &'a str) -> BoxFuture<'a, Result<Option<Reader>>> {
        Box::pin(async move {
            if !is_sha256(sha256) {
                return Ok(None);
            }
            match fs::File::open(Self::path_for(&self.root, sha256)).await {
                Ok(file) => Ok(Some(Box::pin(file) as Reader)),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
                Err(e) => Err(Error::internal(e)),
            }
        })
    }
}

impl FileStorage {
    async fn remove(&self, sha256: &str) -> Result<()> {
        if !is_sha256(sha256) {
            return Ok(());
        }
        match fs::remove_file(Self::path_for(&self.root, sha256)).await {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(Error::internal(e)),
            _ => Ok(()),
        }
    }
}

struct FileWriter {
    file: fs::File,
    temp: PathBuf,
    root: PathBuf,
}

impl BlobWriter for FileWriter {
    fn write<'a>(&'a mut self, chunk: &'a [u8]) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move { self.file.write_all(chunk).await.map_err(Error::internal) })
    }

    fn commit(
        mut self: Box<Self>,
        sha256: String,
        replace: bool,
    ) -> BoxFuture<'static, Result<()>> {
        Box::pin(async move {
            self.file.flush().await.map_err(Error::internal)?;
            self.file.sync_all().await.map_err(Error::internal)?;
            let target = FileStorage::path_for(&self.root, &sha256);
            if let Some(parent) = target.parent() {
                fs::create_dir_all(parent).await.map_err(Error::internal)?;
            }
            if !replace && fs::try_exists(&target).await.unwrap_or(false) {
                // Same content already stored: keep that file.
                let _ = fs::remove_file(&self.temp).await;
            } else {
                fs::rename(&self.temp, &target).await.map_err(Error::internal)?;
                // The rename itself must survive a crash too.
                if let Some(parent) = target.parent() {
                    let dir = fs::File::open(parent).await.map_err(Error::internal)?;
                    dir.sync_all().await.map_err(Error::internal)?;
                }
            }
            Ok(())
        })
    }

    fn abort(self: Box<Self>) -> BoxFuture<'static, ()> {
        Box::pin(async move {
            let _ = fs::remove_file(&self.temp).await;
        })
    }
}
