//! Transactions (PDUs and EDUs pushed to us) and the history reads other
//! servers make: single events, state ids, backfill, missing events.

use std::collections::BTreeMap;

use axum::extract::State;
use ruma::{
    CanonicalJsonObject, MilliSecondsSinceUnixEpoch,
    api::federation::{
        backfill::get_backfill,
        event::{get_event, get_missing_events, get_room_state, get_room_state_ids},
        transactions::send_transaction_message,
    },
};

use super::Fed;
use crate::services::rooms::pdu::Pdu;
use crate::{
    api::ruma::RumaResponse,
    error::{Error, Result},
    services::Services,
};

/// [`PUT /_matrix/federation/v1/send/{transaction_id}`](https://spec.matrix.org/latest/server-server-api/#put_matrixfederationv1sendtransactionid)
pub async fn send(
    State(services): State<Services>,
    Fed { origin, body }: Fed<send_transaction_message::v1::Request>,
) -> Result<RumaResponse<send_transaction_message::v1::Response>> {
    if body.origin != origin {
        return Err(Error::forbidden("the transaction's origin is not the signing server"));
    }
    if body.pdus.len() > 50 || body.edus.len() > 100 {
        return Err(Error::TooLarge);
    }
    let mut results = BTreeMap::new();
    for raw in &body.pdus {
        let Ok(json) = serde_json::from_str::<CanonicalJsonObject>(raw.get()) else {
            continue;
        };
        let (event_id, result) = services.rooms.receive_in_transaction(&origin, json).await;
        if let Some(event_id) = event_id {
            results.insert(event_id, result.map(|_| ()).map_err(|e| e.to_string()));
        }
    }
    for edu in &body.edus {
        services.receive_edu(&origin, edu).await;
    }
    Ok(send_transaction_message::v1::Response::new(results).into())
}

/// [`GET /_matrix/federation/v1/event/{event_id}`](https://spec.matrix.org/latest/server-server-api/#get_matrixfederationv1eventeventid)
pub async fn event(
    State(services): State<Services>,
    Fed { origin, body }: Fed<get_event::v1::Request>,
) -> Result<RumaResponse<get_event::v1::Response>> {
    let pdu = services.rooms.event_for_server(&origin, &body.event_id).await?;
    let own = services.federation.server_name().to_owned();
    Ok(get_event::v1::Response::new(own, MilliSecondsSinceUnixEpoch::now(), pdu).into())
}

/// [`GET /_matrix/federation/v1/state_ids/{room_id}`](https://spec.matrix.org/latest/server-server-api/#get_matrixfederationv1state_idsroomid)
pub async fn state_ids(
    State(services): State<Services>,
    Fed { origin, body }: Fed<get_room_state_ids::v1::Request>,
) -> Result<RumaResponse<get_room_state_ids::v1::Response>> {
    let (state, chain) = services.rooms.state_at(&origin, &body.room_id, &body.event_id).await?;
    let ids =
        |events: Vec<std::sync::Arc<Pdu>>| events.iter().map(|p| p.event_id.clone()).collect();
    Ok(get_room_state_ids::v1::Response::new(ids(chain), ids(state)).into())
}

/// [`GET /_matrix/federation/v1/state/{room_id}`](https://spec.matrix.org/latest/server-server-api/#get_matrixfederationv1stateroomid)
pub async fn state(
    State(services): State<Services>,
    Fed { origin, body }: Fed<get_room_state::v1::Request>,
) -> Result<RumaResponse<get_room_state::v1::Response>> {
    let (state, chain) = services.rooms.state_at(&origin, &body.room_id, &body.event_id).await?;
    let chain = services.rooms.outgoing_all(&body.room_id, &chain).await?;
    let state = services.rooms.outgoing_all(&body.room_id, &state).await?;
    Ok(get_room_state::v1::Response::new(chain, state).into())
}

/// [`GET /_matrix/federation/v1/backfill/{room_id}`](https://spec.matrix.org/latest/server-server-api/#get_matrixfederationv1backfillroomid)
pub async fn backfill(
    State(services): State<Services>,
    Fed { origin, body }: Fed<get_backfill::v1::Request>,
) -> Result<RumaResponse<get_backfill::v1::Response>> {
    let limit = usize::try_from(u64::from(body.limit)).unwrap_or(usize::MAX);
    let pdus = services.rooms.backfill(&origin, &body.room_id, &body.v, limit).await?;
    let own = services.federation.server_name().to_owned();
    Ok(get_backfill::v1::Response::new(own, MilliSecondsSinceUnixEpoch::now(), pdus).into())
}

/// [`POST /_matrix/federation/v1/get_missing_events/{room_id}`](https://spec.matrix.org/latest/server-server-api/#post_matrixfederationv1get_missing_eventsroomid)
pub async fn missing_events(
    State(services): State<Services>,
    Fed { origin, body }: Fed<get_missing_events::v1::Request>,
) -> Result<RumaResponse<get_missing_events::v1::Response>> {
    let limit = usize::try_from(u64::from(body.limit)).unwrap_or(usize::MAX);
    let events = services
        .rooms
        .missing_events(&origin, &body.room_id, &body.earliest_events, &body.latest_events, limit)
        .await?;
    Ok(get_missing_events::v1::Response::new(events).into())
}
