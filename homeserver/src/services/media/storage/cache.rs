//! Recently used blobs of a remote storage on local disk, up to a size:
//! the least recently used go first. Content-addressed like the storage it
//! caches, so an entry is never out of date.

use std::{
    collections::HashMap,
    path::{Path, PathBuf},
    sync::Mutex,
};

use super::{BlobStorage, BlobWriter, FileStorage, Reader};
use crate::error::Result;

pub(super) struct DiskCache {
    files: FileStorage,
    root: PathBuf,
    /// Most bytes kept.
    cap: u64,
    index: Mutex<Index>,
}

#[derive(Default)]
struct Index {
    /// Each blob's size and when it was last used (a counter, not a time).
    entries: HashMap<String, (u64, u64)>,
    total: u64,
    clock: u64,
}

impl DiskCache {
    /// A cache in `root` holding at most `cap` bytes; blobs left there by
    /// an earlier run count, in the order they were last written.
    pub fn new(root: PathBuf, cap: u64) -> Self {
        let mut index = Index::default();
        let mut found = Vec::new();
        walk(&root, &mut found);
        found.sort_by_key(|(_, _, modified)| *modified);
        for (sha256, size, _) in found {
            index.clock += 1;
            index.total += size;
            index.entries.insert(sha256, (size, index.clock));
        }
        let cache =
            Self { files: FileStorage::new(root.clone()), root, cap, index: Mutex::new(index) };
        for gone in cache.evict() {
            let _ = std::fs::remove_file(FileStorage::path_for(&cache.root, &gone));
        }
        cache
    }

    /// A writer for a blob that [`Self::keep`] then counts in.
    pub async fn create(&self) -> Result<Box<dyn BlobWriter>> {
        self.files.create().await
    }

    /// A cached blob, marked as just used.
    pub async fn open(&self, sha256: &str) -> Result<Option<Reader>> {
        let known = {
            let mut index = self.index();
            index.clock += 1;
            let clock = index.clock;
            index.entries.get_mut(sha256).map(|entry| entry.1 = clock).is_some()
        };
        if !known {
            return Ok(None);
        }
        let file = self.files.open(sha256).await?;
        if file.is_none() {
            // Removed behind our back: forget it.
            self.forget(sha256);
        }
        Ok(file)
    }

    /// Counts in a blob just committed by a writer of [`Self::create`],
    /// then makes room (possibly removing it again when the cap is 0).
    pub async fn keep(&self, sha256: &str) {
        let size = tokio::fs::metadata(FileStorage::path_for(&self.root, sha256))
            .await
            .map(|m| m.len())
            .unwrap_or(0);
        {
            let mut index = self.index();
            index.clock += 1;
            let clock = index.clock;
            if let Some((old, _)) = index.entries.insert(sha256.to_owned(), (size, clock)) {
                index.total -= old;
            }
            index.total += size;
        }
        for gone in self.evict() {
            let _ = self.files.delete(&gone).await;
        }
    }

    /// Removes a blob from the cache.
    pub async fn remove(&self, sha256: &str) -> Result<()> {
        self.forget(sha256);
        self.files.delete(sha256).await
    }

    fn forget(&self, sha256: &str) {
        let mut index = self.index();
        if let Some((size, _)) = index.entries.remove(sha256) {
            index.total -= size;
        }
    }

    /// Takes the least recently used blobs out of the index until the
    /// rest fit; returns them for deletion.
    fn evict(&self) -> Vec<String> {
        let mut index = self.index();
        let mut gone = Vec::new();
        while index.total > self.cap {
            let Some(oldest) =
                index.entries.iter().min_by_key(|(_, (_, used))| *used).map(|(k, _)| k.clone())
            else {
                break;
            };
            if let Some((size, _)) = index.entries.remove(&oldest) {
                index.total -= size;
            }
            gone.push(oldest);
        }
        metrics::gauge!("lattice_media_cache_bytes").set(index.total as f64);
        gone
    }

    fn index(&self) -> std::sync::MutexGuard<'_, Index> {
        self.index.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Every blob under `dir`: (sha256, size, last modified).
fn walk(dir: &Path, found: &mut Vec<(String, u64, std::time::SystemTime)>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let Ok(meta) = entry.metadata() else { continue };
        let name = entry.file_name().to_string_lossy().into_owned();
        if meta.is_dir() && name != "tmp" {
            walk(&entry.path(), found);
        } else if meta.is_file() && super::is_sha256(&name) {
            let modified = meta.modified().unwrap_or(std::time::UNIX_EPOCH);
            found.push((name, meta.len(), modified));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn put(cache: &DiskCache, bytes: &[u8]) -> String {
        use sha2::Digest;
        let sha256: String =
            sha2::Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect();
        let mut writer = cache.create().await.expect("writer");
        writer.write(bytes).await.expect("write");
        writer.commit(sha256.clone(), true).await.expect("commit");
        cache.keep(&sha256).await;
        sha256
    }

    #[tokio::test]
    async fn the_least_recently_used_go_first_and_the_index_survives_a_restart() {
        let dir = tempfile::tempdir().expect("dir");
        let cache = DiskCache::new(dir.path().to_path_buf(), 25);
        let a = put(&cache, &[1; 10]).await;
        let b = put(&cache, &[2; 10]).await;
        // a is read: b is now the least recently used.
        assert!(cache.open(&a).await.expect("open").is_some());
        let c = put(&cache, &[3; 10]).await;
        assert!(cache.open(&b).await.expect("open").is_none(), "b made room");
        assert!(cache.open(&a).await.expect("open").is_some());
        assert!(cache.open(&c).await.expect("open").is_some());

        // A new process finds what is there, within a smaller cap.
        let again = DiskCache::new(dir.path().to_path_buf(), 10);
        let kept = [&a, &c].iter().filter(|sha| again.index().entries.contains_key(**sha)).count();
        assert_eq!(kept, 1, "one 10-byte blob fits");
        assert_eq!(again.index().total, 10);
    }

    #[tokio::test]
    async fn a_cap_of_zero_keeps_nothing() {
        let dir = tempfile::tempdir().expect("dir");
        let cache = DiskCache::new(dir.path().to_path_buf(), 0);
        let a = put(&cache, b"hello").await;
        assert!(cache.open(&a).await.expect("open").is_none());
        let path = FileStorage::path_for(dir.path(), &a);
        assert!(!path.exists(), "the file is gone too");
    }
}
