//! The one writer of room events. Sends queue here; each turn takes every
//! queued event and commits them in one transaction, so N concurrent
//! senders share one fsync (group commit). A single writer also keeps
//! stream positions in commit order, which sync relies on.

use std::{collections::BTreeSet, sync::Arc};

use ruma::OwnedUserId;
use sqlx::{Any, pool::PoolConnection};
use tokio::sync::{mpsc, oneshot};

use crate::{
    error::{Error, Result},
    services::{
        federation::OutboxSignal,
        sync::notifier::{Notifier, Stream},
    },
    store::{NewEvent, StateGroupCache, Store},
};

/// Most events committed in one transaction.
const MAX_BATCH: usize = 512;

struct Persist {
    event: NewEvent,
    /// Users whose syncs should wake once the event is durable.
    wake: Vec<OwnedUserId>,
    reply: oneshot::Sender<Result<i64>>,
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
    pub async fn submit(&self, event: NewEvent, wake: Vec<OwnedUserId>) -> Result<Pending> {
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
        // Let the sends already under way on this thread queue up too: a
        // bigger batch shares one commit (no timer, so no added latency
        // when nothing else is running).
        tokio::task::yield_now().await;
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(next) => batch.push(next),
                Err(_) => break,
            }
        }
        let events: Vec<NewEvent> = batch.iter().map(|p| p.event.clone()).collect();
        match persist(&store, &mut conn, &events, &mut groups).await {
            Ok(streams) => {
                metrics::counter!("lattice_events_persisted_total").increment(streams.len() as u64);
                metrics::histogram!("lattice_persist_batch_size").record(streams.len() as f64);
                let (size, idle) = store.pool_use();
                metrics::gauge!("lattice_db_connections", "state" => "open").set(size as f64);
                metrics::gauge!("lattice_db_connections", "state" => "idle").set(idle as f64);
                let wake: BTreeSet<&OwnedUserId> = batch.iter().flat_map(|p| &p.wake).collect();
                let top = streams.iter().copied().max().unwrap_or_default();
                notifier.advance(Stream::Events, top, wake.into_iter().map(|u| &**u));
                outbox.wake(
                    batch.iter().flat_map(|p| p.event.destinations.iter().map(String::as_str)),
                );
                for (request, stream) in batch.into_iter().zip(streams) {
                    let _ = request.reply.send(Ok(stream));
                }
            }
            Err(error) => {
                // One bad event must not sink the others: retry them alone.
                tracing::warn!(%error, size = batch.len(), "batch failed; persisting one by one");
                groups.clear();
                for request in batch {
                    let event = std::slice::from_ref(&request.event);
                    let result = persist(&store, &mut conn, event, &mut groups).await;
                    match &result {
                        Ok(streams) => {
                            notifier.advance(
                                Stream::Events,
                                streams[0],
                                request.wake.iter().map(|u| &**u),
                            );
                            outbox.wake(request.event.destinations.iter().map(String::as_str));
                        }
                        Err(_) => groups.clear(),
                    }
                    let _ = request.reply.send(result.map(|s| s[0]));
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
