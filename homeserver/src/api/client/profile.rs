//! Profiles: GET /profile/{user} and the per-field endpoints (displayname,
//! avatar_url and extended fields share one set of handlers).

use axum::extract::State;
use ruma::api::client::profile::{
    delete_profile_field, get_profile, get_profile_field, set_profile_field,
};

use crate::{
    api::ruma::{Ruma, RumaResponse},
    error::Result,
    services::Services,
};

pub async fn get(
    State(services): State<Services>,
    Ruma { body, .. }: Ruma<get_profile::v3::Request>,
) -> Result<RumaResponse<get_profile::v3::Response>> {
    let fields = services.profiles.get(&body.user_id).await?;
    Ok(fields.into_iter().collect::<get_profile::v3::Response>().into())
}

pub async fn get_field(
    State(services): State<Services>,
    Ruma { body, .. }: Ruma<get_profile_field::v3::Request>,
) -> Result<RumaResponse<get_profile_field::v3::Response>> {
    let value = services.profiles.get_field(&body.user_id, &body.field).await?;
    let value = ruma::profile::ProfileFieldValue::new(body.field.as_str(), value)
        .map_err(crate::error::Error::internal)?;
    Ok(get_profile_field::v3::Response::new(value).into())
}

pub async fn set_field(
    State(services): State<Services>,
    Ruma { auth, body }: Ruma<set_profile_field::v3::Request>,
) -> Result<RumaResponse<set_profile_field::v3::Response>> {
    services.profiles.set_field(&auth, &body.user_id, body.value).await?;
    Ok(set_profile_field::v3::Response::new().into())
}

pub async fn delete_field(
    State(services): State<Services>,
    Ruma { auth, body }: Ruma<delete_profile_field::v3::Request>,
) -> Result<RumaResponse<delete_profile_field::v3::Response>> {
    services.profiles.delete_field(&auth, &body.user_id, &body.field).await?;
    Ok(delete_profile_field::v3::Response::new().into())
}
