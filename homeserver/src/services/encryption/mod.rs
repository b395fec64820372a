//! Encryption at rest: the keys the database (SQLite, page by page), the
//! media store and the server's secrets (its signing key, users' TOTP
//! secrets) are encrypted with, read from a file, an environment variable
//! or a command (a KMS client), and checked at start against the keys the
//! data was written with, so that a wrong or missing key stops the server
//! before it changes anything. During a key rotation, earlier keys still
//! read what they wrote while [`rotation`] moves it to the current key.

pub mod rotation;
mod secrets;

use std::{path::Path, sync::Arc};

use chacha20poly1305::{KeyInit, XChaCha20Poly1305};
use sha2::{Digest, Sha256};

pub use self::{rotation::RotationReport, secrets::Secrets};
use crate::{
    config::EncryptionConfig,
    error::{Error, Result},
    store::{DatabaseKey, Store},
};

/// A 256-bit key and the id stored beside everything it encrypts.
pub struct AtRestKey {
    /// Eight bytes of the key's hash, in hex: names the key, reveals nothing.
    pub id: String,
    /// The same eight bytes, as written beside what the key encrypts.
    pub(crate) id_bytes: [u8; 8],
    pub(crate) cipher: XChaCha20Poly1305,
    /// SQLCipher's key, derived from this one (never the key itself).
    database: [u8; 32],
    /// The key of the keyed hashes that stand for secrets looked up by
    /// value (pushkeys), derived from this one.
    pub(crate) lookup: [u8; 32],
}

impl AtRestKey {
    /// A key written as 64 hex digits (surrounding whitespace ignored).
    pub fn from_hex(text: &str) -> Result<Self> {
        let text = text.trim();
        let bytes: Vec<u8> = (0..text.len())
            .step_by(2)
            .filter_map(|at| {
                text.get(at..at + 2).and_then(|pair| u8::from_str_radix(pair, 16).ok())
            })
            .collect();
        let key: [u8; 32] = match (text.len(), bytes.try_into()) {
            (64, Ok(key)) => key,
            _ => return Err(Error::internal("an encryption key is 64 hex digits (32 bytes)")),
        };
        let derive = |purpose: &[u8]| Sha256::digest([purpose, &key].concat());
        let mut id_bytes = [0u8; 8];
        id_bytes.copy_from_slice(&derive(b"lattice at-rest key id\0")[..8]);
        let id = id_bytes.iter().map(|b| format!("{b:02x}")).collect();
        let database = derive(b"lattice database key\0").into();
        let lookup = derive(b"lattice lookup key\0").into();
        let cipher = XChaCha20Poly1305::new(&key.into());
        Ok(Self { id, id_bytes, cipher, database, lookup })
    }

    /// A new random key, as 64 hex digits (`lattice generate-key`).
    pub fn generate_hex() -> Result<String> {
        let mut key = [0u8; 32];
        getrandom::fill(&mut key).map_err(Error::internal)?;
        Ok(key.iter().map(|b| format!("{b:02x}")).collect())
    }

    fn database_key(&self) -> DatabaseKey {
        DatabaseKey::new(self.id.clone(), self.database)
    }
}

/// The configured keys: the current one, which encrypts everything new,
/// and earlier ones (`previous_key_files`) that still read what they wrote
/// until a rotation has moved it to the current key.
#[derive(Clone)]
pub struct Keyring {
    current: Arc<AtRestKey>,
    previous: Vec<Arc<AtRestKey>>,
}

impl Keyring {
    pub fn new(current: AtRestKey, previous: Vec<AtRestKey>) -> Self {
        Self { current: Arc::new(current), previous: previous.into_iter().map(Arc::new).collect() }
    }

