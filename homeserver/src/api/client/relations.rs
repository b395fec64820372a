//! Relations and threads.

use axum::extract::State;
use ruma::api::{
    Direction as RumaDirection,
    client::{
        relations::{
            get_relating_events, get_relating_events_with_rel_type,
            get_relating_events_with_rel_type_and_event_type,
        },
        threads::get_threads::{self, v1::IncludeThreads},
    },
};

use super::raw_event;
use crate::{
    api::ruma::{Ruma, RumaResponse},
    error::Result,
    services::{
        Services,
        rooms::{Direction, RelationsPage, RelationsQuery},
    },
};

fn direction(dir: RumaDirection) -> Direction {
    match dir {
        RumaDirection::Backward => Direction::Backward,
        RumaDirection::Forward => Direction::Forward,
    }
}

fn limit(limit: Option<ruma::UInt>) -> usize {
    limit.map_or(50, |l| u64::from(l) as usize)
}

/// The query every /relations variant shares.
fn query(
    rel_type: Option<String>,
    event_type: Option<String>,
    from: Option<String>,
    to: Option<String>,
    dir: RumaDirection,
    max: Option<ruma::UInt>,
) -> RelationsQuery {
    RelationsQuery { rel_type, event_type, from, to, dir: direction(dir), limit: limit(max) }
}

macro_rules! respond {
    ($module:ident, $page:expr) => {{
        let page: RelationsPage = $page;
        let chunk = page.chunk.iter().map(raw_event).collect::<Result<_>>()?;
        let mut response = $module::v1::Response::new(chunk);
        response.next_batch = page.next_batch;
        response.prev_batch = page.prev_batch;
        Ok(response.into())
    }};
}

/// [`GET /_matrix/client/v1/rooms/{room_id}/relations/{event_id}`](https://spec.matrix.org/latest/client-server-api/#get_matrixclientv1roomsroomidrelationseventid)
pub async fn all(
    State(services): State<Services>,
    Ruma { auth, body }: Ruma<get_relating_events::v1::Request>,
) -> Result<RumaResponse<get_relating_events::v1::Response>> {
    let query = query(None, None, body.from, body.to, body.dir, body.limit);
    respond!(
        get_relating_events,
        services.rooms.relations(&body.room_id, &auth.user_id, &body.event_id, query).await?
    )
}

/// [`GET /_matrix/client/v1/rooms/{room_id}/relations/{event_id}/{rel_type}`](https://spec.matrix.org/latest/client-server-api/#get_matrixclientv1roomsroomidrelationseventidreltype)
pub async fn by_type(
    State(services): State<Services>,
    Ruma { auth, body }: Ruma<get_relating_events_with_rel_type::v1::Request>,
) -> Result<RumaResponse<get_relating_events_with_rel_type::v1::Response>> {
    let query =
        query(Some(body.rel_type.to_string()), None, body.from, body.to, body.dir, body.limit);
    respond!(
        get_relating_events_with_rel_type,
        services.rooms.relations(&body.room_id, &auth.user_id, &body.event_id, query).await?
    )
}

/// [`GET /_matrix/client/v1/rooms/{room_id}/relations/{event_id}/{rel_type}/{event_type}`](https://spec.matrix.org/latest/client-server-api/#get_matrixclientv1roomsroomidrelationseventidreltypeeventtype)
pub async fn by_type_and_event_type(
    State(services): State<Services>,
    Ruma { auth, body }: Ruma<get_relating_events_with_rel_type_and_event_type::v1::Request>,
) -> Result<RumaResponse<get_relating_events_with_rel_type_and_event_type::v1::Response>> {
    let query = query(
        Some(body.rel_type.to_string()),
        Some(body.event_type.to_string()),
        body.from,
        body.to,
        body.dir,
        body.limit,
    );
    respond!(
        get_relating_events_with_rel_type_and_event_type,
        services.rooms.relations(&body.room_id, &auth.user_id, &body.event_id, query).await?
    )
}

/// [`GET /_matrix/client/v1/rooms/{room_id}/threads`](https://spec.matrix.org/latest/client-server-api/#get_matrixclientv1roomsroomidthreads)
pub async fn threads(
    State(services): State<Services>,
    Ruma { auth, body }: Ruma<get_threads::v1::Request>,
) -> Result<RumaResponse<get_threads::v1::Response>> {
    let participated = body.include == IncludeThreads::Participated;
    let (chunk, next_batch) = services
        .rooms
        .threads(
            &body.room_id,
            &auth.user_id,
            participated,
            body.from.as_deref(),
            limit(body.limit),
        )
        .await?;
    let chunk = chunk.iter().map(raw_event).collect::<Result<_>>()?;
    let mut response = get_threads::v1::Response::new(chunk);
    response.next_batch = next_batch;
    Ok(response.into())
}
