//! Profiles: GET /profile/{user} and the per-field endpoints (displayname,
//! avatar_url and extended fields share one set of handlers).

use axum::extract::State;
use ruma::api::client::{
    profile::{delete_profile_field, get_profile, get_profile_field, set_profile_field},
    user_directory::search_users,
};

use crate::{
    api::ruma::{Ruma, RumaResponse},
    error::Result,
    services::Services,
};

/// [`GET /_matrix/client/v3/profile/{user_id}`](https://spec.matrix.org/latest/client-server-api/#get_matrixclientv3profileuserid)
pub async fn get(
    State(services): State<Services>,
    Ruma { body, .. }: Ruma<get_profile::v3::Request>,
) -> Result<RumaResponse<get_profile::v3::Response>> {
    let fields = services.profiles.get(&body.user_id).await?;
    Ok(fields.into_iter().collect::<get_profile::v3::Response>().into())
}

/// [`GET /_matrix/client/v3/profile/{user_id}/{field}`](https://spec.matrix.org/latest/client-server-api/#get_matrixclientv3profileuseridfield)
pub async fn get_field(
    State(services): State<Services>,
    Ruma { body, .. }: Ruma<get_profile_field::v3::Request>,
) -> Result<RumaResponse<get_profile_field::v3::Response>> {
    let value = services.profiles.get_field(&body.user_id, &body.field).await?;
    let value = ruma::profile::ProfileFieldValue::new(body.field.as_str(), value)
        .map_err(crate::error::Error::internal)?;
    Ok(get_profile_field::v3::Response::new(value).into())
}

/// [`PUT /_matrix/client/v3/profile/{user_id}/{field}`](https://spec.matrix.org/latest/client-server-api/#put_matrixclientv3profileuseridfield)
pub async fn set_field(
    State(services): State<Services>,
    Ruma { auth, body }: Ruma<set_profile_field::v3::Request>,
) -> Result<RumaResponse<set_profile_field::v3::Response>> {
    services.profiles.set_field(&auth, &body.user_id, body.value).await?;
    Ok(set_profile_field::v3::Response::new().into())
}

/// [`DELETE /_matrix/client/v3/profile/{user_id}/{field}`](https://spec.matrix.org/latest/client-server-api/#delete_matrixclientv3profileuseridfield)
pub async fn delete_field(
    State(services): State<Services>,
    Ruma { auth, body }: Ruma<delete_profile_field::v3::Request>,
) -> Result<RumaResponse<delete_profile_field::v3::Response>> {
    services.profiles.delete_field(&auth, &body.user_id, &body.field).await?;
    Ok(delete_profile_field::v3::Response::new().into())
}

/// [`POST /_matrix/client/v3/user_directory/search`](https://spec.matrix.org/latest/client-server-api/#post_matrixclientv3user_directorysearch)
pub async fn search_users(
    State(services): State<Services>,
    Ruma { auth, body }: Ruma<search_users::v3::Request>,
) -> Result<RumaResponse<search_users::v3::Response>> {
    let (found, limited) =
        services.profiles.search_directory(&auth, &body.search_term, body.limit.into()).await?;
    let mut results = Vec::with_capacity(found.len());
    for entry in found {
        let Ok(user_id) = ruma::OwnedUserId::try_from(entry.user_id) else { continue };
        let mut user = search_users::v3::User::new(user_id);
        user.display_name = entry.display_name;
        user.avatar_url = entry.avatar_url.map(Into::into);
        results.push(user);
    }
    Ok(search_users::v3::Response::new(results, limited).into())
}
