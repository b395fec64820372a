//! A small in-memory cache whose entries age out. What a request would
//! otherwise read from the database on every call is kept here; the
//! service that owns an entry forgets it when this instance changes it,
//! and the age limit bounds how long another instance's change can go
//! unseen.

use std::{
    borrow::Borrow,
    collections::HashMap,
    hash::Hash,
    sync::Mutex,
    time::{Duration, Instant},
};

pub struct TtlCache<K, V> {
    entries: Mutex<HashMap<K, (V, Instant)>>,
    ttl: Duration,
    max_entries: usize,
}

impl<K: Eq + Hash, V: Clone> TtlCache<K, V> {
    pub fn new(ttl: Duration, max_entries: usize) -> Self {
        Self { entries: Mutex::default(), ttl, max_entries }
    }

    /// The value, if cached less than the age limit ago.
    pub fn get<Q>(&self, key: &Q) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Eq + Hash + ?Sized,
    {
        let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        let (value, at) = entries.get(key)?;
        (at.elapsed() < self.ttl).then(|| value.clone())
    }

    pub fn insert(&self, key: K, value: V) {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if entries.len() >= self.max_entries {
            let ttl = self.ttl;
            entries.retain(|_, (_, at)| at.elapsed() < ttl);
            if entries.len() >= self.max_entries {
                entries.clear();
            }
        }
        entries.insert(key, (value, Instant::now()));
    }

    pub fn forget<Q>(&self, key: &Q)
    where
        K: Borrow<Q>,
        Q: Eq + Hash + ?Sized,
    {
        self.entries.lock().unwrap_or_else(|e| e.into_inner()).remove(key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_age_out_and_are_forgotten() {
        let cache = TtlCache::new(Duration::from_secs(60), 2);
        cache.insert("a", 1);
        assert_eq!(cache.get("a"), Some(1));
        cache.forget("a");
        assert_eq!(cache.get("a"), None);
        // A full cache makes room.
        cache.insert("b", 2);
        cache.insert("c", 3);
        cache.insert("d", 4);
        assert_eq!(cache.get("d"), Some(4));

        let aged = TtlCache::new(Duration::ZERO, 2);
        aged.insert("a", 1);
        assert_eq!(aged.get("a"), None, "older than the age limit");
    }
}
