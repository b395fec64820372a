//! Rooms: every room event takes one path here. A local one is built,
//! hashed and authorized against the room's state (`builder`); a remote one
//! is checked on the wire, then authorized against its auth events, the
//! state before it and the current state (`remote`). Both then go to the
//! one writer (group commit), which notifies.

mod backfill;
pub mod builder;
mod create;
mod directory;
mod erasure;
mod federated_history;
mod federated_invite;
mod federated_join;
mod handover;
pub mod head;
mod history;
mod membership;
mod messages;
mod outgoing;
pub mod pdu;
mod preview;
mod relations;
mod remote;
mod reports;
mod resolve;
mod resolve_v1;
mod restricted;
mod search;
mod spaces;
pub mod summary;
mod txn_ids;
mod upgrade;
mod visibility;
mod writer;

use std::{collections::HashMap, sync::Arc};

use ruma::{
    DeviceId, OwnedRoomId, OwnedUserId, RoomId, UserId, api::federation::space::get_hierarchy,
    events::TimelineEventType,
};
use tokio::sync::Mutex as AsyncMutex;

pub use self::{
    builder::EventDraft,
    create::{CreateRoom, SUPPORTED_VERSIONS},
    directory::{DirectoryQuery, PublicRoomsPage},
    federated_invite::INVITE_STATE,
    federated_join::supported_versions,
    history::{Context, Direction, MessagesPage, MessagesQuery, token as history_token},
    relations::{RelationsPage, RelationsQuery},
    remote::Received,
    search::SearchPage,
    spaces::{HierarchyPage, HierarchyQuery},
};
use self::{
    builder::{add_signature, build_event},
    head::RoomHead,
    pdu::Pdu,
    writer::{Pending, Wake, Writer},
};
use super::{
    cache::TtlCache, cluster::Cluster, federation::Federation, notifier::Notifier,
    server_key::ServerKey,
};
use crate::{
    config::Config,
    error::{Error, Result},
    store::{NewEvent, Store},
};

type HeadSlot = Arc<AsyncMutex<Option<RoomHead>>>;
type TxnKey = (OwnedUserId, String, String);

#[derive(Clone)]
pub struct Rooms {
    inner: Arc<Inner>,
}

struct Inner {
    store: Store,
    config: Arc<Config>,
    key: Arc<ServerKey>,
    writer: Writer,
    federation: Federation,
    /// The other instances on the database, and which rooms this one writes.
    cluster: Cluster,
    /// One lock per room: events of a room are built one after another.
    heads: std::sync::Mutex<HashMap<OwnedRoomId, HeadSlot>>,
    /// Requests carrying the same transaction id wait for each other.
    txns: std::sync::Mutex<HashMap<TxnKey, Arc<AsyncMutex<()>>>>,
    /// The transaction ids devices have used.
    txn_ids: txn_ids::TxnIds,
    /// Users whose events are dropped while they are told they were sent.
    shadow_banned: std::sync::RwLock<std::collections::HashSet<OwnedUserId>>,
    /// Application services, whose exclusive aliases are theirs alone.
    appservices: super::appservice::Appservices,
    /// Users who asked for their content to be erased.
    erased: erasure::Erased,
    /// Other servers' answers about rooms of spaces (federation /hierarchy).
    remote_spaces: TtlCache<(OwnedRoomId, bool), Arc<get_hierarchy::v1::Response>>,
}

/// An event built and authorized, waiting to be persisted.
struct Built {
    pdu: Arc<Pdu>,
    row: NewEvent,
    wake: Wake,
}

