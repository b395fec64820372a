//! Calls: the TURN server clients relay voice and video through.

use std::time::SystemTime;

use axum::{Json, extract::State};
use serde_json::{Value, json};

use crate::{api::authed::Authed, error::Result, services::Services, services::voip};

/// [`GET /_matrix/client/v3/voip/turnServer`](https://spec.matrix.org/latest/client-server-api/#get_matrixclientv3voipturnserver)
///
/// An empty object when no TURN server is configured, as clients expect
/// (ruma's response type has no empty form, hence plain JSON).
pub async fn turn_server(
    State(services): State<Services>,
    Authed(requester): Authed,
) -> Result<Json<Value>> {
    let credentials =
        voip::turn_credentials(&services.config.turn, &requester.user_id, SystemTime::now());
    Ok(Json(match credentials {
        Some(c) => json!({
            "username": c.username,
            "password": c.password,
            "uris": c.uris,
            "ttl": c.ttl.as_secs(),
        }),
        None => json!({}),
    }))
}
