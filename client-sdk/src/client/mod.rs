//! The [`Client`]: one logged-in (or not yet logged-in) user on one
//! homeserver. Cheap to clone; clones share everything.

mod account;
mod appservice;
mod builder;
mod presence;
mod rooms;
mod search;
mod second_factor;

pub use self::second_factor::SecondFactor;

use std::{
    collections::BTreeMap,
    sync::{Arc, RwLock},
    time::Duration,
};

use ruma::{
    OwnedDeviceId, OwnedUserId,
    api::{
        SupportedVersions,
        client::{discovery::get_supported_versions, session::refresh_token},
        error::ErrorKind,
    },
};
use tokio::sync::{Mutex, OnceCell};

pub use self::builder::ClientBuilder;
use crate::{
    error::{Error, Result},
    event_handler::Handler,
    http::{Endpoint, Transport},
    session::Session,
    store::Store,
};

/// A Matrix client. Start with [`Client::builder`].
#[derive(Clone, Debug)]
pub struct Client {
    pub(crate) inner: Arc<ClientInner>,
}

pub(crate) struct ClientInner {
    transport: Transport,
    pub(crate) store: Store,
    session: RwLock<Option<Session>>,
    versions: OnceCell<SupportedVersions>,
    /// One refresh at a time: concurrent requests that find the token
    /// expired wait for the first refresh instead of racing it.
    refresh_lock: Mutex<()>,
    /// One sync at a time, so the stored token always moves forward.
    pub(crate) sync_lock: Mutex<()>,
    pub(crate) handlers: RwLock<Vec<Handler>>,
    /// This device's end-to-end encryption, loaded on first use.
    pub(crate) crypto: Mutex<Option<Arc<crate::crypto::Crypto>>>,
    /// Encrypts the crypto state in the store (from the store passphrase).
    pub(crate) pickle_key: [u8; 32],
    /// An application service's `as_token`, used when there is no session
    /// (see [`ClientBuilder::appservice`]).
    appservice_token: Option<String>,
}

impl std::fmt::Debug for ClientInner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client").field("homeserver", &self.transport.homeserver).finish()
    }
}

/// How often a request refused with M_LIMIT_EXCEEDED is tried again.
const RATE_LIMIT_RETRIES: u32 = 3;

impl Client {
    /// Starts configuring a client.
    pub fn builder() -> ClientBuilder {
        ClientBuilder::default()
    }

    pub(crate) fn new(
        transport: Transport,
        store: Store,
        session: Option<Session>,
        pickle_key: [u8; 32],
        appservice_token: Option<String>,
    ) -> Self {
        Self::with_versions(transport, store, session, pickle_key, appservice_token, None)
    }

    fn with_versions(
        transport: Transport,
        store: Store,
        session: Option<Session>,
        pickle_key: [u8; 32],
        appservice_token: Option<String>,
        versions: Option<SupportedVersions>,
    ) -> Self {
        Self {
            inner: Arc::new(ClientInner {
                transport,
                store,
                session: RwLock::new(session),
                versions: OnceCell::new_with(versions),
                refresh_lock: Mutex::new(()),
                sync_lock: Mutex::new(()),
                handlers: RwLock::new(Vec::new()),
                crypto: Mutex::new(None),
                pickle_key,
                appservice_token,
            }),
        }
    }

    /// The homeserver's base URL.
    pub fn homeserver(&self) -> &str {
        &self.inner.transport.homeserver
    }

    /// The current session, if logged in.
    pub fn session(&self) -> Option<Session> {
        self.inner.session.read().ok().and_then(|session| session.clone())
    }

    /// Whether the client has a session (or acts for an application service).
    pub fn logged_in(&self) -> bool {
        self.session().is_some() || self.inner.appservice_token.is_some()
    }

    /// The logged-in user (or the application service's user it acts as).
    pub fn user_id(&self) -> Option<OwnedUserId> {
        self.session()
            .map(|session| session.user_id)
            .or_else(|| self.inner.transport.assert_user.clone())
    }

    /// The logged-in device.
    pub fn device_id(&self) -> Option<OwnedDeviceId> {
        self.session().map(|session| session.device_id)
    }

    /// Uses a session saved earlier (for clients that keep it elsewhere
    /// than the store); it is written to the store too.
    pub async fn restore_session(&self, session: Session) -> Result<()> {
        self.set_session(Some(session)).await
    }

    pub(crate) async fn set_session(&self, session: Option<Session>) -> Result<()> {
        match &session {
            Some(session) => self.inner.store.save_session(session).await?,
            None => self.inner.store.clear().await?,
        }
        if let Ok(mut current) = self.inner.session.write() {
            *current = session;
        }
        Ok(())
    }

