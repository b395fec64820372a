//! The client-server endpoints only application services call.

use axum::extract::State;
use ruma::api::client::appservice::request_ping;

use crate::{
    api::ruma::{Ruma, RumaResponse},
    error::Result,
    services::Services,
};

/// [`POST /_matrix/client/v1/appservice/{appserviceId}/ping`](https://spec.matrix.org/latest/application-service-api/#post_matrixclientv1appserviceappserviceidping)
pub async fn ping(
    State(services): State<Services>,
    Ruma { auth, body }: Ruma<request_ping::v1::Request>,
) -> Result<RumaResponse<request_ping::v1::Response>> {
    let txn_id = body.transaction_id.as_ref().map(|id| id.as_str());
    let took = services.appservices.ping(&auth, &body.appservice_id, txn_id).await?;
    Ok(request_ping::v1::Response::new(took).into())
}
