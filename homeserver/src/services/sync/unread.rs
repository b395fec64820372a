//! Unread notification counts of a sync: the events after the user's read
//! position, judged by their push rules, counted from the sync's own
//! timeline when it holds them all and from the store otherwise.

use std::collections::HashMap;

use ruma::{
    OwnedRoomId, OwnedUserId, RoomId, UInt, UserId,
    api::client::sync::sync_events::v3::Rooms as SyncRooms, events::AnySyncTimelineEvent,
    serde::Raw,
};

use super::{SyncService, raw};
use crate::{error::Result, services::push};

/// Unread events counted per room; clients show "99+" well before this.
const MAX_COUNTED_UNREAD: i64 = 100;

/// Unread counts of one user in one room, as of stream position `through`.
#[derive(Debug, Clone, Copy)]
pub(super) struct UnreadMemo {
    read_pos: i64,
    through: i64,
    notify: u64,
    highlight: u64,
}

pub(super) type UnreadMemos = std::sync::Mutex<HashMap<(OwnedUserId, OwnedRoomId), UnreadMemo>>;

/// What a sync's timeline of one room holds, so that unread counting can
/// reuse it instead of reading and parsing the same events again.
#[derive(Debug, Default)]
pub(super) struct Seen {
    /// Stream position of the newest event in the timeline.
    pub(super) latest: Option<i64>,
    /// Set when the timeline holds every event after this position (not
    /// limited, nothing filtered out).
    pub(super) complete_after: Option<i64>,
    /// Per timeline event: its stream position and whether it can notify
    /// (from someone else, not state, not redacted).
    pub(super) events: Vec<(i64, bool)>,
}

impl Seen {
    /// The timeline's events, when they include every event after `after`.
    fn covering(&self, after: i64) -> Option<&[(i64, bool)]> {
        self.complete_after.filter(|from| *from <= after).map(|_| self.events.as_slice())
    }
}

/// What unread counting needs of a user once per sync: their push rules
/// and read position in each room.
pub(super) struct UnreadContext {
    rules: std::sync::Arc<ruma::push::Ruleset>,
    read: HashMap<String, i64>,
}

impl SyncService {
    pub(super) async fn unread_context(&self, user: &UserId) -> Result<UnreadContext> {
        let rules = self.user_data.push_rules(user).await?;
        let read = self.store.read_positions(user.as_str()).await?.into_iter().collect();
        Ok(UnreadContext { rules, read })
    }

    /// Notification and highlight counts (by the user's push rules) of the
    /// events after their read marker, for each joined room in the response.
    pub(super) async fn unread_counts(
        &self,
        user: &UserId,
        now: i64,
        seen: &HashMap<OwnedRoomId, Seen>,
        rooms: &mut SyncRooms,
    ) -> Result<()> {
        if rooms.join.is_empty() {
            return Ok(());
        }
        let context = self.unread_context(user).await?;
        for (room_id, joined) in rooms.join.iter_mut() {
            let (notify, highlight) = self
                .room_unread(
                    &context,
                    user,
                    room_id,
                    seen.get(room_id),
                    &joined.timeline.events,
                    now,
                )
                .await?;
            joined.unread_notifications.notification_count = UInt::try_from(notify).ok();
            joined.unread_notifications.highlight_count = UInt::try_from(highlight).ok();
        }
        Ok(())
    }

    /// A room's notification and highlight counts, given the timeline a
    /// sync sends of it (`seen` describes it). Counts are remembered per
    /// user and room, so that a sync evaluates only the events that arrived
    /// since the last one.
    pub(super) async fn room_unread(
        &self,
        context: &UnreadContext,
        user: &UserId,
        room_id: &RoomId,
        seen: Option<&Seen>,
        timeline: &[Raw<AnySyncTimelineEvent>],
        now: i64,
    ) -> Result<(u64, u64)> {
        let read_pos = context.read.get(room_id.as_str()).copied().unwrap_or(0);
        // Read up to the room's newest event: nothing to count.
        if seen.and_then(|seen| seen.latest).is_some_and(|newest| newest <= read_pos) {
            return Ok((0, 0));
        }
        let key = (user.to_owned(), room_id.to_owned());
        let memo = self.unread.lock().unwrap_or_else(|e| e.into_inner()).get(&key).copied();
        let mut counts = match memo {
            Some(memo) if memo.read_pos == read_pos && memo.through <= now => memo,
            _ => UnreadMemo { read_pos, through: read_pos, notify: 0, highlight: 0 },
        };
        let events = match seen.and_then(|seen| seen.covering(counts.through)) {
            Some(events) => timeline
                .iter()
                .zip(events)
                .filter(|(_, (stream, countable))| *countable && *stream > counts.through)
                .map(|(event, _)| event.clone())
                .collect(),
            None => self.unread_events(user, room_id, counts.through, now).await?,
        };
        if !events.is_empty() {
            let push_context = push::room_context(&self.rooms, room_id, user).await?;
            for event in &events {
                let actions = context.rules.get_actions(event, &push_context).await;
                counts.notify += u64::from(actions.iter().any(|a| a.should_notify()));
                counts.highlight += u64::from(actions.iter().any(|a| a.is_highlight()));
            }
        }
        counts.through = now.max(counts.through);
        self.unread.lock().unwrap_or_else(|e| e.into_inner()).insert(key, counts);
        Ok((counts.notify, counts.highlight))
    }

    /// Events of a room after `after` that could notify the user, read
    /// from the store (when the sync's timeline does not hold them all).
    async fn unread_events(
        &self,
        user: &UserId,
        room_id: &RoomId,
        after: i64,
        now: i64,
    ) -> Result<Vec<Raw<ruma::events::AnySyncTimelineEvent>>> {
        let rows = self
            .store
            .unread_in_room(user.as_str(), room_id.as_str(), after, now, MAX_COUNTED_UNREAD)
            .await?;
        rows.iter().map(|row| raw(&self.rooms.client_event(row, None)?)).collect()
    }
}
