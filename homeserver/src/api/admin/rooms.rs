//! Synapse's admin API for rooms: list, details, members, state, shutdown.

use axum::{
    Json,
    extract::{Path, State},
};
use ruma::{OwnedRoomId, RoomId};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{AdminUser, ListQuery};
use crate::{
    api::authed::{MatrixJson, MatrixQuery},
    error::{Error, Result},
    services::Services,
};

fn room_id(raw: &str) -> Result<OwnedRoomId> {
    RoomId::parse(raw).map_err(|e| Error::invalid_param(format!("invalid room id: {e}")))
}

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

pub async fn details(
    State(services): State<Services>,
    _: AdminUser,
    Path(raw): Path<String>,
) -> Result<Json<Value>> {
    Ok(Json(services.admin.room(&room_id(&raw)?).await?))
}

pub async fn members(
    State(services): State<Services>,
    _: AdminUser,
    Path(raw): Path<String>,
) -> Result<Json<Value>> {
    let members = services.admin.room_members(&room_id(&raw)?).await?;
    Ok(Json(json!({"total": members.len(), "members": members})))
}

pub async fn state(
    State(services): State<Services>,
    _: AdminUser,
    Path(raw): Path<String>,
) -> Result<Json<Value>> {
    Ok(Json(json!({"state": services.admin.room_state(&room_id(&raw)?).await?})))
}

#[derive(Deserialize)]
pub struct ShutdownBody {
    #[serde(default)]
    block: bool,
}

/// DELETE /v1/rooms/{id}: Synapse's synchronous room shutdown.
pub async fn shutdown(
    State(services): State<Services>,
    AdminUser(admin): AdminUser,
    Path(raw): Path<String>,
    MatrixJson(body): MatrixJson<ShutdownBody>,
) -> Result<Json<Value>> {
    let room = room_id(&raw)?;
    Ok(Json(services.admin.shutdown_room(&admin.user_id, &room, body.block).await?))
}
