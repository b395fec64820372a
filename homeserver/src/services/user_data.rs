//! Data a user keeps on the server for their clients: account data, sync
//! filters and push rules.

use ruma::{
    OwnedUserId, RoomId, UserId,
    api::client::filter::FilterDefinition,
    events::tag::{TagEventContent, TagInfo, TagName, Tags},
    push::{
        Action, AnyPushRule, InsertPushRuleError, NewPushRule, RemovePushRuleError, RuleKind,
        Ruleset,
    },
};
use serde_json::value::RawValue;

use std::{sync::Arc, time::Duration};

use super::{
    auth::Requester,
    cache::TtlCache,
    notifier::{Notifier, Stream},
};
use crate::{
    error::{Error, Result},
    store::Store,
};

/// The room account data holding a user's tags on the room.
const TAG_TYPE: &str = "m.tag";

/// Longest tag name accepted.
const MAX_TAG_BYTES: usize = 255;

/// The tags in `m.tag` content; none when it is missing or not tags.
fn parse_tags(content: Option<&str>) -> Tags {
    content
        .and_then(|text| serde_json::from_str::<TagEventContent>(text).ok())
        .map(|content| content.tags)
        .unwrap_or_default()
}

/// Account data types the server owns; clients write them through other APIs.
const SERVER_OWNED_GLOBAL: &[&str] = &["m.push_rules"];
const SERVER_OWNED_ROOM: &[&str] = &["m.fully_read"];

#[derive(Clone)]
pub struct UserData {
    store: Store,
    notifier: Arc<Notifier>,
    /// What every sync reads, kept for a while: a user's push rules and
    /// ignored users. Forgotten when changed here; another instance's
    /// change shows within [`SYNC_INPUTS_FOR`].
    rules: Arc<TtlCache<OwnedUserId, Arc<Ruleset>>>,
    ignored: Arc<TtlCache<OwnedUserId, Arc<Vec<String>>>>,
}

const SYNC_INPUTS_FOR: Duration = Duration::from_secs(60);
const SYNC_INPUTS_KEPT: usize = 100_000;

fn ensure_self(requester: &Requester, user_id: &UserId) -> Result<()> {
    if requester.user_id == user_id {
        Ok(())
    } else {
        Err(Error::forbidden("you cannot access another user's data"))
    }
}

fn room_key(room_id: Option<&RoomId>) -> &str {
    room_id.map_or("", |r| r.as_str())
}

impl UserData {
    pub fn new(store: Store, notifier: Arc<Notifier>) -> Self {
        Self {
            store,
            notifier,
            rules: Arc::new(TtlCache::new(SYNC_INPUTS_FOR, SYNC_INPUTS_KEPT)),
            ignored: Arc::new(TtlCache::new(SYNC_INPUTS_FOR, SYNC_INPUTS_KEPT)),
        }
    }

    /// Account data, global when `room_id` is None.
    pub async fn account_data(
        &self,
        requester: &Requester,
        user_id: &UserId,
        room_id: Option<&RoomId>,
        data_type: &str,
    ) -> Result<Box<RawValue>> {
        ensure_self(requester, user_id)?;
        let json = self
            .store
            .account_data(user_id.as_str(), room_key(room_id), data_type)
            .await?
            .ok_or_else(|| Error::not_found("account data not found"))?;
        RawValue::from_string(json).map_err(Error::internal)
    }

    pub async fn set_account_data(
        &self,
        requester: &Requester,
        user_id: &UserId,
        room_id: Option<&RoomId>,
        data_type: &str,
        content: &RawValue,
    ) -> Result<()> {
        ensure_self(requester, user_id)?;
        let owned = if room_id.is_some() { SERVER_OWNED_ROOM } else { SERVER_OWNED_GLOBAL };
        if owned.contains(&data_type) {
            return Err(Error::ServerManaged(format!(
                "{data_type} is managed by the server and cannot be set here"
            )));
        }
        if !content.get().trim_start().starts_with('{') {
            return Err(Error::BadJson("account data content must be a JSON object".into()));
        }
        let position = self
            .store
            .set_account_data(user_id.as_str(), room_key(room_id), data_type, content.get())
            .await?;
        self.ignored.forget(user_id);
        self.notifier.advance(Stream::AccountData, position, [user_id]);
        Ok(())
    }

    /// The user's tags on a room (`m.tag` room account data, which sync
    /// delivers; the tag endpoints read and change it).
    pub async fn tags(
        &self,
        requester: &Requester,
        user_id: &UserId,
        room_id: &RoomId,
    ) -> Result<Tags> {
        ensure_self(requester, user_id)?;
        let content = self.store.account_data(user_id.as_str(), room_id.as_str(), TAG_TYPE).await?;
        Ok(parse_tags(content.as_deref()))
    }

    /// Adds or replaces one tag; `None` removes it.
    pub async fn set_tag(
        &self,
        requester: &Requester,
        user_id: &UserId,
        room_id: &RoomId,
        tag: &str,
        info: Option<TagInfo>,
    ) -> Result<()> {
        ensure_self(requester, user_id)?;
        if tag.is_empty() || tag.len() > MAX_TAG_BYTES {
            return Err(Error::invalid_param(format!("a tag name has 1 to {MAX_TAG_BYTES} bytes")));
        }
        if let Some(order) = info.as_ref().and_then(|info| info.order)
            && !(0.0..=1.0).contains(&order)
        {
            return Err(Error::invalid_param("a tag's order is a number from 0 to 1"));
        }
        let name = TagName::from(tag);
        let changed = self
            .store
            .update_account_data(user_id.as_str(), room_id.as_str(), TAG_TYPE, |current| {
                let mut tags = parse_tags(current);
                let before = tags.clone();
                match info {
                    Some(info) => tags.insert(name, info),
                    None => tags.remove(&name),
                };
                if tags == before {
                    return Ok(None);
                }
                let content = TagEventContent::new(tags);
                Ok(Some(serde_json::to_string(&content).map_err(Error::internal)?))
            })
            .await?;
        if let Some(position) = changed {
            self.notifier.advance(Stream::AccountData, position, [user_id]);
        }
        Ok(())
    }

