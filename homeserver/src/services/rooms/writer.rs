//! The one writer of room events. Sends queue here; each turn takes every
//! queued event and commits them in one transaction, so N concurrent
//! senders share one fsync (group commit). A single writer also keeps
//! stream positions in commit order, which sync relies on.

use std::sync::Arc;

use ruma::{OwnedUserId, UserId};
use sqlx::{Any, pool::PoolConnection};
use tokio::sync::{mpsc, oneshot};

use crate::{
    error::{Error, Result},
    services::{federation::OutboxSignal, notifier::Notifier},
    store::{NewEvent, StateGroupCache, Store},
};

/// Most events committed in one transaction.
const MAX_BATCH: usize = 512;

/// Most times the writer lets other tasks run while its queue grows.
const MAX_YIELDS: usize = 8;

struct Persist {
    event: NewEvent,
    wake: Wake,
    reply: oneshot::Sender<Result<i64>>,
}

/// What the writer's queue carries. Nearly every job is an event: boxing
/// it would cost an allocation per send to shrink the rare flush.
#[allow(clippy::large_enum_variant)]
enum Job {
    Persist(Persist),
    /// Answered once everything queued before it is committed.
    Flush(oneshot::Sender<()>),
}

/// Users whose syncs wake once an event is durable: the room's joined
/// members, as one list shared by the events sent while it stays the same
/// (a batch wakes each list once, however many events it holds), and the
/// target of a membership change.
pub struct Wake {
    pub members: Arc<[OwnedUserId]>,
    pub target: Option<OwnedUserId>,
}

/// The users to wake for a batch: each shared member list once.
fn wake_once<'a>(wakes: impl IntoIterator<Item = &'a Wake>) -> Vec<&'a UserId> {
    let mut lists: Vec<&Arc<[OwnedUserId]>> = Vec::new();
    let mut users = Vec::new();
    for wake in wakes {
        if !lists.iter().any(|list| Arc::ptr_eq(list, &wake.members)) {
            lists.push(&wake.members);
            users.extend(wake.members.iter().map(|user| &**user));
        }
        users.extend(wake.target.as_deref());
    }
    users
}

#[derive(Clone)]
pub struct Writer {
    queue: mpsc::Sender<Job>,
    /// Rooms whose state group the writer must read again: another
    /// instance wrote them since it last did.
    stale: Arc<std::sync::Mutex<Vec<String>>>,
}

impl Writer {
    pub fn spawn(store: Store, notifier: Arc<Notifier>, outbox: Arc<OutboxSignal>) -> Self {
        let (queue, rx) = mpsc::channel(4 * MAX_BATCH);
        let stale = Arc::<std::sync::Mutex<Vec<String>>>::default();
        tokio::spawn(run(rx, store, notifier, outbox, stale.clone()));
        Self { queue, stale }
    }

    /// Forgets what the writer remembers of a room's state (call before
    /// submitting its next event, once another instance may have written it).
    pub fn forget_room(&self, room_id: &str) {
        self.stale.lock().unwrap_or_else(|e| e.into_inner()).push(room_id.to_owned());
    }

    /// Waits until every event submitted so far is committed (or failed).
    pub async fn flush(&self) -> Result<()> {
        let (reply, done) = oneshot::channel();
        self.queue
            .send(Job::Flush(reply))
            .await
            .map_err(|_| Error::internal("event writer stopped"))?;
        done.await.map_err(|_| Error::internal("event writer dropped a request"))
    }

    /// Queues an event; the receiver yields its stream position once it is
    /// durable. Events are written in the order they are submitted.
    pub async fn submit(&self, event: NewEvent, wake: Wake) -> Result<Pending> {
        let (reply, answer) = oneshot::channel();
        self.queue
            .send(Job::Persist(Persist { event, wake, reply }))
            .await
            .map_err(|_| Error::internal("event writer stopped"))?;
        Ok(Pending(answer))
    }
}

/// A submitted event, not yet known to be durable.
pub struct Pending(oneshot::Receiver<Result<i64>>);

impl Pending {
    pub async fn durable(self) -> Result<i64> {
        self.0.await.map_err(|_| Error::internal("event writer dropped a request"))?
    }
}

