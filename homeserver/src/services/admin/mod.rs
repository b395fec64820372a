//! What server admins may do, whatever the front end (the `lattice admin`
//! commands, the admin API): accounts here, rooms in `rooms.rs`.

mod export;

pub use self::export::{ExportArchive, ExportSummary};
pub mod purge;
mod registration_tokens;
mod rooms;
mod server_notices;

use std::sync::Arc;

use ruma::{OwnedUserId, UserId};

use super::{auth::Auth, keys::Keys, rate_limit::RateLimiter, rooms::Rooms};
use crate::{
    config::Config,
    error::{Error, Result},
    services::accounts::Accounts,
    store::Store,
};

#[derive(Clone)]
pub struct Admin {
    store: Store,
    config: Arc<Config>,
    auth: Auth,
    accounts: Accounts,
    rooms: Rooms,
    rate_limits: Arc<RateLimiter>,
    /// Told when an admin ends a session, so that contacts stop encrypting for it.
    keys: Keys,
    /// History purges this process ran, by id, with their status.
    purges: Arc<std::sync::Mutex<std::collections::HashMap<String, &'static str>>>,
    /// Users whose own export is under way.
    exporting: export::Exporting,
    /// The other instances, told of shadow bans and rate limit overrides.
    cluster: Arc<std::sync::OnceLock<crate::services::cluster::Cluster>>,
}

impl Admin {
    pub fn new(
        store: Store,
        config: Arc<Config>,
        auth: Auth,
        accounts: Accounts,
        rooms: Rooms,
        rate_limits: Arc<RateLimiter>,
        keys: Keys,
    ) -> Self {
        Self {
            store,
            config,
            auth,
            accounts,
            rooms,
            rate_limits,
            keys,
            purges: Arc::default(),
            exporting: Arc::default(),
            cluster: Arc::default(),
        }
    }

    /// Tells the other instances of shadow bans and rate limit overrides
    /// set here (both kept in memory), and applies theirs.
    pub fn follow_cluster(&self, cluster: &crate::services::cluster::Cluster) {
        use crate::services::cluster::Message;
        use tokio::sync::broadcast::error::RecvError;
        if !cluster.enabled() {
            return;
        }
        let _ = self.cluster.set(cluster.clone());
        let mut heard = cluster.subscribe();
        let (rooms, rate_limits) = (self.rooms.clone(), self.rate_limits.clone());
        tokio::spawn(async move {
            loop {
                match heard.recv().await {
                    Ok(Message::ShadowBan { user, banned }) => {
                        rooms.set_shadow_banned(&user, banned)
                    }
                    Ok(Message::RateOverride { user, limit: Some((rate, burst)) }) => {
                        rate_limits.set_override(user.as_str(), rate, burst);
                    }
                    Ok(Message::RateOverride { user, limit: None }) => {
                        rate_limits.remove_override(user.as_str());
                    }
                    Err(RecvError::Closed) => break,
                    Ok(_) | Err(RecvError::Lagged(_)) => {}
                }
            }
        });
    }

    fn tell_others(&self, message: crate::services::cluster::Message) {
        if let Some(cluster) = self.cluster.get() {
            cluster.publish(message);
        }
    }

    /// Creates an account even when registration is closed.
    pub async fn create_user(
        &self,
        localpart: &str,
        password: &str,
        admin: bool,
    ) -> Result<OwnedUserId> {
        let user_id = self.accounts.user_id_for(localpart)?;
        let hash = self.auth.passwords().hash(password.to_owned()).await?;
        if !self.store.create_user(user_id.as_str(), Some(&hash), localpart, None).await? {
            return Err(Error::UserInUse);
        }
        if admin {
            self.store.set_admin(user_id.as_str(), true).await?;
        }
        self.auth
            .security()
            .audit("admin_create_user", Some(user_id.as_str()), serde_json::json!({"admin": admin}))
            .await?;
        Ok(user_id)
    }

    pub async fn set_admin(&self, user_id: &UserId, admin: bool) -> Result<()> {
        if !self.store.set_admin(user_id.as_str(), admin).await? {
            return Err(Error::not_found("no such user"));
        }
        self.auth
            .security()
            .audit("admin_set_admin", Some(user_id.as_str()), serde_json::json!({"admin": admin}))
            .await
    }

    /// Sets a new password and ends every session of the user.
    pub async fn reset_password(&self, user_id: &UserId, password: &str) -> Result<()> {
        self.existing(user_id).await?;
        let hash = self.auth.passwords().hash(password.to_owned()).await?;
        self.store.set_password_hash(user_id.as_str(), &hash).await?;
        let position = self.store.delete_other_devices(user_id.as_str(), None).await?;
        self.auth.forget_sessions(user_id);
        self.keys.announce(user_id, position).await?;
        self.auth
            .security()
            .audit("admin_reset_password", Some(user_id.as_str()), serde_json::json!({}))
            .await
    }

