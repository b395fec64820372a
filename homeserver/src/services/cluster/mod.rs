//! Several instances on one PostgreSQL database. Each registers under its
//! name and holds an advisory lock while it runs (how the others know it
//! is alive); they talk over LISTEN/NOTIFY (`bus`); each room is written
//! by one instance at a time, handed over on request (`writers`). On
//! SQLite there is one process and all of this is switched off.

pub mod bus;
mod writers;

use std::sync::Arc;

use sqlx::postgres::PgListener;
use tokio::sync::{
    broadcast::{self, error::RecvError},
    mpsc,
};

pub use self::bus::Message;
use self::{bus::Envelope, writers::RoomWriters};
use super::notifier::{Notifier, Positions, Stream};
use crate::{
    config::Config,
    error::{Error, Result},
    store::{
        Backend, Store,
        cluster::{JOBS_LOCK, LOCK_CLASS, claim_instance_lock},
    },
};

/// Messages heard, kept for slow subscribers before they miss some (a
/// subscriber that lags treats it as a resync).
const HEARD_BACKLOG: usize = 4096;

#[derive(Clone)]
pub struct Cluster {
    inner: Arc<Inner>,
}

struct Inner {
    /// This instance's id (0 on SQLite).
    id: i32,
    name: String,
    enabled: bool,
    /// The database's URL, for the connections of its own it keeps.
    url: String,
    /// Whether this instance runs the background jobs.
    leads: std::sync::atomic::AtomicBool,
    /// Whether this instance is stopping (/ready says so).
    draining: std::sync::atomic::AtomicBool,
    store: Store,
    outgoing: mpsc::UnboundedSender<Message>,
    heard: broadcast::Sender<Message>,
    writers: RoomWriters,
    tasks: std::sync::Mutex<Vec<tokio::task::JoinHandle<()>>>,
}

impl Cluster {
    /// Joins the instances on the store's PostgreSQL database (a no-op on
    /// SQLite). Refuses to start when a running instance has the same name.
    pub async fn start(store: &Store, config: &Config, now_ms: i64) -> Result<Self> {
        let (outgoing, queue) = mpsc::unbounded_channel();
        let (heard, _) = broadcast::channel(HEARD_BACKLOG);
        let name = config.cluster.instance_name();
        if store.backend() != Backend::Postgres {
            let cluster = Self::with(0, name, false, store, outgoing, heard, Vec::new());
            return Ok(cluster);
        }
        let id = store.register_instance(&name, now_ms).await?;
        let mut listener = PgListener::connect(&config.database.url).await?;
        if !claim_instance_lock(&mut listener, id).await? {
            return Err(Error::Config(format!(
                "another running instance is named `{name}`: give each instance its own \
                 [cluster] instance_name"
            )));
        }
        listener.listen(bus::CHANNEL).await?;
        store.set_writer_instance(id);
        let tasks = vec![
            tokio::spawn(listen(listener, id, heard.clone())),
            tokio::spawn(publish(queue, id, config.database.url.clone())),
        ];
        tracing::info!(instance = %name, id, "joined the instances sharing the database");
        let cluster = Self::with(id, name, true, store, outgoing, heard, tasks);
        Ok(cluster.at(&config.database.url))
    }

