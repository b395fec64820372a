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
/// (typing: current) and may be served.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Positions {
    pub events: i64,
    pub account_data: i64,
    pub receipts: i64,
    pub typing: i64,
    pub presence: i64,
    pub to_device: i64,
    pub device_lists: i64,
}

impl Positions {
    /// Each stream with its position.
    pub fn each(&self) -> [(Stream, i64); 7] {
        [
            (Stream::Events, self.events),
            (Stream::AccountData, self.account_data),
            (Stream::Receipts, self.receipts),
            (Stream::Typing, self.typing),
            (Stream::Presence, self.presence),
            (Stream::ToDevice, self.to_device),
            (Stream::DeviceLists, self.device_lists),
        ]
    }

    /// Where the stored streams stand in the database (typing: 0).
    pub async fn read(store: &crate::store::Store) -> crate::error::Result<Self> {
        Ok(Self {
            events: store.max_event_stream().await?,
            account_data: store.account_data_position().await?,
            receipts: store.stream_position("receipts").await?,
            typing: 0,
            presence: store.stream_position("presence").await?,
            to_device: store.stream_position("to_device").await?,
            device_lists: store.stream_position("device_lists").await?,
        })
    }
}

/// The streams sync follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Stream {
    Events,
    AccountData,
    Receipts,
    Typing,
    Presence,
    ToDevice,
    DeviceLists,
}

pub struct Notifier {
    positions: [AtomicI64; 7],
    users: Mutex<HashMap<OwnedUserId, Arc<Notify>>>,
    /// The event stream's position, for its followers (the push sender,
    /// each application service's sender): every one of them sees it move.
    events_moved: tokio::sync::watch::Sender<i64>,
    /// Counts moves of the receipt, typing, presence, to-device and
    /// device-list streams, for the followers that pass them on
    /// (application services).
    ephemeral_moved: tokio::sync::watch::Sender<u64>,
    /// Everyone peeking into a room they are not in (GET /events): woken
    /// on every event, as they are nobody's members.
    peekers: Notify,
    /// The other instances sharing the database, told of every move.
    cluster: std::sync::OnceLock<super::cluster::Cluster>,
}

impl Notifier {
    pub fn new(start: Positions) -> Self {
        let notifier = Self {
            positions: Default::default(),
            users: Mutex::default(),
            events_moved: tokio::sync::watch::Sender::new(start.events),
            ephemeral_moved: tokio::sync::watch::Sender::new(0),
            peekers: Notify::new(),
            cluster: std::sync::OnceLock::new(),
        };
        for (stream, value) in start.each() {
            notifier.positions[stream as usize].store(value, Ordering::Release);
        }
        notifier
    }

    pub fn positions(&self) -> Positions {
        let at = |s: Stream| self.positions[s as usize].load(Ordering::Acquire);
        Positions {
            events: at(Stream::Events),
            account_data: at(Stream::AccountData),
            receipts: at(Stream::Receipts),
            typing: at(Stream::Typing),
            presence: at(Stream::Presence),
            to_device: at(Stream::ToDevice),
            device_lists: at(Stream::DeviceLists),
        }
    }

    /// The handle a syncing user waits on. Create the `notified()` future
    /// before checking for data, so that no wake-up falls between the two.
    pub fn listener(&self, user_id: &UserId) -> Arc<Notify> {
        let mut users = self.users.lock().unwrap_or_else(|e| e.into_inner());
        users.entry(user_id.to_owned()).or_default().clone()
    }

    /// Tells the other instances sharing the database of every move from now on.
    pub fn attach(&self, cluster: super::cluster::Cluster) {
        let _ = self.cluster.set(cluster);
    }

