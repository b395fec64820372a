//! The outbound queue. Events and EDUs for other servers are written to
//! `federation_outbox` (events in the same transaction as the event
//! itself), so nothing is lost across a restart. One worker per
//! destination sends what is queued in transactions of at most 50 items,
//! oldest first, and deletes them once the destination acknowledged them.
//! A destination that fails is retried with exponential backoff, and at
//! once when it contacts us.

use std::{
    collections::{HashMap, HashSet},
    sync::{Arc, Mutex},
    time::Duration,
};

use lattice_federation::client::FederationClient;
use ruma::{
    MilliSecondsSinceUnixEpoch, OwnedServerName,
    api::federation::transactions::send_transaction_message, serde::Raw,
};
use serde_json::value::RawValue;
use tokio::sync::Notify;

use crate::{
    config::Config,
    error::Result,
    store::{OutboxRow, Store},
};

/// Items per transaction (the spec allows 50 PDUs and 100 EDUs).
const TRANSACTION_ITEMS: i64 = 50;

/// Destinations with new items, for the dispatcher to wake.
#[derive(Default)]
pub struct OutboxSignal {
    dirty: Mutex<HashSet<String>>,
    notify: Notify,
    /// The other instances: the one running the background jobs sends.
    cluster: std::sync::OnceLock<crate::services::cluster::Cluster>,
}

impl OutboxSignal {
    /// Says that `destinations` have new items queued, here and to the
    /// instance that sends (when that is another).
    pub fn wake<'a>(&self, destinations: impl IntoIterator<Item = &'a str> + Clone) {
        if let Some(cluster) = self.cluster.get().filter(|c| c.enabled() && !c.leads()) {
            let destinations = destinations.clone().into_iter().map(str::to_owned).collect();
            cluster.publish(crate::services::cluster::Message::Outbox { destinations });
        }
        self.wake_here(destinations);
    }

    /// Follows the other instances' queued items (this instance may be the one that sends).
    pub fn follow_cluster(self: &Arc<Self>, cluster: &crate::services::cluster::Cluster) {
        use crate::services::cluster::Message;
        use tokio::sync::broadcast::error::RecvError;
        if !cluster.enabled() {
            return;
        }
        let _ = self.cluster.set(cluster.clone());
        let mut heard = cluster.subscribe();
        let signal = self.clone();
        tokio::spawn(async move {
            loop {
                match heard.recv().await {
                    Ok(Message::Outbox { destinations }) => {
                        signal.wake_here(destinations.iter().map(String::as_str));
                    }
                    Err(RecvError::Closed) => break,
                    _ => {}
                }
            }
        });
    }

    /// Says that `destinations` have new items queued, to this instance.
    fn wake_here<'a>(&self, destinations: impl IntoIterator<Item = &'a str>) {
        let mut dirty = self.dirty.lock().unwrap_or_else(|e| e.into_inner());
        let before = dirty.len();
        dirty.extend(destinations.into_iter().map(str::to_owned));
        if dirty.len() > before {
            self.notify.notify_one();
        }
    }

    fn take(&self) -> HashSet<String> {
        std::mem::take(&mut *self.dirty.lock().unwrap_or_else(|e| e.into_inner()))
    }
}

/// A destination's worker: woken for new items, or to retry at once.
#[derive(Default)]
struct Worker {
    new_items: Notify,
    retry: Notify,
}

#[derive(Clone)]
pub struct Outbox {
    store: Store,
    signal: Arc<OutboxSignal>,
    workers: Arc<Mutex<HashMap<String, Arc<Worker>>>>,
    client: Arc<FederationClient>,
    max_retry: Duration,
}

impl Outbox {
    /// The queue's sender, not started yet ([`Self::start`]).
    pub fn new(
        store: Store,
        client: Arc<FederationClient>,
        signal: Arc<OutboxSignal>,
        config: &Config,
    ) -> Self {
        Self {
            store,
            signal,
            workers: Arc::default(),
            client,
            max_retry: Duration::from_secs(config.federation.max_retry_interval.max(1)),
        }
    }

