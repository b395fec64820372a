//! Password changes and deactivation.

use axum::extract::State;
use ruma::api::client::account::{ThirdPartyIdRemovalStatus, change_password, deactivate};

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
    let (password, logout, uia) = (body.new_password, body.logout_devices, body.auth.as_ref());
    match auth {
        Some(requester) => {
            services.accounts.change_password(&requester, password, logout, uia).await?;
        }
        // Without a session: "forgot password", proved by a mailed link.
        None => services.accounts.reset_password(password, logout, uia).await?,
    }
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
