//! Peeking into a room (Element's preview of a world-readable room).

use axum::extract::State;
use ruma::api::client::{
    peeking::{get_current_state, listen_to_new_events},
    room::Visibility,
};

use super::raw_event;
use crate::{
    api::ruma::{Ruma, RumaResponse},
    error::Result,
    services::Services,
};

/// [`GET /_matrix/client/v3/rooms/{roomId}/initialSync`](https://spec.matrix.org/latest/client-server-api/#get_matrixclientv3roomsroomidinitialsync)
pub async fn room_initial_sync(
    State(services): State<Services>,
    Ruma { auth, body }: Ruma<get_current_state::v3::Request>,
) -> Result<RumaResponse<get_current_state::v3::Response>> {
    let device = auth.device_id.as_str();
    let snapshot = services.sync.room_snapshot(&auth.user_id, device, &body.room_id).await?;
    let mut response = get_current_state::v3::Response::new(body.room_id);
    response.membership = snapshot.membership;
    response.state = snapshot.state.iter().map(raw_event).collect::<Result<_>>()?;
    let chunk = snapshot.messages.iter().map(raw_event).collect::<Result<_>>()?;
    let mut messages = get_current_state::v3::PaginationChunk::new(chunk, snapshot.end);
    messages.start = snapshot.start;
    response.messages = Some(messages);
    response.account_data = snapshot.account_data.iter().map(raw_event).collect::<Result<_>>()?;
    response.visibility =
        Some(if snapshot.published { Visibility::Public } else { Visibility::Private });
    Ok(response.into())
}

/// [`GET /_matrix/client/v3/events`](https://spec.matrix.org/latest/client-server-api/#peeking_get_matrixclientv3events)
pub async fn events(
    State(services): State<Services>,
    Ruma { auth, body }: Ruma<listen_to_new_events::v3::Request>,
) -> Result<RumaResponse<listen_to_new_events::v3::Response>> {
    let timeout = body.timeout.unwrap_or_default();
    let device = auth.device_id.as_str();
    let page = services.sync.peek(&auth.user_id, device, &body.room_id, body.from, timeout).await?;
    let mut response = listen_to_new_events::v3::Response::new();
    response.chunk = page.chunk.iter().map(raw_event).collect::<Result<_>>()?;
    response.start = Some(page.start);
    response.end = Some(page.end);
    Ok(response.into())
}