async fn run(
    mut rx: mpsc::Receiver<Job>,
    store: Store,
    notifier: Arc<Notifier>,
    outbox: Arc<OutboxSignal>,
    stale: Arc<std::sync::Mutex<Vec<String>>>,
) {
    let mut groups = StateGroupCache::new();
    let mut conn = None;
    loop {
        let first = tokio::select! {
            first = rx.recv() => first,
            () = store.closing(), if conn.is_some() => {
                conn = None;
                continue;
            }
        };
        let Some(first) = first else { break };
        // Let the sends already under way on this thread queue up too, as
        // long as more keep arriving: a bigger batch shares one commit. No
        // timer, so nothing waits when nothing else is running.
        for _ in 0..MAX_YIELDS {
            let queued = rx.len();
            tokio::task::yield_now().await;
            if rx.len() == queued {
                break;
            }
        }
        let mut events = Vec::new();
        let mut waiting = Vec::new();
        let mut flushes = Vec::new();
        let mut next = Some(first);
        while let Some(job) = next.take() {
            match job {
                Job::Persist(p) => {
                    events.push(p.event);
                    waiting.push((p.wake, p.reply));
                }
                Job::Flush(reply) => flushes.push(reply),
            }
            if events.len() < MAX_BATCH {
                next = rx.try_recv().ok();
            }
        }
        for room in std::mem::take(&mut *stale.lock().unwrap_or_else(|e| e.into_inner())) {
            groups.remove(&room);
        }
        if !events.is_empty() {
            persist_batch(&store, &mut conn, &mut groups, &notifier, &outbox, events, waiting)
                .await;
        }
        for reply in flushes {
            let _ = reply.send(());
        }
    }
}

/// Commits a batch, answers its senders and wakes its readers; a failed
/// batch is retried one event at a time.
async fn persist_batch(
    store: &Store,
    conn: &mut Option<PoolConnection<Any>>,
    groups: &mut StateGroupCache,
    notifier: &Notifier,
    outbox: &OutboxSignal,
    events: Vec<NewEvent>,
    waiting: Vec<(Wake, oneshot::Sender<Result<i64>>)>,
) {
    match persist(store, conn, &events, groups).await {
        Ok(streams) => {
            metrics::counter!("lattice_events_persisted_total").increment(streams.len() as u64);
            metrics::histogram!("lattice_persist_batch_size").record(streams.len() as f64);
            let (size, idle) = store.pool_use();
            metrics::gauge!("lattice_db_connections", "state" => "open").set(size as f64);
            metrics::gauge!("lattice_db_connections", "state" => "idle").set(idle as f64);
            let top = streams.iter().copied().max().unwrap_or_default();
            let users = wake_once(waiting.iter().map(|(w, _)| w));
            notifier.advance_events(top, users.iter().copied(), rooms_of(&events));
            outbox.wake(events.iter().flat_map(|e| e.destinations.iter().map(String::as_str)));
            for ((_, reply), stream) in waiting.into_iter().zip(streams) {
                let _ = reply.send(Ok(stream));
            }
        }
        Err(error) => {
            // One bad event must not sink the others: retry them alone.
            tracing::warn!(%error, size = events.len(), "batch failed; persisting one by one");
            groups.clear();
            for (event, (wake, reply)) in events.iter().zip(waiting) {
                let result = persist(store, conn, std::slice::from_ref(event), groups).await;
                match &result {
                    Ok(streams) => {
                        let users = wake_once([&wake]);
                        notifier.advance_events(
                            streams[0],
                            users.iter().copied(),
                            rooms_of(std::slice::from_ref(event)),
                        );
                        outbox.wake(event.destinations.iter().map(String::as_str));
                    }
                    Err(_) => groups.clear(),
                }
                let _ = reply.send(result.map(|s| s[0]));
            }
        }
    }
}

/// The rooms a batch wrote, each once.
fn rooms_of(events: &[NewEvent]) -> Vec<ruma::OwnedRoomId> {
    let mut rooms: Vec<ruma::OwnedRoomId> = Vec::new();
    for event in events {
        if !rooms.iter().any(|r| r.as_str() == event.room_id)
            && let Ok(room) = ruma::OwnedRoomId::try_from(event.room_id.as_str())
        {
            rooms.push(room);
        }
    }
    rooms
}

/// Persists on the writer's own connection, acquired when first needed; a
/// failed batch gives it up, in case the connection is what broke.
async fn persist(
    store: &Store,
    conn: &mut Option<PoolConnection<Any>>,
    events: &[NewEvent],
    groups: &mut StateGroupCache,
) -> Result<Vec<i64>> {
    let own = match conn {
        Some(own) => own,
        None => conn.insert(store.dedicated().await?),
    };
    let result = store.persist_events(own, events, groups).await;
    if result.is_err() {
        *conn = None;
    }
    result
}

#[cfg(test)]
mod tests {
    //! The writer on a real database: what it answers is stored, in the
    //! order it was submitted, and one bad event does not sink its batch.

    use super::*;
    use crate::{
        services::notifier::Positions,
        testing::{Backend, fresh_postgres_database},
    };

