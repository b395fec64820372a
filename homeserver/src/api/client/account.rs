//! Password changes and deactivation.

use axum::extract::State;
use ruma::api::client::account::{
    ThirdPartyIdRemovalStatus, change_password, deactivate, get_3pids,
};

use crate::{
    api::ruma::{Ruma, RumaResponse},
    error::{Error, Result},
    services::Services,
};

/// [`POST /_matrix/client/v3/account/password`](https://spec.matrix.org/latest/client-server-api/#post_matrixclientv3accountpassword)
pub async fn change_password(
    State(services): State<Services>,
    Ruma { auth, body }: Ruma<change_password::v3::Request>,
) -> Result<RumaResponse<change_password::v3::Response>> {
    // Password resets by e-mail are not offered, so a session is required.
    let requester = auth.ok_or(Error::MissingToken)?;
    services
        .accounts
        .change_password(&requester, body.new_password, body.logout_devices, body.auth.as_ref())
        .await?;
    Ok(change_password::v3::Response::new().into())
}

/// [`POST /_matrix/client/v3/account/deactivate`](https://spec.matrix.org/latest/client-server-api/#post_matrixclientv3accountdeactivate)
pub async fn deactivate(
    State(services): State<Services>,
    Ruma { auth, body }: Ruma<deactivate::v3::Request>,
) -> Result<RumaResponse<deactivate::v3::Response>> {
    let requester = auth.ok_or(Error::MissingToken)?;
    services.accounts.deactivate(&requester, body.erase, body.auth.as_ref()).await?;
    Ok(deactivate::v3::Response::new(ThirdPartyIdRemovalStatus::NoSupport).into())
}

/// [`GET /_matrix/client/v3/account/3pid`](https://spec.matrix.org/latest/client-server-api/#get_matrixclientv3account3pid):
/// this server binds no e-mail addresses or phone numbers, so the list is
/// always empty (Element asks on its settings page).
pub async fn third_party_ids(
    _: Ruma<get_3pids::v3::Request>,
) -> Result<RumaResponse<get_3pids::v3::Response>> {
    Ok(get_3pids::v3::Response::new(Vec::new()).into())
}
