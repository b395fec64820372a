//! Federation: this server's side of the server-server protocol. The wire
//! (discovery, signing, key checks) is the `lattice-federation` crate's;
//! here are its storage, the outbound queue ([`sender`]) and what this
//! server answers. Room events from other servers go through
//! `services::rooms` (the `remote` module) like local ones.

mod keystore;
mod openid;
pub mod sender;

use std::{sync::Arc, time::Duration};

use lattice_federation::{
    address::AddressPolicy,
    client::FederationClient,
    keys::KeyRing,
    pdu::{CheckedPdu, check_pdu},
};
use ruma::{
    CanonicalJsonObject, CanonicalJsonValue, MilliSecondsSinceUnixEpoch, OwnedServerName,
    RoomVersionId, ServerName,
    api::{
        OutgoingRequest,
        federation::{
            authentication::{ServerSignatures, XMatrix},
            discovery::{ServerSigningKeys, VerifyKey},
        },
        path_builder::SinglePath,
    },
    serde::{Base64, Raw},
    signatures::PublicKeySet,
};

use self::keystore::StoreKeys;
pub use self::{
    openid::OPENID_LIFETIME,
    sender::{Outbox, OutboxSignal},
};
use super::{security::Security, server_key::ServerKey};
use crate::{
    config::Config,
    error::{Error, Result},
    store::Store,
};

/// How long others may cache our key document.
const KEY_VALIDITY: Duration = Duration::from_secs(7 * 24 * 3600);

#[derive(Clone)]
pub struct Federation {
    inner: Arc<Inner>,
}

struct Inner {
    config: Arc<Config>,
    key: Arc<ServerKey>,
    client: Arc<FederationClient>,
    keys: KeyRing<StoreKeys>,
    outbox: Outbox,
    security: Security,
    store: Store,
}

impl Federation {
    pub fn new(
        store: Store,
        config: Arc<Config>,
        key: Arc<ServerKey>,
        signal: Arc<OutboxSignal>,
        security: Security,
    ) -> Result<Self> {
        let mut builder = super::http::client_builder()
            .timeout(Duration::from_secs(config.federation.request_timeout.max(1)))
            .connect_timeout(Duration::from_secs(10))
            .redirect(reqwest::redirect::Policy::none());
        for path in &config.federation.extra_ca_certificates {
            let pem = std::fs::read(path)
                .map_err(|e| Error::internal(format!("cannot read {}: {e}", path.display())))?;
            let certs = reqwest::Certificate::from_pem_bundle(&pem)
                .map_err(|e| Error::internal(format!("bad certificate {}: {e}", path.display())))?;
            builder = builder.tls_certs_merge(certs);
        }

        let origin = config.server.server_name.clone();
        let policy = AddressPolicy::new(&config.federation.allowed_ranges);
        let client =
            Arc::new(FederationClient::new(builder, origin, key.key_pair.clone(), policy)?);
        let keys = KeyRing::new(client.clone(), StoreKeys(store.clone()), own_keys(&key))
            .with_notaries(config.federation.trusted_key_servers.clone());
        let outbox = Outbox::new(store.clone(), client.clone(), signal, &config);
        let inner = Inner { config, key, client, keys, outbox, security, store };
        Ok(Self { inner: Arc::new(inner) })
    }

    /// What the event writer wakes the outbox with.
    pub fn outbox_signal(&self) -> Arc<OutboxSignal> {
        self.inner.outbox.signal()
    }

    /// Starts sending queued events and EDUs to other servers (in the
    /// instance that runs the background jobs).
    pub fn start_sending(&self) {
        if self.enabled() {
            self.inner.outbox.start();
        }
    }

    pub fn server_name(&self) -> &ServerName {
        &self.inner.config.server.server_name
    }

    pub fn enabled(&self) -> bool {
        self.inner.config.federation.enabled
    }

    /// Checks an incoming request's X-Matrix signature; the origin it proves.
    pub async fn authenticate(&self, request: &http::Request<&[u8]>) -> Result<OwnedServerName> {
        if !self.enabled() {
            return Err(Error::forbidden("federation is disabled on this server"));
        }
        let checked = lattice_federation::request::authenticate(
            request,
            self.server_name(),
            &self.inner.keys,
        )
        .await;
        let origin = match checked {
            Ok(origin) => origin,
            Err(error) => {
                tracing::warn!(%error, "federation request refused");
                let claimed = XMatrix::extract_from_http_headers(request.headers())
                    .map(|header| header.origin.to_string())
                    .unwrap_or_else(|_| "unknown".to_owned());
                self.inner.security.federation_rejected(&claimed, &error.to_string()).await;
                return Err(error.into());
            }
        };
        // A server that talks to us is up: retry what waits for it now.
        self.inner.outbox.retry_now(origin.as_str());
        Ok(origin)
    }