    /// What says that items were queued.
    pub fn signal(&self) -> Arc<OutboxSignal> {
        self.signal.clone()
    }

    /// Starts the dispatcher; destinations with items left from before a
    /// restart (or by an instance that stopped) are picked up first.
    pub fn start(&self) {
        tokio::spawn(self.clone().dispatch());
    }

    async fn dispatch(self) {
        match self.store.outbox_destinations().await {
            Ok(pending) => self.signal.wake_here(pending.iter().map(|(d, _)| d.as_str())),
            Err(error) => tracing::error!(%error, "cannot read the federation queue"),
        }
        loop {
            let notified = self.signal.notify.notified();
            for destination in self.signal.take() {
                self.worker(&destination).new_items.notify_one();
            }
            notified.await;
        }
    }

    fn worker(&self, destination: &str) -> Arc<Worker> {
        let mut workers = self.workers.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(worker) = workers.get(destination) {
            return worker.clone();
        }
        let worker = Arc::new(Worker::default());
        workers.insert(destination.to_owned(), worker.clone());
        if let Ok(name) = OwnedServerName::try_from(destination) {
            tokio::spawn(self.clone().run(name, worker.clone()));
        }
        worker
    }

    /// Retries a destination now (it just contacted us).
    pub fn retry_now(&self, destination: &str) {
        let workers = self.workers.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(worker) = workers.get(destination) {
            worker.retry.notify_one();
        }
    }

    pub async fn enqueue_edu(
        &self,
        destinations: &[String],
        edu: &serde_json::Value,
    ) -> Result<()> {
        self.store.enqueue_edu(destinations, &edu.to_string()).await?;
        self.signal.wake(destinations.iter().map(String::as_str));
        Ok(())
    }

    async fn run(self, destination: OwnedServerName, worker: Arc<Worker>) {
        let mut failures: u32 = 0;
        loop {
            let items = match self.store.outbox(destination.as_str(), TRANSACTION_ITEMS).await {
                Ok(items) => items,
                Err(error) => {
                    tracing::error!(%error, "cannot read the federation queue");
                    Vec::new()
                }
            };
            if items.is_empty() {
                worker.new_items.notified().await;
                continue;
            }
            let gauge = metrics::gauge!("lattice_federation_queue", "destination" => destination.to_string());
            gauge.set(items.len() as f64);
            match self.send(&destination, &items).await {
                Ok(()) => {
                    failures = 0;
                    let ids: Vec<i64> = items.iter().map(|item| item.id).collect();
                    if let Err(error) = self.store.ack_outbox(destination.as_str(), &ids).await {
                        tracing::error!(%error, "cannot update the federation queue");
                    }
                }
                Err(error) => {
                    failures = failures.saturating_add(1);
                    let wait = Duration::from_secs(1u64 << failures.min(20)).min(self.max_retry);
                    tracing::info!(%destination, %error, ?wait, "destination unreachable; will retry");
                    // Wait for the backoff to pass, or for the server to show up.
                    let _ = tokio::time::timeout(wait, worker.retry.notified()).await;
                }
            }
        }
    }

    async fn send(
        &self,
        destination: &OwnedServerName,
        items: &[OutboxRow],
    ) -> lattice_federation::Result<()> {
        let (first, last) = (items[0].id, items[items.len() - 1].id);
        let txn_id: ruma::OwnedTransactionId = format!("{first}-{last}").into();
        let mut request = send_transaction_message::v1::Request::new(
            txn_id,
            self.client.origin().to_owned(),
            MilliSecondsSinceUnixEpoch::now(),
        );
        for OutboxRow { kind, payload, .. } in items {
            let Ok(raw) = RawValue::from_string(payload.clone()) else { continue };
            match kind.as_str() {
                "pdu" => request.pdus.push(raw),
                _ => request.edus.push(Raw::from_json(raw)),
            }
        }
        let response = self.client.send(destination, request).await?;
        for (event_id, result) in response.pdus {
            if let Err(reason) = result {
                tracing::info!(%destination, %event_id, %reason, "destination refused an event");
            }
        }
        Ok(())
    }
}
