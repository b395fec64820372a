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
    services::{
        federation::OutboxSignal,
        notifier::{Notifier, Stream},
    },
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
    queue: mpsc::Sender<Persist>,
}

impl Writer {
    pub fn spawn(store: Store, notifier: Arc<Notifier>, outbox: Arc<OutboxSignal>) -> Self {
        let (queue, rx) = mpsc::channel(4 * MAX_BATCH);
        tokio::spawn(run(rx, store, notifier, outbox));
        Self { queue }
    }

    /// Queues an event; the receiver yields its stream position once it is
    /// durable. Events are written in the order they are submitted.
    pub async fn submit(&self, event: NewEvent, wake: Wake) -> Result<Pending> {
        let (reply, answer) = oneshot::channel();
        self.queue
            .send(Persist { event, wake, reply })
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
    mut rx: mpsc::Receiver<Persist>,
    store: Store,
    notifier: Arc<Notifier>,
    outbox: Arc<OutboxSignal>,
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
        let mut events = vec![first.event];
        let mut waiting = vec![(first.wake, first.reply)];
        while events.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(next) => {
                    events.push(next.event);
                    waiting.push((next.wake, next.reply));
                }
                Err(_) => break,
            }
        }
        match persist(&store, &mut conn, &events, &mut groups).await {
            Ok(streams) => {
                metrics::counter!("lattice_events_persisted_total").increment(streams.len() as u64);
                metrics::histogram!("lattice_persist_batch_size").record(streams.len() as f64);
                let (size, idle) = store.pool_use();
                metrics::gauge!("lattice_db_connections", "state" => "open").set(size as f64);
                metrics::gauge!("lattice_db_connections", "state" => "idle").set(idle as f64);
                let top = streams.iter().copied().max().unwrap_or_default();
                notifier.advance(Stream::Events, top, wake_once(waiting.iter().map(|(w, _)| w)));
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
                    let result =
                        persist(&store, &mut conn, std::slice::from_ref(event), &mut groups).await;
                    match &result {
                        Ok(streams) => {
                            notifier.advance(Stream::Events, streams[0], wake_once([&wake]));
                            outbox.wake(event.destinations.iter().map(String::as_str));
                        }
                        Err(_) => groups.clear(),
                    }
                    let _ = reply.send(result.map(|s| s[0]));
                }
            }
        }
    }
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
