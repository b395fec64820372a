//! Profiles: display name, avatar and the extended profile fields of v1.16.

use ruma::{
    UserId,
    api::federation::query::get_profile_information,
    profile::{ProfileFieldName, ProfileFieldValue},
};
use serde_json::Value as JsonValue;

use super::{auth::Requester, federation::Federation, rooms::Rooms};
use crate::{
    error::{Error, Result},
    store::{DirectoryEntry, DirectoryScope, Store},
};

/// Keeps a profile small enough to ship in every membership event.
const MAX_PROFILE_BYTES: usize = 64 * 1024;

/// Most users one directory search answers.
const MAX_SEARCH_RESULTS: u64 = 100;

#[derive(Clone)]
pub struct Profiles {
    store: Store,
    rooms: Rooms,
    federation: Federation,
    directory_scope: DirectoryScope,
}

impl Profiles {
    pub fn new(
        store: Store,
        rooms: Rooms,
        federation: Federation,
        directory_scope: DirectoryScope,
    ) -> Self {
        Self { store, rooms, federation, directory_scope }
    }

    /// The user directory: users whose id or name contains `term` and whom
    /// the requester may find, best first, and whether more matched than
    /// `limit` (at most [`MAX_SEARCH_RESULTS`]).
    pub async fn search_directory(
        &self,
        requester: &Requester,
        term: &str,
        limit: u64,
    ) -> Result<(Vec<DirectoryEntry>, bool)> {
        let term = term.trim().to_lowercase();
        if term.is_empty() {
            return Ok((Vec::new(), false));
        }
        let limit = limit.clamp(1, MAX_SEARCH_RESULTS) as usize;
        let mut found = self
            .store
            .search_directory(
                requester.user_id.as_str(),
                &term,
                self.directory_scope,
                limit as i64 + 1,
            )
            .await?;
        let limited = found.len() > limit;
        found.truncate(limit);
        Ok((found, limited))
    }

    /// Display names and avatars also live in the user directory and in
    /// member events: a change is announced in every room the user has joined.
    async fn announce(&self, user_id: &UserId, field: &str) -> Result<()> {
        if field == "displayname" || field == "avatar_url" {
            let fields = self.store.profile_fields(user_id.as_str()).await?;
            let text = |name: &str| {
                let (_, value) = fields.iter().find(|(field, _)| field == name)?;
                serde_json::from_str::<String>(value).ok().filter(|text| !text.is_empty())
            };
            let entry = DirectoryEntry {
                user_id: user_id.to_string(),
                display_name: text("displayname"),
                avatar_url: text("avatar_url"),
            };
            self.store.upsert_directory(&[entry]).await?;
            self.rooms.refresh_member_profile(user_id).await?;
        }
        Ok(())
    }

    /// Every field of a user's profile (another server's users' asked of
    /// their server); M_NOT_FOUND for unknown users.
    pub async fn get(&self, user_id: &UserId) -> Result<Vec<(String, JsonValue)>> {
        if user_id.server_name() != self.federation.server_name() {
            return self.remote(user_id).await;
        }
        let mut user = self.store.get_user(user_id.as_str()).await?;
        // An application service may make its user when asked.
        if user.is_none() && self.rooms.appservices().query_user(user_id).await {
            user = self.store.get_user(user_id.as_str()).await?;
        }
        if user.is_none_or(|u| u.is_deactivated()) {
            return Err(Error::not_found("profile not found"));
        }
        self.store
            .profile_fields(user_id.as_str())
            .await?
            .into_iter()
            .map(|(field, value)| {
                Ok((field, serde_json::from_str(&value).map_err(Error::internal)?))
            })
            .collect()
    }

    async fn remote(&self, user_id: &UserId) -> Result<Vec<(String, JsonValue)>> {
        let request = get_profile_information::v1::Request::new(user_id.to_owned());
        let answer = self.federation.send(user_id.server_name(), request).await?;
        match serde_json::to_value(&answer.data).map_err(Error::internal)? {
            JsonValue::Object(fields) => Ok(fields.into_iter().collect()),
            _ => Ok(Vec::new()),
        }
    }

    /// A local user's profile as other servers ask for it.
    pub async fn federation_profile(&self, user_id: &UserId) -> Result<ruma::profile::UserProfile> {
        let mut profile = Default::default();
        let fields: serde_json::Map<String, JsonValue> =
            self.get(user_id).await?.into_iter().collect();
        if let Ok(parsed) = serde_json::from_value(JsonValue::Object(fields)) {
            profile = parsed;
        }
        Ok(profile)
    }

    pub async fn get_field(&self, user_id: &UserId, field: &ProfileFieldName) -> Result<JsonValue> {
        self.get(user_id)
            .await?
            .into_iter()
            .find(|(name, _)| name == field.as_str())
            .map(|(_, value)| value)
            .ok_or_else(|| Error::not_found(format!("profile has no {field}")))
    }

    pub async fn set_field(
        &self,
        requester: &Requester,
        user_id: &UserId,
        value: ProfileFieldValue,
    ) -> Result<()> {
        if requester.user_id != user_id {
            return Err(Error::forbidden("you cannot change another user's profile"));
        }
        let field = value.field_name();
        let json = value.value().into_owned();
        if json.is_null() {
            self.store.delete_profile_field(user_id.as_str(), field.as_str()).await?;
            return self.announce(user_id, field.as_str()).await;
        }
        let json = json.to_string();
        let current: usize = self
            .store
            .profile_fields(user_id.as_str())
            .await?
            .iter()
            .filter(|(name, _)| name != field.as_str())
            .map(|(name, value)| name.len() + value.len())
            .sum();
        if current + field.as_str().len() + json.len() > MAX_PROFILE_BYTES {
            return Err(Error::TooLarge);
        }
        self.store.set_profile_field(user_id.as_str(), field.as_str(), &json).await?;
        self.announce(user_id, field.as_str()).await
    }

    pub async fn delete_field(
        &self,
        requester: &Requester,
        user_id: &UserId,
        field: &ProfileFieldName,
    ) -> Result<()> {
        if requester.user_id != user_id {
            return Err(Error::forbidden("you cannot change another user's profile"));
        }
        self.store.delete_profile_field(user_id.as_str(), field.as_str()).await?;
        self.announce(user_id, field.as_str()).await
    }
}
