//! Synapse's admin API for media: a user's uploads, quarantine, deletion.

use axum::{Json, extract::State};
use serde_json::{Value, json};

use super::{AdminUser, ListQuery, user_id};
use crate::{
    api::authed::{MatrixPath, MatrixQuery},
    error::Result,
    services::Services,
};

/// [`GET /_synapse/admin/v1/users/{user_id}/media`](https://element-hq.github.io/synapse/latest/admin_api/user_admin_api.html)
pub async fn user_media(
    State(services): State<Services>,
    _: AdminUser,
    MatrixPath(raw): MatrixPath<String>,
    MatrixQuery(query): MatrixQuery<ListQuery>,
) -> Result<Json<Value>> {
    let offset = query.from.as_deref().and_then(|f| f.parse().ok()).unwrap_or(0i64);
    let (media, total) =
        services.media.user_media(&user_id(&raw)?, offset, query.limit.unwrap_or(100)).await?;
    let next = offset + media.len() as i64;
    let mut body = json!({"media": media, "total": total});
    if next < total {
        body["next_token"] = json!(next);
    }
    Ok(Json(body))
}

/// [`POST /_synapse/admin/v1/media/quarantine/{server}/{media_id}`](https://element-hq.github.io/synapse/latest/admin_api/media_admin_api.html)
pub async fn quarantine(
    State(services): State<Services>,
    AdminUser(admin): AdminUser,
    MatrixPath((server, media_id)): MatrixPath<(String, String)>,
) -> Result<Json<Value>> {
    services.media.quarantine(&server, &media_id, Some(&admin.user_id)).await?;
    Ok(Json(json!({})))
}

/// [`POST /_synapse/admin/v1/media/unquarantine/{server}/{media_id}`](https://element-hq.github.io/synapse/latest/admin_api/media_admin_api.html)
pub async fn unquarantine(
    State(services): State<Services>,
    _: AdminUser,
    MatrixPath((server, media_id)): MatrixPath<(String, String)>,
) -> Result<Json<Value>> {
    services.media.quarantine(&server, &media_id, None).await?;
    Ok(Json(json!({})))
}

/// [`DELETE /_synapse/admin/v1/media/{server}/{media_id}`](https://element-hq.github.io/synapse/latest/admin_api/media_admin_api.html)
pub async fn delete(
    State(services): State<Services>,
    _: AdminUser,
    MatrixPath((server, media_id)): MatrixPath<(String, String)>,
) -> Result<Json<Value>> {
    services.media.delete(&server, &media_id).await?;
    Ok(Json(json!({"deleted_media": [media_id], "total": 1})))
}
