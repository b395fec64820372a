//! Secrets kept in the database (the signing key, TOTP secrets), sealed
//! with the at-rest key so that a copy of the database alone does not hold
//! them — with PostgreSQL, whose files Lattice does not encrypt, this is
//! their protection.

use base64::{Engine, engine::general_purpose::STANDARD};
use chacha20poly1305::{AeadInOut, XNonce};

use super::Keyring;
use crate::error::{Error, Result};

/// Sealed secrets read `enc1:<key id>:<base64 of nonce and ciphertext>`:
/// the key id says which key opens them (for key rotation).
const SEALED: &str = "enc1:";
/// Keyed hashes read `hmac1:<base64>`.
const LOOKUP: &str = "hmac1:";

/// Seals and opens the secrets kept in the database with the at-rest key;
/// without one, they are kept as they are.
#[derive(Clone, Default)]
pub struct Secrets {
    keys: Option<Keyring>,
}

impl Secrets {
    pub fn new(keys: Option<Keyring>) -> Self {
        Self { keys }
    }

    /// Whether a stored secret should be sealed again: it is in clear and
    /// a key is configured, or it is sealed with an earlier key.
    pub fn needs_sealing(&self, stored: &str) -> bool {
        let Some(keys) = &self.keys else { return false };
        let Some(rest) = stored.strip_prefix(SEALED) else { return true };
        !rest.starts_with(&format!("{}:", keys.current.id))
    }

    /// The form to store: sealed, and bound to `context` (what the secret
    /// is, such as `totp:@alice:example.org`) so it cannot be moved to
    /// another row.
    pub fn seal(&self, plain: &str, context: &str) -> Result<String> {
        let Some(keys) = &self.keys else { return Ok(plain.to_owned()) };
        let key = &keys.current;
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
        let key = self.keys.as_ref().and_then(|keys| keys.find_hex(key_id)).ok_or_else(|| {
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

    /// What stands for a secret that is looked up by its value (a pushkey):
    /// a keyed hash under the current key (bound to `context`), or the
    /// value itself without a key.
    pub fn lookup(&self, value: &str, context: &str) -> Result<String> {
        let Some(keys) = &self.keys else { return Ok(value.to_owned()) };
        let digest =
            hmac_sha256(&keys.current.lookup, &[context.as_bytes(), b"\0", value.as_bytes()]);
        Ok(format!("{LOOKUP}{}", STANDARD.encode(digest)))
    }

    /// Whether a stored value is a [`Secrets::lookup`] hash (else the value
    /// itself, kept before a key was set or without one).
    pub fn is_lookup(stored: &str) -> bool {
        stored.starts_with(LOOKUP)
    }

    /// The stored form of a secret after [`Secrets::needs_sealing`] said so:
    /// opened with whichever key sealed it, sealed with the current one.
    pub fn reseal(&self, stored: &str, context: &str) -> Result<String> {
        self.seal(&self.open(stored, context)?, context)
    }
}

/// HMAC-SHA256 (RFC 2104) over the concatenated `parts`. By hand: the
/// `hmac` crate in the tree is built on a newer `digest` than our `sha2`.
fn hmac_sha256(key: &[u8; 32], parts: &[&[u8]]) -> [u8; 32] {
    use sha2::{Digest, Sha256};
    let pad = |byte: u8| {
        let mut block = [byte; 64];
        block.iter_mut().zip(key).for_each(|(b, k)| *b ^= k);
        block
    };
    let mut inner = Sha256::new().chain_update(pad(0x36));
    for part in parts {
        inner.update(part);
    }
    Sha256::new().chain_update(pad(0x5c)).chain_update(inner.finalize()).finalize().into()
}

#[cfg(test)]
mod tests {
    use super::{super::AtRestKey, *};

    fn keyring(current: &str, previous: &[&str]) -> Keyring {
        let key = |hex: &str| AtRestKey::from_hex(&hex.repeat(32)).expect("key");
        Keyring::new(key(current), previous.iter().map(|hex| key(hex)).collect())
    }

    #[test]
    fn secrets_are_sealed_to_their_place() {
        let secrets = Secrets::new(Some(keyring("12", &[])));
        let sealed = secrets.seal("JBSWY3DPEHPK3PXP", "totp:@a:x").expect("sealed");
        assert!(!sealed.contains("JBSWY3DPEHPK3PXP") && !secrets.needs_sealing(&sealed));
        let other = Secrets::new(Some(keyring("34", &[])));
        let error = other.open(&sealed, "totp:@a:x").expect_err("another key cannot open it");
        assert!(error.to_string().contains("sealed with key"), "{error}");
        assert_eq!(secrets.open(&sealed, "totp:@a:x").expect("opened"), "JBSWY3DPEHPK3PXP");
        assert!(secrets.open(&sealed, "totp:@b:x").is_err(), "bound to its row");
        assert_eq!(secrets.open("in clear", "totp:@a:x").expect("clear"), "in clear");
        assert!(secrets.needs_sealing("in clear"));
        assert!(Secrets::default().open(&sealed, "totp:@a:x").is_err(), "no key, no secret");
        assert_eq!(Secrets::default().seal("x", "c").expect("kept"), "x");
        assert!(!Secrets::default().needs_sealing("x"), "nothing to seal with");
    }

    #[test]
    fn hmac_matches_rfc_4231() {
        // RFC 4231 test case 2 has a 4-byte key; case 1's 20 bytes of 0x0b,
        // zero-padded to 32, is the same HMAC (keys are padded to the block).
        let mut key = [0u8; 32];
        key[..20].fill(0x0b);
        let mac = hmac_sha256(&key, &[b"Hi ", b"There"]);
        let hex: String = mac.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(hex, "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");
    }

    #[test]
    fn lookups_are_keyed_and_bound_to_their_context() {
        let secrets = Secrets::new(Some(keyring("12", &[])));
        let hash = secrets.lookup("device-token", "pushkey:app").expect("hashed");
        assert_eq!(hash, secrets.lookup("device-token", "pushkey:app").expect("again"));
        assert!(!hash.contains("device-token"));
        assert_ne!(hash, secrets.lookup("device-token", "pushkey:other").expect("hashed"));
        let other = Secrets::new(Some(keyring("34", &[])));
        assert_ne!(hash, other.lookup("device-token", "pushkey:app").expect("hashed"));
        assert_eq!(Secrets::default().lookup("device-token", "c").expect("kept"), "device-token");
    }

    #[test]
    fn a_rotation_reads_the_old_key_and_seals_with_the_new() {
        let old = Secrets::new(Some(keyring("12", &[])));
        let sealed = old.seal("secret", "c").expect("sealed");
        let rotating = Secrets::new(Some(keyring("34", &["12"])));
        assert!(rotating.needs_sealing(&sealed), "under the earlier key");
        assert_eq!(rotating.open(&sealed, "c").expect("the earlier key reads"), "secret");
        let resealed = rotating.reseal(&sealed, "c").expect("resealed");
        assert!(!rotating.needs_sealing(&resealed));
        let done = Secrets::new(Some(keyring("34", &[])));
        assert_eq!(done.open(&resealed, "c").expect("the new key alone reads"), "secret");
        assert!(done.open(&sealed, "c").is_err(), "the earlier key is gone");
    }
}
