//! Rooms for server admins: a listing with what Synapse's admin API shows
//! (so that its tools work), one room's members and state, and shutting a
//! room down (everyone local leaves, aliases go, joins are blocked, and
//! unless told otherwise its data is purged).

use std::collections::HashMap;

use ruma::{
    OwnedUserId, RoomId, UserId,
    events::{StateEventType, TimelineEventType, room::member::MembershipState},
};
use serde_json::{Value as JsonValue, json};

use super::Admin;
use crate::{
    error::{Error, Result},
    services::rooms::{EventDraft, pdu::Pdu},
    store::SummaryRow,
};

/// Synapse's room fields, from the room's current state.
fn summarize(
    (room_id, version, public): &(String, String, i64),
    rows: &[&SummaryRow],
    state_events: i64,
    server: &str,
) -> JsonValue {
    let mut room = json!({
        "room_id": room_id, "version": version, "public": *public != 0,
        "state_events": state_events, "joined_members": 0, "joined_local_members": 0,
        "name": null, "canonical_alias": null, "topic": null, "avatar": null,
        "creator": null, "encryption": null, "federatable": true, "join_rules": null,
        "guest_access": null, "history_visibility": null, "room_type": null,
    });
    let (mut joined, mut local) = (0, 0);
    let local_suffix = format!(":{server}");
    for row in rows {
        let event: JsonValue = serde_json::from_str(&row.pdu).unwrap_or_default();
        let content = &event["content"];
        match row.event_type.as_str() {
            "m.room.create" => {
                room["creator"] = event["sender"].clone();
                room["federatable"] = json!(content["m.federate"] != false);
                room["room_type"] = content["type"].clone();
            }
            "m.room.name" => room["name"] = content["name"].clone(),
            "m.room.topic" => room["topic"] = content["topic"].clone(),
            "m.room.avatar" => room["avatar"] = content["url"].clone(),
            "m.room.canonical_alias" => room["canonical_alias"] = content["alias"].clone(),
            "m.room.join_rules" => room["join_rules"] = content["join_rule"].clone(),
            "m.room.guest_access" => room["guest_access"] = content["guest_access"].clone(),
            "m.room.history_visibility" => {
                room["history_visibility"] = content["history_visibility"].clone();
            }
            "m.room.encryption" => room["encryption"] = content["algorithm"].clone(),
            "m.room.member"
                if row.membership.as_deref() == Some(MembershipState::Join.as_str()) =>
            {
                joined += 1;
                if row.state_key.ends_with(&local_suffix) {
                    local += 1;
                }
            }
            _ => {}
        }
    }
    room["joined_members"] = json!(joined);
    room["joined_local_members"] = json!(local);
    room
}

impl Admin {
    /// A page of rooms (Synapse's GET /_synapse/admin/v1/rooms) and the total.
    pub async fn rooms(&self, offset: i64, limit: i64) -> Result<(Vec<JsonValue>, i64)> {
        let (page, total) = self.store.room_page(offset.max(0), limit.clamp(1, 1000)).await?;
        let (Some(first), Some(last)) = (page.first(), page.last()) else {
            return Ok((Vec::new(), total));
        };
        // Two queries for the whole page, however many rooms it holds.
        let state = self.store.summary_state(&first.0, &last.0).await?;
        let counts: HashMap<String, i64> =
            self.store.state_counts(&first.0, &last.0).await?.into_iter().collect();
        let mut by_room: HashMap<&str, Vec<&SummaryRow>> = HashMap::new();
        for row in &state {
            by_room.entry(row.room_id.as_str()).or_default().push(row);
        }
        let server = self.config.server.server_name.as_str();
        let rooms = page
            .iter()
            .map(|room| {
                let rows = by_room.get(room.0.as_str()).map_or(&[][..], Vec::as_slice);
                summarize(room, rows, counts.get(&room.0).copied().unwrap_or(0), server)
            })
            .collect();
        Ok((rooms, total))
    }

    /// One room's details.
    pub async fn room(&self, room_id: &RoomId) -> Result<JsonValue> {
        let id = room_id.as_str();
        let version =
            self.store.room_version(id).await?.ok_or_else(|| Error::not_found("no such room"))?;
        let public = i64::from(self.store.is_room_public(id).await?);
        let state = self.store.summary_state(id, id).await?;
        let rows: Vec<&SummaryRow> = state.iter().collect();
        let count = self.store.state_counts(id, id).await?.first().map_or(0, |(_, n)| *n);
        let server = self.config.server.server_name.as_str();
        let mut room = summarize(&(id.to_owned(), version, public), &rows, count, server);
        room["blocked"] = json!(self.store.is_room_blocked(id).await?);
        Ok(room)
    }