    /// Sends a signed request to another server.
    pub async fn send<R>(&self, destination: &ServerName, request: R) -> Result<R::IncomingResponse>
    where
        R: OutgoingRequest<Authentication = ServerSignatures, PathBuilder = SinglePath>,
    {
        self.ensure_enabled()?;
        Ok(self.inner.client.send(destination, request).await?)
    }

    fn ensure_enabled(&self) -> Result<()> {
        match self.enabled() {
            true => Ok(()),
            false => Err(Error::forbidden("federation is disabled on this server")),
        }
    }

    /// [`send`](Self::send) for answers read as a stream (media).
    pub async fn send_streamed<R>(
        &self,
        destination: &ServerName,
        request: R,
    ) -> Result<reqwest::Response>
    where
        R: OutgoingRequest<Authentication = ServerSignatures, PathBuilder = SinglePath>,
    {
        self.ensure_enabled()?;
        Ok(self.inner.client.send_streamed(destination, request).await?)
    }

    /// Checks a PDU received from another server (format, signatures,
    /// content hash) and derives its event id.
    pub async fn check_pdu(
        &self,
        json: CanonicalJsonObject,
        version: &RoomVersionId,
    ) -> Result<CheckedPdu> {
        Ok(check_pdu(&self.inner.keys, json, version).await?)
    }

    /// This server's key document, signed (GET /_matrix/key/v2/server).
    pub fn key_document(&self) -> Result<Raw<ServerSigningKeys>> {
        let valid_until = MilliSecondsSinceUnixEpoch::from_system_time(
            std::time::SystemTime::now() + KEY_VALIDITY,
        )
        .unwrap_or_else(MilliSecondsSinceUnixEpoch::now);
        let mut keys = ServerSigningKeys::new(self.server_name().to_owned(), valid_until);
        let key_id = self.inner.key.key_id.as_str().try_into().map_err(Error::internal)?;
        keys.verify_keys.insert(
            key_id,
            VerifyKey::new(Base64::new(self.inner.key.key_pair.public_key().to_vec())),
        );
        let mut object = match CanonicalJsonValue::try_from(
            serde_json::to_value(&keys).map_err(Error::internal)?,
        ) {
            Ok(CanonicalJsonValue::Object(object)) => object,
            _ => return Err(Error::internal("key document is not an object")),
        };
        object.remove("signatures");
        ruma::signatures::sign_json(
            self.server_name().as_str(),
            &*self.inner.key.key_pair,
            &mut object,
        )
        .map_err(Error::internal)?;
        Raw::from_json_string(serde_json::to_string(&object).map_err(Error::internal)?)
            .map_err(Error::internal)
    }

    /// Another server's key document, as we have it (notary).
    pub async fn remote_key_document(&self, server: &ServerName) -> Option<Raw<ServerSigningKeys>> {
        if server == self.server_name() {
            return self.key_document().ok();
        }
        let document = self.inner.keys.document(server).await?;
        // As a notary we vouch for what we pass on: our signature joins the server's.
        let mut object: CanonicalJsonObject = serde_json::from_str(document.json().get()).ok()?;
        let own = self.server_name().as_str();
        ruma::signatures::sign_json(own, &*self.inner.key.key_pair, &mut object).ok()?;
        Raw::from_json_string(serde_json::to_string(&object).ok()?).ok()
    }

    /// Queues EDUs for servers and wakes their senders.
    pub async fn send_edu(&self, destinations: &[String], edu: &serde_json::Value) -> Result<()> {
        if destinations.is_empty() || !self.enabled() {
            return Ok(());
        }
        self.inner.outbox.enqueue_edu(destinations, edu).await
    }
}

fn own_keys(key: &ServerKey) -> PublicKeySet {
    PublicKeySet::from([(key.key_id.clone(), Base64::new(key.key_pair.public_key().to_vec()))])
}