    pub(crate) fn require_user_id(&self) -> Result<OwnedUserId> {
        self.user_id().ok_or(Error::NotLoggedIn)
    }

    fn access_token(&self) -> Option<String> {
        self.session()
            .map(|session| session.access_token)
            .or_else(|| self.inner.appservice_token.clone())
    }

    /// What the server supports, asked once.
    async fn versions(&self) -> Result<&SupportedVersions> {
        self.inner
            .versions
            .get_or_try_init(|| async {
                let none = SupportedVersions::from_parts(&[], &BTreeMap::new());
                let request = get_supported_versions::Request::new();
                let response = self.inner.transport.send(request, None, &none).await?;
                Ok(SupportedVersions::from_parts(&response.versions, &response.unstable_features))
            })
            .await
    }

    /// Sends a request with the session's token. An expired token is
    /// refreshed and the request sent again, once; a request refused with
    /// M_LIMIT_EXCEEDED (which the server did not carry out) is retried
    /// after the wait the server asks for.
    pub(crate) async fn send<R: Endpoint>(&self, request: R) -> Result<R::IncomingResponse> {
        let versions = self.versions().await?;
        let mut refreshed = false;
        let mut retries = 0;
        loop {
            let token = self.access_token();
            let error = match self
                .inner
                .transport
                .send(request.clone(), token.as_deref(), versions)
                .await
            {
                Ok(response) => return Ok(response),
                Err(error) => error,
            };
            match error.kind() {
                Some(ErrorKind::UnknownToken(data))
                    if data.soft_logout && !refreshed && self.can_refresh() =>
                {
                    self.refresh(token.as_deref()).await?;
                    refreshed = true;
                }
                Some(ErrorKind::LimitExceeded(data)) if retries < RATE_LIMIT_RETRIES => {
                    retries += 1;
                    let wait = match &data.retry_after {
                        Some(ruma::api::error::RetryAfter::Delay(delay)) => *delay,
                        _ => Duration::from_secs(1),
                    };
                    tokio::time::sleep(wait.min(Duration::from_secs(30))).await;
                }
                _ => return Err(error),
            }
        }
    }

    /// Runs `handler` for every event of type `Ev` that syncs bring, with
    /// the room it happened in. The type picks the events: for example
    /// `OriginalSyncRoomMessageEvent` for messages, or
    /// `StrippedRoomMemberEvent` for invites.
    ///
    /// ```no_run
    /// # async fn example(client: lattice_sdk::Client) {
    /// use lattice_sdk::{Room, ruma::events::room::message::OriginalSyncRoomMessageEvent};
    ///
    /// client.add_event_handler(|event: OriginalSyncRoomMessageEvent, room: Room| async move {
    ///     println!("{} in {}: {}", event.sender, room.room_id(), event.content.body());
    /// });
    /// # }
    /// ```
    pub fn add_event_handler<Ev, H, Fut>(&self, handler: H)
    where
        Ev: crate::event_handler::SyncEvent,
        H: Fn(Ev, crate::Room) -> Fut + Send + Sync + 'static,
        Fut: std::future::Future<Output = ()> + Send + 'static,
    {
        if let Ok(mut handlers) = self.inner.handlers.write() {
            handlers.push(Handler::new(handler));
        }
    }

    /// Sends JSON to a server extension's endpoint with the session's token.
    pub(crate) async fn send_json(
        &self,
        method: http::Method,
        path: &str,
        body: Option<&serde_json::Value>,
    ) -> Result<serde_json::Value> {
        let token = self.access_token().ok_or(Error::NotLoggedIn)?;
        self.inner.transport.send_json(method, path, Some(&token), body).await
    }

    fn can_refresh(&self) -> bool {
        self.session().is_some_and(|session| session.refresh_token.is_some())
    }

    /// Trades the refresh token for a new access token.
    async fn refresh(&self, expired: Option<&str>) -> Result<()> {
        let _one_at_a_time = self.inner.refresh_lock.lock().await;
        let Some(mut session) = self.session() else {
            return Err(Error::NotLoggedIn);
        };
        if Some(session.access_token.as_str()) != expired {
            // Another request refreshed while this one waited.
            return Ok(());
        }
        let refresh = session.refresh_token.clone().ok_or(Error::NotLoggedIn)?;
        let versions = self.versions().await?;
        let response = self
            .inner
            .transport
            .send(refresh_token::v3::Request::new(refresh), None, versions)
            .await?;
        session.access_token = response.access_token;
        if let Some(next) = response.refresh_token {
            session.refresh_token = Some(next);
        }
        tracing::debug!(user = %session.user_id, "access token refreshed");
        self.set_session(Some(session)).await
    }
}
