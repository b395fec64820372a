//! Searching messages on the server. The server cannot read encrypted
//! rooms, so it finds nothing there: clients search those in the history
//! they decrypted themselves.

use ruma::{
    UInt,
    api::client::search::search_events::v3::{Categories, Criteria, OrderBy, Request},
    events::AnyTimelineEvent,
};

use super::Client;
use crate::error::Result;

impl Client {
    /// Messages in the user's rooms that contain `term`, best match first
    /// (the server's first `limit` results).
    pub async fn search_messages(&self, term: &str, limit: u32) -> Result<Vec<AnyTimelineEvent>> {
        let mut criteria = Criteria::new(term.to_owned());
        criteria.order_by = Some(OrderBy::Rank);
        criteria.filter.limit = Some(UInt::from(limit));
        let mut categories = Categories::new();
        categories.room_events = Some(criteria);
        let response = self.send(Request::new(categories)).await?;
        Ok(response
            .search_categories
            .room_events
            .results
            .into_iter()
            .filter_map(|result| result.result?.deserialize().ok())
            .collect())
    }
}
