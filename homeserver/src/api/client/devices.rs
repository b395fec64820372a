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

pub async fn list(
    State(services): State<Services>,
    Ruma { auth, .. }: Ruma<get_devices::v3::Request>,
) -> Result<RumaResponse<get_devices::v3::Response>> {
    let devices = services.devices.list(&auth.user_id).await?;
    Ok(get_devices::v3::Response::new(devices).into())
}

pub async fn get(
    State(services): State<Services>,
    Ruma { auth, body }: Ruma<get_device::v3::Request>,
) -> Result<RumaResponse<get_device::v3::Response>> {
    let device = services.devices.get(&auth.user_id, body.device_id.as_str()).await?;
    Ok(get_device::v3::Response::new(device).into())
}

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

pub async fn delete(
    State(services): State<Services>,
    Ruma { auth, body }: Ruma<delete_device::v3::Request>,
) -> Result<RumaResponse<delete_device::v3::Response>> {
    services.devices.delete_one(&auth, body.device_id, body.auth.as_ref()).await?;
    Ok(delete_device::v3::Response::new().into())
}

pub async fn delete_many(
    State(services): State<Services>,
    Ruma { auth, body }: Ruma<delete_devices::v3::Request>,
) -> Result<RumaResponse<delete_devices::v3::Response>> {
    services.devices.delete(&auth, &body.devices, body.auth.as_ref()).await?;
    Ok(delete_devices::v3::Response::new().into())
}
