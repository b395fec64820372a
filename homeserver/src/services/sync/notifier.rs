//! Wakes long-polling syncs when something they follow changes. Writers
//! publish positions and name the users concerned; nothing polls.

use std::{
    collections::HashMap,
    sync::{
        Arc, Mutex,
        atomic::{AtomicI64, Ordering},
    },
};

use ruma::{OwnedUserId, UserId};
use tokio::sync::Notify;

/// Where each stream stands: everything up to these positions is durable
/// and may be served.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Positions {
    pub events: i64,
    pub account_data: i64,
}

#[derive(Default)]
pub struct Notifier {
    events: AtomicI64,
    account_data: AtomicI64,
    users: Mutex<HashMap<OwnedUserId, Arc<Notify>>>,
}

impl Notifier {
    pub fn new(start: Positions) -> Self {
        Self {
            events: AtomicI64::new(start.events),
            account_data: AtomicI64::new(start.account_data),
            users: Mutex::default(),
        }
    }

    pub fn positions(&self) -> Positions {
        Positions {
            events: self.events.load(Ordering::Acquire),
            account_data: self.account_data.load(Ordering::Acquire),
        }
    }

    /// The handle a syncing user waits on. Create the `notified()` future
    /// before checking for data, so that no wake-up falls between the two.
    pub fn listener(&self, user_id: &UserId) -> Arc<Notify> {
        let mut users = self.users.lock().unwrap_or_else(|e| e.into_inner());
        users.entry(user_id.to_owned()).or_default().clone()
    }

    /// Publishes newly persisted events and wakes the users they concern.
    pub fn events_persisted<'a>(&self, up_to: i64, users: impl IntoIterator<Item = &'a UserId>) {
        self.events.fetch_max(up_to, Ordering::AcqRel);
        self.wake(users);
    }

    pub fn account_data_changed(&self, position: i64, user_id: &UserId) {
        self.account_data.fetch_max(position, Ordering::AcqRel);
        self.wake([user_id]);
    }

    fn wake<'a>(&self, users: impl IntoIterator<Item = &'a UserId>) {
        let map = self.users.lock().unwrap_or_else(|e| e.into_inner());
        for user in users {
            if let Some(notify) = map.get(user) {
                notify.notify_waiters();
            }
        }
    }
}
