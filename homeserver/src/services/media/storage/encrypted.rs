//! Media encrypted at rest: any [`BlobStorage`] wrapped so that what it
//! keeps is XChaCha20-Poly1305 ciphertext, written and read in chunks
//! (memory stays flat for any file size).
//!
//! A blob is a header — magic, the key's id, a random 16-byte nonce
//! prefix — then chunks of up to 64 KiB of plaintext, each sealed with the
//! nonce `prefix ‖ chunk number` (the top bit marks the last chunk, so a
//! blob cut at a chunk boundary fails to open) and the header as
//! associated data. Blobs written before encryption was switched on have
//! no header and are read as they are.

use std::sync::Arc;

use bytes::Bytes;
use chacha20poly1305::{AeadInOut, XNonce};
use tokio::io::AsyncReadExt;

use super::{BlobStorage, BlobWriter, BoxFuture, Reader};
use crate::{
    error::{Error, Result},
    services::encryption::{AtRestKey, Keyring},
};

const MAGIC: &[u8; 8] = b"LTCENC1\n";
const HEADER: usize = 32;
const CHUNK: usize = 64 * 1024;
const TAG: usize = 16;
const LAST: u64 = 1 << 63;

pub struct EncryptedStorage {
    inner: Arc<dyn BlobStorage>,
    keys: Keyring,
}

impl EncryptedStorage {
    pub fn new(inner: Arc<dyn BlobStorage>, keys: Keyring) -> Self {
        Self { inner, keys }
    }

    /// A stored blob, its header read.
    async fn stored(&self, sha256: &str) -> Result<Stored> {
        let Some(mut inner) = self.inner.open(sha256).await? else { return Ok(Stored::Missing) };
        let mut head = Vec::with_capacity(HEADER);
        (&mut inner).take(HEADER as u64).read_to_end(&mut head).await.map_err(Error::internal)?;
        Ok(match <[u8; HEADER]>::try_from(head.as_slice()) {
            Ok(header) if &header[..8] == MAGIC => Stored::Sealed(header, inner),
            // Shorter than a header, or another start: from before encryption.
            _ => Stored::Plain(Box::pin(std::io::Cursor::new(head).chain(inner))),
        })
    }
}

enum Stored {
    Missing,
    Plain(Reader),
    Sealed([u8; HEADER], Reader),
}

fn nonce(header: &[u8; HEADER], index: u64, last: bool) -> XNonce {
    let mut nonce = [0u8; 24];
    nonce[..16].copy_from_slice(&header[16..32]);
    let counter = if last { index | LAST } else { index };
    nonce[16..].copy_from_slice(&counter.to_be_bytes());
    nonce.into()
}

impl BlobStorage for EncryptedStorage {
    fn create(&self) -> BoxFuture<'_, Result<Box<dyn BlobWriter>>> {
        Box::pin(async move {
            let mut header = [0u8; HEADER];
            header[..8].copy_from_slice(MAGIC);
            header[8..16].copy_from_slice(&self.keys.current().id_bytes);
            getrandom::fill(&mut header[16..]).map_err(Error::internal)?;
            let mut inner = self.inner.create().await?;
            inner.write(&header).await?;
            let writer: Box<dyn BlobWriter> = Box::new(EncryptingWriter {
                inner,
                key: self.keys.current().clone(),
                header,
                index: 0,
                pending: Vec::with_capacity(CHUNK + TAG),
            });
            Ok(writer)
        })
    }

    fn open<'a>(&'a self, sha256: &'a str) -> BoxFuture<'a, Result<Option<Reader>>> {
        Box::pin(async move {
            let (header, inner) = match self.stored(sha256).await? {
                Stored::Missing => return Ok(None),
                Stored::Plain(reader) => return Ok(Some(reader)),
                Stored::Sealed(header, inner) => (header, inner),
            };
            let key = self.keys.find(&header[8..16]).ok_or_else(|| {
                Error::internal(format!("media {sha256} is encrypted with a key not configured"))
            })?;
            Ok(Some(decrypting(inner, key.clone(), header)))
        })
    }

    fn delete<'a>(&'a self, sha256: &'a str) -> BoxFuture<'a, Result<()>> {
        self.inner.delete(sha256)
    }

    fn up_to_date<'a>(&'a self, sha256: &'a str) -> BoxFuture<'a, Result<bool>> {
        Box::pin(async move {
            Ok(match self.stored(sha256).await? {
                Stored::Missing => true,
                Stored::Plain(_) => false,
                Stored::Sealed(header, _) => header[8..16] == self.keys.current().id_bytes,
            })
        })
    }
}

