//! The registration: the YAML file an operator gives the homeserver so
//! that it knows the service ([spec](https://spec.matrix.org/latest/application-service-api/#registration)).
//! Written once with [`generate`], read by both sides.

use std::path::Path;

use base64::Engine;
use regex::Regex;
pub use ruma::api::appservice::{Namespace, Namespaces, Registration, RegistrationInit};
use ruma::{RoomAliasId, UserId};

use crate::error::{Error, Result};

/// A new registration with fresh random tokens: the service is `id`, the
/// homeserver pushes to `url`, its own user is `@{sender_localpart}`, and
/// it owns (exclusively) the users whose id matches `users` and the
/// aliases matching `aliases`.
pub fn generate(
    id: &str,
    url: Option<&str>,
    sender_localpart: &str,
    users: &str,
    aliases: Option<&str>,
) -> Result<Registration> {
    let mut namespaces = Namespaces::new();
    namespaces.users.push(Namespace::new(true, users.to_owned()));
    if let Some(aliases) = aliases {
        namespaces.aliases.push(Namespace::new(true, aliases.to_owned()));
    }
    let mut registration = Registration::from(RegistrationInit {
        id: id.to_owned(),
        url: url.map(str::to_owned),
        as_token: random_token()?,
        hs_token: random_token()?,
        sender_localpart: sender_localpart.to_owned(),
        namespaces,
        rate_limited: Some(false),
        protocols: None,
    });
    registration.receive_ephemeral = true;
    Claims::new(&registration)?;
    Ok(registration)
}

/// Reads a registration file.
pub fn load(path: impl AsRef<Path>) -> Result<Registration> {
    let path = path.as_ref();
    let text = std::fs::read_to_string(path)
        .map_err(|e| Error::Registration(format!("{}: {e}", path.display())))?;
    let registration: Registration = serde_yaml_ng::from_str(&text)
        .map_err(|e| Error::Registration(format!("{}: {e}", path.display())))?;
    Claims::new(&registration)?;
    Ok(registration)
}

/// The registration as YAML, to hand to the homeserver's operator.
pub fn to_yaml(registration: &Registration) -> Result<String> {
    serde_yaml_ng::to_string(registration).map_err(|e| Error::Registration(e.to_string()))
}

fn random_token() -> Result<String> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| Error::Registration(e.to_string()))?;
    Ok(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes))
}

/// The registration's namespaces, compiled once.
#[derive(Clone, Debug)]
pub(crate) struct Claims {
    users: Vec<Regex>,
    aliases: Vec<Regex>,
}

impl Claims {
    pub(crate) fn new(registration: &Registration) -> Result<Self> {
        let compile = |namespaces: &[Namespace]| {
            namespaces
                .iter()
                .map(|namespace| {
                    // Matched from the start, as homeservers match them.
                    Regex::new(&format!("^(?:{})", namespace.regex)).map_err(|e| {
                        Error::Registration(format!("bad regex {:?}: {e}", namespace.regex))
                    })
                })
                .collect::<Result<Vec<_>>>()
        };
        Ok(Self {
            users: compile(&registration.namespaces.users)?,
            aliases: compile(&registration.namespaces.aliases)?,
        })
    }

    pub(crate) fn user(&self, user_id: &UserId) -> bool {
        self.users.iter().any(|regex| regex.is_match(user_id.as_str()))
    }

    pub(crate) fn alias(&self, alias: &RoomAliasId) -> bool {
        self.aliases.iter().any(|regex| regex.is_match(alias.as_str()))
    }
}
