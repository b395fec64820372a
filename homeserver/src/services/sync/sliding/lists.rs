//! Which rooms a sliding sync answer is about: each list's rooms, filtered
//! and sorted by recency (`bump_stamp`), cut to its ranges; the rooms the
//! client subscribed to; and the rooms it was sent that the user has left.

use std::{
    collections::{BTreeMap, BTreeSet, HashSet},
    sync::Arc,
};

use ruma::{
    OwnedRoomId, RoomId, UserId,
    api::client::sync::sync_events::v5::request::{List, ListFilters},
    events::StateEventType,
};

use super::{Connection, SlidingRequest};
use crate::{
    error::Result,
    services::{notifier::Positions, sync::SyncService},
    store::ListedRoomRow,
};

/// The user's membership in a room, as an answer sends it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Membership {
    Join,
    Invite,
    /// Left, kicked or banned since the connection last sent the room.
    Leave,
}

impl Membership {
    pub(super) fn as_str(self) -> &'static str {
        match self {
            Self::Join => "join",
            Self::Invite => "invite",
            Self::Leave => "leave",
        }
    }
}

/// A room an answer is about, and what the client asked to see of it (the
/// widest of the lists and subscriptions that hold it).
#[derive(Debug, Clone)]
pub(super) struct Chosen {
    pub membership: Membership,
    /// Stream position of the newest event that moves the room up a list.
    pub bump: i64,
    /// Stream position of the room's newest event.
    pub latest: i64,
    pub timeline_limit: u64,
    pub required_state: Arc<Asked>,
}

impl Chosen {
    fn widen(&mut self, timeline_limit: u64, asked: &Arc<Asked>) {
        self.timeline_limit = self.timeline_limit.max(timeline_limit);
        let mine = &self.required_state.state;
        if asked.state.is_subset(mine) {
            return;
        }
        self.required_state = match mine.is_subset(&asked.state) {
            true => asked.clone(),
            false => Arc::new(Asked::new(mine.union(&asked.state).cloned().collect())),
        };
    }
}

/// The state a list or subscription asks for, shared by all its rooms
/// (most rooms are in one list), with its JSON text to compare with what
/// a room was sent with.
#[derive(Debug, Default)]
pub(super) struct Asked {
    pub state: BTreeSet<(String, String)>,
    pub text: String,
}

impl Asked {
    pub(super) fn new(state: BTreeSet<(String, String)>) -> Self {
        let text = serde_json::to_string(&state).unwrap_or_default();
        Self { state, text }
    }

    fn of(required_state: &[(StateEventType, String)]) -> Arc<Self> {
        let state = required_state.iter().map(|(kind, key)| (kind.to_string(), key.clone()));
        Arc::new(Self::new(state.collect()))
    }
}

/// The rooms of an answer and the size of each list.
#[derive(Debug, Default)]
pub(super) struct Selection {
    pub counts: BTreeMap<String, u64>,
    pub rooms: BTreeMap<OwnedRoomId, Chosen>,
}

/// What list filters read of a room beyond its membership.
#[derive(Debug, Default)]
struct Traits {
    encrypted: bool,
    room_type: Option<String>,
}

/// Longest timeline a client may ask of a room per answer.
const MAX_TIMELINE_LIMIT: u64 = 100;

