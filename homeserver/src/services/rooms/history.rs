//! Reading rooms: single events, paginated history, state and members, each
//! limited to what the user may see.

use std::{collections::BTreeSet, sync::Arc};

use ruma::{
    EventId, RoomId, UserId,
    events::{
        StateEventType,
        room::{history_visibility::HistoryVisibility, member::MembershipState},
    },
};
use serde_json::{Value as JsonValue, json};

use super::{
    Rooms,
    pdu::{ClientView, Pdu},
    visibility::Visibility,
};
use crate::{
    error::{Error, Result},
    store::EventRow,
};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    Backward,
    Forward,
}

/// What a client asked of /messages.
#[derive(Debug, Clone)]
pub struct MessagesQuery {
    pub from: Option<String>,
    pub dir: Direction,
    pub limit: usize,
    pub lazy_load_members: bool,
}

/// One page of /messages.
#[derive(Debug)]
pub struct MessagesPage {
    pub chunk: Vec<JsonValue>,
    pub start: String,
    pub end: Option<String>,
    pub state: Vec<JsonValue>,
    /// The position of the last event read, shown or not (a peeker goes
    /// on from there).
    pub last_stream: Option<i64>,
}

/// Pagination tokens are stream positions: `t<n>` sits after event n.
pub fn parse_token(token: &str) -> Result<i64> {
    token
        .strip_prefix('t')
        .or_else(|| token.strip_prefix('s').map(|rest| rest.split('_').next().unwrap_or(rest)))
        .and_then(|n| n.parse().ok())
        .ok_or_else(|| Error::invalid_param("invalid pagination token"))
}

pub fn token(position: i64) -> String {
    format!("t{position}")
}

impl Rooms {
    /// The client form of a stored event, with `unsigned` filled in for
    /// `viewer` (the transaction id is echoed to the sending device only).
    pub fn client_event(
        &self,
        row: &EventRow,
        viewer: Option<(&UserId, &str)>,
    ) -> Result<JsonValue> {
        let view = ClientView::from_stored(&row.event_id, &row.room_id, &row.pdu)?;
        let mut unsigned = serde_json::Map::new();
        if let (Some((user, device)), Some(sender_device), Some(txn)) =
            (viewer, &row.sender_device, &row.txn_id)
            && view.sender == user.as_str()
            && sender_device == device
        {
            unsigned.insert("transaction_id".into(), json!(txn));
        }
        if let Some(by) = &row.redacted_by {
            unsigned.insert("redacted_because".into(), json!({"event_id": by}));
        }
        let now = u64::from(ruma::MilliSecondsSinceUnixEpoch::now().get());
        unsigned.insert("age".into(), json!(now.saturating_sub(view.origin_server_ts)));
        Ok(view.to_json(Some(JsonValue::Object(unsigned))))
    }

