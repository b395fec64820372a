//! Delayed events (MSC4140, unstable): scheduling through the send and
//! state endpoints' `org.matrix.msc4140.delay` parameter or the MSC's own
//! endpoint, and managing what waits. Plain axum: ruma's types for these
//! follow a later draft than the clients in use.

use std::time::Duration;

use axum::{
    Json,
    extract::{Request, State},
    response::{IntoResponse, Response},
};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::{
    api::{
        authed::{Authed, MatrixJson, MatrixPath},
        ruma::client_ip,
    },
    error::{Error, Result},
    services::{
        Services,
        delayed_events::{Action, Scheduled},
        rate_limit::LimitClass,
    },
};

/// The query parameters that turn a send into a delayed one.
#[derive(Deserialize)]
pub struct DelayQuery {
    #[serde(rename = "org.matrix.msc4140.delay")]
    delay: Option<u64>,
    /// Sharing another delayed event's timer: not offered, and refused
    /// rather than ignored (which would send the event at once).
    #[serde(rename = "org.matrix.msc4140.parent_delay_id")]
    parent_delay_id: Option<String>,
}

impl DelayQuery {
    pub fn delay(&self) -> Result<Option<Duration>> {
        if self.parent_delay_id.is_some() {
            return Err(Error::invalid_param("parent_delay_id is not supported; give a delay"));
        }
        Ok(self.delay.map(Duration::from_millis))
    }
}

/// The answer to a scheduled send: a delay id instead of an event id.
pub fn scheduled(delay_id: String) -> Response {
    Json(json!({"delay_id": delay_id})).into_response()
}

#[derive(Deserialize)]
pub struct ScheduleBody {
    delay: u64,
    state_key: Option<String>,
    content: Value,
}

/// `PUT /_matrix/client/unstable/org.matrix.msc4140/rooms/{roomId}/delayed_event/{eventType}/{txnId}`
/// ([MSC4140](https://github.com/matrix-org/matrix-spec-proposals/pull/4140))
pub async fn schedule(
    State(services): State<Services>,
    Authed(requester): Authed,
    MatrixPath((room_id, kind, txn_id)): MatrixPath<(ruma::OwnedRoomId, String, String)>,
    MatrixJson(body): MatrixJson<ScheduleBody>,
) -> Result<Response> {
    let event = Scheduled {
        kind,
        state_key: body.state_key,
        content: body.content,
        delay: Duration::from_millis(body.delay),
        txn_id: Some(txn_id),
    };
    let delay_id = services.delayed_events.schedule(&requester, &room_id, event).await?;
    Ok(scheduled(delay_id))
}

/// `GET /_matrix/client/unstable/org.matrix.msc4140/delayed_events`: the
/// requester's waiting events.
pub async fn list(
    State(services): State<Services>,
    Authed(requester): Authed,
) -> Result<Json<Value>> {
    let rows = services.delayed_events.list(&requester.user_id).await?;
    let events: Vec<Value> = rows
        .into_iter()
        .map(|row| {
            let content: Value = serde_json::from_str(&row.content).unwrap_or(Value::Null);
            let mut event = json!({
                "delay_id": row.delay_id,
                "room_id": row.room_id,
                "type": row.event_type,
                "delay": row.delay_ms,
                "running_since": row.running_since,
                "content": content,
            });
            if let Some(key) = row.state_key {
                event["state_key"] = key.into();
            }
            event
        })
        .collect();
    Ok(Json(json!({"delayed_events": events})))
}

#[derive(Deserialize)]
pub struct ActionBody {
    action: String,
}

/// `POST /_matrix/client/unstable/org.matrix.msc4140/delayed_events/{delayId}`
/// with `{"action": …}`: the requester's own event.
pub async fn update(
    State(services): State<Services>,
    Authed(requester): Authed,
    MatrixPath(delay_id): MatrixPath<String>,
    MatrixJson(body): MatrixJson<ActionBody>,
) -> Result<Json<Value>> {
    let action = Action::parse(&body.action)?;
    services.delayed_events.update(&delay_id, action, Some(&requester.user_id)).await?;
    Ok(Json(json!({})))
}

/// `POST /_matrix/client/unstable/org.matrix.msc4140/delayed_events/{delayId}/{action}`:
/// no access token, the delay id is the key (so that a call's media
/// server can send a participant's "left" for them).
pub async fn update_by_id(
    State(services): State<Services>,
    MatrixPath((delay_id, action)): MatrixPath<(String, String)>,
    request: Request,
) -> Result<Json<Value>> {
    let (parts, _) = request.into_parts();
    let address = client_ip(&parts, &services.config.server.trusted_proxies);
    // Ids cannot be guessed (32 random letters); heartbeats come often.
    services.rate_limits.check(LimitClass::Client, &address)?;
    let action = Action::parse(&action)?;
    services.delayed_events.update(&delay_id, action, None).await?;
    Ok(Json(json!({})))
}