    pub async fn create_filter(
        &self,
        requester: &Requester,
        user_id: &UserId,
        filter: &FilterDefinition,
    ) -> Result<String> {
        ensure_self(requester, user_id)?;
        let json = serde_json::to_string(filter).map_err(Error::internal)?;
        Ok(self.store.create_filter(user_id.as_str(), &json).await?.to_string())
    }

    pub async fn filter(
        &self,
        requester: &Requester,
        user_id: &UserId,
        filter_id: &str,
    ) -> Result<FilterDefinition> {
        ensure_self(requester, user_id)?;
        let not_found = || Error::not_found("no such filter");
        let id: i64 = filter_id.parse().map_err(|_| not_found())?;
        let json = self.store.filter(user_id.as_str(), id).await?.ok_or_else(not_found)?;
        serde_json::from_str(&json).map_err(Error::internal)
    }

    /// The user's push rules: the server defaults with their changes applied.
    pub async fn push_rules(&self, user_id: &UserId) -> Result<Arc<Ruleset>> {
        if let Some(rules) = self.rules.get(user_id) {
            return Ok(rules);
        }
        let rules = Arc::new(self.load_push_rules(user_id).await?);
        self.rules.insert(user_id.to_owned(), rules.clone());
        Ok(rules)
    }

    /// The push rules as stored (changes start from these, never from a
    /// copy that may be a minute old).
    async fn load_push_rules(&self, user_id: &UserId) -> Result<Ruleset> {
        let defaults = Ruleset::server_default(user_id);
        match self.store.push_rules(user_id.as_str()).await? {
            Some(json) => {
                let mut rules: Ruleset = serde_json::from_str(&json).map_err(Error::internal)?;
                // Picks up default rules added in newer versions of the spec.
                rules.update_with_server_default(defaults);
                Ok(rules)
            }
            None => Ok(defaults),
        }
    }

    async fn update_push_rules(
        &self,
        user_id: &UserId,
        change: impl FnOnce(&mut Ruleset) -> Result<()>,
    ) -> Result<()> {
        let mut rules = self.load_push_rules(user_id).await?;
        change(&mut rules)?;
        let json = serde_json::to_string(&rules).map_err(Error::internal)?;
        self.rules.forget(user_id);
        self.store.set_push_rules(user_id.as_str(), &json).await
    }

    pub async fn push_rule(
        &self,
        user_id: &UserId,
        kind: RuleKind,
        rule_id: &str,
    ) -> Result<AnyPushRule> {
        self.push_rules(user_id)
            .await?
            .get(kind, rule_id)
            .map(|rule| rule.to_owned())
            .ok_or_else(|| Error::not_found("no such push rule"))
    }

    pub async fn set_push_rule(
        &self,
        user_id: &UserId,
        rule: NewPushRule,
        after: Option<&str>,
        before: Option<&str>,
    ) -> Result<()> {
        self.update_push_rules(user_id, |rules| {
            rules.insert(rule, after, before).map_err(|e| match e {
                InsertPushRuleError::UnknownRuleId => Error::not_found(e.to_string()),
                other => Error::invalid_param(other.to_string()),
            })
        })
        .await
    }

    pub async fn delete_push_rule(
        &self,
        user_id: &UserId,
        kind: RuleKind,
        rule_id: &str,
    ) -> Result<()> {
        self.update_push_rules(user_id, |rules| {
            rules.remove(kind, rule_id).map_err(|e| match e {
                RemovePushRuleError::NotFound => Error::not_found("no such push rule"),
                other => Error::invalid_param(other.to_string()),
            })
        })
        .await
    }

    pub async fn set_push_rule_enabled(
        &self,
        user_id: &UserId,
        kind: RuleKind,
        rule_id: &str,
        enabled: bool,
    ) -> Result<()> {
        self.update_push_rules(user_id, |rules| {
            rules
                .set_enabled(kind, rule_id, enabled)
                .map_err(|_| Error::not_found("no such push rule"))
        })
        .await
    }

    pub async fn set_push_rule_actions(
        &self,
        user_id: &UserId,
        kind: RuleKind,
        rule_id: &str,
        actions: Vec<Action>,
    ) -> Result<()> {
        self.update_push_rules(user_id, |rules| {
            rules
                .set_actions(kind, rule_id, actions)
                .map_err(|_| Error::not_found("no such push rule"))
        })
        .await
    }
}

impl UserData {
    /// Users this user ignores (m.ignored_user_list): their events and
    /// invites are hidden from them.
    pub async fn ignored_users(&self, user_id: &UserId) -> Result<Arc<Vec<String>>> {
        if let Some(ignored) = self.ignored.get(user_id) {
            return Ok(ignored);
        }
        let json = self.store.account_data(user_id.as_str(), "", "m.ignored_user_list").await?;
        let value: serde_json::Value =
            json.and_then(|json| serde_json::from_str(&json).ok()).unwrap_or_default();
        let ignored: Arc<Vec<String>> = Arc::new(
            value["ignored_users"]
                .as_object()
                .map(|users| users.keys().cloned().collect())
                .unwrap_or_default(),
        );
        self.ignored.insert(user_id.to_owned(), ignored.clone());
        Ok(ignored)
    }
}
