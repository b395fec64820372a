//! The server's ed25519 signing key: made on first start, kept in the
//! database (so that every instance signs with the same key), and used to
//! sign every event this server creates.

use base64::{Engine, engine::general_purpose::STANDARD};
use ruma::signatures::Ed25519KeyPair;

use crate::{
    error::{Error, Result},
    services::encryption::Secrets,
    store::Store,
};

pub struct ServerKey {
    pub key_pair: std::sync::Arc<Ed25519KeyPair>,
    /// The key id, `ed25519:<version>`.
    pub key_id: String,
}

impl ServerKey {
    pub async fn load_or_create(store: &Store) -> Result<Self> {
        Self::load_or_create_sealed(store, &Secrets::default()).await
    }

    /// The key, kept sealed with the at-rest key when one is configured (a
    /// key kept in clear before is sealed now).
    pub async fn load_or_create_sealed(store: &Store, secrets: &Secrets) -> Result<Self> {
        if store.signing_key().await?.is_none() {
            let document = Ed25519KeyPair::generate();
            let version = crate::services::auth::tokens::random_letters(6)?.to_lowercase();
            let key_id = format!("ed25519:{version}");
            let sealed = secrets.seal(&STANDARD.encode(&*document), &key_id)?;
            store.insert_signing_key(&key_id, &sealed).await?;
        }
        let (key_id, stored) =
            store.signing_key().await?.ok_or_else(|| Error::internal("signing key vanished"))?;
        let secret = secrets.open(&stored, &key_id)?;
        if secrets.needs_sealing(&stored) {
            store.set_signing_key_secret(&key_id, &secrets.seal(&secret, &key_id)?).await?;
        }
        let document = STANDARD.decode(secret).map_err(Error::internal)?;
        let version = key_id.strip_prefix("ed25519:").unwrap_or(&key_id).to_owned();
        let key_pair = Ed25519KeyPair::from_der(&document, version).map_err(Error::internal)?;
        Ok(Self { key_pair: std::sync::Arc::new(key_pair), key_id })
    }
}
