//! Synapse's admin API for registration tokens.

use axum::{Json, extract::State};
use serde::Deserialize;
use serde_json::{Value, json};

use super::AdminUser;
use crate::{
    api::authed::{MatrixJson, MatrixPath, MatrixQuery},
    error::{Error, Result},
    services::Services,
};

#[derive(Deserialize)]
pub struct ValidQuery {
    valid: Option<bool>,
}

/// [`GET /_synapse/admin/v1/registration_tokens`](https://element-hq.github.io/synapse/latest/usage/administration/admin_api/registration_tokens.html)
pub async fn list(
    State(services): State<Services>,
    _: AdminUser,
    MatrixQuery(query): MatrixQuery<ValidQuery>,
) -> Result<Json<Value>> {
    let tokens = services.admin.registration_tokens(query.valid).await?;
    Ok(Json(json!({"registration_tokens": tokens})))
}

pub async fn get(
    State(services): State<Services>,
    _: AdminUser,
    MatrixPath(token): MatrixPath<String>,
) -> Result<Json<Value>> {
    Ok(Json(services.admin.registration_token(&token).await?))
}

#[derive(Deserialize)]
pub struct NewToken {
    token: Option<String>,
    length: Option<usize>,
    uses_allowed: Option<i64>,
    expiry_time: Option<i64>,
}

/// [`POST /_synapse/admin/v1/registration_tokens/new`](https://element-hq.github.io/synapse/latest/usage/administration/admin_api/registration_tokens.html)
pub async fn create(
    State(services): State<Services>,
    _: AdminUser,
    MatrixJson(body): MatrixJson<NewToken>,
) -> Result<Json<Value>> {
    let token = services
        .admin
        .create_registration_token(body.token, body.length, body.uses_allowed, body.expiry_time)
        .await?;
    Ok(Json(token))
}

/// A limit the body sets (`Some(None)` for null) or leaves out (`None`).
fn limit(body: &Value, name: &str) -> Result<Option<Option<i64>>> {
    match body.get(name) {
        None => Ok(None),
        Some(Value::Null) => Ok(Some(None)),
        Some(value) => value
            .as_i64()
            .map(|n| Some(Some(n)))
            .ok_or_else(|| Error::invalid_param(format!("{name} must be an integer or null"))),
    }
}

pub async fn update(
    State(services): State<Services>,
    _: AdminUser,
    MatrixPath(token): MatrixPath<String>,
    MatrixJson(body): MatrixJson<Value>,
) -> Result<Json<Value>> {
    let uses = limit(&body, "uses_allowed")?;
    let expiry = limit(&body, "expiry_time")?;
    Ok(Json(services.admin.update_registration_token(&token, uses, expiry).await?))
}

pub async fn delete(
    State(services): State<Services>,
    _: AdminUser,
    MatrixPath(token): MatrixPath<String>,
) -> Result<Json<Value>> {
    services.admin.delete_registration_token(&token).await?;
    Ok(Json(json!({})))
}
