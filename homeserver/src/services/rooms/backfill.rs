//! History from before this server joined a room: when a reader pages past
//! the oldest event here and that event's prev_events are unknown, a
//! server in the room is asked for what came before (/backfill). Each event
//! passes the wire checks and its own auth events, then is stored below
//! every other stream position. The events share one state: the room's
//! state before the oldest local event (the join), without the joiner,
//! so that "joined" and "invited" visibility never show the joiner more
//! than they may see.

use std::{cmp::Reverse, sync::Arc};

use ruma::{
    CanonicalJsonObject, OwnedServerName, RoomId, UInt, api::federation::backfill::get_backfill,
};

use super::{
    Rooms,
    head::RoomHead,
    pdu::Pdu,
    remote::authorize_against,
    resolve::{EventCache, entries},
};
use crate::{error::Result, store::BackfilledEvent};

/// Events asked for per backfill request.
const BACKFILL_LIMIT: u32 = 50;

impl Rooms {
    /// Fetches older history of a room joined over federation; whether
    /// anything was added.
    pub(super) async fn backfill_remote(&self, room_id: &RoomId) -> Result<bool> {
        let Some((oldest_id, text)) = self.store().oldest_event(room_id.as_str()).await? else {
            return Ok(false);
        };
        let oldest = Pdu::from_stored(&oldest_id, room_id.as_str(), &text)?;
        let mut gap = false;
        for prev in &oldest.prev_events {
            gap |= !self.store().has_timeline_event(prev.as_str()).await?;
        }
        if !gap {
            return Ok(false);
        }
        let own = self.inner.config.server.server_name.clone();
        let servers: Vec<OwnedServerName> =
            self.servers_in_room(room_id).await?.into_iter().filter(|s| *s != own).collect();
        let version = self.room_version(room_id).await?;
        for server in servers {
            let request = get_backfill::v1::Request::new(
                room_id.to_owned(),
                oldest.prev_events.clone(),
                UInt::from(BACKFILL_LIMIT),
            );
            let pdus = match self.inner.federation.send(&server, request).await {
                Ok(answer) => answer.pdus,
                Err(error) => {
                    tracing::info!(%error, %server, %room_id, "backfill failed");
                    continue;
                }
            };
            let mut probe = RoomHead::new(version.clone())?;
            probe.set_state(self.state_after(room_id, &oldest.event_id).await?);
            let mut cache = EventCache::new();
            let mut events = Vec::new();
            for raw in pdus {
                let Ok(json) = serde_json::from_str::<CanonicalJsonObject>(raw.get()) else {
                    continue;
                };
                let checked = match self.inner.federation.check_pdu(json, &version).await {
                    Ok(checked) => checked,
                    Err(error) => {
                        tracing::info!(%error, %server, "a backfilled event failed its checks");
                        continue;
                    }
                };
                if self.store().has_timeline_event(checked.event_id.as_str()).await? {
                    continue;
                }
                let pdu = Pdu::from_json(checked.event_id, room_id.to_owned(), checked.json)?;
                if pdu.room_id != room_id {
                    continue;
                }
                let mut auth = self.auth_events_of(&server, &pdu, &mut cache).await?;
                if let Some(create) = probe.get(&ruma::events::StateEventType::RoomCreate, "") {
                    auth.entry((ruma::events::StateEventType::RoomCreate, String::new()))
                        .or_insert_with(|| create.clone());
                }
                match authorize_against(&probe, &pdu, &auth) {
                    Ok(()) => events.push(Arc::new(pdu)),
                    Err(error) => tracing::info!(%error, "a backfilled event fails auth"),
                }
            }
            if events.is_empty() {
                continue;
            }
            events.sort_by_key(|p| Reverse(p.depth));
            let mut before = probe.into_state();
            if let Some(key) = &oldest.state_key {
                before.remove(&(oldest.kind.to_string().into(), key.clone()));
            }
            let rows: Vec<BackfilledEvent> = events
                .iter()
                .map(|p| BackfilledEvent {
                    event_id: p.event_id.to_string(),
                    sender: p.sender.to_string(),
                    event_type: p.kind.to_string(),
                    state_key: p.state_key.clone(),
                    depth: i64::from(p.depth),
                    origin_server_ts: i64::from(p.origin_server_ts.get()),
                    pdu: p.to_stored(),
                    relation: p.relation(),
                })
                .collect();
            self.store().persist_backfill(room_id.as_str(), &rows, &entries(&before)).await?;
            return Ok(true);
        }
        Ok(false)
    }
}
