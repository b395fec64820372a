//! The transaction ids each device has sent events with, so that a send
//! with a new id (nearly all of them) skips the database lookup that only
//! a retry needs. With SQLite this process is the database's only writer:
//! once a device's ids are loaded, an id missing from memory is new. With
//! PostgreSQL other instances may write too, so every send asks the
//! database, as before.

use std::{
    collections::{HashMap, HashSet},
    hash::BuildHasher,
    sync::Mutex,
};

use ruma::{DeviceId, OwnedDeviceId, OwnedUserId, UserId};

use crate::{
    error::Result,
    store::{Backend, Store},
};

/// A device with more sends than this is always checked in the database
/// (its ids would take too much memory: each costs about 16 bytes).
const MAX_PER_DEVICE: usize = 20_000;

enum Known {
    /// Hashes of every id the device has used.
    Ids(HashSet<u64>),
    /// Too many to keep: ask the database.
    TooMany,
}

pub(super) struct TxnIds {
    /// Off with PostgreSQL: memory cannot see other instances' writes.
    enabled: bool,
    hasher: std::hash::RandomState,
    devices: Mutex<HashMap<(OwnedUserId, OwnedDeviceId), Known>>,
}

impl TxnIds {
    pub(super) fn new(store: &Store) -> Self {
        Self {
            enabled: store.backend() == Backend::Sqlite,
            hasher: std::hash::RandomState::new(),
            devices: Mutex::default(),
        }
    }

    fn hash(&self, txn_id: &str) -> u64 {
        self.hasher.hash_one(txn_id)
    }

    /// Whether the id may have been used (always, when memory cannot
    /// tell); None when the device's ids are not loaded yet.
    fn may_be_used(&self, key: &(OwnedUserId, OwnedDeviceId), hash: u64) -> Option<bool> {
        let devices = self.devices.lock().unwrap_or_else(|e| e.into_inner());
        match devices.get(key)? {
            Known::Ids(ids) => Some(ids.contains(&hash)),
            Known::TooMany => Some(true),
        }
    }

    /// The event an earlier send with this id made, if any. Call under the
    /// request's transaction lock, before sending.
    pub(super) async fn previous_send(
        &self,
        store: &Store,
        user_id: &UserId,
        device_id: &DeviceId,
        txn_id: &str,
    ) -> Result<Option<String>> {
        let lookup = || store.txn_event(user_id.as_str(), device_id.as_str(), txn_id);
        if !self.enabled {
            return lookup().await;
        }
        let key = (user_id.to_owned(), device_id.to_owned());
        let hash = self.hash(txn_id);
        let maybe = match self.may_be_used(&key, hash) {
            Some(maybe) => maybe,
            None => {
                let ids = store
                    .device_txn_ids(user_id.as_str(), device_id.as_str(), MAX_PER_DEVICE + 1)
                    .await?;
                let loaded = match ids.len() > MAX_PER_DEVICE {
                    true => Known::TooMany,
                    false => Known::Ids(ids.iter().map(|id| self.hash(id)).collect()),
                };
                let mut devices = self.devices.lock().unwrap_or_else(|e| e.into_inner());
                // An entry another send made meanwhile is at least as new:
                // it has seen every id recorded since.
                match devices.entry(key).or_insert(loaded) {
                    Known::Ids(ids) => ids.contains(&hash),
                    Known::TooMany => true,
                }
            }
        };
        match maybe {
            // A hash is not proof: the database has the last word.
            true => lookup().await,
            false => Ok(None),
        }
    }

    /// Remembers an id once its event is durable.
    pub(super) fn record(&self, user_id: &UserId, device_id: &DeviceId, txn_id: &str) {
        if !self.enabled {
            return;
        }
        let hash = self.hash(txn_id);
        let mut devices = self.devices.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(known) = devices.get_mut(&(user_id.to_owned(), device_id.to_owned()))
            && let Known::Ids(ids) = known
        {
            ids.insert(hash);
            if ids.len() > MAX_PER_DEVICE {
                *known = Known::TooMany;
            }
        }
    }
}