    pub async fn deactivate(&self, user_id: &UserId, erase: bool) -> Result<()> {
        self.existing(user_id).await?;
        self.accounts.close(user_id, erase).await?;
        self.auth
            .security()
            .audit("admin_deactivate", Some(user_id.as_str()), serde_json::json!({"erase": erase}))
            .await
    }

    async fn existing(&self, user_id: &UserId) -> Result<()> {
        if user_id.server_name() != self.config.server.server_name
            || self.store.get_user(user_id.as_str()).await?.is_none()
        {
            return Err(Error::not_found("no such local user"));
        }
        Ok(())
    }
}

/// A user as the admin API shows it (Synapse's field names).
#[derive(Debug, Clone, serde::Serialize)]
pub struct AdminUserView {
    pub name: String,
    pub admin: bool,
    pub deactivated: bool,
    pub displayname: Option<String>,
    pub avatar_url: Option<String>,
    pub creation_ts: i64,
}

impl Admin {
    /// Only server admins pass.
    pub async fn ensure_admin(&self, user_id: &UserId) -> Result<()> {
        match self.store.get_user(user_id.as_str()).await? {
            Some(user) if user.is_admin != 0 && !user.is_deactivated() => Ok(()),
            _ => Err(Error::forbidden("you are not a server admin")),
        }
    }

    pub async fn user(&self, user_id: &UserId) -> Result<AdminUserView> {
        let row = self
            .store
            .get_user(user_id.as_str())
            .await?
            .ok_or_else(|| Error::not_found("no such user"))?;
        let profile = self.store.profile_fields(user_id.as_str()).await?;
        let field = |name: &str| {
            profile
                .iter()
                .find(|(f, _)| f == name)
                .and_then(|(_, v)| serde_json::from_str::<String>(v).ok())
        };
        Ok(AdminUserView {
            name: row.user_id.clone(),
            admin: row.is_admin != 0,
            deactivated: row.is_deactivated(),
            displayname: field("displayname"),
            avatar_url: field("avatar_url"),
            creation_ts: self.store.user_created_at(user_id.as_str()).await?.unwrap_or(0),
        })
    }

    /// A page of users: (users, next token, total).
    pub async fn users(
        &self,
        from: Option<&str>,
        limit: i64,
        name: Option<&str>,
    ) -> Result<(Vec<serde_json::Value>, Option<String>, i64)> {
        let limit = limit.clamp(1, 1000);
        let rows = self.store.list_users(from.unwrap_or(""), limit, name).await?;
        let next =
            (rows.len() as i64 == limit).then(|| rows.last().map(|r| r.user_id.clone())).flatten();
        let users = rows
            .into_iter()
            .map(|r| {
                serde_json::json!({
                    "name": r.user_id,
                    "admin": r.is_admin != 0,
                    "deactivated": r.deactivated != 0,
                    "creation_ts": r.created_at,
                })
            })
            .collect();
        Ok((users, next, self.store.count_users().await?))
    }
}

/// What PUT /_synapse/admin/v2/users/{id} may set.
#[derive(Debug, Default, serde::Deserialize)]
pub struct UserChanges {
    pub password: Option<String>,
    pub admin: Option<bool>,
    pub deactivated: Option<bool>,
    pub displayname: Option<String>,
}

impl Admin {
    /// Creates the user if needed, then applies the changes. Returns whether
    /// the user was created, and the user as it is now.
    pub async fn put_user(
        &self,
        user_id: &UserId,
        changes: UserChanges,
    ) -> Result<(bool, AdminUserView)> {
        let exists = self.store.get_user(user_id.as_str()).await?.is_some();
        if !exists {
            if user_id.server_name() != self.config.server.server_name {
                return Err(Error::invalid_param("can only create local users"));
            }
            let password = changes.password.clone().unwrap_or_default();
            self.create_user(user_id.localpart(), &password, changes.admin.unwrap_or(false))
                .await?;
        } else if let Some(password) = &changes.password {
            self.reset_password(user_id, password).await?;
        }
        if let Some(admin) = changes.admin {
            self.set_admin(user_id, admin).await?;
        }
        if let Some(name) = &changes.displayname {
            let value = serde_json::Value::from(name.as_str()).to_string();
            self.store.set_profile_field(user_id.as_str(), "displayname", &value).await?;
        }
        if changes.deactivated == Some(true) {
            self.deactivate(user_id, false).await?;
        }
        Ok((!exists, self.user(user_id).await?))
    }

