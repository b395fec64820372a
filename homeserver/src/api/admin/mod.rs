//! The admin API, on Synapse's paths and bodies so that existing tools
//! (synapse-admin, moderation bots, provisioning scripts) work unchanged.
//! Every route checks that the requester is a server admin first.

use axum::{
    Json,
    extract::State,
    routing::{delete, get, post},
};
use ruma::{OwnedUserId, UserId};
use serde::Deserialize;
use serde_json::{Value, json};

mod media;
mod registration_tokens;
mod retention;
mod rooms;

use super::{
    authed::{Authed, MatrixJson, MatrixPath, MatrixQuery},
    routes::Routes,
};
use crate::services::auth::Requester;
use crate::{
    error::{Error, Result},
    services::{Services, admin::UserChanges},
};
use axum::{extract::FromRequestParts, http::request::Parts};

pub fn router() -> Routes {
    Routes::new()
        .route("/_synapse/admin/v1/server_version", get(server_version))
        .route("/_synapse/admin/v2/users", get(list_users))
        .route("/_synapse/admin/v2/users/{user_id}", get(get_user).put(put_user))
        .route("/_synapse/admin/v1/deactivate/{user_id}", post(deactivate))
        .route("/_synapse/admin/v1/reset_password/{user_id}", post(reset_password))
        .route("/_synapse/admin/v1/event_reports", get(event_reports))
        .route("/_synapse/admin/v1/whois/{user_id}", get(whois))
        .route("/_synapse/admin/v2/users/{user_id}/devices", get(devices))
        .route("/_synapse/admin/v2/users/{user_id}/devices/{device_id}", delete(delete_device))
        .route("/_synapse/admin/v1/send_server_notice", post(send_server_notice))
        // Ours, not Synapse's: the security audit log.
        .route("/_lattice/admin/v1/audit_log", get(audit_log))
        .route("/_lattice/admin/v1/appservices", get(appservices))
        .route("/_lattice/admin/v1/retention", get(retention::report))
        .route("/_lattice/admin/v1/retention/run", post(retention::run))
        .route(
            "/_synapse/admin/v1/users/{user_id}/shadow_ban",
            post(shadow_ban).delete(lift_shadow_ban),
        )
        .route("/_synapse/admin/v1/users/{user_id}/media", get(media::user_media))
        .route(
            "/_synapse/admin/v1/users/{user_id}/override_ratelimit",
            get(get_ratelimit).post(set_ratelimit).delete(delete_ratelimit),
        )
        .route("/_synapse/admin/v1/media/quarantine/{server}/{media_id}", post(media::quarantine))
        .route(
            "/_synapse/admin/v1/media/unquarantine/{server}/{media_id}",
            post(media::unquarantine),
        )
        .route("/_synapse/admin/v1/media/{server}/{media_id}", delete(media::delete))
        .route("/_synapse/admin/v1/registration_tokens", get(registration_tokens::list))
        .route("/_synapse/admin/v1/registration_tokens/new", post(registration_tokens::create))
        .route(
            "/_synapse/admin/v1/registration_tokens/{token}",
            get(registration_tokens::get)
                .put(registration_tokens::update)
                .delete(registration_tokens::delete),
        )
        .route("/_synapse/admin/v1/rooms", get(rooms::list))
        .route("/_synapse/admin/v1/rooms/{room_id}", get(rooms::details).delete(rooms::shutdown))
        .route("/_synapse/admin/v1/rooms/{room_id}/members", get(rooms::members))
        .route("/_synapse/admin/v1/rooms/{room_id}/state", get(rooms::state))
        .route("/_synapse/admin/v1/rooms/{room_id}/make_room_admin", post(rooms::make_room_admin))
        .route("/_synapse/admin/v1/purge_history/{room_id}", post(rooms::purge_history))
        .route("/_synapse/admin/v1/purge_history/{room_id}/{event_id}", post(rooms::purge_history))
        .route("/_synapse/admin/v1/purge_history_status/{purge_id}", get(rooms::purge_status))
}

/// A server admin: the request is refused (M_FORBIDDEN) before anything
/// it carries is read when the requester is not one.
pub(super) struct AdminUser(pub Requester);

impl FromRequestParts<Services> for AdminUser {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, services: &Services) -> Result<Self> {
        let Authed(requester) = Authed::from_request_parts(parts, services).await?;
        services.admin.ensure_admin(&requester.user_id).await?;
        Ok(Self(requester))
    }
}

pub(super) fn user_id(raw: &str) -> Result<OwnedUserId> {
    UserId::parse(raw).map_err(|e| Error::invalid_param(format!("invalid user id: {e}")))
}

