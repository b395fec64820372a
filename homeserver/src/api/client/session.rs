//! Logging in and out, refreshing tokens, whoami, OpenID tokens.

use axum::extract::{FromRequest, Request, State};
use ruma::api::client::{
    account::{request_openid_token, whoami},
    session::{
        get_login_token,
        get_login_types::{
            self,
            v3::{LoginType, PasswordLoginType, SsoLoginType, TokenLoginType},
        },
        login::{
            self,
            v3::{DiscoveryInfo, HomeserverInfo, LoginInfo},
        },
        logout, logout_all, refresh_token,
    },
    uiaa::UserIdentifier,
};

use crate::{
    api::ruma::{Ruma, RumaResponse},
    error::{Error, Result},
    services::Services,
    services::{accounts::NewDevice, auth::second_factor::is_factor_stage},
};

/// [`GET /_matrix/client/v3/login`](https://spec.matrix.org/latest/client-server-api/#get_matrixclientv3login)
///
/// Password for clients that can do our second-factor step, and the web
/// login page (m.login.sso, then m.login.token) for those that cannot.
pub async fn login_types(
    State(services): State<Services>,
    _: Ruma<get_login_types::v3::Request>,
) -> Result<RumaResponse<get_login_types::v3::Response>> {
    let mut token_login = TokenLoginType::new();
    // Tells clients they may mint tokens for new devices (QR sign-in).
    token_login.get_login_token = services.config.auth.allow_login_get_token;
    let flows = vec![
        LoginType::Password(PasswordLoginType::new()),
        LoginType::Sso(SsoLoginType::new()),
        LoginType::Token(token_login),
    ];
    Ok(get_login_types::v3::Response::new(flows).into())
}

/// A login request whose body names its login type. ruma's `LoginInfo`
/// deserializer indexes `type` without looking and panics when it is
/// missing, so that is checked first.
pub struct LoginRequest(login::v3::Request, Option<std::sync::Arc<str>>);

impl FromRequest<Services> for LoginRequest {
    type Rejection = Error;

    async fn from_request(request: Request, services: &Services) -> Result<Self> {
        let ruma = Ruma::<login::v3::Request>::from_request_checked(request, services, |body| {
            let Ok(serde_json::Value::Object(object)) = serde_json::from_slice(body) else {
                return Ok(()); // not an object: ruma refuses it without panicking
            };
            match object.get("type") {
                Some(serde_json::Value::String(_)) => Ok(()),
                _ => Err(Error::BadJson("the login type (`type`) must be a string".into())),
            }
        })
        .await?;
        Ok(Self(ruma.body, ruma.auth))
    }
}

/// [`POST /_matrix/client/v3/login`](https://spec.matrix.org/latest/client-server-api/#post_matrixclientv3login)
pub async fn login(
    State(services): State<Services>,
    LoginRequest(body, appservice): LoginRequest,
) -> Result<RumaResponse<login::v3::Response>> {
    let device = NewDevice {
        device_id: body.device_id.as_deref(),
        display_name: body.initial_device_display_name.clone(),
        refresh_token: body.refresh_token,
    };
    let (user_id, session) = match &body.login_info {
        LoginInfo::Password(password) => {
            #[allow(deprecated)]
            let user = match (&password.identifier, &password.user) {
                (Some(UserIdentifier::Matrix(id)), _) => id.user.clone(),
                (None, Some(user)) => user.clone(),
                // An address bound to an account (requestToken already
                // tells which addresses are, so this reveals nothing new).
                (Some(UserIdentifier::Email(email)), _) => {
                    match services.threepids.user_with_email(&email.address).await? {
                        Some(user) => user.to_string(),
                        None => return Err(Error::forbidden("invalid username or password")),
                    }
                }
                _ => return Err(Error::forbidden("only user ids and e-mail addresses can log in")),
            };
            services.accounts.login_password(&user, &password.password, device).await?
        }
        LoginInfo::Token(token) => services.accounts.login_token(&token.token, device).await?,
        LoginInfo::ApplicationService(login) => {
            let service = appservice.ok_or(Error::MissingToken)?;
            #[allow(deprecated)]
            let user = match (&login.identifier, &login.user) {
                (Some(UserIdentifier::Matrix(id)), _) => id.user.clone(),
                (None, Some(user)) => user.clone(),
                _ => return Err(Error::MissingParam("a user identifier is required".into())),
            };
            services.accounts.login_appservice(&service, &user, device).await?
        }
        // The second step of a login with a second factor (our extension).
        other if is_factor_stage(other.login_type()) => {
            let data = other.data();
            let session = data
                .get("session")
                .and_then(|value| value.as_str())
                .ok_or_else(|| Error::MissingParam("session is required".into()))?;
            services
                .accounts
                .login_second_factor(session, other.login_type(), &data, device)
                .await?
        }
        _ => return Err(Error::BadRequest("unsupported login type".into())),
    };
    let mut response = login::v3::Response::new(user_id, session.access_token, session.device_id);
    response.refresh_token = session.refresh_token;
    response.expires_in = session.expires_in;
    if let Some(base_url) = &services.config.server.public_baseurl {
        response.well_known = Some(DiscoveryInfo::new(HomeserverInfo::new(base_url.clone())));
    }
    Ok(response.into())
}

