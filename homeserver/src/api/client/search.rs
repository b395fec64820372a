//! POST /search.

use axum::extract::State;
use ruma::api::client::search::search_events::{
    self,
    v3::{OrderBy, ResultCategories, ResultRoomEvents, SearchResult},
};

use super::raw_event;
use crate::{
    api::ruma::{Ruma, RumaResponse},
    error::{Error, Result},
    services::Services,
    store::SearchOrder,
};

/// [`POST /_matrix/client/v3/search`](https://spec.matrix.org/latest/client-server-api/#post_matrixclientv3search)
pub async fn search(
    State(services): State<Services>,
    Ruma { auth, body }: Ruma<search_events::v3::Request>,
) -> Result<RumaResponse<search_events::v3::Response>> {
    let criteria = body
        .search_categories
        .room_events
        .ok_or_else(|| Error::BadJson("only room_events can be searched".into()))?;
    let order = match criteria.order_by {
        Some(OrderBy::Recent) => SearchOrder::Recent,
        _ => SearchOrder::Rank,
    };
    let limit = criteria.filter.limit.map_or(10, |l| u64::from(l) as usize);
    let page = services
        .rooms
        .search(
            &auth.user_id,
            &criteria.search_term,
            order,
            criteria.filter.rooms.as_deref(),
            body.next_batch.as_deref(),
            limit,
        )
        .await?;
    let mut room_events = ResultRoomEvents::new();
    room_events.count = ruma::UInt::try_from(page.results.len() as u64).ok();
    room_events.next_batch = page.next_batch;
    room_events.highlights = page.highlights;
    for (index, event) in page.results.iter().enumerate() {
        let mut result = SearchResult::new();
        result.rank = Some(1.0 / (index as f64 + 1.0));
        result.result = Some(raw_event(event)?);
        room_events.results.push(result);
    }
    let mut categories = ResultCategories::new();
    categories.room_events = room_events;
    Ok(search_events::v3::Response::new(categories).into())
}
