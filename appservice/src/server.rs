//! The endpoints a homeserver calls on the service
//! ([spec](https://spec.matrix.org/latest/application-service-api/#homeserver---application-service-api)):
//! transactions of events, user and alias queries, ping. Each checks the
//! `hs_token` first; the legacy unprefixed paths are served too.

use axum::{
    Json, Router,
    extract::{Path, Query, State},
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
    routing::{get, post, put},
};
use ruma::{
    OwnedRoomAliasId, OwnedUserId,
    api::appservice::event::push_events::v1::EphemeralData,
    events::{AnyStateEvent, AnyTimelineEvent, room::member::MembershipState},
    serde::Raw,
};
use serde::Deserialize;
use serde_json::json;

use crate::appservice::Appservice;

/// A transaction's body. Ephemeral data comes under its stable name, its
/// MSC2409 one (older homeservers), or both (the same data twice).
#[derive(Deserialize)]
struct Transaction {
    #[serde(default)]
    events: Vec<Raw<AnyTimelineEvent>>,
    ephemeral: Option<Vec<Raw<EphemeralData>>>,
    #[serde(rename = "de.sorunome.msc2409.ephemeral")]
    ephemeral_msc2409: Option<Vec<Raw<EphemeralData>>>,
}

#[derive(Deserialize)]
struct TokenQuery {
    access_token: Option<String>,
}

impl Appservice {
    /// The service's HTTP endpoints, to serve with axum (or nest in a
    /// bridge's own router).
    pub fn router(&self) -> Router {
        Router::new()
            .route("/_matrix/app/v1/transactions/{txn_id}", put(transaction))
            .route("/transactions/{txn_id}", put(transaction))
            .route("/_matrix/app/v1/users/{user_id}", get(user_query))
            .route("/users/{user_id}", get(user_query))
            .route("/_matrix/app/v1/rooms/{alias}", get(room_query))
            .route("/rooms/{alias}", get(room_query))
            .route("/_matrix/app/v1/ping", post(ping))
            .fallback(|| async {
                error(StatusCode::NOT_FOUND, "M_UNRECOGNIZED", "unknown endpoint")
            })
            .method_not_allowed_fallback(|| async {
                error(StatusCode::METHOD_NOT_ALLOWED, "M_UNRECOGNIZED", "unsupported method")
            })
            .with_state(self.clone())
    }

    /// Serves the endpoints on `listener` until the process ends (spawn
    /// it: `tokio::spawn(service.clone().serve(listener))`).
    pub async fn serve(self, listener: tokio::net::TcpListener) -> crate::Result<()> {
        axum::serve(listener, self.router()).await?;
        Ok(())
    }

    /// The refusal of a request that does not carry the `hs_token` (in
    /// the header, or the query parameter older homeservers use).
    fn refusal(&self, headers: &HeaderMap, query: &TokenQuery) -> Option<Response> {
        let bearer = headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.strip_prefix("Bearer "));
        let Some(token) = bearer.or(query.access_token.as_deref()) else {
            return Some(error(StatusCode::UNAUTHORIZED, "M_UNAUTHORIZED", "no hs_token"));
        };
        match same(token.as_bytes(), self.inner.registration.hs_token.as_bytes()) {
            true => None,
            false => Some(error(StatusCode::FORBIDDEN, "M_FORBIDDEN", "wrong hs_token")),
        }
    }

    /// Handles a transaction once: its events in order, then its ephemeral
    /// data, then it is marked handled (a retry of it is a no-op).
    async fn handle_transaction(
        self,
        txn_id: String,
        transaction: Transaction,
    ) -> crate::Result<()> {
        let _one_at_a_time = self.inner.transactions.lock().await;
        if self.inner.store.transaction_handled(&txn_id).await? {
            return Ok(());
        }
        let handlers = {
            let handlers = self.inner.handlers.read().unwrap_or_else(|p| p.into_inner());
            (handlers.events.clone(), handlers.ephemeral.clone())
        };
        for raw in transaction.events {
            let event = match raw.deserialize() {
                Ok(event) => event,
                Err(error) => {
                    tracing::warn!(%error, "skipping an event the service cannot read");
                    continue;
                }
            };
            self.track_membership(&event).await?;
            for handler in &handlers.0 {
                handler(self.clone(), event.clone()).await;
            }
        }
        let ephemeral = transaction.ephemeral.or(transaction.ephemeral_msc2409).unwrap_or_default();
        for raw in ephemeral {
            let Ok(data) = raw.deserialize() else { continue };
            for handler in &handlers.1 {
                handler(self.clone(), data.clone()).await;
            }
        }
        self.inner.store.mark_transaction_handled(&txn_id).await
    }

    /// Whether the bridge makes this user of its namespace exist; if so it
    /// is registered before the homeserver hears yes.
    async fn user_exists(&self, user_id: OwnedUserId) -> crate::Result<bool> {
        let handler =
            self.inner.handlers.read().unwrap_or_else(|p| p.into_inner()).user_query.clone();
        let Some(handler) = handler.filter(|_| self.is_ours(&user_id)) else { return Ok(false) };
        if !handler(self.clone(), user_id.clone()).await {
            return Ok(false);
        }
        self.intent(&user_id)?.ensure_registered().await?;
        Ok(true)
    }

    /// Whether the bridge made a room with this alias of its namespace.
    async fn room_exists(&self, alias: OwnedRoomAliasId) -> crate::Result<bool> {
        let handler =
            self.inner.handlers.read().unwrap_or_else(|p| p.into_inner()).room_query.clone();
        let Some(handler) = handler.filter(|_| self.claims_alias(&alias)) else { return Ok(false) };
        Ok(handler(self.clone(), alias).await)
    }

    /// Keeps the store's idea of which rooms the service's users are in.
    async fn track_membership(&self, event: &AnyTimelineEvent) -> crate::Result<()> {
        let AnyTimelineEvent::State(AnyStateEvent::RoomMember(member)) = event else {
            return Ok(());
        };
        let Ok(user_id) = ruma::UserId::parse(member.state_key()) else { return Ok(()) };
        if self.is_ours(&user_id) {
            let joined = member.membership() == &MembershipState::Join;
            self.inner.store.set_joined(member.room_id(), &user_id, joined).await?;
        }
        Ok(())
    }
}

