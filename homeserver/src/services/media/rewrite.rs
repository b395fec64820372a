//! Rewriting stored blobs that are not as the storage writes now: after an
//! encryption key was set (files from before are in clear) or changed
//! (files under the earlier key). Each is read, written again and renamed
//! over the old one, so a reader never sees half a file.

use std::path::Path;

use super::{Media, storage::is_sha256};
use crate::error::{Error, Result};

/// What a pass over the media store did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct RewriteCount {
    /// Files looked at.
    pub files: u64,
    /// Files written again.
    pub rewritten: u64,
}

impl Media {
    /// Rewrites every blob that is not up to date; one pass at a time.
    pub async fn rewrite_outdated_blobs(&self) -> Result<RewriteCount> {
        let _one_pass = self.rewrites.lock().await;
        let root = self.config.server.data_dir.join("media");
        let mut count = RewriteCount::default();
        // Blobs live under two levels of folders named by their hash's first
        // hex digits: one folder's names are read at a time.
        for first in hex_folders(&root).await? {
            for second in hex_folders(&first).await? {
                for name in blob_names(&second).await? {
                    count.files += 1;
                    if !self.files.up_to_date(&name).await? {
                        self.rewrite(&name).await?;
                        count.rewritten += 1;
                        metrics::counter!("lattice_media_rewritten_total").increment(1);
                    }
                }
            }
        }
        Ok(count)
    }

    async fn rewrite(&self, sha256: &str) -> Result<()> {
        use tokio::io::AsyncReadExt;
        // Deleted meanwhile: nothing to do.
        let Some(mut reader) = self.files.open(sha256).await? else { return Ok(()) };
        let mut writer = self.files.create().await?;
        let mut buffer = vec![0u8; 64 * 1024];
        loop {
            let n = match reader.read(&mut buffer).await {
                Ok(n) => n,
                Err(e) => {
                    writer.abort().await;
                    return Err(Error::internal(format!("media {sha256}: {e}")));
                }
            };
            if n == 0 {
                break;
            }
            writer.write(&buffer[..n]).await?;
        }
        writer.commit(sha256.to_owned(), true).await
    }
}

/// Sub-folders named by two hex digits.
async fn hex_folders(dir: &Path) -> Result<Vec<std::path::PathBuf>> {
    let names = list(dir).await?;
    Ok(names
        .into_iter()
        .filter(|name| name.len() == 2 && name.bytes().all(|b| b.is_ascii_hexdigit()))
        .map(|name| dir.join(name))
        .collect())
}

async fn blob_names(dir: &Path) -> Result<Vec<String>> {
    Ok(list(dir).await?.into_iter().filter(|name| is_sha256(name)).collect())
}

async fn list(dir: &Path) -> Result<Vec<String>> {
    let mut entries = match tokio::fs::read_dir(dir).await {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(Error::internal(format!("{}: {e}", dir.display()))),
    };
    let mut names = Vec::new();
    while let Some(entry) = entries.next_entry().await.map_err(Error::internal)? {
        names.extend(entry.file_name().to_str().map(str::to_owned));
    }
    names.sort();
    Ok(names)
}
