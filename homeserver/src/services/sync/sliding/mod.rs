//! Simplified sliding sync (MSC4186), what Element X syncs with. The client
//! asks for windows ("lists") over its rooms sorted by recency and for
//! particular rooms ("subscriptions"); each answer sends only what the
//! connection has not sent yet. Connections, their positions and what
//! each position sent of each room are stored, so that a client's `pos`
//! survives a restart; a position the server no longer has answers
//! M_UNKNOWN_POS and the client starts over.

mod extensions;
mod lists;
mod room;

use std::{
    collections::{BTreeMap, HashMap, HashSet},
    sync::Arc,
    time::Duration,
};

use ruma::{
    OwnedRoomId, UInt,
    api::client::sync::sync_events::v5::{self, response},
};
use serde::Deserialize;

use super::{SyncService, parse_since, since_token};
use crate::{
    error::{Error, Result},
    services::{auth::Requester, cache::TtlCache, notifier::Positions},
    store::{SlidingPositionRow, SlidingRoomRow},
};

/// A sliding sync request: ruma's, and the list filters ruma leaves out.
#[derive(Debug, Default)]
pub struct SlidingRequest {
    pub body: v5::Request,
    /// Each list's `spaces` filter: only rooms these spaces name as children.
    pub spaces: BTreeMap<String, Vec<OwnedRoomId>>,
}

impl SlidingRequest {
    /// Reads the `spaces` filters from the request's JSON body (an odd body
    /// is ruma's to refuse; here it only means no such filter).
    pub fn spaces_in(body: &[u8]) -> BTreeMap<String, Vec<OwnedRoomId>> {
        #[derive(Deserialize)]
        struct Body {
            #[serde(default)]
            lists: BTreeMap<String, ListBody>,
        }
        #[derive(Deserialize)]
        struct ListBody {
            #[serde(default)]
            filters: Option<FilterBody>,
        }
        #[derive(Deserialize)]
        struct FilterBody {
            #[serde(default)]
            spaces: Vec<OwnedRoomId>,
        }
        let Ok(body) = serde_json::from_slice::<Body>(body) else {
            return BTreeMap::new();
        };
        body.lists
            .into_iter()
            .filter_map(|(name, list)| Some((name, list.filters?.spaces)))
            .filter(|(_, spaces)| !spaces.is_empty())
            .collect()
    }
}

/// A connection as of the position the client sent.
#[derive(Debug)]
pub(super) struct Connection {
    key: i64,
    /// The position the client sent (none: a new connection).
    pos: Option<i64>,
    /// The stream positions that position's answer was made at.
    since: Option<Positions>,
    /// Each list's room count in that answer.
    counts: BTreeMap<String, u64>,
    /// What had been sent of each room.
    sent: Arc<HashMap<OwnedRoomId, SlidingRoomRow>>,
}

/// What a given position holds, kept in memory after it was written or
/// read: a position never changes once written, so a copy is right on
/// any instance, and a long poll's next request reads nothing.
#[derive(Debug)]
pub(super) struct KnownPosition {
    key: i64,
    since: Positions,
    counts: BTreeMap<String, u64>,
    sent: Arc<HashMap<OwnedRoomId, SlidingRoomRow>>,
}

/// Positions kept in memory: long enough for a long poll's next request.
pub(super) fn position_cache() -> TtlCache<String, Arc<KnownPosition>> {
    TtlCache::new(Duration::from_secs(600), 20_000)
}

/// The cache key of a connection's position.
fn cache_key(requester: &Requester, conn_id: &str, pos: i64) -> String {
    format!("{}\0{}\0{conn_id}\0{pos}", requester.user_id, requester.device_id)
}

/// An answer, before it is given a position.
struct Answer {
    response: v5::Response,
    counts: BTreeMap<String, u64>,
    sent: Vec<SlidingRoomRow>,
}

impl Answer {
    /// Whether the answer tells nothing new (a long poll waits on).
    fn is_empty(&self, connection: &Connection) -> bool {
        let extensions = &self.response.extensions;
        self.response.rooms.is_empty()
            && self.counts == connection.counts
            && extensions.to_device.as_ref().is_none_or(|t| t.events.is_empty())
            && extensions.e2ee.device_lists.is_empty()
            && extensions.account_data.is_empty()
            && extensions.receipts.is_empty()
            && extensions.typing.is_empty()
    }
}

impl SyncService {
    /// One sliding sync request: answers at once when there is news (or
    /// the connection is new), else waits up to `timeout` for some.
    pub async fn sliding_sync(
        &self,
        requester: &Requester,
        request: SlidingRequest,
        timeout: Duration,
    ) -> Result<v5::Response> {
        let connection = self.connection(requester, &request.body).await?;
        // A new connection is answered at once, whatever it holds.
        let news = |answer: &Answer| connection.since.is_none() || !answer.is_empty(&connection);
        let (answer, now) = self
            .long_poll(
                &requester.user_id,
                timeout,
                |now| self.answer(requester, &connection, &request, now),
                news,
            )
            .await?;
        let empty = !news(&answer);
        let conn_id = request.body.conn_id.as_deref().unwrap_or_default();
        let mut response = self.give(requester, conn_id, &connection, answer, now, empty).await?;
        response.txn_id = request.body.txn_id.clone();
        Ok(response)
    }

