//! Registration files, in the YAML format bridges ship for Synapse. Every
//! fault stops the server at start with one line naming the file and the
//! field: a bridge half-registered is worse than none.

use std::{
    collections::HashMap,
    path::{Path, PathBuf},
};

use regex::Regex;
use ruma::{ServerName, UserId};
use serde::Deserialize;
use url::Url;

use crate::error::{Error, Result};

/// A namespace entry: ids matching `regex` belong to the service;
/// `exclusive` ones to it alone.
#[derive(Debug, Clone)]
pub struct Namespace {
    pub exclusive: bool,
    pub regex: Regex,
}

#[derive(Debug, Clone, Default)]
pub struct Namespaces {
    pub users: Vec<Namespace>,
    pub aliases: Vec<Namespace>,
    pub rooms: Vec<Namespace>,
}

/// An application service, as its registration file describes it.
#[derive(Debug, Clone)]
pub struct Registration {
    pub id: String,
    /// Where events are pushed; None for a service that only calls us.
    pub url: Option<Url>,
    /// The token the service calls us with.
    pub as_token: String,
    /// The token we call the service with.
    pub hs_token: String,
    /// The service's own user.
    pub sender: ruma::OwnedUserId,
    pub namespaces: Namespaces,
    pub rate_limited: bool,
    pub protocols: Vec<String>,
    /// Ephemeral events (typing, receipts, presence) pushed too (MSC2409).
    pub receive_ephemeral: bool,
    /// Device masquerading and E2EE data for encrypted bridges (MSC3202).
    pub device_management: bool,
    /// The file it came from, for messages.
    pub file: PathBuf,
}

impl Registration {
    /// Whether the service may act as this user: its own, or one of its
    /// user namespaces (exclusive or not).
    pub fn claims_user(&self, user_id: &UserId) -> bool {
        *user_id == self.sender
            || self
                .namespaces
                .users
                .iter()
                .any(|namespace| namespace.regex.is_match(user_id.as_str()))
    }
}

/// The file as written; checked into a [`Registration`]. Keys we do not
/// know are let through, as Synapse does: bridges add newer ones.
#[derive(Deserialize)]
struct RawRegistration {
    id: String,
    url: Option<String>,
    as_token: String,
    hs_token: String,
    sender_localpart: String,
    #[serde(default)]
    namespaces: RawNamespaces,
    #[serde(default)]
    rate_limited: Option<bool>,
    #[serde(default)]
    protocols: Option<Vec<String>>,
    #[serde(default, alias = "de.sorunome.msc2409.push_ephemeral")]
    receive_ephemeral: bool,
    #[serde(default, rename = "org.matrix.msc3202")]
    msc3202: bool,
}

#[derive(Deserialize, Default)]
struct RawNamespaces {
    #[serde(default)]
    users: Vec<RawNamespace>,
    #[serde(default)]
    aliases: Vec<RawNamespace>,
    #[serde(default)]
    rooms: Vec<RawNamespace>,
}

#[derive(Deserialize)]
struct RawNamespace {
    #[serde(default)]
    exclusive: bool,
    regex: String,
}

fn fault(file: &Path, message: impl std::fmt::Display) -> Error {
    Error::Config(format!("appservice registration {}: {message}", file.display()))
}

/// Reads and checks every registration file; none may share an id or a
/// token with another.
pub fn load_registrations(
    files: &[PathBuf],
    server_name: &ServerName,
) -> Result<Vec<Registration>> {
    let mut registrations: Vec<Registration> = Vec::with_capacity(files.len());
    let mut seen: HashMap<String, PathBuf> = HashMap::new();
    for file in files {
        let registration = load_one(file, server_name)?;
        for (what, value) in [
            ("id", &registration.id),
            ("as_token", &registration.as_token),
            ("hs_token", &registration.hs_token),
        ] {
            let key = format!("{what}\0{value}");
            if let Some(other) = seen.insert(key, file.clone()) {
                return Err(fault(
                    file,
                    format!("field `{what}`: already used by {}", other.display()),
                ));
            }
        }
        // One token for both directions would let either side pose as the other.
        if registration.as_token == registration.hs_token {
            return Err(fault(file, "fields `as_token` and `hs_token` must differ"));
        }
        registrations.push(registration);
    }
    Ok(registrations)
}

fn load_one(file: &Path, server_name: &ServerName) -> Result<Registration> {
    let text =
        std::fs::read_to_string(file).map_err(|e| fault(file, format!("cannot read: {e}")))?;
    let raw: RawRegistration = serde_yaml_ng::from_str(&text).map_err(|e| fault(file, e))?;
    for (field, value) in
        [("id", &raw.id), ("as_token", &raw.as_token), ("hs_token", &raw.hs_token)]
    {
        if value.trim().is_empty() {
            return Err(fault(file, format!("field `{field}` is empty")));
        }
    }
    // Synapse writes "null" for a service without pushes; some write "".
    let url = match raw.url.as_deref().map(str::trim) {
        None | Some("") | Some("null") => None,
        Some(url) => {
            let parsed = Url::parse(url).map_err(|e| fault(file, format!("field `url`: {e}")))?;
            if !matches!(parsed.scheme(), "http" | "https") {
                return Err(fault(file, "field `url`: must be an http(s) URL"));
            }
            Some(parsed)
        }
    };
    // The service's user is a new local user: today's grammar, strictly.
    let localpart = raw.sender_localpart.as_str();
    let conforming = !localpart.is_empty()
        && localpart
            .chars()
            .all(|c| matches!(c, 'a'..='z' | '0'..='9' | '.' | '_' | '=' | '-' | '/' | '+'));
    if !conforming {
        return Err(fault(file, "field `sender_localpart`: only a-z, 0-9 and ._=-/+ are allowed"));
    }
    let sender = UserId::parse_with_server_name(localpart, server_name)
        .map_err(|e| fault(file, format!("field `sender_localpart`: {e}")))?;
    let namespaces = Namespaces {
        users: namespaces(file, "users", raw.namespaces.users)?,
        aliases: namespaces(file, "aliases", raw.namespaces.aliases)?,
        rooms: namespaces(file, "rooms", raw.namespaces.rooms)?,
    };
    Ok(Registration {
        id: raw.id,
        url,
        as_token: raw.as_token,
        hs_token: raw.hs_token,
        sender,
        namespaces,
        rate_limited: raw.rate_limited.unwrap_or(true),
        protocols: raw.protocols.unwrap_or_default(),
        receive_ephemeral: raw.receive_ephemeral,
        device_management: raw.msc3202,
        file: file.to_owned(),
    })
}

fn namespaces(file: &Path, kind: &str, raw: Vec<RawNamespace>) -> Result<Vec<Namespace>> {
    raw.into_iter()
        .enumerate()
        .map(|(index, entry)| {
            // Matched from the start of an id, as Synapse matches them, so
            // that `@irc_` covers `@irc_alice:example.org` but not `@x@irc_y`.
            let anchored = format!("^(?:{})", entry.regex);
            let regex = Regex::new(&anchored).map_err(|e| {
                fault(file, format!("field `namespaces.{kind}[{index}].regex`: {e}"))
            })?;
            Ok(Namespace { exclusive: entry.exclusive, regex })
        })
        .collect()
}
