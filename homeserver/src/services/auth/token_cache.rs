//! Resolved access tokens, kept in memory so that a request does not cost
//! a database lookup. Anything that ends sessions forgets the user's
//! entries; entries also age out, which bounds how long another instance's
//! logout can go unnoticed here.

use std::{collections::HashMap, sync::Mutex};

use ruma::UserId;

use super::Requester;

/// How long (ms) a cached token is trusted without asking the database again.
const TRUST_FOR_MS: i64 = 30_000;
/// Entries kept at most; the cache is cleared when it fills.
const MAX_ENTRIES: usize = 100_000;

struct Entry {
    requester: Requester,
    /// Milliseconds since the epoch when the token expires, if it does.
    expires_at: Option<i64>,
    /// When it was cached, on the services' clock (ms).
    cached_at: i64,
}

#[derive(Default)]
pub struct TokenCache {
    entries: Mutex<HashMap<String, Entry>>,
}

impl TokenCache {
    /// The session a token hash resolves to, if cached and still trusted.
    pub fn get(&self, hash: &str, now_ms: i64) -> Option<Result<Requester, ()>> {
        let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        let entry = entries.get(hash)?;
        if now_ms - entry.cached_at > TRUST_FOR_MS {
            return None;
        }
        // An expired token is a soft logout: report it without a lookup.
        if entry.expires_at.is_some_and(|at| at <= now_ms) {
            return Some(Err(()));
        }
        Some(Ok(entry.requester.clone()))
    }

    pub fn insert(&self, hash: String, requester: Requester, expires_at: Option<i64>, now_ms: i64) {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if entries.len() >= MAX_ENTRIES {
            entries.clear();
        }
        entries.insert(hash, Entry { requester, expires_at, cached_at: now_ms });
    }

    /// Forgets every cached token of a user (logout, device deletion,
    /// password change, deactivation, refresh).
    pub fn forget_user(&self, user_id: &UserId) {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        entries.retain(|_, entry| entry.requester.user_id != user_id);
    }

    /// Forgets every cached token (messages from other instances may
    /// have been missed).
    pub fn forget_all(&self) {
        self.entries.lock().unwrap_or_else(|e| e.into_inner()).clear();
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.entries.lock().map(|e| e.len()).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use ruma::OwnedUserId;

    use super::*;

    fn requester(user: &str) -> Requester {
        Requester::new(OwnedUserId::try_from(user).expect("user id"), "DEV".into())
    }

    #[test]
    fn forgets_a_users_tokens_and_reports_expiry() {
        let cache = TokenCache::default();
        cache.insert("a".into(), requester("@a:x"), None, 0);
        cache.insert("b".into(), requester("@b:x"), Some(1_000), 0);
        assert!(matches!(cache.get("a", 0), Some(Ok(_))));
        assert!(matches!(cache.get("b", 999), Some(Ok(_))));
        assert!(matches!(cache.get("b", 1_000), Some(Err(()))));
        cache.forget_user(&OwnedUserId::try_from("@a:x").expect("user id"));
        assert!(cache.get("a", 0).is_none());
        assert_eq!(cache.len(), 1);
    }
}
