//! Synapse's admin API for rooms: list, details, members, state, shutdown,
//! history purges.

use axum::{Json, extract::State};
use ruma::{OwnedRoomId, RoomId};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{AdminUser, ListQuery};
use crate::{
    api::authed::{MatrixJson, MatrixPath, MatrixQuery},
    error::{Error, Result},
    services::{Services, admin::purge::PurgePoint},
};

fn room_id(raw: &str) -> Result<OwnedRoomId> {
    RoomId::parse(raw).map_err(|e| Error::invalid_param(format!("invalid room id: {e}")))
}

/// [`GET /_synapse/admin/v1/rooms`](https://element-hq.github.io/synapse/latest/admin_api/rooms.html)
pub async fn list(
    State(services): State<Services>,
    _: AdminUser,
    MatrixQuery(query): MatrixQuery<ListQuery>,
) -> Result<Json<Value>> {
    let offset = query.from.as_deref().and_then(|f| f.parse().ok()).unwrap_or(0i64);
    let limit = query.limit.unwrap_or(100);
    let (rooms, total) = services.admin.rooms(offset, limit).await?;
    let mut body = json!({"rooms": rooms, "offset": offset, "total_rooms": total});
    let next = offset + rooms_len(&body);
    if next < total {
        body["next_batch"] = json!(next);
    }
    if offset > 0 {
        body["prev_batch"] = json!((offset - limit).max(0));
    }
    Ok(Json(body))
}

fn rooms_len(body: &Value) -> i64 {
    body["rooms"].as_array().map_or(0, |rooms| rooms.len() as i64)
}

/// [`GET /_synapse/admin/v1/rooms/{room_id}`](https://element-hq.github.io/synapse/latest/admin_api/rooms.html)
pub async fn details(
    State(services): State<Services>,
    _: AdminUser,
    MatrixPath(raw): MatrixPath<String>,
) -> Result<Json<Value>> {
    Ok(Json(services.admin.room(&room_id(&raw)?).await?))
}

/// [`GET /_synapse/admin/v1/rooms/{room_id}/members`](https://element-hq.github.io/synapse/latest/admin_api/rooms.html)
pub async fn members(
    State(services): State<Services>,
    _: AdminUser,
    MatrixPath(raw): MatrixPath<String>,
) -> Result<Json<Value>> {
    let members = services.admin.room_members(&room_id(&raw)?).await?;
    Ok(Json(json!({"total": members.len(), "members": members})))
}

/// [`GET /_synapse/admin/v1/rooms/{room_id}/state`](https://element-hq.github.io/synapse/latest/admin_api/rooms.html)
pub async fn state(
    State(services): State<Services>,
    _: AdminUser,
    MatrixPath(raw): MatrixPath<String>,
) -> Result<Json<Value>> {
    Ok(Json(json!({"state": services.admin.room_state(&room_id(&raw)?).await?})))
}

fn yes() -> bool {
    true
}

#[derive(Deserialize)]
pub struct ShutdownBody {
    #[serde(default)]
    block: bool,
    /// Synapse's default: the room's data goes too.
    #[serde(default = "yes")]
    purge: bool,
}

/// [`DELETE /_synapse/admin/v1/rooms/{room_id}`](https://element-hq.github.io/synapse/latest/admin_api/rooms.html)
///
/// Synapse's synchronous room shutdown.
pub async fn shutdown(
    State(services): State<Services>,
    AdminUser(admin): AdminUser,
    MatrixPath(raw): MatrixPath<String>,
    MatrixJson(body): MatrixJson<ShutdownBody>,
) -> Result<Json<Value>> {
    let room = room_id(&raw)?;
    Ok(Json(services.admin.shutdown_room(&admin.user_id, &room, body.block, body.purge).await?))
}

#[derive(Deserialize)]
pub struct PurgeBody {
    #[serde(default)]
    delete_local_events: bool,
    purge_up_to_event_id: Option<ruma::OwnedEventId>,
    purge_up_to_ts: Option<i64>,
}

/// [`POST /_synapse/admin/v1/purge_history/{room_id}`](https://element-hq.github.io/synapse/latest/admin_api/purge_history_api.html)
/// [`POST /_synapse/admin/v1/purge_history/{room_id}/{event_id}`](https://element-hq.github.io/synapse/latest/admin_api/purge_history_api.html)
///
/// Deletes old messages.
pub async fn purge_history(
    State(services): State<Services>,
    AdminUser(admin): AdminUser,
    MatrixPath(params): MatrixPath<Vec<String>>,
    MatrixJson(body): MatrixJson<PurgeBody>,
) -> Result<Json<Value>> {
    let room = room_id(params.first().map(String::as_str).unwrap_or_default())?;
    let in_path = match params.get(1) {
        Some(id) => {
            Some(ruma::EventId::parse(id).map_err(|e| Error::invalid_param(e.to_string()))?)
        }
        None => None,
    };
    let up_to =
        match (in_path.as_deref().or(body.purge_up_to_event_id.as_deref()), body.purge_up_to_ts) {
            (Some(event_id), _) => PurgePoint::Event(event_id),
            (None, Some(ts)) => PurgePoint::Timestamp(ts),
            (None, None) => {
                return Err(Error::MissingParam("purge_up_to_event_id or purge_up_to_ts".into()));
            }
        };
    let purge_id = services
        .admin
        .purge_history(&admin.user_id, &room, up_to, body.delete_local_events)
        .await?;
    Ok(Json(json!({"purge_id": purge_id})))
}

/// [`GET /_synapse/admin/v1/purge_history_status/{purge_id}`](https://element-hq.github.io/synapse/latest/admin_api/purge_history_api.html)
pub async fn purge_status(
    State(services): State<Services>,
    _: AdminUser,
    MatrixPath(purge_id): MatrixPath<String>,
) -> Result<Json<Value>> {
    Ok(Json(json!({"status": services.admin.purge_status(&purge_id)?})))
}

#[derive(Deserialize)]
pub struct MakeAdminBody {
    user_id: Option<ruma::OwnedUserId>,
}

/// [`POST /_synapse/admin/v1/rooms/{room_id}/make_room_admin`](https://element-hq.github.io/synapse/latest/admin_api/rooms.html)
///
/// The user (by default the caller) gets the highest power a local member
/// of the room has.
pub async fn make_room_admin(
    State(services): State<Services>,
    AdminUser(admin): AdminUser,
    MatrixPath(raw): MatrixPath<String>,
    MatrixJson(body): MatrixJson<MakeAdminBody>,
) -> Result<Json<Value>> {
    let room = services
        .rooms
        .resolve_room(
            <&ruma::RoomOrAliasId>::try_from(raw.as_str())
                .map_err(|e| Error::invalid_param(e.to_string()))?,
        )
        .await?;
    let target = body.user_id.unwrap_or_else(|| admin.user_id.clone());
    services.admin.make_room_admin(&admin.user_id, &room, &target).await?;
    Ok(Json(json!({})))
}
