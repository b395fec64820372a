//! Erased users ([spec](https://spec.matrix.org/v1.16/client-server-api/#post_matrixclientv3accountdeactivate)):
//! once a user closed their account asking for erasure, whoever was not in
//! a room when one of their events was sent (who joined later, peeks, or
//! reads a world-readable room) is served that event redacted. Those who
//! were there keep what they saw, as the spec asks.

use std::{
    collections::{HashMap, HashSet},
    sync::{Arc, RwLock},
    time::{Duration, Instant},
};

use ruma::UserId;
use serde_json::Value as JsonValue;

use super::{Rooms, pdu::Pdu, visibility::state_at_group};
use crate::{
    error::{Error, Result},
    store::EventRow,
};

/// The one field of a stored event that decides whether erasure applies.
#[derive(serde::Deserialize)]
struct SenderOnly<'a> {
    // Borrowed unless the text escapes a character.
    #[serde(borrow)]
    sender: std::borrow::Cow<'a, str>,
}

/// How long another instance's erasure can go unseen here.
const REFRESH: Duration = Duration::from_secs(60);

/// The erased users of this server, read again now and then so that an
/// erasure made by another instance is honoured here too.
#[derive(Default)]
pub(super) struct Erased {
    known: RwLock<Option<(Arc<HashSet<String>>, Instant)>>,
}

impl Rooms {
    /// Counts `user` erased at once on this instance.
    pub fn mark_erased(&self, user: &UserId) {
        let mut known = self.inner.erased.known.write().unwrap_or_else(|e| e.into_inner());
        if let Some((users, _)) = known.as_mut() {
            Arc::make_mut(users).insert(user.to_string());
        }
    }

    pub(super) async fn erased_users(&self) -> Result<Arc<HashSet<String>>> {
        let cached = self.inner.erased.known.read().unwrap_or_else(|e| e.into_inner()).clone();
        if let Some((users, at)) = cached
            && at.elapsed() < REFRESH
        {
            return Ok(users);
        }
        let users: Arc<HashSet<String>> =
            Arc::new(self.store().erased_users().await?.into_iter().collect());
        *self.inner.erased.known.write().unwrap_or_else(|e| e.into_inner()) =
            Some((users.clone(), Instant::now()));
        Ok(users)
    }

    /// The client form of these events as `viewer` sees them: with the
    /// transaction id for the device that sent one, and redacted where an
    /// erased user sent it and `viewer` was not joined then.
    pub async fn client_events_for<'r>(
        &self,
        rows: impl IntoIterator<Item = &'r EventRow>,
        viewer: &UserId,
        device: Option<&str>,
    ) -> Result<Vec<JsonValue>> {
        let rows: Vec<&EventRow> = rows.into_iter().collect();
        let hidden = self.erased_for(&rows, viewer).await?;
        let mut events = Vec::with_capacity(rows.len());
        for row in rows {
            events.push(match hidden.contains(&row.event_id) {
                true => self.pruned_client_event(row).await?,
                false => self.client_event(row, device.map(|d| (viewer, d)))?,
            });
        }
        Ok(events)
    }

    /// Of these events, those `viewer` sees redacted because of erasure.
    pub async fn erased_for(&self, rows: &[&EventRow], viewer: &UserId) -> Result<HashSet<String>> {
        let erased = self.erased_users().await?;
        let mut hidden = HashSet::new();
        if erased.is_empty() {
            return Ok(hidden);
        }
        // Whether the viewer was joined, per room and state group.
        let mut joined_then: HashMap<i64, bool> = HashMap::new();
        for row in rows {
            // Only the sender is read: one pass over the text, however
            // many users were erased.
            let sender =
                serde_json::from_str::<SenderOnly<'_>>(&row.pdu).map_err(Error::internal)?.sender;
            if !erased.contains(sender.as_ref()) || sender == viewer.as_str() {
                continue;
            }
            let joined = match joined_then.get(&row.state_group) {
                Some(joined) => *joined,
                None => {
                    let (membership, _) = state_at_group(self, row.state_group, viewer).await?;
                    let joined =
                        membership == Some(ruma::events::room::member::MembershipState::Join);
                    joined_then.insert(row.state_group, joined);
                    joined
                }
            };
            if !joined {
                hidden.insert(row.event_id.clone());
            }
        }
        Ok(hidden)
    }

    /// An event as the redaction algorithm of its room's version leaves it.
    pub(super) async fn pruned_client_event(&self, row: &EventRow) -> Result<JsonValue> {
        let pdu = Pdu::from_stored(&row.event_id, &row.room_id, &row.pdu)?;
        let rules = self.with_head(&pdu.room_id, |head| head.rules.redaction.clone()).await?;
        let redacted =
            ruma::canonical_json::redact(pdu.json, &rules, None).map_err(Error::internal)?;
        let pruned = EventRow {
            pdu: serde_json::to_string(&redacted).map_err(Error::internal)?,
            txn_id: None,
            ..row.clone()
        };
        self.client_event(&pruned, None)
    }
}
