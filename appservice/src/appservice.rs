//! [`Appservice`]: the service as a whole. It holds the registration, the
//! state store and the handlers the bridge registers, and hands out an
//! [`Intent`] per user it speaks for.

use std::{
    future::Future,
    pin::Pin,
    sync::{Arc, RwLock},
};

use lattice_sdk::Client;
use ruma::{
    OwnedRoomAliasId, OwnedServerName, OwnedUserId, RoomAliasId, UserId,
    api::appservice::event::push_events::v1::EphemeralData, events::AnyTimelineEvent,
};

use crate::{
    error::{Error, Result},
    intent::Intent,
    registration::{Claims, Registration},
    store::StateStore,
};

pub(crate) type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;
type Callback<A, T> = Arc<dyn Fn(Appservice, A) -> BoxFuture<T> + Send + Sync>;

#[derive(Default)]
pub(crate) struct Handlers {
    pub(crate) events: Vec<Callback<AnyTimelineEvent, ()>>,
    pub(crate) ephemeral: Vec<Callback<EphemeralData, ()>>,
    pub(crate) user_query: Option<Callback<OwnedUserId, bool>>,
    pub(crate) room_query: Option<Callback<OwnedRoomAliasId, bool>>,
}

/// An application service. Cheap to clone; clones share everything.
///
/// ```no_run
/// use lattice_appservice::{Appservice, StateStore, registration};
/// use lattice_appservice::ruma::events::AnyTimelineEvent;
///
/// # async fn run() -> lattice_appservice::Result<()> {
/// let registration = registration::load("registration.yaml")?;
/// let store = StateStore::open("bridge.sqlite").await?;
/// let server_name = "example.org".try_into().expect("a server name");
/// let service = Appservice::new(registration, "http://127.0.0.1:8008", server_name, store).await?;
/// service.on_event(|service: Appservice, event: AnyTimelineEvent| async move {
///     if !service.is_ours(event.sender()) {
///         println!("{} said something in {}", event.sender(), event.room_id());
///     }
/// });
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:9000").await?;
/// service.serve(listener).await?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Appservice {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) registration: Registration,
    pub(crate) claims: Claims,
    pub(crate) server_name: OwnedServerName,
    pub(crate) sender: OwnedUserId,
    /// The service's own user; intents act through clones of it.
    pub(crate) client: Client,
    pub(crate) store: StateStore,
    pub(crate) handlers: RwLock<Handlers>,
    /// One transaction handled at a time, so a retry waits for the first.
    pub(crate) transactions: tokio::sync::Mutex<()>,
}

impl std::fmt::Debug for Appservice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Appservice").field("id", &self.inner.registration.id).finish()
    }
}

impl Appservice {
    /// A service for `registration`, talking to the homeserver at
    /// `homeserver_url` whose users are `@…:server_name`.
    pub async fn new(
        registration: Registration,
        homeserver_url: &str,
        server_name: OwnedServerName,
        store: StateStore,
    ) -> Result<Self> {
        let claims = Claims::new(&registration)?;
        let sender = UserId::parse(format!("@{}:{server_name}", registration.sender_localpart))
            .map_err(|e| Error::Registration(format!("sender_localpart: {e}")))?;
        let client = Client::builder()
            .homeserver_url(homeserver_url)
            .appservice(registration.as_token.clone(), sender.clone())
            .build()
            .await?;
        Ok(Self {
            inner: Arc::new(Inner {
                registration,
                claims,
                server_name,
                sender,
                client,
                store,
                handlers: RwLock::default(),
                transactions: tokio::sync::Mutex::new(()),
            }),
        })
    }

    /// The registration the service runs under.
    pub fn registration(&self) -> &Registration {
        &self.inner.registration
    }

    /// The service's state store (for the bridge's own mappings too).
    pub fn store(&self) -> &StateStore {
        &self.inner.store
    }

    /// The homeserver's name: the part of user ids after the colon.
    pub fn server_name(&self) -> &ruma::ServerName {
        &self.inner.server_name
    }

    /// The service's own user (its `sender_localpart`).
    pub fn bot_user_id(&self) -> &UserId {
        &self.inner.sender
    }

    /// Whether `user_id` is the service's own user or one of its namespace:
    /// events they send are the service's own, not to be bridged back.
    pub fn is_ours(&self, user_id: &UserId) -> bool {
        user_id == self.bot_user_id() || self.inner.claims.user(user_id)
    }

    /// Whether an alias is in the service's namespace.
    pub fn claims_alias(&self, alias: &RoomAliasId) -> bool {
        self.inner.claims.alias(alias)
    }

    /// `@{localpart}:{server_name}`.
    pub fn user_id(&self, localpart: &str) -> Result<OwnedUserId> {
        UserId::parse(format!("@{localpart}:{}", self.inner.server_name))
            .map_err(|e| Error::Registration(format!("bad localpart {localpart:?}: {e}")))
    }

    /// The service's own user, to act with.
    pub fn bot(&self) -> Intent {
        Intent::new(self.clone(), self.inner.client.clone())
    }

    /// Acts as one of the service's users (it is registered on first use).
    pub fn intent(&self, user_id: &UserId) -> Result<Intent> {
        if !self.is_ours(user_id) {
            return Err(Error::NotOurs(user_id.to_owned()));
        }
        let client = self.inner.client.acting_as(user_id.to_owned())?;
        Ok(Intent::new(self.clone(), client))
    }

    /// Runs `handler` for every room event the homeserver pushes, in order
    /// (the service's own users' events included: see [`is_ours`](Self::is_ours)).
    pub fn on_event<H, Fut>(&self, handler: H)
    where
        H: Fn(Appservice, AnyTimelineEvent) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        self.handlers()
            .events
            .push(Arc::new(move |service, event| Box::pin(handler(service, event))));
    }

    /// Runs `handler` for typing notices, receipts and presence (when the
    /// registration has `receive_ephemeral`).
    pub fn on_ephemeral<H, Fut>(&self, handler: H)
    where
        H: Fn(Appservice, EphemeralData) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        self.handlers()
            .ephemeral
            .push(Arc::new(move |service, data| Box::pin(handler(service, data))));
    }

    /// Answers the homeserver asking whether a user of the namespace
    /// exists: return true to have it registered and exist.
    pub fn on_user_query<H, Fut>(&self, handler: H)
    where
        H: Fn(Appservice, OwnedUserId) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = bool> + Send + 'static,
    {
        self.handlers().user_query =
            Some(Arc::new(move |service, user| Box::pin(handler(service, user))));
    }

    /// Answers the homeserver asking whether an alias of the namespace
    /// exists: create the room with that alias and return true.
    pub fn on_room_query<H, Fut>(&self, handler: H)
    where
        H: Fn(Appservice, OwnedRoomAliasId) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = bool> + Send + 'static,
    {
        self.handlers().room_query =
            Some(Arc::new(move |service, alias| Box::pin(handler(service, alias))));
    }

    fn handlers(&self) -> std::sync::RwLockWriteGuard<'_, Handlers> {
        // A handler never runs under this lock, so it cannot be poisoned by one.
        self.inner.handlers.write().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Asks the homeserver to ping this service: proves the homeserver
    /// reaches the service and the service the homeserver.
    pub async fn ping_homeserver(&self) -> Result<std::time::Duration> {
        let id = &self.inner.registration.id;
        Ok(self.inner.client.ping_appservice(id, None).await?)
    }
}
