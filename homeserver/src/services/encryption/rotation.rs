//! Key rotation, and encrypting what was stored before a key was set. As
//! the server starts, the database is moved to the current key (SQLite,
//! before the pool opens) and the sealed secrets are sealed again; the
//! media store follows in the background, file by file, while both keys
//! read. When no file is left under an earlier key, the earlier keys are
//! forgotten. `lattice rotate-key` runs the same pass to its end.

use super::Keyring;
use crate::{
    error::Result,
    services::media::{Media, RewriteCount},
    store::Store,
};

/// What finishing a rotation did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RotationReport {
    /// The key everything is under now.
    pub key_id: String,
    pub media: RewriteCount,
}

/// Rewrites the media files not under the current key, then records that
/// everything is under it (earlier keys are no longer accepted).
pub async fn finish(store: &Store, media: &Media, keys: &Keyring) -> Result<RotationReport> {
    let count = media.rewrite_outdated_blobs().await?;
    store.finish_key_rotation(&keys.current.id).await?;
    Ok(RotationReport { key_id: keys.current.id.clone(), media: count })
}

/// Starts [`finish`] in the background when there may be something to do:
/// earlier keys are configured, or no pass has finished under this key.
pub async fn spawn_if_needed(store: &Store, media: &Media, keys: &Keyring) -> Result<()> {
    if keys.previous.is_empty() && store.media_encrypted_under(&keys.current.id).await? {
        return Ok(());
    }
    let (store, media, keys) = (store.clone(), media.clone(), keys.clone());
    tokio::spawn(async move {
        match finish(&store, &media, &keys).await {
            Ok(report) => tracing::info!(
                key = %keys.current.id,
                files = report.media.files,
                rewritten = report.media.rewritten,
                "the media store is under the current encryption key"
            ),
            // Left for the next start (or `lattice rotate-key`); both keys
            // keep reading meanwhile.
            Err(error) => tracing::error!(%error, "re-encrypting the media store failed"),
        }
    });
    Ok(())
}
