//! Encrypted attachments: a file sent to an encrypted room is encrypted
//! with a fresh AES-256-CTR key before upload; the key, IV and the
//! ciphertext's SHA-256 travel inside the (Megolm-encrypted) event. The
//! same cipher seals the few raw secrets the store keeps.

use aes::Aes256;
use ctr::{
    Ctr128BE,
    cipher::{KeyIvInit, StreamCipher},
};
use ruma::{
    OwnedMxcUri,
    events::room::{EncryptedFile, EncryptedFileHashes, EncryptedFileInfo, V2EncryptedFileInfo},
};
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};

type Aes256Ctr = Ctr128BE<Aes256>;

/// Encrypts `bytes` in place; returns the key and IV used.
pub(crate) fn encrypt(bytes: &mut [u8]) -> Result<([u8; 32], [u8; 16])> {
    let mut key = [0u8; 32];
    let mut iv = [0u8; 16];
    getrandom::fill(&mut key).map_err(|e| Error::Invalid(e.to_string()))?;
    // The low 64 bits are the counter and start at zero (spec).
    getrandom::fill(&mut iv[..8]).map_err(|e| Error::Invalid(e.to_string()))?;
    Aes256Ctr::new(&key.into(), &iv.into()).apply_keystream(bytes);
    Ok((key, iv))
}

/// Encrypts a small secret (a cross-signing private key) for the store:
/// "iv:ciphertext", unpadded base64. Integrity comes from the caller, who
/// checks that the key read back matches its stored public half.
pub(crate) fn seal(pickle_key: &[u8; 32], secret: &[u8]) -> Result<String> {
    let mut iv = [0u8; 16];
    getrandom::fill(&mut iv[..8]).map_err(|e| Error::Invalid(e.to_string()))?;
    let mut bytes = secret.to_vec();
    Aes256Ctr::new(&(*pickle_key).into(), &iv.into()).apply_keystream(&mut bytes);
    Ok(format!("{}:{}", vodozemac::base64_encode(iv), vodozemac::base64_encode(bytes)))
}

/// Reads back what `seal` wrote.
pub(crate) fn unseal(pickle_key: &[u8; 32], sealed: &str) -> Option<Vec<u8>> {
    let (iv, bytes) = sealed.split_once(':')?;
    let iv: [u8; 16] = vodozemac::base64_decode(iv).ok()?.try_into().ok()?;
    let mut bytes = vodozemac::base64_decode(bytes).ok()?;
    Aes256Ctr::new(&(*pickle_key).into(), &iv.into()).apply_keystream(&mut bytes);
    Some(bytes)
}

/// The event's description of an encrypted upload.
pub(crate) fn describe(
    url: OwnedMxcUri,
    key: [u8; 32],
    iv: [u8; 16],
    ciphertext: &[u8],
) -> EncryptedFile {
    let hash: [u8; 32] = Sha256::digest(ciphertext).into();
    EncryptedFile::new(
        url,
        V2EncryptedFileInfo::encode(key, iv).into(),
        EncryptedFileHashes::with_sha256(hash),
    )
}

/// Checks the ciphertext's hash and decrypts it in place.
pub(crate) fn decrypt(file: &EncryptedFile, bytes: &mut [u8]) -> Result<()> {
    let EncryptedFileInfo::V2(info) = &file.info else {
        return Err(Error::Invalid(format!(
            "unknown attachment encryption {}",
            file.info.version()
        )));
    };
    let expected = file
        .hashes
        .values()
        .find_map(|hash| match hash {
            ruma::events::room::EncryptedFileHash::Sha256(sha) => Some(sha.as_bytes().to_vec()),
            _ => None,
        })
        .ok_or_else(|| Error::Invalid("the attachment has no SHA-256 hash".into()))?;
    let actual: [u8; 32] = Sha256::digest(&*bytes).into();
    if actual.as_slice() != expected.as_slice() {
        return Err(Error::Invalid("the attachment does not match its hash".into()));
    }
    let key: [u8; 32] =
        info.k.as_bytes().try_into().map_err(|_| Error::Invalid("bad key".into()))?;
    let iv: [u8; 16] =
        info.iv.as_bytes().try_into().map_err(|_| Error::Invalid("bad IV".into()))?;
    Aes256Ctr::new(&key.into(), &iv.into()).apply_keystream(bytes);
    Ok(())
}
