//! Pushers: where a user's notifications are pushed.

use axum::extract::State;
use ruma::api::client::push::{get_pushers, set_pusher};

use crate::{
    api::ruma::{Ruma, RumaResponse},
    error::Result,
    services::Services,
};

/// [`GET /_matrix/client/v3/pushers`](https://spec.matrix.org/latest/client-server-api/#get_matrixclientv3pushers)
pub async fn list(
    State(services): State<Services>,
    Ruma { auth, .. }: Ruma<get_pushers::v3::Request>,
) -> Result<RumaResponse<get_pushers::v3::Response>> {
    Ok(get_pushers::v3::Response::new(services.pushers.list(&auth).await?).into())
}

/// [`POST /_matrix/client/v3/pushers/set`](https://spec.matrix.org/latest/client-server-api/#post_matrixclientv3pushersset)
pub async fn set(
    State(services): State<Services>,
    Ruma { auth, body }: Ruma<set_pusher::v3::Request>,
) -> Result<RumaResponse<set_pusher::v3::Response>> {
    services.pushers.set(&auth, body.action).await?;
    Ok(set_pusher::v3::Response::new().into())
}
