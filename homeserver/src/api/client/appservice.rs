//! The client-server endpoints only application services call.

use axum::extract::State;
use ruma::api::client::{
    appservice::{request_ping, set_room_visibility},
    room::Visibility,
};

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

/// [`PUT /_matrix/client/v3/directory/list/appservice/{networkId}/{roomId}`](https://spec.matrix.org/latest/application-service-api/#put_matrixclientv3directorylistappservicenetworkidroomid)
pub async fn list_in_network(
    State(services): State<Services>,
    Ruma { auth, body }: Ruma<set_room_visibility::v3::Request>,
) -> Result<RumaResponse<set_room_visibility::v3::Response>> {
    let public = body.visibility == Visibility::Public;
    services.rooms.list_in_network(&auth, &body.network_id, &body.room_id, public).await?;
    Ok(set_room_visibility::v3::Response::new().into())
}