impl Rooms {
    pub fn new(
        store: Store,
        config: Arc<Config>,
        key: Arc<ServerKey>,
        notifier: Arc<Notifier>,
        federation: Federation,
        appservices: super::appservice::Appservices,
        cluster: Cluster,
    ) -> Self {
        let writer = Writer::spawn(store.clone(), notifier, federation.outbox_signal());
        let txn_ids = txn_ids::TxnIds::new(&store);
        let rooms = Self {
            inner: Arc::new(Inner {
                store,
                config,
                key,
                writer,
                federation,
                cluster: cluster.clone(),
                heads: Default::default(),
                txns: Default::default(),
                txn_ids,
                shadow_banned: Default::default(),
                erased: Default::default(),
                remote_spaces: TtlCache::new(std::time::Duration::from_secs(300), 1000),
                appservices,
            }),
        };
        rooms.follow_cluster(&cluster);
        rooms
    }

    /// Shadow-bans (or lifts the ban on) a user for this process; the
    /// admin service keeps the flag in the database.
    pub fn set_shadow_banned(&self, user: &UserId, banned: bool) {
        if let Ok(mut set) = self.inner.shadow_banned.write() {
            match banned {
                true => set.insert(user.to_owned()),
                false => set.remove(user),
            };
        }
    }

    fn is_shadow_banned(&self, user: &UserId) -> bool {
        self.inner.shadow_banned.read().is_ok_and(|set| set.contains(user))
    }

    /// What a shadow-banned user is told: an event id for an event that
    /// was never made.
    fn phantom_event_id(&self) -> Result<ruma::OwnedEventId> {
        let id = format!("${}", crate::services::auth::tokens::random_letters(43)?);
        ruma::OwnedEventId::try_from(id).map_err(Error::internal)
    }

    /// Forgets a room's head (after its data was purged).
    pub async fn evict(&self, room_id: &RoomId) {
        self.slot(room_id).lock().await.take();
        let mut heads = self.inner.heads.lock().unwrap_or_else(|e| e.into_inner());
        heads.remove(room_id);
    }

    /// Whether the user is one of this server's.
    pub fn is_local(&self, user_id: &UserId) -> bool {
        user_id.server_name() == self.inner.config.server.server_name
    }

    fn store(&self) -> &Store {
        &self.inner.store
    }

    /// The application services whose namespaces rooms and aliases respect.
    pub fn appservices(&self) -> &super::appservice::Appservices {
        &self.inner.appservices
    }

    fn slot(&self, room_id: &RoomId) -> HeadSlot {
        let mut heads = self.inner.heads.lock().unwrap_or_else(|e| e.into_inner());
        heads.entry(room_id.to_owned()).or_default().clone()
    }

    /// Runs `f` on the room's head (loading it if needed); M_NOT_FOUND for
    /// rooms this server does not know.
    pub async fn with_head<R>(
        &self,
        room_id: &RoomId,
        f: impl FnOnce(&RoomHead) -> R,
    ) -> Result<R> {
        let slot = self.slot(room_id);
        let mut guard = slot.lock().await;
        let head = Self::loaded(&mut guard, self.store(), room_id).await?;
        Ok(f(head))
    }

    /// Whether the room's server ACL lets `server` take part (false for a
    /// room this server does not know).
    pub async fn admits_server(&self, room_id: &RoomId, server: &ruma::ServerName) -> bool {
        self.with_head(room_id, |head| head.server_allowed(server)).await.unwrap_or(false)
    }