    /// Users joined to a room.
    pub async fn room_members(&self, room_id: &RoomId) -> Result<Vec<OwnedUserId>> {
        self.room(room_id).await?;
        self.store.room_joined_users(room_id.as_str()).await
    }

    /// The room's current state, as client events.
    pub async fn room_state(&self, room_id: &RoomId) -> Result<Vec<JsonValue>> {
        self.room(room_id).await?;
        let rows = self.store.current_state(room_id.as_str()).await?;
        Ok(rows
            .iter()
            .filter_map(|row| Pdu::from_stored(&row.event_id, room_id.as_str(), &row.pdu).ok())
            .map(|pdu| pdu.to_client_event(None))
            .collect())
    }

    /// Shuts a room down: every local member leaves, its local aliases and
    /// directory listing go, and with `block` nobody here may join again.
    pub async fn shutdown_room(
        &self,
        admin: &UserId,
        room_id: &RoomId,
        block: bool,
        purge: bool,
    ) -> Result<JsonValue> {
        self.room(room_id).await?;
        let id = room_id.as_str();
        if block {
            self.store.block_room(id, admin.as_str()).await?;
        }
        let (mut kicked, mut failed) = (Vec::new(), Vec::new());
        for member in self.store.room_joined_users(id).await? {
            if member.server_name() != self.config.server.server_name {
                continue;
            }
            match self.rooms.leave(room_id, &member, Some("This room has been shut down")).await {
                Ok(()) => kicked.push(member),
                Err(error) => {
                    tracing::warn!(%member, %error, "could not remove a member from a room being shut down");
                    failed.push(member);
                }
            }
        }
        let aliases = self.store.room_aliases(id).await?;
        for alias in &aliases {
            self.store.delete_alias(alias).await?;
        }
        self.store.set_room_public(id, false).await?;
        if purge {
            self.purge_room(admin, room_id).await?;
        }
        Ok(json!({
            "kicked_users": kicked,
            "failed_to_kick_users": failed,
            "local_aliases": aliases,
            "new_room_id": null,
        }))
    }

    /// Makes a local user an admin of a room: the local member with the
    /// most power there grants it (Synapse's make_room_admin), and invites
    /// the user if the room is not open to them.
    pub async fn make_room_admin(
        &self,
        admin: &UserId,
        room_id: &RoomId,
        target: &UserId,
    ) -> Result<()> {
        if target.server_name() != self.config.server.server_name {
            return Err(Error::invalid_param("only users of this server can be made room admins"));
        }
        let own = self.config.server.server_name.clone();
        let (grantor, level, levels, target_membership, public) = self
            .rooms
            .with_head(room_id, |head| {
                let grantor = head
                    .members_with(&[MembershipState::Join])
                    .into_iter()
                    .filter(|u| u.server_name() == own)
                    .max_by_key(|u| head.power_of(u));
                let levels = head
                    .get(&StateEventType::RoomPowerLevels, "")
                    .map(|p| p.content_value())
                    .unwrap_or_else(|| json!({}));
                // A v12 creator's power is unbounded; grant the top listed level.
                let level = grantor.as_ref().map_or(0, |g| match head.power_of(g) {
                    i64::MAX => levels["users"]
                        .as_object()
                        .into_iter()
                        .flatten()
                        .filter_map(|(_, l)| l.as_i64())
                        .max()
                        .unwrap_or(100)
                        .max(100),
                    power => power,
                });
                let public = head
                    .get(&StateEventType::RoomJoinRules, "")
                    .and_then(|p| p.content_str("join_rule"))
                    .is_some_and(|rule| rule == "public");
                (grantor, level, levels, head.membership(target), public)
            })
            .await?;
        let grantor = grantor.ok_or_else(|| {
            Error::BadRequest("no local member of the room can grant power".into())
        })?;
        let mut levels = levels;
        levels["users"][target.as_str()] = json!(level);
        let draft = EventDraft::state(TimelineEventType::RoomPowerLevels, "", levels);
        self.rooms.append(room_id, &grantor, draft, None).await?;
        if target_membership != Some(MembershipState::Join) && !public {
            self.rooms.invite(room_id, &grantor, target, None).await?;
        }
        let details = json!({"room_id": room_id, "user_id": target, "level": level});
        self.auth.security().audit("make_room_admin", Some(admin.as_str()), details).await
    }
}
