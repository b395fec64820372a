//! Third-party networks: the protocols bridges serve, and lookups of
//! their portal rooms and users, answered by the bridges.

use axum::extract::State;
use ruma::api::client::thirdparty::{
    get_location_for_protocol, get_location_for_room_alias, get_protocol, get_protocols,
    get_user_for_protocol, get_user_for_user_id,
};

use crate::{
    api::ruma::{Ruma, RumaResponse},
    error::{Error, Result},
    services::Services,
};

/// [`GET /_matrix/client/v3/thirdparty/protocols`](https://spec.matrix.org/latest/client-server-api/#get_matrixclientv3thirdpartyprotocols)
pub async fn protocols(
    State(services): State<Services>,
    _: Ruma<get_protocols::v3::Request>,
) -> Result<RumaResponse<get_protocols::v3::Response>> {
    Ok(get_protocols::v3::Response::new(services.appservices.protocols().await).into())
}

/// [`GET /_matrix/client/v3/thirdparty/protocol/{protocol}`](https://spec.matrix.org/latest/client-server-api/#get_matrixclientv3thirdpartyprotocolprotocol)
pub async fn protocol(
    State(services): State<Services>,
    Ruma { body, .. }: Ruma<get_protocol::v3::Request>,
) -> Result<RumaResponse<get_protocol::v3::Response>> {
    let protocol = services.appservices.protocol(&body.protocol).await;
    let protocol = protocol.ok_or_else(|| Error::not_found("no bridge serves this protocol"))?;
    Ok(get_protocol::v3::Response::new(protocol).into())
}

/// [`GET /_matrix/client/v3/thirdparty/location/{protocol}`](https://spec.matrix.org/latest/client-server-api/#get_matrixclientv3thirdpartylocationprotocol)
pub async fn locations(
    State(services): State<Services>,
    Ruma { body, .. }: Ruma<get_location_for_protocol::v3::Request>,
) -> Result<RumaResponse<get_location_for_protocol::v3::Response>> {
    let found = services.appservices.locations(&body.protocol, &body.fields).await?;
    Ok(get_location_for_protocol::v3::Response::new(found).into())
}

/// [`GET /_matrix/client/v3/thirdparty/user/{protocol}`](https://spec.matrix.org/latest/client-server-api/#get_matrixclientv3thirdpartyuserprotocol)
pub async fn users(
    State(services): State<Services>,
    Ruma { body, .. }: Ruma<get_user_for_protocol::v3::Request>,
) -> Result<RumaResponse<get_user_for_protocol::v3::Response>> {
    let found = services.appservices.users(&body.protocol, &body.fields).await?;
    Ok(get_user_for_protocol::v3::Response::new(found).into())
}

/// [`GET /_matrix/client/v3/thirdparty/location`](https://spec.matrix.org/latest/client-server-api/#get_matrixclientv3thirdpartylocation)
pub async fn locations_for_alias(
    State(services): State<Services>,
    Ruma { body, .. }: Ruma<get_location_for_room_alias::v3::Request>,
) -> Result<RumaResponse<get_location_for_room_alias::v3::Response>> {
    let found = services.appservices.locations_for_alias(&body.alias).await?;
    Ok(get_location_for_room_alias::v3::Response::new(found).into())
}

/// [`GET /_matrix/client/v3/thirdparty/user`](https://spec.matrix.org/latest/client-server-api/#get_matrixclientv3thirdpartyuser)
pub async fn users_for_id(
    State(services): State<Services>,
    Ruma { body, .. }: Ruma<get_user_for_user_id::v3::Request>,
) -> Result<RumaResponse<get_user_for_user_id::v3::Response>> {
    let found = services.appservices.users_for_id(&body.userid).await?;
    Ok(get_user_for_user_id::v3::Response::new(found).into())
}
