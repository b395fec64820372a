//! Room events: send, state, redact, fetch and paginate.

use axum::{
    extract::State,
    response::{IntoResponse, Response},
};
use ruma::{
    api::{
        Direction as RumaDirection,
        client::{
            context::get_context,
            message::{get_message_events, send_message_event},
            redact::redact_event,
            room::{get_event_by_timestamp, get_room_event},
            state::{get_state_event_for_key, get_state_events, send_state_event},
        },
    },
    serde::Raw,
};
use serde_json::{Value as JsonValue, value::to_raw_value};

use super::delayed_events::{self, DelayQuery};
use super::raw_event;
use crate::{
    api::{
        authed::MatrixQuery,
        ruma::{Ruma, RumaResponse},
    },
    error::{Error, Result},
    services::{
        Services,
        delayed_events::Scheduled,
        rooms::{Direction, MessagesQuery},
    },
};

fn content(raw: &serde_json::value::RawValue) -> Result<JsonValue> {
    serde_json::from_str(raw.get()).map_err(|e| Error::BadJson(e.to_string()))
}

/// [`PUT /_matrix/client/v3/rooms/{room_id}/send/{event_type}/{txn_id}`](https://spec.matrix.org/latest/client-server-api/#put_matrixclientv3roomsroomidsendeventtypetxnid)
///
/// With `org.matrix.msc4140.delay`, the event is scheduled instead
/// ([MSC4140](https://github.com/matrix-org/matrix-spec-proposals/pull/4140)).
pub async fn send(
    State(services): State<Services>,
    MatrixQuery(query): MatrixQuery<DelayQuery>,
    Ruma { auth, body }: Ruma<send_message_event::v3::Request>,
) -> Result<Response> {
    let kind = body.event_type.to_string();
    let content = content(body.body.json())?;
    if let Some(delay) = query.delay()? {
        let txn_id = Some(body.txn_id.to_string());
        let event = Scheduled { kind, state_key: None, content, delay, txn_id };
        let delay_id = services.delayed_events.schedule(&auth, &body.room_id, event).await?;
        return Ok(delayed_events::scheduled(delay_id));
    }
    let event_id = services
        .rooms
        .send_message(&body.room_id, &auth, &kind, content, body.txn_id.as_str())
        .await?;
    Ok(RumaResponse(send_message_event::v3::Response::new(event_id)).into_response())
}

/// [`PUT /_matrix/client/v3/rooms/{room_id}/state/{event_type}/{state_key}`](https://spec.matrix.org/latest/client-server-api/#put_matrixclientv3roomsroomidstateeventtypestatekey)
///
/// With `org.matrix.msc4140.delay`, the event is scheduled instead.
pub async fn set_state(
    State(services): State<Services>,
    MatrixQuery(query): MatrixQuery<DelayQuery>,
    Ruma { auth, body }: Ruma<send_state_event::v3::Request>,
) -> Result<Response> {
    let kind = body.event_type.to_string();
    let content = content(body.body.json())?;
    if let Some(delay) = query.delay()? {
        let state_key = Some(body.state_key);
        let event = Scheduled { kind, state_key, content, delay, txn_id: None };
        let delay_id = services.delayed_events.schedule(&auth, &body.room_id, event).await?;
        return Ok(delayed_events::scheduled(delay_id));
    }
    let event_id =
        services.rooms.set_state(&body.room_id, &auth, &kind, &body.state_key, content).await?;
    Ok(RumaResponse(send_state_event::v3::Response::new(event_id)).into_response())
}

/// [`GET /_matrix/client/v3/rooms/{room_id}/state/{event_type}/{state_key}`](https://spec.matrix.org/latest/client-server-api/#get_matrixclientv3roomsroomidstateeventtypestatekey)
pub async fn get_state(
    State(services): State<Services>,
    Ruma { auth, body }: Ruma<get_state_event_for_key::v3::Request>,
) -> Result<RumaResponse<get_state_event_for_key::v3::Response>> {
    let event = services
        .rooms
        .state_event(&body.room_id, &auth.user_id, &body.event_type.to_string(), &body.state_key)
        .await?;
    // `?format=event` (spec 1.16) asks for the whole event.
    let raw = match body.format {
        get_state_event_for_key::v3::StateEventFormat::Event => {
            to_raw_value(&event.to_client_event(None))
        }
        _ => to_raw_value(&event.content_value()),
    }
    .map_err(Error::internal)?;
    Ok(get_state_event_for_key::v3::Response::new(raw).into())
}

/// [`GET /_matrix/client/v3/rooms/{room_id}/state`](https://spec.matrix.org/latest/client-server-api/#get_matrixclientv3roomsroomidstate)
pub async fn all_state(
    State(services): State<Services>,
    Ruma { auth, body }: Ruma<get_state_events::v3::Request>,
) -> Result<RumaResponse<get_state_events::v3::Response>> {
    let state = services.rooms.visible_state(&body.room_id, &auth.user_id).await?;
    let events = state
        .iter()
        .map(|pdu| raw_event(&pdu.to_client_event(None)))
        .collect::<Result<Vec<Raw<_>>>>()?;
    Ok(get_state_events::v3::Response::new(events).into())
}

