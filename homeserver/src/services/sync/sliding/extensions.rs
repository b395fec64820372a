//! The extensions of a sliding sync answer, each read from the stream
//! /sync reads it from: to-device messages, the device's key counts and
//! whose devices changed, account data, receipts and typing.

use std::collections::{BTreeMap, HashSet};

use ruma::{
    OwnedRoomId,
    api::client::sync::sync_events::v5::{request, response},
};

use super::{Connection, lists::Selection, room::RoomUpdates};
use crate::{
    error::{Error, Result},
    services::{
        auth::Requester,
        ephemeral::receipt_contents,
        notifier::Positions,
        sync::{SyncService, raw},
    },
    store::ReceiptRow,
};

/// Rooms whose first-sent receipts are read in one query.
const RECEIPT_ROOMS_PER_QUERY: usize = 200;

/// What the rest of an answer found that its extensions build on.
pub(super) struct Found<'a> {
    pub selection: &'a Selection,
    pub updates: &'a RoomUpdates,
    /// Receipts since the connection's position.
    pub receipts: Vec<ReceiptRow>,
}

impl SyncService {
    pub(super) async fn extensions(
        &self,
        requester: &Requester,
        connection: &Connection,
        asked: &request::Extensions,
        found: Found<'_>,
        now: Positions,
    ) -> Result<response::Extensions> {
        let Found { selection, updates, receipts: new_receipts } = found;
        let user = &requester.user_id;
        let since = connection.since;
        let mut answer = response::Extensions::default();
        if asked.to_device.enabled == Some(true) {
            let from = match asked.to_device.since.as_deref() {
                Some(token) => Some(
                    token
                        .parse::<i64>()
                        .map_err(|_| Error::invalid_param("invalid to_device since token"))?,
                ),
                None => None,
            };
            let from = from.map(|to_device| Positions { to_device, ..now });
            let (events, reached) = self.keys.take_to_device(requester, from, now).await?;
            let mut to_device = response::ToDevice::default();
            to_device.next_batch = reached.to_string();
            to_device.events = events;
            answer.to_device = Some(to_device);
        }
        if asked.e2ee.enabled == Some(true) {
            if let Some(since) = since {
                let lists = self.keys.device_list_changes(user, since, now).await?;
                answer.e2ee.device_lists.changed = lists.changed;
                answer.e2ee.device_lists.left = lists.left;
            }
            let (counts, fallback) = self.keys.key_summary(requester).await?;
            answer.e2ee.device_one_time_keys_count = counts;
            answer.e2ee.device_unused_fallback_key_types = Some(fallback);
        }
        if asked.account_data.enabled == Some(true)
            && since.is_none_or(|s| s.account_data < now.account_data)
        {
            self.account_data(user, since, &mut answer.account_data).await?;
        }
        // The rooms of the answer (joined ones) are those whose receipts
        // and typing notices the client hears of.
        let joined: Vec<OwnedRoomId> = selection
            .rooms
            .iter()
            .filter(|(_, chosen)| chosen.membership == super::lists::Membership::Join)
            .map(|(room_id, _)| room_id.clone())
            .collect();
        if asked.receipts.enabled == Some(true) {
            let mut receipts: Vec<ReceiptRow> = new_receipts
                .into_iter()
                .filter(|row| joined.iter().any(|room| room.as_str() == row.room_id))
                .collect();
            let fresh: Vec<(&OwnedRoomId, &Vec<String>)> = updates.fresh.iter().collect();
            for chunk in fresh.chunks(RECEIPT_ROOMS_PER_QUERY) {
                let rooms: Vec<String> = chunk.iter().map(|(room, _)| room.to_string()).collect();
                let events: Vec<String> =
                    chunk.iter().flat_map(|(_, ids)| ids.iter().cloned()).collect();
                receipts.extend(self.store.receipts_on(user.as_str(), &rooms, &events).await?);
            }
            for (room_id, content) in receipt_contents(receipts, |reader| reader == user.as_str()) {
                let Ok(room_id) = OwnedRoomId::try_from(room_id) else { continue };
                let event = serde_json::json!({"type": "m.receipt", "content": content});
                answer.receipts.rooms.insert(room_id, raw(&event)?);
            }
        }
        if asked.typing.enabled == Some(true) {
            // Typing positions restart with the server: an older one sees all.
            let since_typing =
                since.map_or(0, |s| if s.typing > now.typing { 0 } else { s.typing });
            for (room_id, users) in self.typing.changes_since(since_typing, &joined) {
                let event = serde_json::json!({"type": "m.typing", "content": {"user_ids": users}});
                answer.typing.rooms.insert(room_id, raw(&event)?);
            }
        }
        Ok(answer)
    }

    /// Account data that changed since the connection's position (all of
    /// it for a new connection); room account data of joined rooms only.
    async fn account_data(
        &self,
        user: &ruma::UserId,
        since: Option<Positions>,
        answer: &mut response::AccountData,
    ) -> Result<()> {
        let changed = self
            .store
            .account_data_since(user.as_str(), since.map_or(0, |s| s.account_data))
            .await?;
        let memberships = self.store.memberships(user.as_str()).await?;
        let joined: HashSet<&str> = memberships
            .iter()
            .filter(|(_, membership)| membership == "join")
            .map(|(room, _)| room.as_str())
            .collect();
        let mut rooms: BTreeMap<OwnedRoomId, Vec<_>> = BTreeMap::new();
        for (room_id, kind, content) in changed {
            let event = serde_json::json!({
                "type": kind,
                "content": serde_json::from_str::<serde_json::Value>(&content).unwrap_or_default(),
            });
            if room_id.is_empty() {
                answer.global.push(raw(&event)?);
            } else if joined.contains(room_id.as_str())
                && let Ok(room_id) = OwnedRoomId::try_from(room_id)
            {
                rooms.entry(room_id).or_default().push(raw(&event)?);
            }
        }
        answer.rooms = rooms;
        Ok(())
    }
}

/// The receipts the user's own read position moved by: rooms whose unread
/// counts must be sent again.
pub(super) fn own_read_rooms(user: &ruma::UserId, receipts: &[ReceiptRow]) -> Vec<String> {
    receipts
        .iter()
        .filter(|row| row.user_id == user.as_str() && row.receipt_type.starts_with("m.read"))
        .map(|row| row.room_id.clone())
        .collect()
}
