//! Encryption at rest: the key the media store and the server's secrets
//! (its signing key, users' TOTP secrets) are encrypted with, read from a
//! file, an environment variable or a command (a KMS client), and checked
//! at start against the key the data was written with, so that a wrong or
//! missing key stops the server before it changes anything.

use std::sync::Arc;

use base64::{Engine, engine::general_purpose::STANDARD};
use chacha20poly1305::{AeadInOut, KeyInit, XChaCha20Poly1305, XNonce};
use sha2::{Digest, Sha256};

use crate::{
    config::EncryptionConfig,
    error::{Error, Result},
    store::Store,
};

/// A 256-bit key and the id stored beside everything it encrypts.
pub struct AtRestKey {
    /// Eight bytes of the key's hash, in hex: names the key, reveals nothing.
    pub id: String,
    /// The same eight bytes, as written beside what the key encrypts.
    pub(crate) id_bytes: [u8; 8],
    pub(crate) cipher: XChaCha20Poly1305,
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
        let digest = Sha256::digest([b"lattice at-rest key id\0".as_slice(), &key].concat());
        let mut id_bytes = [0u8; 8];
        id_bytes.copy_from_slice(&digest[..8]);
        let id = id_bytes.iter().map(|b| format!("{b:02x}")).collect();
        Ok(Self { id, id_bytes, cipher: XChaCha20Poly1305::new(&key.into()) })
    }

    /// A new random key, as 64 hex digits (`lattice generate-key`).
    pub fn generate_hex() -> Result<String> {
        let mut key = [0u8; 32];
        getrandom::fill(&mut key).map_err(Error::internal)?;
        Ok(key.iter().map(|b| format!("{b:02x}")).collect())
    }

    /// The configured key, if encryption is on.
    pub async fn load(config: &EncryptionConfig) -> Result<Option<Arc<Self>>> {
        let sources =
            [config.key_file.is_some(), config.key_env.is_some(), config.key_command.is_some()];
        if sources.iter().filter(|set| **set).count() > 1 {
            return Err(Error::internal(
                "[encryption]: set one of key_file, key_env and key_command",
            ));
        }
        let text = if let Some(path) = &config.key_file {
            tokio::fs::read_to_string(path).await.map_err(|e| {
                Error::internal(format!("encryption key file {}: {e}", path.display()))
            })?
        } else if let Some(name) = &config.key_env {
            std::env::var(name)
                .map_err(|_| Error::internal(format!("encryption key: ${name} is not set")))?
        } else if let Some(command) = &config.key_command {
            let command = command.clone();
            let output = tokio::task::spawn_blocking(move || {
                std::process::Command::new("sh").arg("-c").arg(command).output()
            })
            .await
            .map_err(Error::internal)?
            .map_err(|e| Error::internal(format!("encryption key command: {e}")))?;
            if !output.status.success() {
                return Err(Error::internal(format!(
                    "encryption key command failed ({})",
                    output.status
                )));
            }
            String::from_utf8(output.stdout)
                .map_err(|_| Error::internal("encryption key command printed no text"))?
        } else {
            return Ok(None);
        };
        Self::from_hex(&text).map(|key| Some(Arc::new(key)))
    }
}

/// Sealed secrets read `enc1:<key id>:<base64 of nonce and ciphertext>`:
/// the key id says which key opens them (for key rotation).
const SEALED: &str = "enc1:";

/// Seals and opens the secrets kept in the database with the at-rest key;
/// without one, they are kept as they are.
#[derive(Clone, Default)]
pub struct Secrets {
    key: Option<Arc<AtRestKey>>,
}

impl Secrets {
    pub fn new(key: Option<Arc<AtRestKey>>) -> Self {
        Self { key }
    }

    /// Whether secrets are sealed (a key is configured).
    pub fn sealing(&self) -> bool {
        self.key.is_some()
    }