impl SyncService {
    pub(super) async fn select_rooms(
        &self,
        user: &UserId,
        connection: &Connection,
        request: &SlidingRequest,
        now: Positions,
    ) -> Result<Selection> {
        let candidates: Vec<(OwnedRoomId, Membership, ListedRoomRow)> = self
            .store
            .listed_rooms(user.as_str(), now.events)
            .await?
            .into_iter()
            .filter_map(|row| {
                let membership = match row.membership.as_str() {
                    "join" => Membership::Join,
                    "invite" => Membership::Invite,
                    _ => return None,
                };
                Some((OwnedRoomId::try_from(row.room_id.as_str()).ok()?, membership, row))
            })
            .collect();
        let nothing = Arc::new(Asked::new(BTreeSet::new()));
        let chosen = |membership: Membership, row: &ListedRoomRow| Chosen {
            membership,
            // An invite sorts by when it came; a room by its last message.
            bump: match membership {
                Membership::Join => row.bump.unwrap_or(row.member_stream),
                _ => row.member_stream,
            },
            latest: row.latest.unwrap_or(row.member_stream),
            timeline_limit: 0,
            required_state: nothing.clone(),
        };

        let mut selection = Selection::default();
        let body = &request.body;
        let wants_dm = |list: &List| list.filters.as_ref().is_some_and(|f| f.is_dm.is_some());
        let direct = match body.lists.values().any(wants_dm) {
            true => self.direct_rooms(user).await?,
            false => HashSet::new(),
        };
        for (name, list) in &body.lists {
            let spaces = request.spaces.get(name).map(Vec::as_slice).unwrap_or_default();
            let children = self.space_children(spaces).await?;
            let mut matching = Vec::new();
            for (room_id, membership, row) in &candidates {
                if self.passes(list, room_id, *membership, &direct, spaces, &children).await? {
                    matching.push((chosen(*membership, row), room_id));
                }
            }
            // Most recent first; ties in a stable order.
            matching.sort_by(|(a, a_id), (b, b_id)| b.bump.cmp(&a.bump).then(a_id.cmp(b_id)));
            selection.counts.insert(name.clone(), matching.len() as u64);
            let asked = Asked::of(&list.room_details.required_state);
            for (start, end) in &list.ranges {
                let (start, end) = (u64::from(*start) as usize, u64::from(*end) as usize);
                for (room, room_id) in
                    matching.iter().skip(start).take(end.saturating_sub(start) + 1)
                {
                    selection
                        .rooms
                        .entry((*room_id).clone())
                        .or_insert_with(|| room.clone())
                        .widen(limit(list.room_details.timeline_limit), &asked);
                }
            }
        }
        // Subscriptions name rooms the user is in or invited to; others are
        // not theirs to see.
        for (room_id, subscription) in &body.room_subscriptions {
            if let Some((_, membership, row)) = candidates.iter().find(|(id, ..)| id == room_id) {
                selection
                    .rooms
                    .entry(room_id.clone())
                    .or_insert_with(|| chosen(*membership, row))
                    .widen(
                        limit(subscription.timeline_limit),
                        &Asked::of(&subscription.required_state),
                    );
            }
        }
        // A room the client was sent and has since left (or been removed
        // from) is sent once more, so that it learns.
        for (room_id, sent) in connection.sent.iter() {
            if sent.membership != Membership::Leave.as_str()
                && !candidates.iter().any(|(id, ..)| id == room_id)
            {
                selection.rooms.insert(
                    room_id.clone(),
                    Chosen {
                        membership: Membership::Leave,
                        bump: 0,
                        latest: 0,
                        timeline_limit: 1,
                        required_state: Arc::new(Asked::new(
                            [("m.room.member".to_owned(), "$ME".to_owned())].into(),
                        )),
                    },
                );
            }
        }
        Ok(selection)
    }

    /// Whether a room passes a list's filters (all of them: they combine
    /// with AND; a filter left out does not filter).
    async fn passes(
        &self,
        list: &List,
        room_id: &RoomId,
        membership: Membership,
        direct: &HashSet<OwnedRoomId>,
        spaces: &[OwnedRoomId],
        children: &HashSet<OwnedRoomId>,
    ) -> Result<bool> {
        let unfiltered = ListFilters::default();
        let filters = list.filters.as_ref().unwrap_or(&unfiltered);
        if filters.is_invite.is_some_and(|invite| invite != (membership == Membership::Invite))
            || filters.is_dm.is_some_and(|dm| dm != direct.contains(room_id))
            || (!spaces.is_empty() && !children.contains(room_id))
        {
            return Ok(false);
        }
        let typed = !filters.room_types.is_empty() || !filters.not_room_types.is_empty();
        if filters.is_encrypted.is_none() && !typed {
            return Ok(true);
        }
        // A remote room the user is only invited to has no state here.
        let traits = self
            .rooms
            .with_head(room_id, |head| Traits {
                encrypted: head.get(&StateEventType::RoomEncryption, "").is_some(),
                room_type: head.room_type().map(|kind| kind.to_string()),
            })
            .await
            .unwrap_or_default();
        let kind = traits.room_type.as_deref();
        Ok(filters.is_encrypted.is_none_or(|encrypted| encrypted == traits.encrypted)
            && (filters.room_types.is_empty()
                || filters.room_types.iter().any(|filter| filter.as_str() == kind))
            && !filters.not_room_types.iter().any(|filter| filter.as_str() == kind))
    }

    /// The rooms the user's `m.direct` account data names as direct chats.
    async fn direct_rooms(&self, user: &UserId) -> Result<HashSet<OwnedRoomId>> {
        let Some(text) = self.store.account_data(user.as_str(), "", "m.direct").await? else {
            return Ok(HashSet::new());
        };
        let content: BTreeMap<String, Vec<serde_json::Value>> =
            serde_json::from_str(&text).unwrap_or_default();
        Ok(content
            .values()
            .flatten()
            .filter_map(|room| OwnedRoomId::try_from(room.as_str()?).ok())
            .collect())
    }

    /// The children of the given spaces (the spaces filter's rooms).
    async fn space_children(&self, spaces: &[OwnedRoomId]) -> Result<HashSet<OwnedRoomId>> {
        let mut children = HashSet::new();
        for space in spaces {
            let named = self
                .rooms
                .with_head(space, |head| head.space_children(false))
                .await
                .unwrap_or_default();
            children.extend(named.into_iter().map(|child| child.room_id));
        }
        Ok(children)
    }
}

fn limit(timeline_limit: ruma::UInt) -> u64 {
    u64::from(timeline_limit).min(MAX_TIMELINE_LIMIT)
}