    /// Publishes a stream's new position and wakes the users it concerns,
    /// here and on the other instances.
    pub fn advance<'a>(
        &self,
        stream: Stream,
        position: i64,
        users: impl IntoIterator<Item = &'a UserId> + Clone,
    ) {
        self.tell_others(stream, position, users.clone(), None);
        self.advance_here(stream, position, users);
    }

    /// [`Self::advance`] for the event stream, naming the rooms written
    /// (another instance's copy of their heads is then out of date).
    pub fn advance_events<'a>(
        &self,
        position: i64,
        users: impl IntoIterator<Item = &'a UserId> + Clone,
        rooms: Vec<ruma::OwnedRoomId>,
    ) {
        self.tell_others(Stream::Events, position, users.clone(), Some(rooms));
        self.advance_here(Stream::Events, position, users);
    }

    fn tell_others<'a>(
        &self,
        stream: Stream,
        at: i64,
        users: impl IntoIterator<Item = &'a UserId>,
        rooms: Option<Vec<ruma::OwnedRoomId>>,
    ) {
        if let Some(cluster) = self.cluster.get().filter(|c| c.enabled()) {
            let users = Some(users.into_iter().map(ToOwned::to_owned).collect());
            let rooms = Some(rooms.unwrap_or_default());
            cluster.publish(super::cluster::Message::Advance { stream, at, users, rooms });
        }
    }

    /// Moves a stream and wakes the users it concerns in this instance
    /// only (typing tells the others itself; moves heard from them).
    pub fn advance_here<'a>(
        &self,
        stream: Stream,
        position: i64,
        users: impl IntoIterator<Item = &'a UserId>,
    ) {
        self.positions[stream as usize].fetch_max(position, Ordering::AcqRel);
        if stream == Stream::Events {
            self.events_moved.send_modify(|moved| *moved = (*moved).max(position));
            self.peekers.notify_waiters();
        }
        if matches!(
            stream,
            Stream::Receipts
                | Stream::Typing
                | Stream::Presence
                | Stream::ToDevice
                | Stream::DeviceLists
        ) {
            self.ephemeral_moved.send_modify(|moves| *moves += 1);
        }
        let map = self.users.lock().unwrap_or_else(|e| e.into_inner());
        for user in users {
            if let Some(notify) = map.get(user) {
                notify.notify_waiters();
            }
        }
    }

    /// Moves a stream and wakes every sync waiting here (another instance
    /// moved it without saying for whom, or messages may have been missed).
    pub fn advance_everyone(&self, stream: Stream, position: i64) {
        self.advance_here(stream, position, []);
        let map = self.users.lock().unwrap_or_else(|e| e.into_inner());
        for notify in map.values() {
            notify.notify_waiters();
        }
    }

    /// Follows the whole event stream: `changed()` wakes on each move
    /// after the last `borrow_and_update()`, so none falls in between.
    pub fn follow_events(&self) -> tokio::sync::watch::Receiver<i64> {
        self.events_moved.subscribe()
    }

    /// Follows the receipt, typing, to-device and device-list streams, as
    /// [`Self::follow_events`] does the event stream.
    pub fn follow_ephemeral(&self) -> tokio::sync::watch::Receiver<u64> {
        self.ephemeral_moved.subscribe()
    }

    /// What peekers wait on; create the `notified()` future before
    /// reading, so that no event falls between the two.
    pub fn peekers(&self) -> &Notify {
        &self.peekers
    }

    /// Takes the next typing position (typing lives in memory only), past
    /// `at_least` (a position another instance gave a change).
    pub fn next_typing(&self, at_least: i64) -> i64 {
        let typing = &self.positions[Stream::Typing as usize];
        typing.fetch_max(at_least - 1, Ordering::AcqRel);
        typing.fetch_add(1, Ordering::AcqRel) + 1
    }
}

#[cfg(test)]
mod tests {
    use std::{
        future::Future,
        pin::pin,
        task::{Context, Poll, Waker},
    };

    use ruma::user_id;

    use super::{Notifier, Positions, Stream};

    /// Whether a future is ready on its first poll (no timer involved).
    fn ready<F: Future>(future: std::pin::Pin<&mut F>) -> bool {
        matches!(future.poll(&mut Context::from_waker(Waker::noop())), Poll::Ready(_))
    }

    #[test]
    fn a_wake_up_between_the_check_and_the_wait_is_not_lost() {
        let notifier = Notifier::new(Positions::default());
        let alice = user_id!("@alice:example.org");
        let listener = notifier.listener(alice);
        let mut notified = pin!(listener.notified());
        notified.as_mut().enable();
        // A sync looked, found nothing, and is about to wait: a write lands.
        notifier.advance(Stream::Events, 5, [alice]);
        assert!(ready(notified.as_mut()), "the wait ends at once");
        assert_eq!(notifier.positions().events, 5);
    }

    #[test]
    fn only_the_users_named_are_woken() {
        let notifier = Notifier::new(Positions::default());
        let (alice, bob) = (user_id!("@alice:example.org"), user_id!("@bob:example.org"));
        let (for_alice, for_bob) = (notifier.listener(alice), notifier.listener(bob));
        let mut alice_waits = pin!(for_alice.notified());
        let mut bob_waits = pin!(for_bob.notified());
        alice_waits.as_mut().enable();
        bob_waits.as_mut().enable();
        notifier.advance(Stream::Receipts, 1, [alice]);
        assert!(ready(alice_waits.as_mut()));
        assert!(!ready(bob_waits.as_mut()), "bob's sync keeps waiting");
    }

    #[test]
    fn positions_only_move_forward() {
        let notifier = Notifier::new(Positions { events: 10, ..Positions::default() });
        notifier.advance(Stream::Events, 7, []);
        assert_eq!(notifier.positions().events, 10, "a late batch does not move it back");
        notifier.advance(Stream::Events, 11, []);
        assert_eq!(notifier.positions().events, 11);
        assert_eq!(notifier.next_typing(0), 1);
        assert_eq!(notifier.positions().typing, 1);
        // Another instance's change was numbered 40: the next comes after it.
        assert_eq!(notifier.next_typing(40), 40);
        assert_eq!(notifier.next_typing(0), 41);
    }
}
