//! Spaces: the tree of rooms under a space.

use axum::extract::State;
use ruma::api::client::space::get_hierarchy;

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
