//! Creating accounts: POST /register and its helpers.

use axum::extract::State;
use ruma::api::client::account::{
    check_registration_token_validity, get_username_availability, register,
};

use crate::{
    api::ruma::{Ruma, RumaResponse},
    error::{Error, Result},
    services::{Services, accounts::RegisterParams},
};

/// [`POST /_matrix/client/v3/register`](https://spec.matrix.org/latest/client-server-api/#post_matrixclientv3register)
pub async fn register(
    State(services): State<Services>,
    Ruma { auth: appservice, body }: Ruma<register::v3::Request>,
) -> Result<RumaResponse<register::v3::Response>> {
    if body.kind != register::RegistrationKind::User {
        return Err(Error::forbidden("guest access is not enabled on this server"));
    }
    // `m.login.application_service` needs the service's token; without the
    // type, a request is an ordinary registration whatever token it holds.
    let appservice = match body.login_type {
        Some(register::LoginType::ApplicationService) => {
            Some(appservice.ok_or(Error::MissingToken)?)
        }
        Some(_) => return Err(Error::BadRequest("unknown registration type".into())),
        None => None,
    };
    let registered = services
        .accounts
        .register(RegisterParams {
            username: body.username,
            password: body.password,
            device_id: body.device_id,
            initial_device_display_name: body.initial_device_display_name,
            inhibit_login: body.inhibit_login,
            refresh_token: body.refresh_token,
            auth: body.auth,
            appservice,
        })
        .await?;
    let mut response = register::v3::Response::new(registered.user_id);
    if let Some(session) = registered.session {
        response.access_token = Some(session.access_token);
        response.device_id = Some(session.device_id);
        response.refresh_token = session.refresh_token;
        response.expires_in = session.expires_in;
    }
    Ok(response.into())
}

/// [`GET /_matrix/client/v3/register/available`](https://spec.matrix.org/latest/client-server-api/#get_matrixclientv3registeravailable)
pub async fn available(
    State(services): State<Services>,
    Ruma { body, .. }: Ruma<get_username_availability::v3::Request>,
) -> Result<RumaResponse<get_username_availability::v3::Response>> {
    services.accounts.check_available(&body.username).await?;
    Ok(get_username_availability::v3::Response::new(true).into())
}

/// [`GET /_matrix/client/v1/register/m.login.registration_token/validity`](https://spec.matrix.org/latest/client-server-api/#get_matrixclientv1registermloginregistration_tokenvalidity)
pub async fn token_validity(
    State(services): State<Services>,
    Ruma { body, .. }: Ruma<check_registration_token_validity::v1::Request>,
) -> Result<RumaResponse<check_registration_token_validity::v1::Response>> {
    let valid = services.accounts.registration_token_valid(&body.token).await?;
    Ok(check_registration_token_validity::v1::Response::new(valid).into())
}