    fn with(
        id: i32,
        name: String,
        enabled: bool,
        store: &Store,
        outgoing: mpsc::UnboundedSender<Message>,
        heard: broadcast::Sender<Message>,
        tasks: Vec<tokio::task::JoinHandle<()>>,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                id,
                name,
                enabled,
                url: String::new(),
                leads: (!enabled).into(),
                draining: false.into(),
                store: store.clone(),
                outgoing,
                heard,
                writers: RoomWriters::default(),
                tasks: std::sync::Mutex::new(tasks),
            }),
        }
    }

    fn at(mut self, url: &str) -> Self {
        if let Some(inner) = Arc::get_mut(&mut self.inner) {
            inner.url = url.to_owned();
        }
        self
    }

    /// Whether this instance runs the background jobs (always on SQLite).
    pub fn leads(&self) -> bool {
        self.inner.leads.load(std::sync::atomic::Ordering::Acquire)
    }

    /// Starts `jobs` (pushing notifications, feeding application services,
    /// sending to other servers, purging) in one instance only: the first
    /// to take the jobs lock, at once (its errors stop the start). The
    /// others wait on the lock, so one takes over as soon as the leader
    /// stops or dies. On SQLite: at once.
    pub async fn when_leading(
        &self,
        jobs: impl Future<Output = Result<()>> + Send + 'static,
    ) -> Result<()> {
        if !self.inner.enabled {
            return jobs.await;
        }
        let mut conn = self.connect().await?;
        let free: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock($1, $2)")
            .bind(LOCK_CLASS)
            .bind(JOBS_LOCK)
            .fetch_one(&mut conn)
            .await?;
        if free {
            self.lead(conn);
            return jobs.await;
        }
        let this = self.clone();
        let task = tokio::spawn(async move {
            let mut conn = Some(conn);
            loop {
                let taken = match conn.take() {
                    Some(conn) => Ok(conn),
                    None => this.connect().await,
                };
                let locked = match taken {
                    Ok(mut conn) => sqlx::query("SELECT pg_advisory_lock($1, $2)")
                        .bind(LOCK_CLASS)
                        .bind(JOBS_LOCK)
                        .execute(&mut conn)
                        .await
                        .map(|_| conn)
                        .map_err(Error::from),
                    Err(error) => Err(error),
                };
                match locked {
                    Ok(conn) => {
                        this.lead(conn);
                        if let Err(error) = jobs.await {
                            tracing::error!(%error, "the background jobs could not start");
                        }
                        return;
                    }
                    Err(error) => {
                        tracing::warn!(%error, "cannot wait for the jobs lock; retrying");
                        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                    }
                }
            }
        });
        self.inner.tasks.lock().unwrap_or_else(|e| e.into_inner()).push(task);
        Ok(())
    }

    async fn connect(&self) -> Result<sqlx::PgConnection> {
        Ok(<sqlx::PgConnection as sqlx::Connection>::connect(&self.inner.url).await?)
    }

    /// Runs the jobs from now on, for as long as `conn` (holding the jobs
    /// lock) stays open.
    fn lead(&self, conn: sqlx::PgConnection) {
        self.inner.leads.store(true, std::sync::atomic::Ordering::Release);
        tracing::info!(instance = %self.inner.name, "this instance runs the background jobs");
        let hold = tokio::spawn(async move {
            let _conn = conn;
            std::future::pending::<()>().await;
        });
        self.inner.tasks.lock().unwrap_or_else(|e| e.into_inner()).push(hold);
    }

    /// Marks this instance as stopping: /ready answers 503 from now on.
    pub fn start_draining(&self) {
        self.inner.draining.store(true, std::sync::atomic::Ordering::Release);
    }

    /// Whether this instance is stopping.
    pub fn draining(&self) -> bool {
        self.inner.draining.load(std::sync::atomic::Ordering::Acquire)
    }

    /// Whether other instances may share the database.
    pub fn enabled(&self) -> bool {
        self.inner.enabled
    }

    /// This instance's id among those sharing the database.
    pub fn id(&self) -> i32 {
        self.inner.id
    }

    /// This instance's name.
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// Tells the other instances (nothing on SQLite).
    pub fn publish(&self, message: Message) {
        if self.inner.enabled {
            let _ = self.inner.outgoing.send(message);
        }
    }

    /// What the other instances say, from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Message> {
        self.inner.heard.subscribe()
    }

    /// Leaves gracefully: rooms this instance wrote are free for the others
    /// at once, and its advisory lock goes with its connection.
    pub async fn stop(&self) {
        if !self.inner.enabled {
            return;
        }
        if let Err(error) = self.inner.store.leave_cluster(self.inner.id).await {
            tracing::warn!(%error, "could not give up this instance's rooms");
        }
        let tasks =
            std::mem::take(&mut *self.inner.tasks.lock().unwrap_or_else(|e| e.into_inner()));
        for task in tasks {
            task.abort();
        }
    }
}