/// [`GET /_synapse/admin/v1/server_version`](https://element-hq.github.io/synapse/latest/admin_api/server_version.html)
async fn server_version(_: AdminUser) -> Result<Json<Value>> {
    Ok(Json(json!({"server_version": env!("CARGO_PKG_VERSION")})))
}

#[derive(Deserialize)]
pub(super) struct ListQuery {
    pub from: Option<String>,
    pub limit: Option<i64>,
    pub name: Option<String>,
}

/// [`GET /_synapse/admin/v2/users`](https://element-hq.github.io/synapse/latest/admin_api/user_admin_api.html)
async fn list_users(
    State(services): State<Services>,
    _: AdminUser,
    MatrixQuery(query): MatrixQuery<ListQuery>,
) -> Result<Json<Value>> {
    let (users, next, total) = services
        .admin
        .users(query.from.as_deref(), query.limit.unwrap_or(100), query.name.as_deref())
        .await?;
    let mut body = json!({"users": users, "total": total});
    if let Some(next) = next {
        body["next_token"] = json!(next);
    }
    Ok(Json(body))
}

/// [`GET /_synapse/admin/v2/users/{user_id}`](https://element-hq.github.io/synapse/latest/admin_api/user_admin_api.html)
async fn get_user(
    State(services): State<Services>,
    _: AdminUser,
    MatrixPath(raw): MatrixPath<String>,
) -> Result<Json<Value>> {
    let view = services.admin.user(&user_id(&raw)?).await?;
    Ok(Json(serde_json::to_value(view).map_err(Error::internal)?))
}

/// [`PUT /_synapse/admin/v2/users/{user_id}`](https://element-hq.github.io/synapse/latest/admin_api/user_admin_api.html)
///
/// Creates the user if needed, then applies the fields.
async fn put_user(
    State(services): State<Services>,
    _: AdminUser,
    MatrixPath(raw): MatrixPath<String>,
    MatrixJson(changes): MatrixJson<UserChanges>,
) -> Result<(http::StatusCode, Json<Value>)> {
    let (created, view) = services.admin.put_user(&user_id(&raw)?, changes).await?;
    let status = if created { http::StatusCode::CREATED } else { http::StatusCode::OK };
    Ok((status, Json(serde_json::to_value(view).map_err(Error::internal)?)))
}

#[derive(Deserialize)]
struct DeactivateBody {
    #[serde(default)]
    erase: bool,
}

/// [`POST /_synapse/admin/v1/deactivate/{user_id}`](https://element-hq.github.io/synapse/latest/admin_api/user_admin_api.html)
async fn deactivate(
    State(services): State<Services>,
    _: AdminUser,
    MatrixPath(raw): MatrixPath<String>,
    MatrixJson(body): MatrixJson<DeactivateBody>,
) -> Result<Json<Value>> {
    services.admin.deactivate(&user_id(&raw)?, body.erase).await?;
    Ok(Json(json!({"id_server_unbind_result": "success"})))
}

#[derive(Deserialize)]
struct ResetBody {
    new_password: String,
}

/// [`POST /_synapse/admin/v1/reset_password/{user_id}`](https://element-hq.github.io/synapse/latest/admin_api/user_admin_api.html)
async fn reset_password(
    State(services): State<Services>,
    _: AdminUser,
    MatrixPath(raw): MatrixPath<String>,
    MatrixJson(body): MatrixJson<ResetBody>,
) -> Result<Json<Value>> {
    services.admin.reset_password(&user_id(&raw)?, &body.new_password).await?;
    Ok(Json(json!({})))
}

/// [`GET /_synapse/admin/v1/whois/{user_id}`](https://element-hq.github.io/synapse/latest/admin_api/user_admin_api.html)
async fn whois(
    State(services): State<Services>,
    _: AdminUser,
    MatrixPath(raw): MatrixPath<String>,
) -> Result<Json<Value>> {
    Ok(Json(services.admin.whois(&user_id(&raw)?).await?))
}

async fn get_ratelimit(
    State(services): State<Services>,
    _: AdminUser,
    MatrixPath(raw): MatrixPath<String>,
) -> Result<Json<Value>> {
    Ok(Json(match services.admin.ratelimit_override(&user_id(&raw)?).await? {
        Some((rate, burst)) => json!({"messages_per_second": rate, "burst_count": burst}),
        None => json!({}),
    }))
}

#[derive(Deserialize)]
struct RatelimitBody {
    #[serde(default)]
    messages_per_second: i64,
    #[serde(default)]
    burst_count: i64,
}

