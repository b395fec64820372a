//! Pushers as they are kept. With an at-rest key, the pusher a client set
//! is sealed, and its pushkey (a device's push token) is kept only as a
//! keyed hash, which still finds the row when a client names the pushkey
//! (to replace or remove it) or when a gateway rejects it.

use serde_json::Value as JsonValue;

use crate::{
    error::Result,
    services::encryption::Secrets,
    store::{PusherRow, RoomPusher, Store},
};

#[derive(Clone)]
pub(super) struct StoredPushers {
    store: Store,
    secrets: Secrets,
}

/// What a pusher is sealed to: its user and app.
fn context(user_id: &str, app_id: &str) -> String {
    format!("pusher:{user_id}:{app_id}")
}

impl StoredPushers {
    pub(super) fn new(store: Store, secrets: Secrets) -> Self {
        Self { store, secrets }
    }

    /// The pushkey column's value for a pushkey.
    fn key_of(&self, app_id: &str, pushkey: &str) -> Result<String> {
        self.secrets.lookup(pushkey, &format!("pushkey:{app_id}"))
    }

    /// A row as read, with the client's pusher and pushkey in clear. Rows
    /// kept in clear (no key) go as they are: the push sender reads them
    /// for every event.
    fn opened(&self, mut row: RoomPusher) -> Result<RoomPusher> {
        if !Secrets::is_lookup(&row.pushkey) {
            return Ok(row);
        }
        row.pusher = self.secrets.open(&row.pusher, &context(&row.user_id, &row.app_id))?;
        let pusher: JsonValue = serde_json::from_str(&row.pusher).unwrap_or_default();
        if let Some(pushkey) = pusher["pushkey"].as_str() {
            row.pushkey = pushkey.to_owned();
        }
        Ok(row)
    }

    pub(super) async fn set(&self, mut row: PusherRow, append: bool) -> Result<()> {
        row.pusher = self.secrets.seal(&row.pusher, &context(&row.user_id, &row.app_id))?;
        row.pushkey = self.key_of(&row.app_id, &row.pushkey)?;
        self.store.set_pusher(&row, append).await
    }

    pub(super) async fn delete(&self, user_id: &str, app_id: &str, pushkey: &str) -> Result<bool> {
        self.store.delete_pusher(user_id, app_id, &self.key_of(app_id, pushkey)?).await
    }

    pub(super) async fn of_user(&self, user_id: &str) -> Result<Vec<RoomPusher>> {
        let rows = self.store.user_pushers(user_id).await?;
        rows.into_iter().map(|row| self.opened(row)).collect()
    }

    pub(super) async fn of_room(&self, room_id: &str) -> Result<Vec<RoomPusher>> {
        let rows = self.store.room_pushers(room_id).await?;
        rows.into_iter().map(|row| self.opened(row)).collect()
    }

    /// Seals the pushers kept in clear (or under an earlier key), as the
    /// server starts.
    pub(super) async fn seal_stored(&self) -> Result<()> {
        for (user_id, app_id, key, stored) in self.store.stored_pushers().await? {
            if !self.secrets.needs_sealing(&stored) {
                continue;
            }
            let plain = self.secrets.open(&stored, &context(&user_id, &app_id))?;
            let pusher: JsonValue = serde_json::from_str(&plain).unwrap_or_default();
            let pushkey = pusher["pushkey"].as_str().unwrap_or(&key);
            let new_key = self.key_of(&app_id, pushkey)?;
            let sealed = self.secrets.seal(&plain, &context(&user_id, &app_id))?;
            let old = (user_id.as_str(), app_id.as_str(), key.as_str(), stored.as_str());
            self.store.replace_stored_pusher(old, (&new_key, &sealed)).await?;
        }
        Ok(())
    }
}
