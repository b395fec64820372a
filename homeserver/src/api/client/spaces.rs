//! Spaces and previews: the tree of rooms under a space, and a room in
//! brief for someone deciding whether to join it.

use axum::extract::State;
use ruma::api::client::{room::get_summary, space::get_hierarchy};

use crate::{
    api::ruma::{Ruma, RumaResponse},
    error::Result,
    services::{Services, rooms::HierarchyQuery},
};

/// [`GET /_matrix/client/v1/rooms/{roomId}/hierarchy`](https://spec.matrix.org/latest/client-server-api/#get_matrixclientv1roomsroomidhierarchy)
pub async fn hierarchy(
    State(services): State<Services>,
    Ruma { auth, body }: Ruma<get_hierarchy::v1::Request>,
) -> Result<RumaResponse<get_hierarchy::v1::Response>> {
    let query = HierarchyQuery {
        from: body.from,
        limit: body.limit.map(u64::from),
        max_depth: body.max_depth.map(u64::from),
        suggested_only: body.suggested_only,
    };
    let page = services.rooms.hierarchy(&auth.user_id, &body.room_id, query).await?;
    let mut response = get_hierarchy::v1::Response::new();
    response.rooms = page.rooms;
    response.next_batch = page.next_batch;
    Ok(response.into())
}

/// [`GET /_matrix/client/v1/room_summary/{roomIdOrAlias}`](https://spec.matrix.org/latest/client-server-api/#get_matrixclientv1room_summaryroomidoralias)
/// (and MSC3266's unstable path)
pub async fn room_summary(
    State(services): State<Services>,
    Ruma { auth, body }: Ruma<get_summary::v1::Request>,
) -> Result<RumaResponse<get_summary::v1::Response>> {
    let viewer = auth.as_ref().map(|requester| requester.user_id.as_ref());
    let (summary, membership) =
        services.rooms.preview(viewer, &body.room_id_or_alias, &body.via).await?;
    let mut response = get_summary::v1::Response::new(summary);
    response.membership = membership;
    Ok(response.into())
}
