//! Answers of frequent reads kept in memory, for SQLite only: there this
//! process is the only writer, so it knows when an answer may have changed.

use std::{
    collections::HashMap,
    hash::Hash,
    sync::{
        Mutex,
        atomic::{AtomicU64, Ordering},
    },
};

/// Remembered answers, forgotten when what they were read from changes:
/// all at once ([`changed`](Memo::changed)) or those of a few keys
/// ([`forget`](Memo::forget)).
#[derive(Debug)]
pub(super) struct Memo<K, V> {
    enabled: bool,
    /// Moves on every write, so that a read a write overtook is not kept.
    generation: AtomicU64,
    entries: Mutex<HashMap<K, V>>,
}

impl<K: Eq + Hash, V: Clone> Memo<K, V> {
    pub(super) fn new(enabled: bool) -> Self {
        Self { enabled, generation: AtomicU64::new(0), entries: Mutex::default() }
    }

    /// The remembered answer for `key`, or reads it with `read` and
    /// remembers it, unless a write was noted meanwhile.
    pub(super) async fn get_or_read<F, Fut, E>(&self, key: K, read: F) -> Result<V, E>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<V, E>>,
    {
        if !self.enabled {
            return read().await;
        }
        // Taken before reading: a write committed during the read bumps it,
        // and the answer is then not kept.
        let generation = self.generation.load(Ordering::Acquire);
        if let Some(value) = self.lock().get(&key) {
            return Ok(value.clone());
        }
        let value = read().await?;
        let mut entries = self.lock();
        if self.generation.load(Ordering::Acquire) == generation {
            entries.insert(key, value.clone());
        }
        Ok(value)
    }

    /// Forgets every answer; call after the write has committed.
    pub(super) fn changed(&self) {
        if self.enabled {
            let mut entries = self.lock();
            self.generation.fetch_add(1, Ordering::AcqRel);
            entries.clear();
        }
    }

    /// Forgets the answers for `keys`; call after the write has committed.
    pub(super) fn forget<'a, Q>(&self, keys: impl IntoIterator<Item = &'a Q>)
    where
        K: std::borrow::Borrow<Q>,
        Q: Eq + Hash + ?Sized + 'a,
    {
        if self.enabled {
            let mut entries = self.lock();
            self.generation.fetch_add(1, Ordering::AcqRel);
            for key in keys {
                entries.remove(key);
            }
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<K, V>> {
        self.entries.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use std::{cell::Cell, convert::Infallible};

    use super::Memo;

    #[tokio::test]
    async fn answers_are_kept_until_a_write_and_never_from_a_read_it_overtook() {
        let memo = Memo::new(true);
        let reads = Cell::new(0);
        let read = |value: u32| {
            let reads = &reads;
            move || async move {
                reads.set(reads.get() + 1);
                Ok::<_, Infallible>(value)
            }
        };
        assert_eq!(memo.get_or_read("alice", read(1)).await, Ok(1));
        assert_eq!(memo.get_or_read("alice", read(2)).await, Ok(1), "kept");
        assert_eq!(reads.get(), 1);

        memo.changed();
        assert_eq!(memo.get_or_read("alice", read(3)).await, Ok(3), "read again after a write");

        // A write that commits while a read is under way: the read's answer
        // is handed out but not kept.
        let overtaken = memo
            .get_or_read("bob", || async {
                memo.changed();
                Ok::<_, Infallible>(4)
            })
            .await;
        assert_eq!(overtaken, Ok(4));
        assert_eq!(memo.get_or_read("bob", read(5)).await, Ok(5));
    }

    #[tokio::test]
    async fn forgetting_a_key_keeps_the_others() {
        let memo = Memo::new(true);
        let answer = |value: u32| move || async move { Ok::<_, Infallible>(value) };
        memo.get_or_read("alice".to_owned(), answer(1)).await.ok();
        memo.get_or_read("bob".to_owned(), answer(2)).await.ok();
        memo.forget(["alice"]);
        assert_eq!(memo.get_or_read("alice".to_owned(), answer(3)).await, Ok(3), "read again");
        assert_eq!(memo.get_or_read("bob".to_owned(), answer(4)).await, Ok(2), "still kept");

        // A read that a write to another key overtook is not kept either:
        // the memo cannot tell which key the write was about.
        let overtaken = memo
            .get_or_read("carol".to_owned(), || async {
                memo.forget(["bob"]);
                Ok::<_, Infallible>(5)
            })
            .await;
        assert_eq!(overtaken, Ok(5));
        assert_eq!(memo.get_or_read("carol".to_owned(), answer(6)).await, Ok(6));
    }

    #[tokio::test]
    async fn a_disabled_memo_always_reads() {
        let memo = Memo::new(false);
        assert_eq!(memo.get_or_read(1, || async { Ok::<_, Infallible>("a") }).await, Ok("a"));
        assert_eq!(memo.get_or_read(1, || async { Ok::<_, Infallible>("b") }).await, Ok("b"));
    }
}
