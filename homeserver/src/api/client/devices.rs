//! A user's devices.

use axum::extract::State;
use ruma::api::client::device::{
    delete_device, delete_devices, get_device, get_devices, update_device,
};

use crate::{
    api::ruma::{Ruma, RumaResponse},
    error::Result,
    services::Services,
};

/// [`GET /_matrix/client/v3/devices`](https://spec.matrix.org/latest/client-server-api/#get_matrixclientv3devices)
pub async fn list(
    State(services): State<Services>,
    Ruma { auth, .. }: Ruma<get_devices::v3::Request>,
) -> Result<RumaResponse<get_devices::v3::Response>> {
    let devices = services.devices.list(&auth.user_id).await?;
    Ok(get_devices::v3::Response::new(devices).into())
}

/// [`GET /_matrix/client/v3/devices/{device_id}`](https://spec.matrix.org/latest/client-server-api/#get_matrixclientv3devicesdeviceid)
pub async fn get(
    State(services): State<Services>,
    Ruma { auth, body }: Ruma<get_device::v3::Request>,
) -> Result<RumaResponse<get_device::v3::Response>> {
    let device = services.devices.get(&auth.user_id, body.device_id.as_str()).await?;
    Ok(get_device::v3::Response::new(device).into())
}

/// [`PUT /_matrix/client/v3/devices/{device_id}`](https://spec.matrix.org/latest/client-server-api/#put_matrixclientv3devicesdeviceid)
pub async fn update(
    State(services): State<Services>,
    Ruma { auth, body }: Ruma<update_device::v3::Request>,
) -> Result<RumaResponse<update_device::v3::Response>> {
    services
        .devices
        .rename(&auth.user_id, body.device_id.as_str(), body.display_name.as_deref())
        .await?;
    Ok(update_device::v3::Response::new().into())
}

/// [`DELETE /_matrix/client/v3/devices/{device_id}`](https://spec.matrix.org/latest/client-server-api/#delete_matrixclientv3devicesdeviceid)
pub async fn delete(
    State(services): State<Services>,
    Ruma { auth, body }: Ruma<delete_device::v3::Request>,
) -> Result<RumaResponse<delete_device::v3::Response>> {
    services.devices.delete_one(&auth, body.device_id, body.auth.as_ref()).await?;
    Ok(delete_device::v3::Response::new().into())
}

/// [`POST /_matrix/client/v3/delete_devices`](https://spec.matrix.org/latest/client-server-api/#post_matrixclientv3delete_devices)
pub async fn delete_many(
    State(services): State<Services>,
    Ruma { auth, body }: Ruma<delete_devices::v3::Request>,
) -> Result<RumaResponse<delete_devices::v3::Response>> {
    services.devices.delete(&auth, &body.devices, body.auth.as_ref()).await?;
    Ok(delete_devices::v3::Response::new().into())
}