/// [`POST /_matrix/client/v1/login/get_token`](https://spec.matrix.org/latest/client-server-api/#post_matrixclientv1loginget_token)
pub async fn get_login_token(
    State(services): State<Services>,
    Ruma { auth, body }: Ruma<get_login_token::v1::Request>,
) -> Result<RumaResponse<get_login_token::v1::Response>> {
    let (token, lifetime) =
        services.accounts.login_token_for_new_device(&auth, body.auth.as_ref()).await?;
    Ok(get_login_token::v1::Response::new(lifetime, token).into())
}

/// [`POST /_matrix/client/v3/refresh`](https://spec.matrix.org/latest/client-server-api/#post_matrixclientv3refresh)
pub async fn refresh(
    State(services): State<Services>,
    Ruma { body, .. }: Ruma<refresh_token::v3::Request>,
) -> Result<RumaResponse<refresh_token::v3::Response>> {
    let session = services.auth.refresh(&body.refresh_token).await?;
    let mut response = refresh_token::v3::Response::new(session.access_token);
    response.refresh_token = session.refresh_token;
    response.expires_in_ms = session.expires_in;
    Ok(response.into())
}

/// [`POST /_matrix/client/v3/logout`](https://spec.matrix.org/latest/client-server-api/#post_matrixclientv3logout)
pub async fn logout(
    State(services): State<Services>,
    Ruma { auth, .. }: Ruma<logout::v3::Request>,
) -> Result<RumaResponse<logout::v3::Response>> {
    services.devices.logout(&auth).await?;
    Ok(logout::v3::Response::new().into())
}

/// [`POST /_matrix/client/v3/logout/all`](https://spec.matrix.org/latest/client-server-api/#post_matrixclientv3logoutall)
pub async fn logout_all(
    State(services): State<Services>,
    Ruma { auth, .. }: Ruma<logout_all::v3::Request>,
) -> Result<RumaResponse<logout_all::v3::Response>> {
    services.devices.logout_all(&auth).await?;
    Ok(logout_all::v3::Response::new().into())
}

/// [`GET /_matrix/client/v3/account/whoami`](https://spec.matrix.org/latest/client-server-api/#get_matrixclientv3accountwhoami)
pub async fn whoami(
    Ruma { auth, .. }: Ruma<whoami::v3::Request>,
) -> Result<RumaResponse<whoami::v3::Response>> {
    let mut response = whoami::v3::Response::new(auth.user_id, false);
    // An application service acting without a device has none to tell.
    response.device_id = Some(auth.device_id).filter(|device| !device.as_str().is_empty());
    Ok(response.into())
}

/// [`POST /_matrix/client/v3/user/{user_id}/openid/request_token`](https://spec.matrix.org/latest/client-server-api/#post_matrixclientv3useruseridopenidrequest_token)
///
/// POST /user/{userId}/openid/request_token: proof of identity for a third party.
pub async fn request_openid_token(
    State(services): State<Services>,
    Ruma { auth, body }: Ruma<request_openid_token::v3::Request>,
) -> Result<RumaResponse<request_openid_token::v3::Response>> {
    if body.user_id != auth.user_id {
        return Err(Error::forbidden("you can only ask for a token of your own"));
    }
    let token = services.federation.issue_openid_token(&auth.user_id).await?;
    Ok(request_openid_token::v3::Response::new(
        token,
        ruma::authentication::TokenType::Bearer,
        services.federation.server_name().to_owned(),
        crate::services::federation::OPENID_LIFETIME,
    )
    .into())
}
