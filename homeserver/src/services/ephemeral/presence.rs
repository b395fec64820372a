//! Presence: online, unavailable or offline, with a status message. Only
//! changes are written, and only people who share a room are told.

use std::{sync::Arc, time::Duration};

use ruma::{OwnedUserId, UserId, presence::PresenceState};

use crate::{
    error::{Error, Result},
    services::{
        cache::TtlCache,
        notifier::{Notifier, Stream},
    },
    store::{PresenceRow, Store, now_ms},
};

#[derive(Clone)]
pub struct Presence {
    store: Store,
    notifier: Arc<Notifier>,
    enabled: bool,
    federation: crate::services::federation::Federation,
    /// The state each syncing user was last seen in here: a sync in the
    /// same state skips reading the database. Entries expire, so a change
    /// made through another instance shows within a minute.
    seen: Arc<TtlCache<OwnedUserId, PresenceState>>,
}

/// How long a remembered presence state spares the database.
const SEEN_FOR: Duration = Duration::from_secs(60);

/// What GET /presence/{user}/status answers.
#[derive(Debug, Clone)]
pub struct PresenceStatus {
    pub state: PresenceState,
    pub status_msg: Option<String>,
    pub last_active_ago_ms: u64,
}

impl PresenceStatus {
    pub fn from_row(row: &PresenceRow) -> Self {
        Self {
            state: PresenceState::from(row.state.as_str()),
            status_msg: row.status_msg.clone(),
            last_active_ago_ms: u64::try_from(now_ms() - row.last_active_at).unwrap_or(0),
        }
    }

    /// A stored presence as the `m.presence` event sync and application
    /// services carry.
    pub fn event(row: &PresenceRow) -> serde_json::Value {
        let status = Self::from_row(row);
        let mut content = serde_json::json!({
            "presence": status.state.as_str(),
            "last_active_ago": status.last_active_ago_ms,
        });
        if let Some(msg) = status.status_msg {
            content["status_msg"] = serde_json::Value::from(msg);
        }
        serde_json::json!({"type": "m.presence", "sender": row.user_id, "content": content})
    }
}

impl Presence {
    pub fn new(
        store: Store,
        notifier: Arc<Notifier>,
        enabled: bool,
        federation: crate::services::federation::Federation,
    ) -> Self {
        let seen = Arc::new(TtlCache::new(SEEN_FOR, 100_000));
        Self { store, notifier, enabled, federation, seen }
    }

    fn seen_recently(&self, user_id: &UserId, state: &PresenceState) -> bool {
        self.seen.get(user_id).as_ref() == Some(state)
    }

    fn remember(&self, user_id: &UserId, state: &PresenceState) {
        self.seen.insert(user_id.to_owned(), state.clone());
    }

    pub fn enabled(&self) -> bool {
        self.enabled
    }

    pub async fn set(
        &self,
        user_id: &UserId,
        state: &PresenceState,
        status_msg: Option<&str>,
    ) -> Result<()> {
        if !self.enabled {
            return Ok(());
        }
        if let Some(position) =
            self.store.set_presence(user_id.as_str(), state.as_str(), status_msg).await?
        {
            let peers = self.store.users_sharing_rooms(user_id.as_str()).await?;
            let peers: Vec<_> =
                peers.iter().filter_map(|p| <&UserId>::try_from(p.as_str()).ok()).collect();
            if user_id.server_name() == self.federation.server_name() {
                self.tell_other_servers(user_id, state, status_msg, &peers).await?;
            }
            self.notifier.advance(Stream::Presence, position, peers.into_iter().chain([user_id]));
        }
        self.remember(user_id, state);
        Ok(())
    }

    /// An `m.presence` EDU to the servers of those who share a room with
    /// a local user.
    async fn tell_other_servers(
        &self,
        user_id: &UserId,
        state: &PresenceState,
        status_msg: Option<&str>,
        peers: &[&UserId],
    ) -> Result<()> {
        let own = self.federation.server_name();
        let mut servers: Vec<String> = peers
            .iter()
            .map(|p| p.server_name())
            .filter(|s| *s != own)
            .map(|s| s.to_string())
            .collect();
        servers.sort();
        servers.dedup();
        let edu = serde_json::json!({"edu_type": "m.presence", "content": {"push": [{
            "user_id": user_id,
            "presence": state.as_str(),
            "status_msg": status_msg,
            "last_active_ago": 0,
            "currently_active": *state == PresenceState::Online,
        }]}});
        self.federation.send_edu(&servers, &edu).await
    }

    /// Marks a syncing user with `state`, keeping their status message.
    pub async fn touch(&self, user_id: &UserId, state: &PresenceState) -> Result<()> {
        if !self.enabled || self.seen_recently(user_id, state) {
            return Ok(());
        }
        let current = self.store.presence(user_id.as_str()).await?;
        if current.as_ref().is_some_and(|row| row.state == state.as_str()) {
            self.remember(user_id, state);
            return Ok(());
        }
        let message = current.and_then(|row| row.status_msg);
        self.set(user_id, state, message.as_deref()).await
    }

    /// A user's presence, for themselves and those who share a room.
    pub async fn get(&self, requester: &UserId, user_id: &UserId) -> Result<PresenceStatus> {
        if requester != user_id {
            let peers = self.store.users_sharing_rooms(requester.as_str()).await?;
            if !peers.iter().any(|p| p == user_id.as_str()) {
                return Err(Error::forbidden("you do not share a room with this user"));
            }
        }
        match self.store.presence(user_id.as_str()).await? {
            Some(row) if self.enabled => Ok(PresenceStatus::from_row(&row)),
            _ => Ok(PresenceStatus {
                state: PresenceState::Offline,
                status_msg: None,
                last_active_ago_ms: 0,
            }),
        }
    }
}
