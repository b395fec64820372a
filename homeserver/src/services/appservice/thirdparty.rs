//! Third-party networks ([spec](https://spec.matrix.org/latest/client-server-api/#third-party-networks)):
//! the protocols bridges declare in their registration (`protocols: [irc]`),
//! and the lookups clients make about them, answered by asking the bridges
//! (`/_matrix/app/v1/thirdparty/...`). A bridge that does not answer in
//! time is left out rather than failing the lookup.

use std::{collections::BTreeMap, time::Duration};

use ruma::{
    RoomAliasId, UserId,
    thirdparty::{Location, Protocol, User},
};
use serde::de::DeserializeOwned;

use super::{Appservices, Registration};
use crate::error::{Error, Result};

/// How long a bridge has to answer a lookup (the client is waiting).
const LOOKUP_TIMEOUT: Duration = Duration::from_secs(10);

impl Appservices {
    /// Every protocol the bridges declare, each with the instances of all
    /// the bridges that serve it.
    pub async fn protocols(&self) -> BTreeMap<String, Protocol> {
        let mut names: Vec<&String> = self.iter().flat_map(|r| &r.protocols).collect();
        names.sort();
        names.dedup();
        let mut protocols = BTreeMap::new();
        for name in names {
            if let Some(protocol) = self.protocol(name).await {
                protocols.insert(name.clone(), protocol);
            }
        }
        protocols
    }

    /// One protocol, as the first bridge that answers describes it, with
    /// the instances of every bridge serving it. Each instance gets an id
    /// unique on this server: `{bridge id}|{network id}`.
    pub async fn protocol(&self, name: &str) -> Option<Protocol> {
        let mut merged: Option<Protocol> = None;
        for registration in self.declaring(name) {
            let path = format!("protocol/{}", encode(name));
            let Some(mut described) = self.lookup::<Protocol>(registration, &path).await else {
                continue;
            };
            for instance in &mut described.instances {
                instance.instance_id = Some(format!("{}|{}", registration.id, instance.network_id));
            }
            match &mut merged {
                None => merged = Some(described),
                Some(merged) => merged.instances.append(&mut described.instances),
            }
        }
        merged
    }

    /// Portal rooms of a protocol matching `fields` (a channel name...).
    pub async fn locations(
        &self,
        protocol: &str,
        fields: &BTreeMap<String, String>,
    ) -> Result<Vec<Location>> {
        self.search(protocol, "location", fields, "no portal rooms were found").await
    }

    /// Users of a protocol matching `fields` (a nick...).
    pub async fn users(
        &self,
        protocol: &str,
        fields: &BTreeMap<String, String>,
    ) -> Result<Vec<User>> {
        self.search(protocol, "user", fields, "no users were found").await
    }

    /// Asks every bridge of `protocol` for its `kind`s matching `fields`.
    async fn search<T: DeserializeOwned>(
        &self,
        protocol: &str,
        kind: &str,
        fields: &BTreeMap<String, String>,
        nothing: &str,
    ) -> Result<Vec<T>> {
        let path = format!("{kind}/{}?{}", encode(protocol), query(fields));
        non_empty(self.gather(self.declaring(protocol), &path).await, nothing)
    }

    /// The remote places a portal alias stands for.
    pub async fn locations_for_alias(&self, alias: &RoomAliasId) -> Result<Vec<Location>> {
        let path = format!("location?alias={}", encode(alias.as_str()));
        let found = self.gather(self.bridges(), &path).await;
        non_empty(found, "no portal rooms were found")
    }

    /// The remote users a ghost user stands for.
    pub async fn users_for_id(&self, user_id: &UserId) -> Result<Vec<User>> {
        let path = format!("user?userid={}", encode(user_id.as_str()));
        let found = self.gather(self.bridges(), &path).await;
        non_empty(found, "no users were found")
    }

    /// The services that declare protocols and can be called.
    fn bridges(&self) -> impl Iterator<Item = &Registration> {
        self.iter().filter(|r| r.url.is_some() && !r.protocols.is_empty())
    }

    fn declaring<'a>(&'a self, protocol: &'a str) -> impl Iterator<Item = &'a Registration> {
        self.bridges().filter(move |r| r.protocols.iter().any(|p| p == protocol))
    }

    /// Every answer of `bridges` to the same lookup, one list.
    async fn gather<'a, T: DeserializeOwned>(
        &self,
        bridges: impl Iterator<Item = &'a Registration>,
        path: &str,
    ) -> Vec<T> {
        let mut all = Vec::new();
        for registration in bridges {
            all.extend(self.lookup::<Vec<T>>(registration, path).await.unwrap_or_default());
        }
        all
    }

    /// Asks one bridge; None when it fails, answers nothing, or answers
    /// something that is not what the spec says it returns.
    async fn lookup<T: DeserializeOwned>(
        &self,
        registration: &Registration,
        path: &str,
    ) -> Option<T> {
        let base = registration.url.as_ref()?;
        let url =
            format!("{}/_matrix/app/v1/thirdparty/{path}", base.as_str().trim_end_matches('/'));
        let answer = self
            .http()
            .get(url)
            .bearer_auth(&registration.hs_token)
            .timeout(LOOKUP_TIMEOUT)
            .send()
            .await;
        let answer = match answer {
            Ok(answer) if answer.status().is_success() => answer,
            Ok(_) => return None,
            Err(error) => {
                tracing::warn!(appservice = %registration.id, %error, "third-party lookup failed");
                return None;
            }
        };
        match answer.json::<T>().await {
            Ok(found) => Some(found),
            Err(error) => {
                tracing::warn!(appservice = %registration.id, %error, "bad third-party answer");
                None
            }
        }
    }
}

fn encode(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

fn query(fields: &BTreeMap<String, String>) -> String {
    url::form_urlencoded::Serializer::new(String::new()).extend_pairs(fields).finish()
}

fn non_empty<T>(found: Vec<T>, nothing: &str) -> Result<Vec<T>> {
    match found.is_empty() {
        true => Err(Error::not_found(nothing)),
        false => Ok(found),
    }
}
