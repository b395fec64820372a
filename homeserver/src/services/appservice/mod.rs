//! Application services (bridges to IRC, Slack, e-mail...): the
//! registrations operators install, read once at start. A registration
//! names the service's tokens, where to push events, and the user ids,
//! aliases and rooms it speaks for.

mod registration;

use std::sync::Arc;

use ruma::{RoomAliasId, UserId};

pub use registration::{Namespace, Namespaces, Registration, load_registrations};

/// The registered application services, shared by the services that
/// must keep out of their exclusive namespaces.
#[derive(Clone, Default)]
pub struct Appservices(Arc<[Registration]>);

impl Appservices {
    pub fn new(registrations: Vec<Registration>) -> Self {
        Self(registrations.into())
    }

    pub fn iter(&self) -> impl Iterator<Item = &Registration> {
        self.0.iter()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether a service claims this user id for itself alone (ordinary
    /// registration may not take it).
    pub fn exclusive_user(&self, user_id: &UserId) -> bool {
        self.exclusive(|namespaces| &namespaces.users, user_id.as_str())
    }

    /// Whether a service claims this alias for itself alone.
    pub fn exclusive_alias(&self, alias: &RoomAliasId) -> bool {
        self.exclusive(|namespaces| &namespaces.aliases, alias.as_str())
    }

    fn exclusive(&self, kind: impl Fn(&Namespaces) -> &Vec<Namespace>, id: &str) -> bool {
        self.iter()
            .flat_map(|registration| kind(&registration.namespaces))
            .any(|namespace| namespace.exclusive && namespace.regex.is_match(id))
    }
}
