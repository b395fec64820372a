//! Other servers' keys, kept in the database for the key ring.

use lattice_federation::keys::{KeyStore, RetiredKeys};
use ruma::{
    MilliSecondsSinceUnixEpoch, ServerName, ServerSigningKeyId,
    api::federation::discovery::{OldVerifyKey, ServerSigningKeys},
    serde::{Base64, Raw},
};

use crate::store::Store;

pub struct StoreKeys(pub Store);

impl KeyStore for StoreKeys {
    async fn load(&self, server: &ServerName) -> Option<Raw<ServerSigningKeys>> {
        let json = self.0.remote_server_keys(server.as_str()).await.ok().flatten()?;
        Raw::from_json_string(json).ok()
    }

    async fn save(
        &self,
        server: &ServerName,
        keys: &Raw<ServerSigningKeys>,
        valid_until: MilliSecondsSinceUnixEpoch,
    ) {
        let until = i64::from(valid_until.get());
        if let Err(error) =
            self.0.save_remote_server_keys(server.as_str(), keys.json().get(), until).await
        {
            tracing::warn!(%error, %server, "could not keep a server's keys");
        }
    }

    async fn load_retired(&self, server: &ServerName) -> RetiredKeys {
        let rows = match self.0.retired_server_keys(server.as_str()).await {
            Ok(rows) => rows,
            Err(error) => {
                tracing::warn!(%error, %server, "could not read a server's retired keys");
                return RetiredKeys::new();
            }
        };
        rows.into_iter()
            .filter_map(|(id, key, expired)| {
                let id = ServerSigningKeyId::parse(&id).ok()?;
                let key = Base64::parse(&key).ok()?;
                let expired = lattice_federation::keys::millis(u64::try_from(expired).ok()?);
                Some((id, OldVerifyKey::new(expired, key)))
            })
            .collect()
    }

    async fn retire(&self, server: &ServerName, keys: &RetiredKeys) {
        for (id, old) in keys {
            let expired = i64::from(old.expired_ts.get());
            let key = old.key.encode();
            let stored = self.0.retire_server_key(server.as_str(), id.as_str(), &key, expired);
            if let Err(error) = stored.await {
                tracing::warn!(%error, %server, "could not keep a server's retired key");
            }
        }
    }
}