/// Hears the other instances: every message goes to the subscribers; a
/// lost connection is found again and reported as [`Message::Resync`].
async fn listen(mut listener: PgListener, id: i32, heard: broadcast::Sender<Message>) {
    loop {
        match listener.try_recv().await {
            Ok(Some(notification)) => {
                let Ok(envelope) = serde_json::from_str::<Envelope>(notification.payload()) else {
                    tracing::warn!("unreadable message from another instance");
                    continue;
                };
                if envelope.from == id {
                    continue;
                }
                for message in envelope.messages {
                    let _ = heard.send(message);
                }
            }
            Ok(None) => {
                // Reconnected (LISTEN again by sqlx): the lock went with the
                // old connection, and messages may have been missed.
                match claim_instance_lock(&mut listener, id).await {
                    Ok(true) => {}
                    Ok(false) => tracing::error!("this instance's lock is held by another process"),
                    Err(error) => {
                        tracing::warn!(%error, "could not take this instance's lock again")
                    }
                }
                let _ = heard.send(Message::Resync);
            }
            Err(error) => {
                tracing::warn!(%error, "lost the connection to the other instances; retrying");
                tokio::time::sleep(std::time::Duration::from_secs(1)).await;
            }
        }
    }
}

/// Sends what this instance says, packing what queued meanwhile together,
/// on a connection of its own (never waiting behind the pool's users).
async fn publish(mut queue: mpsc::UnboundedReceiver<Message>, id: i32, url: String) {
    let mut conn: Option<sqlx::PgConnection> = None;
    while let Some(first) = queue.recv().await {
        let mut messages = vec![first];
        while let Ok(next) = queue.try_recv() {
            messages.push(next);
        }
        for payload in bus::payloads(id, messages) {
            // One retry on a fresh connection: the old one may have dropped.
            for _ in 0..2 {
                let sent = match &mut conn {
                    Some(c) => notify(c, &payload).await,
                    None => match <sqlx::PgConnection as sqlx::Connection>::connect(&url).await {
                        Ok(c) => notify(conn.insert(c), &payload).await,
                        Err(error) => Err(error),
                    },
                };
                match sent {
                    Ok(()) => break,
                    Err(error) => {
                        tracing::warn!(%error, "could not tell the other instances");
                        conn = None;
                    }
                }
            }
        }
    }
}

async fn notify(conn: &mut sqlx::PgConnection, payload: &str) -> sqlx::Result<()> {
    sqlx::query("SELECT pg_notify($1, $2)")
        .bind(bus::CHANNEL)
        .bind(payload)
        .execute(conn)
        .await
        .map(|_| ())
}

impl Cluster {
    /// Wakes this instance's long polls when another instance moves a
    /// stream; after a lost connection, reads where the streams stand.
    pub fn wake_syncs(&self, notifier: Arc<Notifier>) {
        if !self.enabled() {
            return;
        }
        let mut heard = self.subscribe();
        let store = self.inner.store.clone();
        tokio::spawn(async move {
            loop {
                match heard.recv().await {
                    Ok(Message::Advance { stream, at, users: Some(users), .. }) => {
                        notifier.advance_here(stream, at, users.iter().map(|u| &**u));
                    }
                    Ok(Message::Advance { stream, at, users: None, .. }) => {
                        notifier.advance_everyone(stream, at);
                    }
                    Ok(Message::Resync) | Err(RecvError::Lagged(_)) => {
                        match Positions::read(&store).await {
                            Ok(now) => {
                                // Typing lives in memory: it did not move.
                                let stored =
                                    now.each().into_iter().filter(|(s, _)| *s != Stream::Typing);
                                for (stream, at) in stored {
                                    notifier.advance_everyone(stream, at);
                                }
                            }
                            Err(error) => {
                                tracing::warn!(%error, "could not read the stream positions")
                            }
                        }
                    }
                    Ok(_) => {}
                    Err(RecvError::Closed) => break,
                }
            }
        });
    }
}