    const ROOM: &str = "!writer:test.local";
    const ALICE: &str = "@alice:test.local";

    struct Fixture {
        store: Store,
        notifier: Arc<Notifier>,
        writer: Writer,
        url: String,
        _dir: Option<tempfile::TempDir>,
    }

    async fn fixture(backend: Backend) -> Fixture {
        let (url, dir) = match backend {
            Backend::Sqlite => {
                let dir = tempfile::tempdir().expect("temp dir");
                (format!("sqlite://{}?mode=rwc", dir.path().join("w.db").display()), Some(dir))
            }
            Backend::Postgres => (fresh_postgres_database().await, None),
        };
        let store = Store::open(&url, 4).await.expect("store opens");
        let notifier = Arc::new(Notifier::new(Positions::default()));
        let writer = Writer::spawn(store.clone(), notifier.clone(), Arc::default());
        Fixture { store, notifier, writer, url, _dir: dir }
    }

    fn event(id: &str, kind: &str, state_key: Option<&str>) -> NewEvent {
        NewEvent {
            event_id: id.to_owned(),
            room_id: ROOM.to_owned(),
            sender: ALICE.to_owned(),
            event_type: kind.to_owned(),
            state_key: state_key.map(str::to_owned),
            membership: None,
            depth: 1,
            origin_server_ts: 1,
            pdu: format!(r#"{{"type":"{kind}","content":{{}}}}"#),
            prev_events: Vec::new(),
            redacts: None,
            redacted_target_pdu: None,
            txn: None,
            relation: None,
            search_text: None,
            directory: None,
            is_new_room: kind == "m.room.create",
            room_version: "10".to_owned(),
            resolved_state: None,
            destinations: Vec::new(),
        }
    }

    fn wake() -> Wake {
        Wake {
            members: Arc::from(vec![OwnedUserId::try_from(ALICE).expect("user id")]),
            target: None,
        }
    }

    async fn write(writer: &Writer, event: NewEvent) -> Result<i64> {
        writer.submit(event, wake()).await?.durable().await
    }

    async fn answered_events_are_stored_in_submission_order(backend: Backend) {
        let f = fixture(backend).await;
        write(&f.writer, event("$create", "m.room.create", Some(""))).await.expect("create");
        // Submitted back to back, before any answer is awaited: they share
        // batches, and each still gets its own position.
        let mut pending = Vec::new();
        for n in 0..100 {
            let message = event(&format!("$m{n}"), "m.room.message", None);
            pending.push(f.writer.submit(message, wake()).await.expect("queued"));
        }
        let mut positions = Vec::new();
        for answer in pending {
            positions.push(answer.durable().await.expect("durable"));
        }
        assert!(positions.windows(2).all(|pair| pair[0] < pair[1]), "{positions:?}");
        assert_eq!(f.notifier.positions().events, *positions.last().expect("100 positions"));

        // What was answered survives the process: read back through a new pool.
        drop(f.writer);
        f.store.close().await;
        let reopened = Store::open(&f.url, 4).await.expect("store reopens");
        for (n, position) in positions.iter().enumerate() {
            let row = reopened.event(&format!("$m{n}")).await.expect("read").expect("stored");
            assert_eq!(row.stream, *position);
        }
    }

    async fn a_bad_event_does_not_sink_its_batch(backend: Backend) {
        let f = fixture(backend).await;
        write(&f.writer, event("$create", "m.room.create", Some(""))).await.expect("create");
        write(&f.writer, event("$first", "m.room.message", None)).await.expect("first");
        let before = f.store.max_event_stream().await.expect("position");

        // The middle event reuses an id: the database refuses it.
        let good_a = f.writer.submit(event("$a", "m.room.message", None), wake()).await;
        let duplicate = f.writer.submit(event("$first", "m.room.message", None), wake()).await;
        let good_b = f.writer.submit(event("$b", "m.room.message", None), wake()).await;
        let a = good_a.expect("queued").durable().await.expect("$a is stored");
        assert!(duplicate.expect("queued").durable().await.is_err(), "a duplicate id is refused");
        let b = good_b.expect("queued").durable().await.expect("$b is stored");

        assert!(before < a && a < b);
        assert_eq!(f.store.event("$a").await.expect("read").map(|row| row.stream), Some(a));
        assert_eq!(f.store.event("$b").await.expect("read").map(|row| row.stream), Some(b));
        assert_eq!(f.store.max_event_stream().await.expect("position"), b);
    }

    crate::backend_tests!(
        answered_events_are_stored_in_submission_order,
        a_bad_event_does_not_sink_its_batch
    );
}
