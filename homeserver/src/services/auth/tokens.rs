//! Opaque secrets handed to clients. Only their SHA-256 is stored, so a
//! leaked database does not leak live sessions; the lookup is by hash, and a
//! hash comparison reveals nothing usable about the token.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};

/// A new random token with a recognisable prefix (`lat_at_`, `lat_rt_`...).
pub fn generate(prefix: &str) -> Result<String> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(Error::internal)?;
    Ok(format!("{prefix}{}", URL_SAFE_NO_PAD.encode(bytes)))
}

/// Random upper-case letters, the shape Matrix clients expect of device ids.
pub fn random_letters(len: usize) -> Result<String> {
    let mut bytes = vec![0u8; len];
    getrandom::fill(&mut bytes).map_err(Error::internal)?;
    Ok(bytes.iter().map(|b| char::from(b'A' + b % 26)).collect())
}

pub fn hash(token: &str) -> String {
    let digest = Sha256::digest(token.as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_unique_and_hash_stably() {
        let a = generate("lat_at_").expect("random");
        let b = generate("lat_at_").expect("random");
        assert_ne!(a, b);
        assert!(a.starts_with("lat_at_"));
        assert_eq!(hash(&a), hash(&a));
        assert_ne!(hash(&a), hash(&b));
        assert_eq!(random_letters(10).expect("random").len(), 10);
    }
}
