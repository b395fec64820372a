//! Application services (bridges to IRC, Slack, e-mail...): the
//! registrations operators install, read once at start. A registration
//! names the service's tokens, where to push events, and the user ids,
//! aliases and rooms it speaks for.

mod devices;
mod ephemeral;
mod ping;
mod queries;
mod registration;
mod sender;
mod thirdparty;

use std::{collections::HashMap, sync::Arc};

use ruma::{RoomAliasId, RoomId, UserId};

pub use registration::{Namespace, Namespaces, Registration, load_registrations};

use super::{
    auth::tokens, ephemeral::Typing, notifier::Notifier, rooms::Rooms, security::Security,
};
use crate::{error::Result, store::Store};

/// The registered application services, shared by the services that
/// must keep out of their exclusive namespaces.
#[derive(Clone, Default)]
pub struct Appservices(Arc<Registered>);

#[derive(Default)]
struct Registered {
    /// Calls to the services (operators' own addresses: no address policy).
    http: reqwest::Client,
    registrations: Vec<Registration>,
    /// Each service's position in `registrations`, by the hash of its
    /// `as_token`: a token is found without comparing it to the real ones.
    by_token: HashMap<String, usize>,
    /// How each service's deliveries are going, by id.
    health: HashMap<String, Arc<sender::Health>>,
}

/// A service as the admin API lists it: its queue and its health.
#[derive(Debug)]
pub struct AppserviceStatus {
    pub id: String,
    pub url: Option<String>,
    pub sender: String,
    /// Its place on the event stream (none before its first start).
    pub position: Option<i64>,
    /// The transaction sent and not yet taken: (id, events).
    pub pending: Option<(i64, i64)>,
    pub failures: u64,
    /// When the current outage began (ms since the epoch).
    pub failing_since: Option<i64>,
}

impl Appservices {
    pub fn new(registrations: Vec<Registration>) -> Result<Self> {
        let by_token = registrations
            .iter()
            .enumerate()
            .map(|(index, registration)| (tokens::hash(&registration.as_token), index))
            .collect();
        let http = crate::services::http::client_builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(crate::error::Error::internal)?;
        let health = registrations
            .iter()
            .map(|registration| (registration.id.clone(), Arc::default()))
            .collect();
        Ok(Self(Arc::new(Registered { http, registrations, by_token, health })))
    }

    fn http(&self) -> &reqwest::Client {
        &self.0.http
    }

    pub fn iter(&self) -> impl Iterator<Item = &Registration> {
        self.0.registrations.iter()
    }

    pub fn len(&self) -> usize {
        self.0.registrations.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.registrations.is_empty()
    }

    /// The service whose `as_token` this is.
    pub fn by_token(&self, token: &str) -> Option<&Registration> {
        if self.is_empty() {
            return None;
        }
        let index = *self.0.by_token.get(&tokens::hash(token))?;
        self.0.registrations.get(index)
    }

    /// Creates each service's own user if it does not exist yet, and starts
    /// pushing events to the services that have a URL.
    pub async fn start(
        &self,
        store: &Store,
        rooms: &Rooms,
        typing: &Typing,
        notifier: &Arc<Notifier>,
        security: &Security,
    ) -> Result<()> {
        if self.is_empty() {
            return Ok(());
        }
        let context = sender::SenderContext {
            store: store.clone(),
            rooms: rooms.clone(),
            typing: typing.clone(),
            notifier: notifier.clone(),
            http: self.http().clone(),
            security: security.clone(),
        };
        for registration in self.iter() {
            let sender = registration.sender.as_str();
            if store.get_user(sender).await?.is_none() {
                store.create_user(sender, None, registration.sender.localpart(), None).await?;
                tracing::info!(appservice = %registration.id, user = %sender, "created the service's user");
            }
            if registration.url.is_some() {
                let health = self.0.health[&registration.id].clone();
                let pusher =
                    sender::AppserviceSender::new(registration.clone(), health, context.clone());
                pusher.spawn().await?;
            }
        }
        Ok(())
    }

    /// Every service with its queue and health.
    pub async fn status(&self, store: &Store) -> Result<Vec<AppserviceStatus>> {
        let mut listed = Vec::new();
        for registration in self.iter() {
            let id = &registration.id;
            let health = &self.0.health[id];
            let since = health.failing_since.load(std::sync::atomic::Ordering::Relaxed).abs();
            listed.push(AppserviceStatus {
                id: id.clone(),
                url: registration.url.as_ref().map(|url| url.to_string()),
                sender: registration.sender.to_string(),
                position: store.appservice_state(id).await?,
                pending: store.pending_appservice_txn(id).await?.map(|t| (t.txn_id, t.events)),
                failures: health.failures.load(std::sync::atomic::Ordering::Relaxed),
                failing_since: (since > 0).then_some(since),
            });
        }
        Ok(listed)
    }

    /// The service with this id.
    pub fn by_id(&self, id: &str) -> Option<&Registration> {
        self.iter().find(|registration| registration.id == id)
    }

    /// Whether a service claims this user id for itself alone (ordinary
    /// registration may not take it).
    pub fn exclusive_user(&self, user_id: &UserId) -> bool {
        self.exclusive(|namespaces| &namespaces.users, user_id.as_str())
    }

    /// Whether a service keeps this alias from `user`: it claims the alias
    /// for itself alone, and `user` is not one of its users.
    pub fn alias_kept_from(&self, alias: &RoomAliasId, user: &UserId) -> bool {
        self.kept_from(|namespaces| &namespaces.aliases, alias.as_str(), user)
    }

    /// Whether a service keeps this room from `user`'s publishing: its
    /// room namespace claims it alone, and `user` is not one of its users.
    pub fn room_kept_from(&self, room_id: &RoomId, user: &UserId) -> bool {
        self.kept_from(|namespaces| &namespaces.rooms, room_id.as_str(), user)
    }

    fn kept_from(
        &self,
        kind: impl Fn(&Namespaces) -> &Vec<Namespace>,
        id: &str,
        user: &UserId,
    ) -> bool {
        self.iter().any(|registration| {
            !registration.claims_user(user)
                && kind(&registration.namespaces)
                    .iter()
                    .any(|namespace| namespace.exclusive && namespace.regex.is_match(id))
        })
    }

    fn exclusive(&self, kind: impl Fn(&Namespaces) -> &Vec<Namespace>, id: &str) -> bool {
        self.iter()
            .flat_map(|registration| kind(&registration.namespaces))
            .any(|namespace| namespace.exclusive && namespace.regex.is_match(id))
    }
}