struct EncryptingWriter {
    inner: Box<dyn BlobWriter>,
    key: Arc<AtRestKey>,
    header: [u8; HEADER],
    index: u64,
    /// Plaintext not sealed yet: a chunk is sealed once more follows, so
    /// that the last one is known when the blob is committed.
    pending: Vec<u8>,
}

impl EncryptingWriter {
    async fn seal(&mut self, plain: Vec<u8>, last: bool) -> Result<()> {
        let mut sealed = plain;
        let nonce = nonce(&self.header, self.index, last);
        self.key
            .cipher
            .encrypt_in_place(&nonce, &self.header, &mut sealed)
            .map_err(|_| Error::internal("encryption failed"))?;
        self.index += 1;
        self.inner.write(&sealed).await
    }
}

impl BlobWriter for EncryptingWriter {
    fn write<'a>(&'a mut self, chunk: &'a [u8]) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            self.pending.extend_from_slice(chunk);
            while self.pending.len() > CHUNK {
                let rest = self.pending.split_off(CHUNK);
                let full = std::mem::replace(&mut self.pending, rest);
                self.seal(full, false).await?;
            }
            Ok(())
        })
    }

    fn commit(
        mut self: Box<Self>,
        sha256: String,
        replace: bool,
    ) -> BoxFuture<'static, Result<()>> {
        Box::pin(async move {
            let last = std::mem::take(&mut self.pending);
            self.seal(last, true).await?;
            self.inner.commit(sha256, replace).await
        })
    }

    fn abort(self: Box<Self>) -> BoxFuture<'static, ()> {
        self.inner.abort()
    }
}

/// Ciphertext after the header, opened chunk by chunk as it is read.
struct Decrypting {
    inner: Reader,
    key: Arc<AtRestKey>,
    header: [u8; HEADER],
    index: u64,
    buffer: Vec<u8>,
    done: bool,
}

impl Decrypting {
    /// The next chunk's plaintext, `None` after the last.
    async fn next_chunk(&mut self) -> std::io::Result<Option<Bytes>> {
        if self.done {
            return Ok(None);
        }
        // One byte past a full chunk tells whether another follows.
        let wanted = CHUNK + TAG + 1;
        while self.buffer.len() < wanted {
            let mut more = vec![0u8; wanted - self.buffer.len()];
            let n = self.inner.read(&mut more).await?;
            if n == 0 {
                break;
            }
            self.buffer.extend_from_slice(&more[..n]);
        }
        let last = self.buffer.len() < wanted;
        let take = if last { self.buffer.len() } else { CHUNK + TAG };
        let rest = self.buffer.split_off(take);
        let mut chunk = std::mem::replace(&mut self.buffer, rest);
        let nonce = nonce(&self.header, self.index, last);
        self.key.cipher.decrypt_in_place(&nonce, &self.header, &mut chunk).map_err(|_| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                "a media file failed its integrity check",
            )
        })?;
        self.index += 1;
        self.done = last;
        Ok(Some(Bytes::from(chunk)))
    }
}

