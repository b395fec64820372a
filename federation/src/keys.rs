//! Other servers' signing keys: fetched from the server itself (or, when
//! it cannot be reached, from the notaries we trust), checked against the
//! server's own signatures, cached in memory and kept by a [`KeyStore`] so
//! that a restart does not refetch the world.

use std::{
    collections::{BTreeMap, HashMap},
    future::Future,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use ruma::{
    CanonicalJsonObject, MilliSecondsSinceUnixEpoch, OwnedServerName, OwnedServerSigningKeyId,
    ServerName, UInt,
    api::federation::discovery::{
        OldVerifyKey, ServerSigningKeys, get_remote_server_keys, get_server_keys,
    },
    serde::Raw,
    signatures::{PublicKeyMap, PublicKeySet},
};

use crate::{Error, Result, client::FederationClient};

/// Keys are trusted for at most this long after they were fetched, whatever
/// `valid_until_ts` says (the spec's cap for room versions 5 and later).
const MAX_VALIDITY: Duration = Duration::from_secs(7 * 24 * 3600);
/// A key id that just sent us to its server does not send us again before
/// this.
const REFETCH_AFTER: Duration = Duration::from_secs(30);

/// Where fetched keys are kept: the signed key document, as the server
/// published it (so that it can be served again as a notary).
pub trait KeyStore: Send + Sync {
    /// The stored key document of `server`, if any.
    fn load(
        &self,
        server: &ServerName,
    ) -> impl Future<Output = Option<Raw<ServerSigningKeys>>> + Send;
    /// Keeps a checked key document.
    fn save(
        &self,
        server: &ServerName,
        keys: &Raw<ServerSigningKeys>,
        valid_until: MilliSecondsSinceUnixEpoch,
    ) -> impl Future<Output = ()> + Send;
    /// Keys `server` listed once and no longer does (it rotated its key, or
    /// was reinstalled under the same name), with the time each stopped
    /// being valid: they still check what they signed before then.
    fn load_retired(&self, server: &ServerName) -> impl Future<Output = RetiredKeys> + Send;
    /// Keeps keys `server` no longer lists (adding to those kept).
    fn retire(&self, server: &ServerName, keys: &RetiredKeys) -> impl Future<Output = ()> + Send;
}

/// Keys a server no longer lists, by key id.
pub type RetiredKeys = BTreeMap<OwnedServerSigningKeyId, OldVerifyKey>;

/// Signing keys of other servers, with our own known up front.
pub struct KeyRing<S> {
    client: Arc<FederationClient>,
    store: S,
    own_keys: PublicKeySet,
    /// Each server's last key document, with its retired keys merged into
    /// `old_verify_keys`.
    cache: Mutex<HashMap<OwnedServerName, Arc<ServerSigningKeys>>>,
    /// When each (server, key id) last sent us to the server, so that a
    /// flood of events naming unknown keys costs one fetch per key id.
    asked: Mutex<HashMap<(OwnedServerName, String), Instant>>,
    /// Servers asked for another server's keys when it cannot be reached.
    notaries: Vec<OwnedServerName>,
}

impl<S: KeyStore> KeyRing<S> {
    /// A key ring for the server `client` speaks for, whose own public keys
    /// are `own_keys` (key id -> public key).
    pub fn new(client: Arc<FederationClient>, store: S, own_keys: PublicKeySet) -> Self {
        let (cache, asked) = (Mutex::default(), Mutex::default());
        Self { client, store, own_keys, cache, asked, notaries: Vec::new() }
    }

    /// Trusts `notaries` to vouch for the keys of servers that cannot be
    /// reached themselves (a server that is down, or gone).
    pub fn with_notaries(mut self, notaries: Vec<OwnedServerName>) -> Self {
        self.notaries = notaries;
        self
    }

    /// The keys of each signing server valid at `at`, for checking its
    /// signatures; `signers` names each server with the key ids its
    /// signatures carry. A key id we do not know (valid then) sends us to
    /// the server once per key id and [`REFETCH_AFTER`]: a peer that
    /// rotated its key, or was reinstalled under the same name, is believed
    /// as soon as it signs with the new one. Fails if a server has no key
    /// valid at that time.
    pub async fn public_keys(
        &self,
        signers: &[(OwnedServerName, Vec<String>)],
        at: MilliSecondsSinceUnixEpoch,
    ) -> Result<PublicKeyMap> {
        let mut map = PublicKeyMap::new();
        for (server, key_ids) in signers {
            map.insert(server.to_string(), self.keys_of(server, key_ids, at).await?);
        }
        Ok(map)
    }

    async fn keys_of(
        &self,
        server: &ServerName,
        key_ids: &[String],
        at: MilliSecondsSinceUnixEpoch,
    ) -> Result<PublicKeySet> {
        if server == self.client.origin() {
            return Ok(self.own_keys.clone());
        }
        let known = self.known(server).await.map(|keys| valid_at(&keys, at));
        if let Some(set) = &known
            && key_ids.iter().any(|id| set.contains_key(id))
        {
            return Ok(set.clone());
        }
        let no_key = || Error::BadSignature(format!("no key of {server} valid then"));
        if !self.ask_again(server, key_ids) {
            return known.filter(|set| !set.is_empty()).ok_or_else(no_key);
        }
        let set = valid_at(&*self.fetch(server).await?, at);
        if set.is_empty() {
            return Err(no_key());
        }
        Ok(set)
    }

    async fn known(&self, server: &ServerName) -> Option<Arc<ServerSigningKeys>> {
        if let Some(keys) = self.cache.lock().unwrap_or_else(|e| e.into_inner()).get(server) {
            return Some(keys.clone());
        }
        let mut keys: ServerSigningKeys = self.store.load(server).await?.deserialize().ok()?;
        for (id, old) in self.store.load_retired(server).await {
            keys.old_verify_keys.entry(id).or_insert(old);
        }
        let keys = Arc::new(keys);
        self.cache
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(server.to_owned(), keys.clone());
        Some(keys)
    }

    /// Whether `server` may be asked for its keys now on account of
    /// `key_ids` (an empty list stands for "any key"); the ones that may
    /// are marked as asked.
    fn ask_again(&self, server: &ServerName, key_ids: &[String]) -> bool {
        let any = [String::new()];
        let ids = if key_ids.is_empty() { &any[..] } else { key_ids };
        let mut asked = self.asked.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        let mut again = false;
        for id in ids {
            let entry = asked.entry((server.to_owned(), id.clone()));
            if let std::collections::hash_map::Entry::Occupied(at) = &entry
                && now.duration_since(*at.get()) < REFETCH_AFTER
            {
                continue;
            }
            entry.insert_entry(now);
            again = true;
        }
        again
    }

    /// Fetches `server`'s keys from the server itself, else from a trusted
    /// notary, and checks that the document is about that server and
    /// signed by each of its keys (and by the notary that passed it on).
    pub async fn fetch(&self, server: &ServerName) -> Result<Arc<ServerSigningKeys>> {
        let direct = self.fetch_direct(server).await;
        if direct.is_ok() {
            return direct;
        }
        for notary in self.notaries.iter().filter(|n| *n != server && *n != self.client.origin()) {
            match self.fetch_via(notary, server).await {
                Ok(keys) => return Ok(keys),
                Err(error) => tracing::debug!(%server, %notary, %error, "notary did not help"),
            }
        }
        direct
    }

    async fn fetch_direct(&self, server: &ServerName) -> Result<Arc<ServerSigningKeys>> {
        let response =
            self.client.send_unsigned(server, get_server_keys::v2::Request::new()).await?;
        let raw = response.server_key;
        let keys = check_key_document(server, &raw)?;
        Ok(self.keep(server, &raw, keys).await)
    }

    /// Asks `notary` for `server`'s keys. The notary's own keys come from
    /// the notary directly, so notaries never vouch for each other.
    async fn fetch_via(
        &self,
        notary: &ServerName,
        server: &ServerName,
    ) -> Result<Arc<ServerSigningKeys>> {
        let notary_keys = match self.known(notary).await {
            Some(keys) => keys,
            None => self.fetch_direct(notary).await?,
        };
        let now = MilliSecondsSinceUnixEpoch::now();
        let request = get_remote_server_keys::v2::Request::new(server.to_owned(), now);
        let response = self.client.send_unsigned(notary, request).await?;
        let notary_set = valid_at(&notary_keys, now);
        let mut last = Error::bad_response(&notary, "no key document of that server");
        for raw in response.server_keys {
            let checked = check_key_document(server, &raw)
                .and_then(|keys| verify_signed_by(notary, &notary_set, &raw).map(|()| keys));
            match checked {
                Ok(keys) => return Ok(self.keep(server, &raw, keys).await),
                Err(error) => last = error,
            }
        }
        Err(last)
    }

    /// Keeps a checked key document (validity capped) in the store and the
    /// cache. Keys of the document it replaces that it no longer lists are
    /// retired, valid until the old document was: they still check what
    /// they signed before then.
    async fn keep(
        &self,
        server: &ServerName,
        raw: &Raw<ServerSigningKeys>,
        mut keys: ServerSigningKeys,
    ) -> Arc<ServerSigningKeys> {
        let cap = MilliSecondsSinceUnixEpoch::from_system_time(
            std::time::SystemTime::now() + MAX_VALIDITY,
        )
        .unwrap_or_else(MilliSecondsSinceUnixEpoch::now);
        keys.valid_until_ts = keys.valid_until_ts.min(cap);
        if let Some(previous) = self.known(server).await {
            let retired = retired_by(&previous, &keys);
            if !retired.is_empty() {
                self.store.retire(server, &retired).await;
            }
            keys.old_verify_keys.extend(retired);
        }
        self.store.save(server, raw, keys.valid_until_ts).await;
        let keys = Arc::new(keys);
        self.cache
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(server.to_owned(), keys.clone());
        keys
    }

    /// The stored key document of `server`, fetching it if unknown (for
    /// answering key queries as a notary).
    pub async fn document(&self, server: &ServerName) -> Option<Raw<ServerSigningKeys>> {
        if self.store.load(server).await.is_none() && self.ask_again(server, &[]) {
            let _ = self.fetch(server).await;
        }
        self.store.load(server).await
    }
}

/// Checks a key document: about `server`, signed by every key it lists.
pub fn check_key_document(
    server: &ServerName,
    raw: &Raw<ServerSigningKeys>,
) -> Result<ServerSigningKeys> {
    let keys: ServerSigningKeys = raw.deserialize().map_err(|e| Error::bad_response(&server, e))?;
    if keys.server_name != server {
        return Err(Error::bad_response(&server, "key document names another server"));
    }
    if keys.verify_keys.is_empty() {
        return Err(Error::bad_response(&server, "key document lists no keys"));
    }
    let set: PublicKeySet =
        keys.verify_keys.iter().map(|(id, key)| (id.to_string(), key.key.clone())).collect();
    verify_signed_by(server, &set, raw)?;
    Ok(keys)
}

/// Checks that `entity` signed a document with one of `keys`. Other
/// signers are left aside (a notary's signature sits beside the server's),
/// and `entity`'s must be there: verify_json checks only those who signed.
fn verify_signed_by(
    entity: &ServerName,
    keys: &PublicKeySet,
    raw: &Raw<ServerSigningKeys>,
) -> Result<()> {
    let mut object: CanonicalJsonObject =
        serde_json::from_str(raw.json().get()).map_err(|e| Error::bad_response(&entity, e))?;
    let signed = match object.get_mut("signatures") {
        Some(ruma::CanonicalJsonValue::Object(signatures)) => {
            signatures.retain(|signer, _| signer == entity.as_str());
            !signatures.is_empty()
        }
        _ => false,
    };
    if !signed {
        return Err(Error::BadSignature(format!("key document is not signed by {entity}")));
    }
    let map: PublicKeyMap = BTreeMap::from([(entity.to_string(), keys.clone())]);
    ruma::signatures::verify_json(&map, &object)
        .map_err(|e| Error::BadSignature(format!("{entity}'s signature on a key document: {e}")))
}

/// The keys of `previous` that `next` no longer lists, current or old,
/// each valid until `previous` was (or until its own expiry, if older).
fn retired_by(previous: &ServerSigningKeys, next: &ServerSigningKeys) -> RetiredKeys {
    let listed = |id: &OwnedServerSigningKeyId| {
        next.verify_keys.contains_key(id) || next.old_verify_keys.contains_key(id)
    };
    let current = previous
        .verify_keys
        .iter()
        .map(|(id, key)| (id.clone(), OldVerifyKey::new(previous.valid_until_ts, key.key.clone())));
    let old = previous.old_verify_keys.iter().map(|(id, old)| (id.clone(), old.clone()));
    current.chain(old).filter(|(id, _)| !listed(id)).collect()
}

/// The keys of a document that were valid at `at`: current keys if the
/// document was still valid then, old keys that expired after it.
fn valid_at(keys: &ServerSigningKeys, at: MilliSecondsSinceUnixEpoch) -> PublicKeySet {
    let mut set = PublicKeySet::new();
    if keys.valid_until_ts >= at {
        set.extend(keys.verify_keys.iter().map(|(id, key)| (id.to_string(), key.key.clone())));
    }
    set.extend(
        keys.old_verify_keys
            .iter()
            .filter(|(_, old)| old.expired_ts >= at)
            .map(|(id, old)| (id.to_string(), old.key.clone())),
    );
    set
}

/// Milliseconds as ruma's timestamp (saturating).
pub fn millis(ms: u64) -> MilliSecondsSinceUnixEpoch {
    MilliSecondsSinceUnixEpoch(UInt::new_saturating(ms))
}

#[cfg(test)]
mod tests {
    use ruma::{ServerName, serde::Raw, signatures::Ed25519KeyPair};

    use super::{check_key_document, verify_signed_by};

    fn document(sign: bool) -> Raw<ruma::api::federation::discovery::ServerSigningKeys> {
        let pair = Ed25519KeyPair::from_der(&Ed25519KeyPair::generate(), "a".into()).expect("key");
        let public = base64::Engine::encode(
            &base64::engine::general_purpose::STANDARD_NO_PAD,
            pair.public_key(),
        );
        let mut object: ruma::CanonicalJsonObject = serde_json::from_value(serde_json::json!({
            "server_name": "example.org",
            "verify_keys": {"ed25519:a": {"key": public}},
            "old_verify_keys": {},
            "valid_until_ts": 4_000_000_000_000u64,
        }))
        .expect("object");
        if sign {
            ruma::signatures::sign_json("example.org", &pair, &mut object).expect("signed");
        } else {
            object
                .insert("signatures".into(), ruma::CanonicalJsonValue::Object(Default::default()));
        }
        Raw::from_json_string(serde_json::to_string(&object).expect("json")).expect("raw")
    }

    #[test]
    fn a_notary_must_have_signed_what_it_passes_on() {
        let notary = ServerName::parse("notary.org").expect("name");
        let pair = Ed25519KeyPair::from_der(&Ed25519KeyPair::generate(), "n".into()).expect("key");
        let public = ruma::serde::Base64::new(pair.public_key().to_vec());
        let keys = ruma::signatures::PublicKeySet::from([("ed25519:n".to_owned(), public)]);
        let unsigned = document(true);
        assert!(verify_signed_by(&notary, &keys, &unsigned).is_err(), "no notary signature");
        let mut object: ruma::CanonicalJsonObject =
            serde_json::from_str(unsigned.json().get()).expect("object");
        ruma::signatures::sign_json("notary.org", &pair, &mut object).expect("signed");
        let signed =
            Raw::from_json_string(serde_json::to_string(&object).expect("json")).expect("raw");
        assert!(verify_signed_by(&notary, &keys, &signed).is_ok());
        let impostor =
            Ed25519KeyPair::from_der(&Ed25519KeyPair::generate(), "n".into()).expect("key");
        let other = ruma::serde::Base64::new(impostor.public_key().to_vec());
        let wrong = ruma::signatures::PublicKeySet::from([("ed25519:n".to_owned(), other)]);
        assert!(verify_signed_by(&notary, &wrong, &signed).is_err(), "signed with another key");
    }

    #[test]
    fn key_documents_must_be_signed_by_their_server() {
        let server = ServerName::parse("example.org").expect("name");
        assert!(check_key_document(&server, &document(true)).is_ok());
        assert!(check_key_document(&server, &document(false)).is_err(), "unsigned is refused");
        let other = ServerName::parse("other.org").expect("name");
        assert!(check_key_document(&other, &document(true)).is_err(), "about another server");
    }
}
