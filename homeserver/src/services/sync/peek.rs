//! Peeking: reading a room one is not in, as Element previews a
//! world-readable room before joining it. GET /rooms/{id}/initialSync
//! gives its state and latest messages; GET /events?room_id= then
//! long-polls for what comes next. Members may use both too.

use std::time::Duration;

use ruma::{RoomId, UserId};
use serde_json::Value as JsonValue;

use super::SyncService;
use crate::{
    error::Result,
    services::rooms::{Direction, MessagesQuery, history_token},
};

/// Longest wait a peeker may ask for.
const MAX_TIMEOUT: Duration = Duration::from_secs(60);
const INITIAL_MESSAGES: usize = 20;
const PEEK_BATCH: usize = 100;

/// A room as initialSync shows it.
pub struct RoomSnapshot {
    pub membership: Option<ruma::events::room::member::MembershipState>,
    pub state: Vec<JsonValue>,
    /// Oldest first, with tokens to page back from (`start`) and to
    /// follow from (`end`).
    pub messages: Vec<JsonValue>,
    pub start: Option<String>,
    pub end: String,
    /// Listed in the room directory.
    pub published: bool,
    pub account_data: Vec<JsonValue>,
}

/// What came after a peeker's token.
pub struct PeekPage {
    pub chunk: Vec<JsonValue>,
    pub start: String,
    pub end: String,
}

impl SyncService {
    /// GET /rooms/{id}/initialSync: for members, and for anyone when the
    /// room is world readable.
    pub async fn room_snapshot(
        &self,
        user_id: &UserId,
        device_id: &str,
        room_id: &RoomId,
    ) -> Result<RoomSnapshot> {
        let state = self.rooms.visible_state(room_id, user_id).await?;
        let now = self.store.max_event_stream().await?;
        let query = MessagesQuery {
            from: Some(history_token(now)),
            dir: Direction::Backward,
            limit: INITIAL_MESSAGES,
            lazy_load_members: false,
        };
        let page = self.rooms.messages(room_id, user_id, device_id, query).await?;
        let mut messages = page.chunk;
        messages.reverse();
        let membership = self.rooms.with_head(room_id, |head| head.membership(user_id)).await?;
        let published = self.rooms.is_published(room_id).await?;
        let account_data = self
            .store
            .account_data_since(user_id.as_str(), i64::MIN)
            .await?
            .into_iter()
            .filter(|(room, _, _)| room == room_id.as_str())
            .filter_map(|(_, kind, content)| {
                let content: JsonValue = serde_json::from_str(&content).ok()?;
                Some(serde_json::json!({"type": kind, "content": content}))
            })
            .collect();
        Ok(RoomSnapshot {
            membership,
            state: state.iter().map(|pdu| pdu.to_client_event(None)).collect(),
            messages,
            start: page.end,
            end: history_token(now),
            published,
            account_data,
        })
    }

    /// GET /events?room_id=: the room's events after `from` (now, if
    /// None), waiting up to `timeout` for one to come.
    pub async fn peek(
        &self,
        user_id: &UserId,
        device_id: &str,
        room_id: &RoomId,
        from: Option<String>,
        timeout: Duration,
    ) -> Result<PeekPage> {
        let start = match from {
            Some(token) => token,
            None => history_token(self.store.max_event_stream().await?),
        };
        let mut from = start.clone();
        let deadline = tokio::time::Instant::now() + timeout.min(MAX_TIMEOUT);
        loop {
            let moved = self.notifier.peekers().notified();
            let query = MessagesQuery {
                from: Some(from.clone()),
                dir: Direction::Forward,
                limit: PEEK_BATCH,
                lazy_load_members: false,
            };
            // Reading again also checks again that the user may read.
            let page = self.rooms.messages(room_id, user_id, device_id, query).await?;
            // Past what was read, hidden events included.
            if let Some(last) = page.last_stream {
                from = history_token(last);
            }
            if !page.chunk.is_empty() {
                return Ok(PeekPage { chunk: page.chunk, start, end: from });
            }
            if tokio::time::timeout_at(deadline, moved).await.is_err() {
                return Ok(PeekPage { chunk: Vec::new(), start, end: from });
            }
        }
    }
}