/// [`GET /_matrix/client/v3/rooms/{room_id}/event/{event_id}`](https://spec.matrix.org/latest/client-server-api/#get_matrixclientv3roomsroomideventeventid)
pub async fn event(
    State(services): State<Services>,
    Ruma { auth, body }: Ruma<get_room_event::v3::Request>,
) -> Result<RumaResponse<get_room_event::v3::Response>> {
    let event = services.rooms.event_for(&body.room_id, &auth.user_id, &body.event_id).await?;
    Ok(get_room_event::v3::Response::new(raw_event(&event)?).into())
}

/// [`PUT /_matrix/client/v3/rooms/{room_id}/redact/{event_id}/{txn_id}`](https://spec.matrix.org/latest/client-server-api/#put_matrixclientv3roomsroomidredacteventidtxnid)
pub async fn redact(
    State(services): State<Services>,
    Ruma { auth, body }: Ruma<redact_event::v3::Request>,
) -> Result<RumaResponse<redact_event::v3::Response>> {
    let event_id = services
        .rooms
        .redact(&body.room_id, &auth, &body.event_id, body.reason.as_deref(), body.txn_id.as_str())
        .await?;
    Ok(redact_event::v3::Response::new(event_id).into())
}

/// [`GET /_matrix/client/v3/rooms/{room_id}/messages`](https://spec.matrix.org/latest/client-server-api/#get_matrixclientv3roomsroomidmessages)
pub async fn messages(
    State(services): State<Services>,
    Ruma { auth, body }: Ruma<get_message_events::v3::Request>,
) -> Result<RumaResponse<get_message_events::v3::Response>> {
    let query = MessagesQuery {
        from: body.from,
        dir: match body.dir {
            RumaDirection::Backward => Direction::Backward,
            RumaDirection::Forward => Direction::Forward,
        },
        limit: u64::from(body.limit) as usize,
        lazy_load_members: !body.filter.lazy_load_options.is_disabled(),
    };
    let page = services
        .rooms
        .messages(&body.room_id, &auth.user_id, auth.device_id.as_str(), query)
        .await?;
    let ignored = services.user_data.ignored_users(&auth.user_id).await?;
    let hidden = |event: &serde_json::Value| {
        event["sender"].as_str().is_some_and(|sender| ignored.iter().any(|i| i == sender))
    };
    let mut response = get_message_events::v3::Response::new();
    response.start = page.start;
    response.end = page.end;
    response.chunk =
        page.chunk.iter().filter(|e| !hidden(e)).map(raw_event).collect::<Result<_>>()?;
    response.state = page.state.iter().map(raw_event).collect::<Result<_>>()?;
    Ok(response.into())
}

/// [`GET /_matrix/client/v3/rooms/{room_id}/context/{event_id}`](https://spec.matrix.org/latest/client-server-api/#get_matrixclientv3roomsroomidcontexteventid)
pub async fn context(
    State(services): State<Services>,
    Ruma { auth, body }: Ruma<get_context::v3::Request>,
) -> Result<RumaResponse<get_context::v3::Response>> {
    let limit = u64::from(body.limit) as usize;
    let context =
        services.rooms.context(&body.room_id, &auth.user_id, &body.event_id, limit).await?;
    let mut response = get_context::v3::Response::new();
    response.start = Some(context.start);
    response.end = Some(context.end);
    response.event = Some(raw_event(&context.event)?);
    response.events_before = context.before.iter().map(raw_event).collect::<Result<_>>()?;
    response.events_after = context.after.iter().map(raw_event).collect::<Result<_>>()?;
    response.state = context.state.iter().map(raw_event).collect::<Result<_>>()?;
    Ok(response.into())
}

/// [`GET /_matrix/client/v1/rooms/{room_id}/timestamp_to_event`](https://spec.matrix.org/latest/client-server-api/#get_matrixclientv1roomsroomidtimestamp_to_event)
pub async fn timestamp_to_event(
    State(services): State<Services>,
    Ruma { auth, body }: Ruma<get_event_by_timestamp::v1::Request>,
) -> Result<RumaResponse<get_event_by_timestamp::v1::Response>> {
    let dir = match body.dir {
        RumaDirection::Backward => Direction::Backward,
        RumaDirection::Forward => Direction::Forward,
    };
    let ts = i64::from(body.ts.get());
    let (event_id, at) =
        services.rooms.event_at_time(&body.room_id, &auth.user_id, ts, dir).await?;
    let at = ruma::MilliSecondsSinceUnixEpoch(ruma::UInt::try_from(at).unwrap_or_default());
    Ok(get_event_by_timestamp::v1::Response::new(event_id, at).into())
}
