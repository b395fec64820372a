//! Other servers' keys, kept in the database for the key ring.

use lattice_federation::keys::KeyStore;
use ruma::{
    MilliSecondsSinceUnixEpoch, ServerName, api::federation::discovery::ServerSigningKeys,
    serde::Raw,
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
}
