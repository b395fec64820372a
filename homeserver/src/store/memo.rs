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

/// Remembered answers, all forgotten at once when what they were read from
/// changes (writes of that kind are rare next to the reads).
#[derive(Debug)]
pub(super) struct Memo<K, V> {
    enabled: bool,
    generation: AtomicU64,
    entries: Mutex<HashMap<K, (u64, V)>>,
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
        if let Some((seen, value)) = self.lock().get(&key)
            && *seen == generation
        {
            return Ok(value.clone());
        }
        let value = read().await?;
        if self.generation.load(Ordering::Acquire) == generation {
            self.lock().insert(key, (generation, value.clone()));
        }
        Ok(value)
    }

    /// Forgets every answer; call after the write has committed.
    pub(super) fn changed(&self) {
        if self.enabled {
            self.generation.fetch_add(1, Ordering::AcqRel);
            self.lock().clear();
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<K, (u64, V)>> {
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
    async fn a_disabled_memo_always_reads() {
        let memo = Memo::new(false);
        assert_eq!(memo.get_or_read(1, || async { Ok::<_, Infallible>("a") }).await, Ok("a"));
        assert_eq!(memo.get_or_read(1, || async { Ok::<_, Infallible>("b") }).await, Ok("b"));
    }
}