    /// An event of this room the user may see (M_NOT_FOUND otherwise, so
    /// that hidden events cannot be told from missing ones), with the
    /// visibility checker for its neighbours.
    pub(super) async fn visible_row<'a>(
        &'a self,
        room_id: &RoomId,
        user_id: &'a UserId,
        event_id: &EventId,
    ) -> Result<(EventRow, Visibility<'a>)> {
        let not_found = || Error::not_found("event not found");
        let row = self.store().event(event_id.as_str()).await?.ok_or_else(not_found)?;
        if row.room_id != room_id.as_str() {
            return Err(not_found());
        }
        let mut visibility = Visibility::new(self, room_id, user_id).await?;
        if !visibility.allows(&row).await? {
            return Err(not_found());
        }
        Ok((row, visibility))
    }

    /// GET /rooms/{id}/event/{eventId}: M_NOT_FOUND unless visible.
    pub async fn event_for(
        &self,
        room_id: &RoomId,
        user_id: &UserId,
        event_id: &EventId,
    ) -> Result<JsonValue> {
        let (row, _) = self.visible_row(room_id, user_id, event_id).await?;
        let mut events = self.client_events_for([&row], user_id, None).await?;
        self.bundle_relations(&mut events, user_id).await?;
        events.pop().ok_or_else(|| Error::internal("the event vanished"))
    }

    /// GET /rooms/{id}/messages.
    pub async fn messages(
        &self,
        room_id: &RoomId,
        user_id: &UserId,
        device_id: &str,
        query: MessagesQuery,
    ) -> Result<MessagesPage> {
        let MessagesQuery { from, dir, limit, lazy_load_members } = query;
        self.ensure_may_read(room_id, user_id).await?;
        let limit = limit.clamp(1, 1000) as i64;
        let newest = self.store().max_event_stream().await?;
        let from = match from.as_deref() {
            Some(token) => parse_token(token)?,
            None if dir == Direction::Backward => newest,
            None => i64::MIN,
        };
        let page = |from: i64| async move {
            match dir {
                Direction::Backward => {
                    self.store().room_events(room_id.as_str(), i64::MIN, from, false, limit).await
                }
                Direction::Forward => {
                    self.store().room_events(room_id.as_str(), from, i64::MAX, true, limit).await
                }
            }
        };
        let mut rows = page(from).await?;
        // Paging past the oldest event here: older history may be elsewhere.
        if dir == Direction::Backward && (rows.len() as i64) < limit {
            match self.backfill_remote(room_id).await {
                Ok(true) => rows = page(from).await?,
                Ok(false) => {}
                Err(error) => tracing::info!(%error, %room_id, "could not backfill"),
            }
        }
        let end = match (dir, rows.last()) {
            (Direction::Backward, Some(last)) if rows.len() as i64 == limit => {
                Some(token(last.stream - 1))
            }
            (Direction::Forward, Some(last)) if rows.len() as i64 == limit => {
                Some(token(last.stream))
            }
            _ => None,
        };
        let mut visibility = Visibility::new(self, room_id, user_id).await?;
        let mut chunk =
            self.visible_events(&rows, &mut visibility, user_id, Some(device_id)).await?;
        let senders: BTreeSet<String> =
            chunk.iter().filter_map(|e| e["sender"].as_str().map(str::to_owned)).collect();
        let state = if lazy_load_members {
            self.with_head(room_id, |head| {
                senders
                    .iter()
                    .filter_map(|s| head.get(&StateEventType::RoomMember, s))
                    .map(|pdu| pdu.to_client_event(None))
                    .collect()
            })
            .await?
        } else {
            Vec::new()
        };
        self.bundle_relations(&mut chunk, user_id).await?;
        let last_stream = rows.last().map(|row| row.stream);
        Ok(MessagesPage { chunk, start: token(from), end, state, last_stream })
    }

    /// Refuses users who are not in the room and cannot read it anyway.
    async fn ensure_may_read(&self, room_id: &RoomId, user_id: &UserId) -> Result<()> {
        let (membership, world_readable) = self
            .with_head(room_id, |head| {
                let visibility = head
                    .get(&StateEventType::RoomHistoryVisibility, "")
                    .and_then(|pdu| pdu.content_str("history_visibility"))
                    .map(HistoryVisibility::from);
                (head.membership(user_id), visibility == Some(HistoryVisibility::WorldReadable))
            })
            .await?;
        if membership.is_some() || world_readable {
            Ok(())
        } else {
            Err(Error::forbidden("you are not in this room"))
        }
    }

    /// The room state this user may see: the current state while joined
    /// (or if the room is world readable), else the state when they left.
    pub async fn visible_state(&self, room_id: &RoomId, user_id: &UserId) -> Result<Vec<Arc<Pdu>>> {
        let (membership, current, world_readable) = self
            .with_head(room_id, |head| {
                let visibility = head
                    .get(&StateEventType::RoomHistoryVisibility, "")
                    .and_then(|pdu| pdu.content_str("history_visibility"))
                    .map(HistoryVisibility::from);
                let member = head.get(&StateEventType::RoomMember, user_id.as_str()).cloned();
                (
                    member,
                    head.state().values().cloned().collect::<Vec<_>>(),
                    visibility == Some(HistoryVisibility::WorldReadable),
                )
            })
            .await?;
        let state = membership.as_ref().and_then(|m| m.content_str("membership"));
        match (state.map(MembershipState::from), membership) {
            (Some(MembershipState::Join), _) => Ok(current),
            _ if world_readable => Ok(current),
            (Some(MembershipState::Leave | MembershipState::Ban), Some(member)) => {
                let row = self
                    .store()
                    .event(member.event_id.as_str())
                    .await?
                    .ok_or_else(|| Error::not_found("no state"))?;
                self.state_of_group(room_id, row.state_group).await
            }
            _ => Err(Error::forbidden("you are not in this room")),
        }
    }

    /// GET /rooms/{id}/state/{type}/{key}.
    pub async fn state_event(
        &self,
        room_id: &RoomId,
        user_id: &UserId,
        kind: &str,
        key: &str,
    ) -> Result<Arc<Pdu>> {
        self.visible_state(room_id, user_id)
            .await?
            .into_iter()
            .find(|pdu| pdu.kind.to_string() == kind && pdu.state_key.as_deref() == Some(key))
            .ok_or_else(|| Error::not_found("no such state"))
    }

    /// GET /rooms/{id}/members, filtered by membership.
    pub async fn members(
        &self,
        room_id: &RoomId,
        user_id: &UserId,
        at: Option<&str>,
        membership: Option<&str>,
        not_membership: Option<&str>,
    ) -> Result<Vec<JsonValue>> {
        let visible = self.visible_state(room_id, user_id).await?;
        let state = match at {
            Some(token) => self.state_at_token(room_id, user_id, &visible, token).await?,
            None => visible,
        };
        Ok(state
            .into_iter()
            .filter(|pdu| pdu.kind.to_string() == "m.room.member")
            .filter(|pdu| {
                let m = pdu.content_str("membership");
                membership.is_none_or(|want| m.as_deref() == Some(want))
                    && not_membership.is_none_or(|not| m.as_deref() != Some(not))
            })
            .map(|pdu| pdu.to_client_event(None))
            .collect())
    }
}

