//! GET /sync.

use std::time::Duration;

use axum::extract::State;
use ruma::api::client::{filter::FilterDefinition, sync::sync_events};

use crate::{
    api::ruma::{Ruma, RumaResponse},
    error::Result,
    services::{Services, sync::SyncOptions},
};

/// Long polls are capped below the request timeout.
const MAX_TIMEOUT: Duration = Duration::from_secs(30);

/// [`GET /_matrix/client/v3/sync`](https://spec.matrix.org/latest/client-server-api/#get_matrixclientv3sync)
pub async fn sync(
    State(services): State<Services>,
    Ruma { auth, body }: Ruma<sync_events::v3::Request>,
) -> Result<RumaResponse<sync_events::v3::Response>> {
    let filter: FilterDefinition = match body.filter {
        Some(sync_events::v3::Filter::FilterDefinition(filter)) => filter,
        Some(sync_events::v3::Filter::FilterId(id)) => {
            services.user_data.filter(&auth, &auth.user_id, &id).await?
        }
        Some(_) | None => FilterDefinition::default(),
    };
    let options = SyncOptions {
        since: body.since,
        timeout: body.timeout.unwrap_or_default().min(MAX_TIMEOUT),
        full_state: body.full_state,
        filter,
    };
    // Syncing marks the user present, unless the client asks otherwise.
    services.presence.touch(&auth.user_id, &body.set_presence).await?;
    let response = services.sync.sync(&auth, options).await?;
    Ok(response.into())
}