async fn set_ratelimit(
    State(services): State<Services>,
    _: AdminUser,
    MatrixPath(raw): MatrixPath<String>,
    MatrixJson(body): MatrixJson<RatelimitBody>,
) -> Result<Json<Value>> {
    let user = user_id(&raw)?;
    services
        .admin
        .set_ratelimit_override(&user, body.messages_per_second, body.burst_count)
        .await?;
    let answer =
        json!({"messages_per_second": body.messages_per_second, "burst_count": body.burst_count});
    Ok(Json(answer))
}

async fn delete_ratelimit(
    State(services): State<Services>,
    _: AdminUser,
    MatrixPath(raw): MatrixPath<String>,
) -> Result<Json<Value>> {
    services.admin.delete_ratelimit_override(&user_id(&raw)?).await?;
    Ok(Json(json!({})))
}

async fn shadow_ban(
    State(services): State<Services>,
    _: AdminUser,
    MatrixPath(raw): MatrixPath<String>,
) -> Result<Json<Value>> {
    services.admin.set_shadow_ban(&user_id(&raw)?, true).await?;
    Ok(Json(json!({})))
}

async fn lift_shadow_ban(
    State(services): State<Services>,
    _: AdminUser,
    MatrixPath(raw): MatrixPath<String>,
) -> Result<Json<Value>> {
    services.admin.set_shadow_ban(&user_id(&raw)?, false).await?;
    Ok(Json(json!({})))
}

#[derive(Deserialize)]
struct ServerNotice {
    user_id: String,
    content: Value,
}

/// [`POST /_synapse/admin/v1/send_server_notice`](https://element-hq.github.io/synapse/latest/admin_api/server_notices.html)
async fn send_server_notice(
    State(services): State<Services>,
    _: AdminUser,
    MatrixJson(body): MatrixJson<ServerNotice>,
) -> Result<Json<Value>> {
    let event_id =
        services.admin.send_server_notice(&user_id(&body.user_id)?, body.content).await?;
    Ok(Json(json!({"event_id": event_id})))
}

/// [`GET /_synapse/admin/v2/users/{user_id}/devices`](https://element-hq.github.io/synapse/latest/admin_api/user_admin_api.html)
async fn devices(
    State(services): State<Services>,
    _: AdminUser,
    MatrixPath(raw): MatrixPath<String>,
) -> Result<Json<Value>> {
    let devices = services.admin.devices(&user_id(&raw)?).await?;
    Ok(Json(json!({"total": devices.len(), "devices": devices})))
}

/// [`DELETE /_synapse/admin/v2/users/{user_id}/devices/{device_id}`](https://element-hq.github.io/synapse/latest/admin_api/user_admin_api.html)
async fn delete_device(
    State(services): State<Services>,
    _: AdminUser,
    MatrixPath((raw, device_id)): MatrixPath<(String, String)>,
) -> Result<Json<Value>> {
    services.admin.delete_device(&user_id(&raw)?, &device_id).await?;
    Ok(Json(json!({})))
}

/// `GET /_lattice/admin/v1/audit_log` (ours; Synapse has no audit log): the security audit log, newest first.
async fn audit_log(
    State(services): State<Services>,
    _: AdminUser,
    MatrixQuery(query): MatrixQuery<ListQuery>,
) -> Result<Json<Value>> {
    let records = services.admin.audit_log(query.limit.unwrap_or(100)).await?;
    Ok(Json(json!({"records": records})))
}

/// `GET /_lattice/admin/v1/appservices`: the registered application
/// services, each with its queue (position, the transaction waiting to be
/// taken) and how its deliveries are going.
async fn appservices(State(services): State<Services>, _: AdminUser) -> Result<Json<Value>> {
    let listed: Vec<Value> = services
        .appservices
        .status(&services.store)
        .await?
        .into_iter()
        .map(|service| {
            json!({
                "id": service.id,
                "url": service.url,
                "sender": service.sender,
                "position": service.position,
                "pending_transaction": service.pending.map(|(txn_id, events)| json!({
                    "txn_id": txn_id, "events": events,
                })),
                "failures": service.failures,
                "failing_since": service.failing_since,
            })
        })
        .collect();
    Ok(Json(json!({"appservices": listed})))
}

/// [`GET /_synapse/admin/v1/event_reports`](https://element-hq.github.io/synapse/latest/admin_api/event_reports.html)
async fn event_reports(
    State(services): State<Services>,
    _: AdminUser,
    MatrixQuery(query): MatrixQuery<ListQuery>,
) -> Result<Json<Value>> {
    let reports = services.admin.reports(query.limit.unwrap_or(100)).await?;
    Ok(Json(json!({"total": reports.len(), "event_reports": reports})))
}