    /// The configured keys, if encryption is on.
    pub async fn load(config: &EncryptionConfig) -> Result<Option<Self>> {
        let sources =
            [config.key_file.is_some(), config.key_env.is_some(), config.key_command.is_some()];
        if sources.iter().filter(|set| **set).count() > 1 {
            return Err(Error::internal(
                "[encryption]: set one of key_file, key_env and key_command",
            ));
        }
        let text = if let Some(path) = &config.key_file {
            read_key_file(path).await?
        } else if let Some(name) = &config.key_env {
            std::env::var(name)
                .map_err(|_| Error::internal(format!("encryption key: ${name} is not set")))?
        } else if let Some(command) = &config.key_command {
            run_key_command(command.clone()).await?
        } else if config.previous_key_files.is_empty() {
            return Ok(None);
        } else {
            return Err(Error::internal(
                "[encryption]: previous_key_files need a current key (key_file, key_env or \
                 key_command)",
            ));
        };
        let mut previous = Vec::new();
        for path in &config.previous_key_files {
            previous.push(AtRestKey::from_hex(&read_key_file(path).await?)?);
        }
        Ok(Some(Self::new(AtRestKey::from_hex(&text)?, previous)))
    }

    /// The key everything new is encrypted with.
    pub fn current(&self) -> &Arc<AtRestKey> {
        &self.current
    }

    /// The key whose id is `id` (written beside a media file).
    pub(crate) fn find(&self, id: &[u8]) -> Option<&Arc<AtRestKey>> {
        std::iter::once(&self.current).chain(&self.previous).find(|key| key.id_bytes == id)
    }

    /// The key whose id is `id` in hex (written in a sealed secret).
    pub(crate) fn find_hex(&self, id: &str) -> Option<&Arc<AtRestKey>> {
        std::iter::once(&self.current).chain(&self.previous).find(|key| key.id == id)
    }

    /// SQLCipher keys, current first: the database may still be under an
    /// earlier one, and is moved to the current one as it opens.
    pub fn database_keys(&self) -> Vec<DatabaseKey> {
        std::iter::once(&self.current).chain(&self.previous).map(|key| key.database_key()).collect()
    }
}

/// The database keys `config` names, current first (none without a key).
pub async fn database_keys(config: &EncryptionConfig) -> Result<Vec<DatabaseKey>> {
    Ok(Keyring::load(config).await?.map(|keys| keys.database_keys()).unwrap_or_default())
}

async fn read_key_file(path: &Path) -> Result<String> {
    tokio::fs::read_to_string(path)
        .await
        .map_err(|e| Error::internal(format!("encryption key file {}: {e}", path.display())))
}

async fn run_key_command(command: String) -> Result<String> {
    let output = tokio::task::spawn_blocking(move || {
        std::process::Command::new("sh").arg("-c").arg(command).output()
    })
    .await
    .map_err(Error::internal)?
    .map_err(|e| Error::internal(format!("encryption key command: {e}")))?;
    if !output.status.success() {
        return Err(Error::internal(format!("encryption key command failed ({})", output.status)));
    }
    String::from_utf8(output.stdout)
        .map_err(|_| Error::internal("encryption key command printed no text"))
}

/// Refuses to start with keys other than those the data was written with,
/// or with none when data was written encrypted; records a first key, and
/// the new key of a rotation (when an earlier one is known).
pub async fn check_key(store: &Store, keys: Option<&Keyring>) -> Result<()> {
    let known = store.encryption_key_ids().await?;
    let Some(keys) = keys else {
        return match known.is_empty() {
            true => Ok(()),
            false => Err(Error::internal(format!(
                "the data is encrypted (key {}): configure its key in [encryption]",
                known.join(", ")
            ))),
        };
    };
    let current = &keys.current.id;
    if known.contains(current) {
        return Ok(());
    }
    if known.is_empty() || keys.previous.iter().any(|key| known.contains(&key.id)) {
        return store.record_encryption_key(current).await;
    }
    Err(Error::internal(format!(
        "the configured encryption key ({current}) is not the one the data was written with \
         ({}); nothing was changed",
        known.join(", ")
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_keys_load_and_malformed_ones_do_not() {
        let text = AtRestKey::generate_hex().expect("random");
        let key = AtRestKey::from_hex(&format!("  {text}\n")).expect("a generated key loads");
        let other =
            AtRestKey::from_hex(&AtRestKey::generate_hex().expect("random")).expect("loads");
        assert_eq!(key.id.len(), 16);
        assert_ne!(key.id, other.id, "keys have their own ids");
        for bad in ["", "abcd", &"zz".repeat(32), &"ab".repeat(33)] {
            assert!(AtRestKey::from_hex(bad).is_err(), "{bad:?} is refused");
        }
    }
}