    /// The connection a request continues, or a new one.
    async fn connection(&self, requester: &Requester, body: &v5::Request) -> Result<Connection> {
        let (user, device) = (requester.user_id.as_str(), requester.device_id.as_str());
        let conn_id = body.conn_id.as_deref().unwrap_or_default();
        let Some(pos) = body.pos.as_deref() else {
            let key = self.store.reset_sliding_connection(user, device, conn_id).await?;
            return Ok(Connection {
                key,
                pos: None,
                since: None,
                counts: BTreeMap::new(),
                sent: Arc::default(),
            });
        };
        let pos: i64 = pos.parse().map_err(|_| Error::UnknownPos)?;
        let cached = self.positions.get(&cache_key(requester, conn_id, pos));
        let known = match cached {
            Some(known) => match self.store.sliding_position_exists(known.key, pos).await? {
                true => known,
                false => return Err(Error::UnknownPos),
            },
            None => {
                let (key, position, rooms) = self
                    .store
                    .resume_sliding_connection(user, device, conn_id, pos)
                    .await?
                    .ok_or(Error::UnknownPos)?;
                let sent = rooms
                    .into_iter()
                    .filter_map(|row| {
                        Some((OwnedRoomId::try_from(row.room_id.as_str()).ok()?, row))
                    })
                    .collect();
                let known = Arc::new(KnownPosition {
                    key,
                    since: parse_since(&position.tokens)?,
                    counts: serde_json::from_str(&position.list_counts).unwrap_or_default(),
                    sent: Arc::new(sent),
                });
                self.positions.insert(cache_key(requester, conn_id, pos), known.clone());
                known
            }
        };
        Ok(Connection {
            key: known.key,
            pos: Some(pos),
            since: Some(known.since),
            counts: known.counts.clone(),
            sent: known.sent.clone(),
        })
    }

    async fn answer(
        &self,
        requester: &Requester,
        connection: &Connection,
        request: &SlidingRequest,
        now: Positions,
    ) -> Result<Answer> {
        let user = &requester.user_id;
        let selection = self.select_rooms(user, connection, request, now).await?;
        // Receipts since the last answer: the extension's news, and the
        // rooms whose unread counts the user's own receipts changed.
        let receipts = match connection.since {
            Some(since) if since.receipts < now.receipts => {
                self.store.receipts_since(user.as_str(), since.receipts, now.receipts).await?
            }
            _ => Vec::new(),
        };
        let own_reads: HashSet<String> =
            extensions::own_read_rooms(user, &receipts).into_iter().collect();
        let updates = self.room_updates(requester, connection, &selection, &own_reads, now).await?;
        let extensions = self
            .extensions(
                requester,
                connection,
                &request.body.extensions,
                extensions::Found { selection: &selection, updates: &updates, receipts },
                now,
            )
            .await?;
        let mut response = v5::Response::new(String::new());
        for (name, count) in &selection.counts {
            let mut list = response::List::default();
            list.count = UInt::try_from(*count).unwrap_or_default();
            response.lists.insert(name.clone(), list);
        }
        response.rooms = updates.rooms;
        response.extensions = extensions;
        Ok(Answer { response, counts: selection.counts, sent: updates.sent })
    }

    /// Gives an answer its position: a new one, stored with what the answer
    /// sent, or the same one when it tells nothing new.
    async fn give(
        &self,
        requester: &Requester,
        conn_id: &str,
        connection: &Connection,
        answer: Answer,
        now: Positions,
        empty: bool,
    ) -> Result<v5::Response> {
        let mut response = answer.response;
        let pos = match (empty, connection.pos) {
            (true, Some(pos)) => pos,
            _ => {
                let position = SlidingPositionRow {
                    tokens: since_token(now),
                    list_counts: serde_json::to_string(&answer.counts).map_err(Error::internal)?,
                };
                let pos = self
                    .store
                    .save_sliding_position(connection.key, connection.pos, &position, &answer.sent)
                    .await?;
                // What the new position holds, known without reading it back.
                let mut sent = (*connection.sent).clone();
                for row in answer.sent {
                    if let Ok(room_id) = OwnedRoomId::try_from(row.room_id.as_str()) {
                        sent.insert(room_id, row);
                    }
                }
                let known = KnownPosition {
                    key: connection.key,
                    since: now,
                    counts: answer.counts,
                    sent: Arc::new(sent),
                };
                self.positions.insert(cache_key(requester, conn_id, pos), Arc::new(known));
                pos
            }
        };
        response.pos = pos.to_string();
        Ok(response)
    }
}
