//! Other servers asking for this server's users' keys and devices.

use axum::extract::State;
use ruma::api::federation::{
    device::get_devices,
    keys::{claim_keys, get_keys},
};

use super::Fed;
use crate::{api::ruma::RumaResponse, error::Result, services::Services};

/// [`POST /_matrix/federation/v1/user/keys/query`](https://spec.matrix.org/latest/server-server-api/#post_matrixfederationv1userkeysquery)
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

/// [`POST /_matrix/federation/v1/user/keys/claim`](https://spec.matrix.org/latest/server-server-api/#post_matrixfederationv1userkeysclaim)
pub async fn claim_keys(
    State(services): State<Services>,
    Fed { body, .. }: Fed<claim_keys::v1::Request>,
) -> Result<RumaResponse<claim_keys::v1::Response>> {
    let claimed = services.keys.claim_local(&body.one_time_keys).await?;
    Ok(claim_keys::v1::Response::new(claimed.one_time_keys).into())
}

/// [`GET /_matrix/federation/v1/user/devices/{user_id}`](https://spec.matrix.org/latest/server-server-api/#get_matrixfederationv1userdevicesuserid)
///
/// A local user's devices with their keys (another server resyncing its
/// copy of the user's device list).
pub async fn user_devices(
    State(services): State<Services>,
    Fed { body, .. }: Fed<get_devices::v1::Request>,
) -> Result<RumaResponse<get_devices::v1::Response>> {
    if body.user_id.server_name() != services.federation.server_name() {
        return Err(crate::error::Error::not_found("not a user of this server"));
    }
    let mut keys = ruma::api::client::keys::get_keys::v3::Response::new();
    let wanted = std::collections::BTreeMap::from([(body.user_id.clone(), Vec::new())]);
    services.keys.query_local(None, &wanted, &mut keys).await?;
    let stream_id =
        ruma::UInt::try_from(services.keys.device_list_position().await?).unwrap_or_default();
    let mut response = get_devices::v1::Response::new(body.user_id.clone(), stream_id);
    for (device_id, device_keys) in keys.device_keys.remove(&body.user_id).unwrap_or_default() {
        let name = serde_json::from_str::<serde_json::Value>(device_keys.json().get())
            .ok()
            .and_then(|k| k["unsigned"]["device_display_name"].as_str().map(str::to_owned));
        let mut device = get_devices::v1::UserDevice::new(device_id, device_keys);
        device.device_display_name = name;
        response.devices.push(device);
    }
    response.master_key = keys.master_keys.remove(&body.user_id);
    response.self_signing_key = keys.self_signing_keys.remove(&body.user_id);
    Ok(response.into())
}