    /// Reports of events and rooms, newest first, as the admin API shows them.
    /// A user's devices (sessions), as Synapse's admin API lists them.
    pub async fn devices(&self, user_id: &UserId) -> Result<Vec<serde_json::Value>> {
        if self.store.get_user(user_id.as_str()).await?.is_none() {
            return Err(Error::not_found("no such user"));
        }
        Ok(self
            .store
            .list_devices(user_id.as_str())
            .await?
            .into_iter()
            .map(|d| {
                serde_json::json!({
                    "device_id": d.device_id, "display_name": d.display_name,
                    "last_seen_ip": d.last_seen_ip, "last_seen_ts": d.last_seen_at,
                    "user_id": user_id,
                })
            })
            .collect())
    }

    /// Ends one of a user's sessions: the device, its tokens and its keys.
    pub async fn delete_device(&self, user_id: &UserId, device_id: &str) -> Result<()> {
        let known = self.store.list_devices(user_id.as_str()).await?;
        if !known.iter().any(|d| d.device_id == device_id) {
            return Err(Error::not_found("no such device"));
        }
        let position = self.store.delete_devices(user_id.as_str(), &[device_id.to_owned()]).await?;
        self.auth.forget_sessions(user_id);
        self.keys.announce(user_id, position).await
    }

    /// Synapse's whois: a user's devices with where and when each was last seen.
    pub async fn whois(&self, user_id: &UserId) -> Result<serde_json::Value> {
        if self.store.get_user(user_id.as_str()).await?.is_none() {
            return Err(Error::not_found("no such user"));
        }
        let mut devices = serde_json::Map::new();
        for device in self.store.list_devices(user_id.as_str()).await? {
            let connection = serde_json::json!({
                "ip": device.last_seen_ip,
                "last_seen": device.last_seen_at,
                "user_agent": null,
            });
            devices.insert(
                device.device_id,
                serde_json::json!({"sessions": [{"connections": [connection]}]}),
            );
        }
        Ok(serde_json::json!({"user_id": user_id, "devices": devices}))
    }

    /// Shadow-bans a user (their messages, state changes, redactions and
    /// invites seem to work and reach nobody) or lifts the ban.
    pub async fn set_shadow_ban(&self, user_id: &UserId, banned: bool) -> Result<()> {
        if !self.store.set_shadow_banned(user_id.as_str(), banned).await? {
            return Err(Error::not_found("no such user"));
        }
        self.rooms.set_shadow_banned(user_id, banned);
        let user = user_id.to_owned();
        self.tell_others(crate::services::cluster::Message::ShadowBan { user, banned });
        Ok(())
    }

    /// A user's own rate limit: (messages per second, burst), if set.
    pub async fn ratelimit_override(&self, user_id: &UserId) -> Result<Option<(i64, i64)>> {
        self.store.ratelimit_override(user_id.as_str()).await
    }

    /// Sets a user's own rate limit (0 and 0: no limit), at once and for
    /// good.
    pub async fn set_ratelimit_override(
        &self,
        user_id: &UserId,
        per_second: i64,
        burst: i64,
    ) -> Result<()> {
        let (Ok(rate), Ok(burst_count)) = (u32::try_from(per_second), u32::try_from(burst)) else {
            return Err(Error::invalid_param("rates are non-negative integers"));
        };
        if self.store.get_user(user_id.as_str()).await?.is_none() {
            return Err(Error::not_found("no such user"));
        }
        self.store.set_ratelimit_override(user_id.as_str(), per_second, burst).await?;
        self.rate_limits.set_override(user_id.as_str(), rate, burst_count);
        let (user, limit) = (user_id.to_owned(), Some((rate, burst_count)));
        self.tell_others(crate::services::cluster::Message::RateOverride { user, limit });
        Ok(())
    }

    pub async fn delete_ratelimit_override(&self, user_id: &UserId) -> Result<()> {
        self.store.delete_ratelimit_override(user_id.as_str()).await?;
        self.rate_limits.remove_override(user_id.as_str());
        let user = user_id.to_owned();
        self.tell_others(crate::services::cluster::Message::RateOverride { user, limit: None });
        Ok(())
    }

    /// The newest security records (logins, lockouts, admin actions...).
    pub async fn audit_log(&self, limit: i64) -> Result<Vec<serde_json::Value>> {
        let rows = self.store.audit_records(limit.clamp(1, 1000)).await?;
        Ok(rows
            .into_iter()
            .map(|(ts, kind, user_id, address, details)| {
                let details: serde_json::Value = serde_json::from_str(&details).unwrap_or_default();
                serde_json::json!({
                    "ts": ts, "kind": kind, "user_id": user_id,
                    "address": address, "details": details,
                })
            })
            .collect())
    }

    pub async fn reports(&self, limit: i64) -> Result<Vec<serde_json::Value>> {
        Ok(self
            .store
            .reports(limit.clamp(1, 1000))
            .await?
            .into_iter()
            .map(|report| {
                serde_json::json!({"received_ts": report.received_at, "user_id": report.reporter,
                                   "room_id": report.room_id, "event_id": report.event_id,
                                   "reason": report.reason})
            })
            .collect())
    }
}
