//! Building a [`Client`]: where the homeserver is (given, or discovered
//! from a server name through `.well-known`) and where its store lives.

use std::path::PathBuf;

use ruma::{OwnedServerName, OwnedUserId, api::client::discovery::discover_homeserver};

use super::Client;
use crate::{
    error::{Error, Result},
    http::{Transport, http_client},
    store::Store,
};

/// Configures and builds a [`Client`]; see [`Client::builder`].
#[derive(Debug, Default)]
pub struct ClientBuilder {
    homeserver: Option<String>,
    server_name: Option<(OwnedServerName, &'static str)>,
    store_path: Option<PathBuf>,
    passphrase: Option<String>,
    appservice: Option<(String, OwnedUserId)>,
}

impl ClientBuilder {
    /// The homeserver's base URL, e.g. `https://matrix.example.org`.
    pub fn homeserver_url(mut self, url: impl Into<String>) -> Self {
        self.homeserver = Some(url.into());
        self
    }

    /// Finds the homeserver of `server_name` (the part of a user id after
    /// the colon) through `https://{server_name}/.well-known/matrix/client`.
    pub fn server_name(mut self, server_name: &ruma::ServerName) -> Self {
        self.server_name = Some((server_name.to_owned(), "https"));
        self
    }

    /// Like [`server_name`](Self::server_name) over plain HTTP: for local
    /// development and tests only.
    pub fn insecure_server_name_no_tls(mut self, server_name: &ruma::ServerName) -> Self {
        self.server_name = Some((server_name.to_owned(), "http"));
        self
    }

    /// Keeps the session, sync token and rooms in the SQLite file at
    /// `path`, so that a restarted client resumes where it stopped.
    /// Without it the client keeps them in memory.
    pub fn store_path(mut self, path: impl Into<PathBuf>) -> Self {
        self.store_path = Some(path.into());
        self
    }

    /// Encrypts the end-to-end encryption secrets in the store with a key
    /// derived from `passphrase` (argon2id). Without one they are stored
    /// under a fixed key: readable by anyone who can read the store file.
    pub fn store_passphrase(mut self, passphrase: impl Into<String>) -> Self {
        self.passphrase = Some(passphrase.into());
        self
    }

    /// Acts for an application service (a bridge): every request carries
    /// the service's `as_token` and is made as `user_id`, the service's own
    /// user or one of its namespace. No login, no session; see
    /// [`Client::acting_as`] for the service's other users.
    pub fn appservice(mut self, as_token: impl Into<String>, user_id: OwnedUserId) -> Self {
        self.appservice = Some((as_token.into(), user_id));
        self
    }

    /// Builds the client; a session saved in the store is restored.
    pub async fn build(self) -> Result<Client> {
        let homeserver = match (self.homeserver, self.server_name) {
            (Some(url), _) => url,
            (None, Some((server_name, scheme))) => discover(&server_name, scheme).await?,
            (None, None) => {
                return Err(Error::Invalid("a homeserver URL or server name is needed".into()));
            }
        };
        let store = match self.store_path {
            Some(path) => Store::open(path).await?,
            None => Store::in_memory().await?,
        };
        let session = store.session().await?;
        let pickle_key = match &self.passphrase {
            Some(passphrase) => store.pickle_key(passphrase).await?,
            None => [0; 32],
        };
        let mut transport = Transport::new(&homeserver)?;
        let appservice_token = self.appservice.map(|(token, user_id)| {
            transport.assert_user = Some(user_id);
            token
        });
        Ok(Client::new(transport, store, session, pickle_key, appservice_token))
    }
}

/// The base URL `.well-known` names, or the server itself when it has none.
async fn discover(server_name: &ruma::ServerName, scheme: &str) -> Result<String> {
    let fallback = format!("{scheme}://{server_name}");
    let url = format!("{fallback}/.well-known/matrix/client");
    let response = http_client()?.get(&url).send().await?;
    if response.status() == reqwest::StatusCode::NOT_FOUND {
        return Ok(fallback);
    }
    if !response.status().is_success() {
        return Err(Error::Response(format!("{url} answered {}", response.status())));
    }
    let well_known: discover_homeserver::Response = {
        let body = response.bytes().await?;
        let answer = http::Response::builder()
            .status(200)
            .body(body.as_ref())
            .map_err(|e| Error::Response(e.to_string()))?;
        ruma::api::IncomingResponseExt::try_from_http_response(answer).map_err(
            |e: ruma::api::error::FromHttpResponseError<ruma::api::error::Error>| {
                Error::Response(format!("bad .well-known: {e}"))
            },
        )?
    };
    Ok(well_known.homeserver.base_url)
}