impl Rooms {
    /// The room's state at a pagination token, for a user allowed to see
    /// the room (`visible` is what they see now); one who left sees no
    /// later than their leaving.
    async fn state_at_token(
        &self,
        room_id: &RoomId,
        user_id: &UserId,
        visible: &[Arc<Pdu>],
        token: &str,
    ) -> Result<Vec<Arc<Pdu>>> {
        let mut position = parse_token(token)?;
        let member = visible.iter().find(|pdu| {
            pdu.kind.to_string() == "m.room.member"
                && pdu.state_key.as_deref() == Some(user_id.as_str())
        });
        if let Some(member) = member
            && member.membership != Some(MembershipState::Join)
            && let Some(row) = self.store().event(member.event_id.as_str()).await?
        {
            position = position.min(row.stream);
        }
        let Some(row) = self.store().event_at(room_id.as_str(), position).await? else {
            return Ok(Vec::new());
        };
        self.state_of_group(room_id, row.state_group).await
    }

    /// The state a state group stands for, as PDUs.
    async fn state_of_group(&self, room_id: &RoomId, group: i64) -> Result<Vec<Arc<Pdu>>> {
        // Later rows override earlier ones for the same key.
        let mut latest = std::collections::HashMap::new();
        for row in self.store().state_at_group(group).await? {
            latest.insert((row.event_type, row.state_key), (row.event_id, row.pdu));
        }
        latest
            .into_values()
            .map(|(id, pdu)| Pdu::from_stored(&id, room_id.as_str(), &pdu).map(Arc::new))
            .collect()
    }
}

/// GET /rooms/{id}/context/{eventId}.
#[derive(Debug)]
pub struct Context {
    pub before: Vec<JsonValue>,
    pub event: JsonValue,
    pub after: Vec<JsonValue>,
    pub state: Vec<JsonValue>,
    pub start: String,
    pub end: String,
}

impl Rooms {
    pub async fn context(
        &self,
        room_id: &RoomId,
        user_id: &UserId,
        event_id: &EventId,
        limit: usize,
    ) -> Result<Context> {
        let (row, mut visibility) = self.visible_row(room_id, user_id, event_id).await?;
        let half = (limit.clamp(0, 100) / 2).max(1) as i64;
        let before_rows = self
            .store()
            .room_events(room_id.as_str(), i64::MIN, row.stream - 1, false, half)
            .await?;
        let after_rows =
            self.store().room_events(room_id.as_str(), row.stream, i64::MAX, true, half).await?;
        let start = token(before_rows.last().map_or(row.stream - 1, |r| r.stream - 1));
        let end = token(after_rows.last().map_or(row.stream, |r| r.stream));
        let before = self.visible_events(&before_rows, &mut visibility, user_id, None).await?;
        let after = self.visible_events(&after_rows, &mut visibility, user_id, None).await?;
        let mut latest = std::collections::HashMap::new();
        for state in self.store().state_at_group(row.state_group).await? {
            latest.insert((state.event_type, state.state_key), (state.event_id, state.pdu));
        }
        let state = latest
            .into_values()
            .map(|(id, pdu)| {
                ClientView::from_stored(&id, room_id.as_str(), &pdu).map(|v| v.to_json(None))
            })
            .collect::<Result<Vec<_>>>()?;
        let mut shown = self.client_events_for([&row], user_id, None).await?;
        let event = shown.pop().ok_or_else(|| Error::internal("the event vanished"))?;
        Ok(Context { before, event, after, state, start, end })
    }

    /// The client form of those of `rows` the user may see, as they see
    /// them (the transaction id for `device`, erasure applied).
    pub(super) async fn visible_events(
        &self,
        rows: &[EventRow],
        visibility: &mut Visibility<'_>,
        user_id: &UserId,
        device: Option<&str>,
    ) -> Result<Vec<JsonValue>> {
        let mut shown = Vec::with_capacity(rows.len());
        for row in rows {
            if visibility.allows(row).await? {
                shown.push(row);
            }
        }
        self.client_events_for(shown, user_id, device).await
    }
}

impl Rooms {
    /// GET /timestamp_to_event: the visible event closest to `ts` in a direction.
    pub async fn event_at_time(
        &self,
        room_id: &RoomId,
        user_id: &UserId,
        ts: i64,
        dir: Direction,
    ) -> Result<(ruma::OwnedEventId, i64)> {
        self.ensure_may_read(room_id, user_id).await?;
        let not_found = || Error::not_found("no event in that direction");
        let row = self
            .store()
            .event_near_time(room_id.as_str(), ts, dir == Direction::Forward)
            .await?
            .ok_or_else(not_found)?;
        let mut visibility = Visibility::new(self, room_id, user_id).await?;
        if !visibility.allows(&row).await? {
            return Err(not_found());
        }
        let pdu = Pdu::from_stored(&row.event_id, &row.room_id, &row.pdu)?;
        Ok((pdu.event_id, i64::from(pdu.origin_server_ts.get())))
    }
}