    async fn loaded<'a>(
        guard: &'a mut Option<RoomHead>,
        store: &Store,
        room_id: &RoomId,
    ) -> Result<&'a mut RoomHead> {
        if guard.is_none() {
            *guard = RoomHead::load(store, room_id).await?;
        }
        guard.as_mut().ok_or_else(|| Error::not_found("unknown room"))
    }

    /// Builds and authorizes one event on `head` and moves the head past it.
    fn build(
        &self,
        head: &mut RoomHead,
        room_id: Option<&RoomId>,
        sender: &UserId,
        draft: EventDraft,
        txn: Option<(&DeviceId, &str)>,
        redacted_target: Option<String>,
    ) -> Result<Built> {
        let server_name = &self.inner.config.server.server_name;
        let mut pdu = build_event(head, room_id, sender, draft, server_name, &self.inner.key)?;
        // The members before this event: they differ from those after it
        // only in the event's target, whom both lists below add anyway.
        let members = head.joined();
        let destinations = self.destinations(head, &pdu, None);
        if !destinations.is_empty() {
            add_signature(&mut pdu.json, &head.rules.redaction, server_name, &self.inner.key)?;
        }
        let pdu = Arc::new(pdu);
        head.apply(&pdu);
        // A redacted state event must not keep its old content in the head.
        if let (Some(target), Some(redacted)) = (&pdu.redacts, &redacted_target)
            && let Some(key) =
                head.state().iter().find(|(_, p)| &p.event_id == target).map(|(k, _)| k.clone())
        {
            let redacted = Pdu::from_stored(target.as_str(), pdu.room_id.as_str(), redacted)?;
            head.put_state(key, Arc::new(redacted));
        }
        Ok(self.built(members, pdu, txn, redacted_target, None, destinations, &head.version))
    }

    /// The servers an event goes to: every server with a joined member, and
    /// the target's server of a membership change; never ourselves or the
    /// server the event came from.
    fn destinations(
        &self,
        head: &RoomHead,
        pdu: &Pdu,
        origin: Option<&ruma::ServerName>,
    ) -> Vec<String> {
        let own = &self.inner.config.server.server_name;
        let servers = head.servers();
        let target = (pdu.kind == TimelineEventType::RoomMember)
            .then(|| pdu.state_key.as_deref().and_then(|k| <&UserId>::try_from(k).ok()))
            .flatten()
            .map(|target| target.server_name())
            .filter(|server| !servers.iter().any(|s| s == server));
        servers
            .iter()
            .map(|server| &**server)
            .chain(target)
            .filter(|server| *server != own && Some(*server) != origin)
            .map(|server| server.to_string())
            .collect()
    }

    /// The row and wake-up list of an event already applied to `head`;
    /// `members` are the room's joined members before it.
    #[allow(clippy::too_many_arguments)]
    fn built(
        &self,
        members: Arc<[OwnedUserId]>,
        pdu: Arc<Pdu>,
        txn: Option<(&DeviceId, &str)>,
        redacted_target: Option<String>,
        resolved_state: Option<Arc<crate::store::ResolvedState>>,
        destinations: Vec<String>,
        version: &ruma::RoomVersionId,
    ) -> Built {
        let is_new_room = pdu.kind == TimelineEventType::RoomCreate;
        // The target of a membership change hears of it even if not (or
        // no longer) joined; remote users in the list are skipped by the
        // notifier, which knows only local syncs.
        let target = (pdu.kind == TimelineEventType::RoomMember)
            .then(|| pdu.state_key.as_deref().and_then(|k| OwnedUserId::try_from(k).ok()))
            .flatten();
        let wake = Wake { members, target };
        let row = NewEvent {
            event_id: pdu.event_id.to_string(),
            room_id: pdu.room_id.to_string(),
            sender: pdu.sender.to_string(),
            event_type: pdu.kind.to_string(),
            state_key: pdu.state_key.clone(),
            membership: pdu.membership.as_ref().map(|m| m.as_str().to_owned()),
            depth: i64::from(pdu.depth),
            origin_server_ts: i64::from(pdu.origin_server_ts.get()),
            pdu: pdu.to_stored(),
            prev_events: pdu.prev_events.iter().map(|e| e.to_string()).collect(),
            redacts: pdu.redacts.as_ref().map(|e| e.to_string()),
            redacted_target_pdu: redacted_target,
            txn: txn.map(|(device, txn)| (device.to_string(), txn.to_owned())),
            relation: pdu.relation(),
            search_text: pdu.search_text(),
            directory: pdu.directory_entry(),
            is_new_room,
            room_version: version.to_string(),
            resolved_state,
            destinations,
        };
        Built { pdu, row, wake }
    }

    /// Queues built events for the writer. Call with the room's head still
    /// locked, so that events reach the writer in the order they were built.
    async fn submit(&self, built: Vec<Built>) -> Result<Vec<(Arc<Pdu>, Pending)>> {
        let mut pending = Vec::with_capacity(built.len());
        for Built { pdu, row, wake } in built {
            pending.push((pdu, self.inner.writer.submit(row, wake).await?));
        }
        Ok(pending)
    }

    /// Waits until submitted events are durable (after the head is unlocked,
    /// so that other senders can queue behind them meanwhile).
    async fn durable(
        &self,
        room_id: &RoomId,
        pending: Vec<(Arc<Pdu>, Pending)>,
    ) -> Result<Vec<Arc<Pdu>>> {
        let mut done = Vec::with_capacity(pending.len());
        let mut failure = None;
        for (pdu, pending) in pending {
            match pending.durable().await {
                Ok(_) => done.push(pdu),
                Err(e) => failure = Some(e),
            }
        }
        if let Some(error) = failure {
            // The in-memory head ran ahead of what was stored: reload it.
            self.slot(room_id).lock().await.take();
            if matches!(error, Error::RoomMoving(_)) {
                self.inner.cluster.forget_writer(room_id);
            }
            return Err(error);
        }
        Ok(done)
    }

    /// The one way a local user's event enters an existing room.
    pub async fn append(
        &self,
        room_id: &RoomId,
        sender: &UserId,
        draft: EventDraft,
        txn: Option<(&DeviceId, &str)>,
    ) -> Result<Arc<Pdu>> {
        let redacted_target = match &draft.redacts {
            Some(target) => self.redacted_form(room_id, target.as_str()).await?,
            None => None,
        };
        let mut guard = self.lock_for_write(room_id, false).await?;
        let head = Self::loaded(&mut guard, self.store(), room_id).await?;
        let built = self.build(head, Some(room_id), sender, draft, txn, redacted_target)?;
        let pending = self.submit(vec![built]).await?;
        drop(guard);
        let mut done = self.durable(room_id, pending).await?;
        done.pop().ok_or_else(|| Error::internal("nothing persisted"))
    }

    /// The redacted form of an event of this room, if it is known.
    async fn redacted_form(&self, room_id: &RoomId, event_id: &str) -> Result<Option<String>> {
        let Some(row) = self.store().event(event_id).await? else {
            return Ok(None);
        };
        if row.room_id != room_id.as_str() {
            return Ok(None);
        }
        let pdu = Pdu::from_stored(&row.event_id, &row.room_id, &row.pdu)?;
        let rules = self.with_head(room_id, |head| head.rules.clone()).await?;
        let redacted = ruma::canonical_json::redact(pdu.json, &rules.redaction, None)
            .map_err(Error::internal)?;
        Ok(Some(serde_json::to_string(&redacted).map_err(Error::internal)?))
    }

    /// Serializes requests that carry the same transaction id, so a retry
    /// never races its original.
    async fn txn_lock(&self, user_id: &UserId, device_id: &DeviceId, txn_id: &str) -> TxnGuard {
        let key = (user_id.to_owned(), device_id.to_string(), txn_id.to_owned());
        let lock = {
            let mut txns = self.inner.txns.lock().unwrap_or_else(|e| e.into_inner());
            txns.entry(key.clone()).or_default().clone()
        };
        let guard = lock.clone().lock_owned().await;
        TxnGuard { rooms: self.clone(), key, _guard: guard }
    }
}

struct TxnGuard {
    rooms: Rooms,
    key: TxnKey,
    _guard: tokio::sync::OwnedMutexGuard<()>,
}

impl Drop for TxnGuard {
    fn drop(&mut self) {
        let mut txns = self.rooms.inner.txns.lock().unwrap_or_else(|e| e.into_inner());
        // Only the last holder removes the entry.
        if txns.get(&self.key).is_some_and(|lock| Arc::strong_count(lock) <= 2) {
            txns.remove(&self.key);
        }
    }
}