fn decrypting(inner: Reader, key: Arc<AtRestKey>, header: [u8; HEADER]) -> Reader {
    let state = Decrypting { inner, key, header, index: 0, buffer: Vec::new(), done: false };
    let chunks = futures_util::stream::unfold(state, |mut state| async move {
        match state.next_chunk().await {
            Ok(Some(chunk)) => Some((Ok(chunk), state)),
            Ok(None) => None,
            Err(error) => {
                state.done = true;
                Some((Err(error), state))
            }
        }
    });
    Box::pin(tokio_util::io::StreamReader::new(chunks))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::services::media::storage::FileStorage;

    /// Plain files in `dir`, and the same wrapped with a test key.
    fn storages(dir: &std::path::Path) -> (Arc<dyn BlobStorage>, EncryptedStorage) {
        let files: Arc<dyn BlobStorage> = Arc::new(FileStorage::new(dir.to_owned()));
        (files.clone(), EncryptedStorage::new(files, keyring("ab", &[])))
    }

    fn keyring(current: &str, previous: &[&str]) -> Keyring {
        let key = |hex: &str| AtRestKey::from_hex(&hex.repeat(32)).expect("key");
        Keyring::new(key(current), previous.iter().map(|hex| key(hex)).collect())
    }

    async fn read_all(storage: &dyn BlobStorage, name: &str) -> std::io::Result<Vec<u8>> {
        let mut read = Vec::new();
        let mut reader = storage.open(name).await.expect("open").expect("there");
        reader.read_to_end(&mut read).await.map(|_| read)
    }

    async fn round_trip(size: usize) {
        let dir = tempfile::tempdir().expect("folder");
        let (files, storage) = storages(dir.path());
        let content: Vec<u8> = (0..size).map(|i| (i % 251) as u8).collect();
        let mut writer = storage.create().await.expect("writer");
        for piece in content.chunks(10_000) {
            writer.write(piece).await.expect("written");
        }
        let name = "a".repeat(64);
        writer.commit(name.clone(), false).await.expect("committed");

        let raw = read_all(files.as_ref(), &name).await.expect("raw");
        let chunks = size.div_ceil(CHUNK).max(1);
        assert_eq!(raw.len(), HEADER + size + TAG * chunks, "{size} bytes, sealed");
        assert!(size < 64 || !raw.windows(64).any(|w| content.windows(64).next() == Some(w)));
        let read = read_all(&storage, &name).await.expect("read");
        assert_eq!(read, content, "{size} bytes come back");
    }

    /// Changed bytes, or a file cut at a chunk's end, do not read back.
    #[tokio::test]
    async fn tampering_is_refused() {
        let dir = tempfile::tempdir().expect("folder");
        let (_, storage) = storages(dir.path());
        let name = "b".repeat(64);
        let mut writer = storage.create().await.expect("writer");
        writer.write(&vec![7u8; 2 * CHUNK + 5]).await.expect("written");
        writer.commit(name.clone(), false).await.expect("committed");
        let path = dir.path().join(&name[..2]).join(&name[2..4]).join(&name);
        let sealed = std::fs::read(&path).expect("raw");
        let mut changed = sealed.clone();
        changed[HEADER + 10] ^= 1;
        let cut = sealed[..HEADER + 2 * (CHUNK + TAG)].to_vec();
        for bad in [changed, cut] {
            std::fs::write(&path, bad).expect("written");
            assert!(read_all(&storage, &name).await.is_err(), "refused");
        }
    }

    #[tokio::test]
    async fn content_comes_back_whatever_its_size() {
        for size in [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 3 * CHUNK, 3 * CHUNK + 17] {
            round_trip(size).await;
        }
    }

    /// During a rotation, blobs under the earlier key read and are not up
    /// to date; written again, they are under the new key alone.
    #[tokio::test]
    async fn a_rotation_reads_old_blobs_and_rewrites_them() {
        let dir = tempfile::tempdir().expect("folder");
        let (files, old) = storages(dir.path());
        let name = "c".repeat(64);
        let content = vec![9u8; CHUNK + 3];
        let mut writer = old.create().await.expect("writer");
        writer.write(&content).await.expect("written");
        writer.commit(name.clone(), false).await.expect("committed");

        let rotating = EncryptedStorage::new(files.clone(), keyring("cd", &["ab"]));
        assert!(!rotating.up_to_date(&name).await.expect("header"), "under the earlier key");
        let plain = read_all(&rotating, &name).await.expect("the earlier key reads");
        assert_eq!(plain, content);
        let mut writer = rotating.create().await.expect("writer");
        writer.write(&plain).await.expect("written");
        writer.commit(name.clone(), true).await.expect("replaced");
        assert!(rotating.up_to_date(&name).await.expect("header"));

        let new_only = EncryptedStorage::new(files, keyring("cd", &[]));
        assert_eq!(read_all(&new_only, &name).await.expect("the new key reads"), content);
        assert!(old.open(&name).await.is_err(), "the earlier key alone no longer reads it");
    }
}
