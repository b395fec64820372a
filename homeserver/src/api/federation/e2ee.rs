//! Other servers asking for this server's users' keys.

use axum::extract::State;
use ruma::api::federation::keys::{claim_keys, get_keys};

use super::Fed;
use crate::{api::ruma::RumaResponse, error::Result, services::Services};

pub async fn query_keys(
    State(services): State<Services>,
    Fed { body, .. }: Fed<get_keys::v1::Request>,
) -> Result<RumaResponse<get_keys::v1::Response>> {
    let mut keys = ruma::api::client::keys::get_keys::v3::Response::new();
    services.keys.query_local(None, &body.device_keys, &mut keys).await?;
    let mut response = get_keys::v1::Response::new(keys.device_keys);
    response.master_keys = keys.master_keys;
    response.self_signing_keys = keys.self_signing_keys;
    Ok(response.into())
}

pub async fn claim_keys(
    State(services): State<Services>,
    Fed { body, .. }: Fed<claim_keys::v1::Request>,
) -> Result<RumaResponse<claim_keys::v1::Response>> {
    let claimed = services.keys.claim_local(&body.one_time_keys).await?;
    Ok(claim_keys::v1::Response::new(claimed.one_time_keys).into())
}
