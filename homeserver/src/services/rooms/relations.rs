//! Relations: paginating an event's children, listing threads, and the
//! aggregations bundled into `unsigned.m.relations` (edits, threads,
//! references).

use std::collections::HashMap;

use ruma::{EventId, RoomId, UserId};
use serde_json::{Value as JsonValue, json};

use super::{
    Direction, Rooms,
    history::{parse_token, token},
    pdu::Pdu,
    visibility::Visibility,
};
use crate::{error::Result, store::EventRow};

/// A page of an event's children.
#[derive(Debug)]
pub struct RelationsPage {
    pub chunk: Vec<JsonValue>,
    pub next_batch: Option<String>,
    pub prev_batch: Option<String>,
}

/// What GET /relations was asked for.
#[derive(Debug, Clone)]
pub struct RelationsQuery {
    pub rel_type: Option<String>,
    pub event_type: Option<String>,
    pub from: Option<String>,
    pub to: Option<String>,
    pub dir: Direction,
    pub limit: usize,
}

impl Rooms {
    /// Adds `unsigned.m.relations` to each event that has children: one
    /// query for the whole page.
    pub async fn bundle_relations(&self, events: &mut [JsonValue], viewer: &UserId) -> Result<()> {
        let parents: Vec<String> =
            events.iter().filter_map(|e| e["event_id"].as_str().map(str::to_owned)).collect();
        let mut children: HashMap<String, Vec<(String, EventRow)>> = HashMap::new();
        for child in self.store().children_of(&parents).await? {
            children.entry(child.relates_to).or_default().push((child.rel_type, child.event));
        }
        let rows: Vec<&EventRow> = children.values().flatten().map(|(_, row)| row).collect();
        let erased = self.erased_for(&rows, viewer).await?;
        for event in events.iter_mut() {
            let Some(kids) = event["event_id"].as_str().and_then(|id| children.get(id)) else {
                continue;
            };
            let sender = event["sender"].as_str().unwrap_or_default().to_owned();
            let mut relations = serde_json::Map::new();
            // Only the original sender's edits count; the newest wins.
            // An erased user's edit is not shown to whom their event is redacted.
            if let Some((_, edit)) = kids.iter().rev().find(|(kind, row)| {
                kind == "m.replace" && row_sender(row).as_deref() == Some(&sender)
            }) && !erased.contains(&edit.event_id)
            {
                relations.insert("m.replace".into(), self.client_event(edit, None)?);
            }
            let thread: Vec<&EventRow> =
                kids.iter().filter(|(kind, _)| kind == "m.thread").map(|(_, row)| row).collect();
            if let Some(latest) = thread.last() {
                let participated = sender == viewer.as_str()
                    || thread.iter().any(|row| row_sender(row).as_deref() == Some(viewer.as_str()));
                relations.insert(
                    "m.thread".into(),
                    json!({
                        "latest_event": match erased.contains(&latest.event_id) {
                            true => self.pruned_client_event(latest).await?,
                            false => self.client_event(latest, None)?,
                        },
                        "count": thread.len(),
                        "current_user_participated": participated,
                    }),
                );
            }
            let references: Vec<JsonValue> = kids
                .iter()
                .filter(|(kind, _)| kind == "m.reference")
                .map(|(_, row)| json!({"event_id": row.event_id}))
                .collect();
            if !references.is_empty() {
                relations.insert("m.reference".into(), json!({"chunk": references}));
            }
            if !relations.is_empty() {
                if !event["unsigned"].is_object() {
                    event["unsigned"] = json!({});
                }
                event["unsigned"]["m.relations"] = JsonValue::Object(relations);
            }
        }
        Ok(())
    }

    /// GET /rooms/{id}/relations/{eventId}[/{relType}[/{eventType}]].
    pub async fn relations(
        &self,
        room_id: &RoomId,
        user_id: &UserId,
        parent: &EventId,
        query: RelationsQuery,
    ) -> Result<RelationsPage> {
        // The parent must be visible; it answers M_NOT_FOUND otherwise.
        self.event_for(room_id, user_id, parent).await?;
        let limit = query.limit.clamp(1, 1000) as i64;
        let forward = query.dir == Direction::Forward;
        let from = query.from.as_deref().map(parse_token).transpose()?;
        let to = query.to.as_deref().map(parse_token).transpose()?;
        let (after, up_to) = match (forward, from, to) {
            (true, from, to) => (from.unwrap_or(0), to.unwrap_or(i64::MAX)),
            (false, from, to) => (to.unwrap_or(0), from.unwrap_or(i64::MAX)),
        };
        let rows = self
            .store()
            .relations(
                parent.as_str(),
                query.rel_type.as_deref(),
                query.event_type.as_deref(),
                after,
                up_to,
                forward,
                limit,
            )
            .await?;
        let next_batch = (rows.len() as i64 == limit)
            .then(|| rows.last().map(|r| token(if forward { r.stream } else { r.stream - 1 })))
            .flatten();
        let mut visibility = Visibility::new(self, room_id, user_id).await?;
        let rows: Vec<EventRow> =
            rows.into_iter().filter(|row| row.room_id == room_id.as_str()).collect();
        let mut chunk = self.visible_events(&rows, &mut visibility, user_id, None).await?;
        self.bundle_relations(&mut chunk, user_id).await?;
        Ok(RelationsPage { chunk, next_batch, prev_batch: query.from })
    }

    /// GET /rooms/{id}/threads: roots by latest activity.
    pub async fn threads(
        &self,
        room_id: &RoomId,
        user_id: &UserId,
        participated_only: bool,
        from: Option<&str>,
        limit: usize,
    ) -> Result<(Vec<JsonValue>, Option<String>)> {
        let membership = self.with_head(room_id, |head| head.membership(user_id)).await?;
        if membership.is_none() {
            return Err(crate::error::Error::forbidden("you are not in this room"));
        }
        let before = from.map(parse_token).transpose()?.unwrap_or(i64::MAX);
        let limit = limit.clamp(1, 100) as i64;
        let participant = participated_only.then_some(user_id.as_str());
        let roots = self.store().thread_roots(room_id.as_str(), participant, before, limit).await?;
        let next_batch =
            (roots.len() as i64 == limit).then(|| roots.last().map(|(_, at)| token(*at))).flatten();
        let mut visibility = Visibility::new(self, room_id, user_id).await?;
        let mut rows = Vec::new();
        for (root, _) in roots {
            rows.extend(self.store().event(&root).await?);
        }
        let mut chunk = self.visible_events(&rows, &mut visibility, user_id, None).await?;
        self.bundle_relations(&mut chunk, user_id).await?;
        Ok((chunk, next_batch))
    }
}

fn row_sender(row: &EventRow) -> Option<String> {
    Pdu::from_stored(&row.event_id, &row.room_id, &row.pdu).ok().map(|pdu| pdu.sender.to_string())
}
