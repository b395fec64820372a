//! Server keys (ours, and others' as a notary), the server version and
//! where our server name's federation traffic goes.

use axum::extract::State;
use ruma::api::federation::discovery::{
    discover_homeserver, get_remote_server_keys, get_remote_server_keys_batch, get_server_keys,
    get_server_version,
};

use crate::{
    api::ruma::{Ruma, RumaResponse},
    error::{Error, Result},
    services::Services,
};

/// [`GET /_matrix/key/v2/server`](https://spec.matrix.org/latest/server-server-api/#get_matrixkeyv2server)
pub async fn server_keys(
    State(services): State<Services>,
    _: Ruma<get_server_keys::v2::Request>,
) -> Result<RumaResponse<get_server_keys::v2::Response>> {
    Ok(get_server_keys::v2::Response::new(services.federation.key_document()?).into())
}

/// [`GET /_matrix/key/v2/query/{server_name}`](https://spec.matrix.org/latest/server-server-api/#get_matrixkeyv2queryservername)
pub async fn query_keys(
    State(services): State<Services>,
    Ruma { body, .. }: Ruma<get_remote_server_keys::v2::Request>,
) -> Result<RumaResponse<get_remote_server_keys::v2::Response>> {
    let keys = services.federation.remote_key_document(&body.server_name).await;
    Ok(get_remote_server_keys::v2::Response::new(keys.into_iter().collect()).into())
}

/// [`POST /_matrix/key/v2/query`](https://spec.matrix.org/latest/server-server-api/#post_matrixkeyv2query)
pub async fn query_keys_batch(
    State(services): State<Services>,
    Ruma { body, .. }: Ruma<get_remote_server_keys_batch::v2::Request>,
) -> Result<RumaResponse<get_remote_server_keys_batch::v2::Response>> {
    let mut keys = Vec::new();
    for server in body.server_keys.keys() {
        keys.extend(services.federation.remote_key_document(server).await);
    }
    Ok(get_remote_server_keys_batch::v2::Response::new(keys).into())
}

/// [`GET /_matrix/federation/v1/version`](https://spec.matrix.org/latest/server-server-api/#get_matrixfederationv1version)
pub async fn version(
    _: Ruma<get_server_version::v1::Request>,
) -> Result<RumaResponse<get_server_version::v1::Response>> {
    let mut server = get_server_version::v1::Server::new();
    server.name = Some("Lattice".to_owned());
    server.version = Some(env!("CARGO_PKG_VERSION").to_owned());
    let mut response = get_server_version::v1::Response::new();
    response.server = Some(server);
    Ok(response.into())
}

/// [`GET /.well-known/matrix/server`](https://spec.matrix.org/latest/server-server-api/#getwell-knownmatrixserver):
/// the delegation set in `[federation] well_known_server`.
pub async fn well_known(
    State(services): State<Services>,
    _: Ruma<discover_homeserver::Request>,
) -> Result<RumaResponse<discover_homeserver::Response>> {
    match &services.config.federation.well_known_server {
        Some(server) if services.federation.enabled() => {
            Ok(discover_homeserver::Response::new(server.clone()).into())
        }
        _ => Err(Error::not_found("this server does not delegate federation")),
    }
}
