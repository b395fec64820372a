//! POST /search over room events: only rooms the user is in, only events
//! they may see, newest or best first.

use std::collections::HashMap;

use ruma::{OwnedRoomId, RoomId, UserId};
use serde_json::Value as JsonValue;

use super::{Rooms, visibility::Visibility};
use crate::{
    error::{Error, Result},
    store::SearchOrder,
};

/// One page of search results.
#[derive(Debug)]
pub struct SearchPage {
    pub results: Vec<JsonValue>,
    pub next_batch: Option<String>,
    pub highlights: Vec<String>,
}

impl Rooms {
    pub async fn search(
        &self,
        user_id: &UserId,
        term: &str,
        order: SearchOrder,
        only_rooms: Option<&[OwnedRoomId]>,
        next_batch: Option<&str>,
        limit: usize,
    ) -> Result<SearchPage> {
        let offset: i64 = match next_batch {
            Some(token) => token
                .strip_prefix('o')
                .and_then(|n| n.parse().ok())
                .ok_or_else(|| Error::invalid_param("invalid next_batch"))?,
            None => 0,
        };
        let limit = limit.clamp(1, 100) as i64;
        let rows = self.store().search_events(user_id.as_str(), term, order, limit, offset).await?;
        let next = (rows.len() as i64 == limit).then(|| format!("o{}", offset + limit));
        let mut checks: HashMap<String, Visibility<'_>> = HashMap::new();
        // What an erased user wrote is not found by whom it is redacted to.
        let erased = self.erased_for(&rows.iter().collect::<Vec<_>>(), user_id).await?;
        let mut results = Vec::new();
        for row in rows.iter().filter(|row| !erased.contains(&row.event_id)) {
            if only_rooms.is_some_and(|rooms| !rooms.iter().any(|r| r.as_str() == row.room_id)) {
                continue;
            }
            if !checks.contains_key(&row.room_id) {
                let room_id = RoomId::parse(&row.room_id).map_err(Error::internal)?;
                checks.insert(row.room_id.clone(), Visibility::new(self, &room_id, user_id).await?);
            }
            let visible = match checks.get_mut(&row.room_id) {
                Some(check) => check.allows(row).await?,
                None => false,
            };
            if visible {
                results.push(self.client_event(row, None)?);
            }
        }
        self.bundle_relations(&mut results, user_id).await?;
        let highlights = term.split_whitespace().map(str::to_lowercase).collect();
        Ok(SearchPage { results, next_batch: next, highlights })
    }
}