    /// The form to store: sealed, and bound to `context` (what the secret
    /// is, such as `totp:@alice:example.org`) so it cannot be moved to
    /// another row.
    pub fn seal(&self, plain: &str, context: &str) -> Result<String> {
        let Some(key) = &self.key else { return Ok(plain.to_owned()) };
        let mut nonce = [0u8; 24];
        getrandom::fill(&mut nonce).map_err(Error::internal)?;
        let mut sealed = plain.as_bytes().to_vec();
        key.cipher
            .encrypt_in_place(&XNonce::from(nonce), context.as_bytes(), &mut sealed)
            .map_err(|_| Error::internal("encryption failed"))?;
        let sealed = STANDARD.encode([nonce.as_slice(), &sealed].concat());
        Ok(format!("{SEALED}{}:{sealed}", key.id))
    }

    /// The secret from its stored form (kept in clear before a key was set).
    pub fn open(&self, stored: &str, context: &str) -> Result<String> {
        let Some(rest) = stored.strip_prefix(SEALED) else { return Ok(stored.to_owned()) };
        let (key_id, encoded) =
            rest.split_once(':').ok_or_else(|| Error::internal("a sealed secret names no key"))?;
        let key = self.key.as_ref().filter(|key| key.id == key_id).ok_or_else(|| {
            Error::internal(format!("the secret of {context} is sealed with key {key_id}"))
        })?;
        let bytes = STANDARD.decode(encoded).map_err(Error::internal)?;
        let (nonce, sealed) = bytes
            .split_at_checked(24)
            .ok_or_else(|| Error::internal("a sealed secret is cut short"))?;
        let nonce: [u8; 24] = nonce.try_into().map_err(Error::internal)?;
        let mut plain = sealed.to_vec();
        key.cipher.decrypt_in_place(&XNonce::from(nonce), context.as_bytes(), &mut plain).map_err(
            |_| Error::internal(format!("the secret of {context} fails its integrity check")),
        )?;
        String::from_utf8(plain).map_err(Error::internal)
    }

    /// Whether a stored value is still in clear (to seal once a key is set).
    pub fn is_clear(stored: &str) -> bool {
        !stored.starts_with(SEALED)
    }
}

/// Refuses to start with another key than the data was written with, or
/// with none when data was written encrypted; records a first key.
pub async fn check_key(store: &Store, key: Option<&AtRestKey>) -> Result<()> {
    let known = store.encryption_key_ids().await?;
    match key {
        None if known.is_empty() => Ok(()),
        None => Err(Error::internal(format!(
            "the media store is encrypted (key {}): configure its key in [encryption]",
            known.join(", ")
        ))),
        Some(key) if known.contains(&key.id) => Ok(()),
        Some(key) if known.is_empty() => store.record_encryption_key(&key.id).await,
        Some(key) => Err(Error::internal(format!(
            "the configured encryption key ({}) is not the one the data was written with ({}); \
             nothing was changed",
            key.id,
            known.join(", ")
        ))),
    }
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

    #[test]
    fn secrets_are_sealed_to_their_place() {
        let secrets =
            Secrets::new(Some(Arc::new(AtRestKey::from_hex(&"12".repeat(32)).expect("key"))));
        let sealed = secrets.seal("JBSWY3DPEHPK3PXP", "totp:@a:x").expect("sealed");
        assert!(!sealed.contains("JBSWY3DPEHPK3PXP") && !Secrets::is_clear(&sealed));
        let other =
            Secrets::new(Some(Arc::new(AtRestKey::from_hex(&"34".repeat(32)).expect("key"))));
        let error = other.open(&sealed, "totp:@a:x").expect_err("another key cannot open it");
        assert!(error.to_string().contains("sealed with key"), "{error}");
        assert_eq!(secrets.open(&sealed, "totp:@a:x").expect("opened"), "JBSWY3DPEHPK3PXP");
        assert!(secrets.open(&sealed, "totp:@b:x").is_err(), "bound to its row");
        assert_eq!(secrets.open("in clear", "totp:@a:x").expect("clear"), "in clear");
        assert!(Secrets::default().open(&sealed, "totp:@a:x").is_err(), "no key, no secret");
        assert_eq!(Secrets::default().seal("x", "c").expect("kept"), "x");
    }
}
