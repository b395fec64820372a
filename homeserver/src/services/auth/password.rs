//! Password hashing with argon2id, on blocking threads so that a login does
//! not stall the async workers.

use argon2::{
    Algorithm, Argon2, Params, Version,
    password_hash::{PasswordHasher as _, PasswordVerifier as _, phc::PasswordHash},
};

use crate::{
    config::Argon2Config,
    error::{Error, Result},
};

#[derive(Clone)]
pub struct PasswordHasher {
    params: Params,
    /// A hash made at start-up and checked when the account does not exist,
    /// so that a failed login takes as long for unknown users as for known ones.
    decoy: String,
}

impl PasswordHasher {
    pub fn new(config: &Argon2Config) -> Result<Self> {
        let params = Params::new(config.memory_kib, config.iterations, config.parallelism, None)
            .map_err(|e| Error::internal(format!("invalid argon2 parameters: {e}")))?;
        let decoy = hash_with(&params, "decoy password")?;
        Ok(Self { params, decoy })
    }

    pub async fn hash(&self, password: String) -> Result<String> {
        let params = self.params.clone();
        tokio::task::spawn_blocking(move || hash_with(&params, &password))
            .await
            .map_err(Error::internal)?
    }

    /// Checks `password` against `hash`; with no hash, burns the same time
    /// on the decoy and answers false.
    pub async fn verify(&self, password: String, hash: Option<String>) -> Result<bool> {
        let known = hash.is_some();
        let hash = hash.unwrap_or_else(|| self.decoy.clone());
        let matches = tokio::task::spawn_blocking(move || {
            PasswordHash::new(&hash)
                .map(|parsed| {
                    Argon2::default().verify_password(password.as_bytes(), &parsed).is_ok()
                })
                .unwrap_or(false)
        })
        .await
        .map_err(Error::internal)?;
        Ok(known && matches)
    }
}

fn hash_with(params: &Params, password: &str) -> Result<String> {
    // hash_password draws a fresh random salt for every hash.
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone())
        .hash_password(password.as_bytes())
        .map(|h| h.to_string())
        .map_err(Error::internal)
}
