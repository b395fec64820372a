//! What instances sharing a database tell each other, over PostgreSQL's
//! LISTEN/NOTIFY on one channel: stream moves (to wake long polls), typing
//! (kept in memory), room handovers and ended sessions. Every instance
//! hears every message; each ignores its own.

use ruma::{OwnedRoomId, OwnedUserId};
use serde::{Deserialize, Serialize};

use crate::services::notifier::Stream;

/// The channel every instance listens on.
pub const CHANNEL: &str = "lattice";

/// PostgreSQL refuses payloads of 8000 bytes and more.
const MAX_PAYLOAD: usize = 7900;

/// One thing an instance tells the others.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "k", rename_all = "snake_case")]
pub enum Message {
    /// A stream moved to `at`: wake these users' syncs (everyone's when
    /// `users` is absent); events were written in these rooms (any room
    /// when `rooms` is absent), so their heads elsewhere are out of date.
    Advance {
        stream: Stream,
        at: i64,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        users: Option<Vec<OwnedUserId>>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        rooms: Option<Vec<OwnedRoomId>>,
    },
    /// A user started (`for_ms`) or stopped typing in a room.
    Typing { room: OwnedRoomId, user: OwnedUserId, for_ms: Option<u64>, at: i64 },
    /// Instance `to` asks instance `owner` for a room it writes.
    Release { room: OwnedRoomId, owner: i32, to: i32 },
    /// The room's writer is now instance `to` (or it was not the sender's
    /// to give: `to` asks again).
    Handed { room: OwnedRoomId, to: i32 },
    /// Items were queued for these servers (for the instance that sends).
    Outbox { destinations: Vec<String> },
    /// A user's sessions ended (logout, password change, deactivation):
    /// tokens cached for them are no longer trusted.
    SessionsEnded { user: OwnedUserId },
    /// An admin shadow-banned a user or lifted the ban.
    ShadowBan { user: OwnedUserId, banned: bool },
    /// An admin set a user's own rate limit (per second, burst), or removed it.
    RateOverride { user: OwnedUserId, limit: Option<(u32, u32)> },
    /// Not sent: the connection to the bus was lost and found again, so
    /// messages may have been missed; what they would have said must be
    /// read from the database.
    #[serde(skip)]
    Resync,
}

/// Messages as they travel: who sent them, and what.
#[derive(Debug, Serialize, Deserialize)]
pub struct Envelope {
    pub from: i32,
    pub messages: Vec<Message>,
}

/// Packs `messages` from instance `from` into as few payloads as fit.
/// A message too big on its own loses its user and room lists (it then
/// wakes everyone and outdates every head: more work, nothing missed).
pub fn payloads(from: i32, messages: Vec<Message>) -> Vec<String> {
    let mut out = Vec::new();
    let mut current: Vec<String> = Vec::new();
    let mut size = 0;
    let frame = |parts: &[String]| format!(r#"{{"from":{from},"messages":[{}]}}"#, parts.join(","));
    for message in messages {
        let mut text = serde_json::to_string(&message).unwrap_or_default();
        if text.len() + 40 > MAX_PAYLOAD {
            let Message::Advance { stream, at, .. } = message else { continue };
            let widened = Message::Advance { stream, at, users: None, rooms: None };
            text = serde_json::to_string(&widened).unwrap_or_default();
        }
        if size + text.len() + 40 > MAX_PAYLOAD && !current.is_empty() {
            out.push(frame(&current));
            current.clear();
            size = 0;
        }
        size += text.len() + 1;
        current.push(text);
    }
    if !current.is_empty() {
        out.push(frame(&current));
    }
    out
}

#[cfg(test)]
mod tests {
    use ruma::{owned_room_id, owned_user_id};

    use super::*;

    #[test]
    fn messages_fit_postgres_payloads_and_read_back() {
        let users: Vec<OwnedUserId> =
            (0..50).map(|n| format!("@user{n}:example.org").try_into().expect("user")).collect();
        let small = Message::Advance {
            stream: Stream::Events,
            at: 7,
            users: Some(users.clone()),
            rooms: Some(vec![owned_room_id!("!a:example.org")]),
        };
        let typing = Message::Typing {
            room: owned_room_id!("!a:example.org"),
            user: owned_user_id!("@user1:example.org"),
            for_ms: Some(30_000),
            at: 3,
        };
        let many = (0..400).map(|_| small.clone()).chain([typing.clone()]).collect::<Vec<_>>();
        let payloads = payloads(9, many);
        assert!(payloads.len() > 1, "split into several payloads");
        let mut read = Vec::new();
        for payload in &payloads {
            assert!(payload.len() < 8000, "{} bytes", payload.len());
            let envelope: Envelope = serde_json::from_str(payload).expect("parses");
            assert_eq!(envelope.from, 9);
            read.extend(envelope.messages);
        }
        assert_eq!(read.len(), 401, "nothing lost in the split");
        assert_eq!(read[0], small);
        assert_eq!(read[400], typing);
    }

    #[test]
    fn an_oversized_advance_wakes_everyone_instead() {
        let users: Vec<OwnedUserId> = (0..2000)
            .map(|n| format!("@someone{n}:example.org").try_into().expect("user"))
            .collect();
        let huge =
            Message::Advance { stream: Stream::Receipts, at: 42, users: Some(users), rooms: None };
        let payloads = payloads(1, vec![huge]);
        assert_eq!(payloads.len(), 1);
        let envelope: Envelope = serde_json::from_str(&payloads[0]).expect("parses");
        assert_eq!(
            envelope.messages,
            vec![Message::Advance { stream: Stream::Receipts, at: 42, users: None, rooms: None }]
        );
    }
}