/// [PUT /_matrix/app/v1/transactions/{txnId}](https://spec.matrix.org/latest/application-service-api/#put_matrixappv1transactionstxnid)
async fn transaction(
    State(service): State<Appservice>,
    Path(txn_id): Path<String>,
    Query(query): Query<TokenQuery>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    if let Some(refused) = service.refusal(&headers, &query) {
        return refused;
    }
    let transaction: Transaction = match serde_json::from_slice(&body) {
        Ok(transaction) => transaction,
        Err(e) => return error(StatusCode::BAD_REQUEST, "M_NOT_JSON", &e.to_string()),
    };
    // In a task of its own: a homeserver that gives up waiting does not
    // cancel it halfway, and a handler that panics is a 500 (sent again).
    match tokio::spawn(service.handle_transaction(txn_id, transaction)).await {
        Ok(Ok(())) => Json(json!({})).into_response(),
        Ok(Err(e)) => error(StatusCode::INTERNAL_SERVER_ERROR, "M_UNKNOWN", &e.to_string()),
        Err(_) => error(StatusCode::INTERNAL_SERVER_ERROR, "M_UNKNOWN", "a handler failed"),
    }
}

/// [GET /_matrix/app/v1/users/{userId}](https://spec.matrix.org/latest/application-service-api/#get_matrixappv1usersuserid)
async fn user_query(
    State(service): State<Appservice>,
    Path(user_id): Path<OwnedUserId>,
    Query(query): Query<TokenQuery>,
    headers: HeaderMap,
) -> Response {
    match service.refusal(&headers, &query) {
        Some(refused) => refused,
        None => found(service.user_exists(user_id).await, "no such user"),
    }
}

/// [GET /_matrix/app/v1/rooms/{roomAlias}](https://spec.matrix.org/latest/application-service-api/#get_matrixappv1roomsroomalias)
async fn room_query(
    State(service): State<Appservice>,
    Path(alias): Path<OwnedRoomAliasId>,
    Query(query): Query<TokenQuery>,
    headers: HeaderMap,
) -> Response {
    match service.refusal(&headers, &query) {
        Some(refused) => refused,
        None => found(service.room_exists(alias).await, "no such room"),
    }
}

/// A query's answer: it exists (now), it does not, or asking failed.
fn found(exists: crate::Result<bool>, nothing: &str) -> Response {
    match exists {
        Ok(true) => Json(json!({})).into_response(),
        Ok(false) => error(StatusCode::NOT_FOUND, "M_NOT_FOUND", nothing),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, "M_UNKNOWN", &e.to_string()),
    }
}

/// [POST /_matrix/app/v1/ping](https://spec.matrix.org/latest/application-service-api/#post_matrixappv1ping)
async fn ping(
    State(service): State<Appservice>,
    Query(query): Query<TokenQuery>,
    headers: HeaderMap,
) -> Response {
    service.refusal(&headers, &query).unwrap_or_else(|| Json(json!({})).into_response())
}

fn error(status: StatusCode, errcode: &str, message: &str) -> Response {
    (status, Json(json!({ "errcode": errcode, "error": message }))).into_response()
}

/// Compares two tokens in time that depends only on their lengths.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
