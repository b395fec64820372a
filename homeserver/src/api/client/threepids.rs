//! E-mail addresses on the account, and "forgot password" by e-mail.
//! Phone numbers and registration by e-mail are not offered: those
//! endpoints say so with the spec's error.

use axum::{Json, extract::State};
use ruma::api::client::account::{
    ThirdPartyIdRemovalStatus, add_3pid, delete_3pid, get_3pids,
    request_3pid_management_token_via_email, request_3pid_management_token_via_msisdn,
    request_password_change_token_via_email, request_password_change_token_via_msisdn,
    request_registration_token_via_email, request_registration_token_via_msisdn,
};
use serde_json::{Value, json};

use crate::{
    api::ruma::{Ruma, RumaResponse},
    error::{Error, Result},
    services::{
        Services,
        threepids::{Purpose, TokenRequest},
    },
};

/// [`GET /_matrix/client/v3/account/3pid`](https://spec.matrix.org/latest/client-server-api/#get_matrixclientv3account3pid)
///
/// The list is always there, empty too: Element's settings page reads it
/// without checking (ruma's response would leave an empty one out).
pub async fn list(
    State(services): State<Services>,
    Ruma { auth, .. }: Ruma<get_3pids::v3::Request>,
) -> Result<Json<Value>> {
    let threepids = services.threepids.list(&auth.user_id).await?;
    Ok(Json(json!({"threepids": threepids})))
}

/// The fields both e-mail requestToken bodies share.
fn token_request(
    client_secret: &ruma::ClientSecret,
    email: String,
    send_attempt: ruma::UInt,
    next_link: Option<String>,
) -> TokenRequest {
    TokenRequest {
        client_secret: client_secret.to_string(),
        email,
        send_attempt: send_attempt.into(),
        next_link,
    }
}

/// [`POST /_matrix/client/v3/account/3pid/email/requestToken`](https://spec.matrix.org/latest/client-server-api/#post_matrixclientv3account3pidemailrequesttoken)
pub async fn email_token_to_add(
    State(services): State<Services>,
    Ruma { body, .. }: Ruma<request_3pid_management_token_via_email::v3::Request>,
) -> Result<RumaResponse<request_3pid_management_token_via_email::v3::Response>> {
    let request = token_request(&body.client_secret, body.email, body.send_attempt, body.next_link);
    let sid = services.threepids.request_email_token(Purpose::AddToAccount, request).await?;
    let sid = sid.try_into().map_err(Error::internal)?;
    Ok(request_3pid_management_token_via_email::v3::Response::new(sid).into())
}

/// [`POST /_matrix/client/v3/account/password/email/requestToken`](https://spec.matrix.org/latest/client-server-api/#post_matrixclientv3accountpasswordemailrequesttoken)
pub async fn email_token_to_reset(
    State(services): State<Services>,
    Ruma { body, .. }: Ruma<request_password_change_token_via_email::v3::Request>,
) -> Result<RumaResponse<request_password_change_token_via_email::v3::Response>> {
    let request = token_request(&body.client_secret, body.email, body.send_attempt, body.next_link);
    let sid = services.threepids.request_email_token(Purpose::ResetPassword, request).await?;
    let sid = sid.try_into().map_err(Error::internal)?;
    Ok(request_password_change_token_via_email::v3::Response::new(sid).into())
}

/// [`POST /_matrix/client/v3/account/3pid/add`](https://spec.matrix.org/latest/client-server-api/#post_matrixclientv3account3pidadd)
pub async fn add(
    State(services): State<Services>,
    Ruma { auth, body }: Ruma<add_3pid::v3::Request>,
) -> Result<RumaResponse<add_3pid::v3::Response>> {
    let (sid, secret) = (body.sid.as_str(), body.client_secret.as_str());
    services.threepids.add(&auth.user_id, sid, secret, body.auth.as_ref()).await?;
    Ok(add_3pid::v3::Response::new().into())
}

/// [`POST /_matrix/client/v3/account/3pid/delete`](https://spec.matrix.org/latest/client-server-api/#post_matrixclientv3account3piddelete)
pub async fn delete(
    State(services): State<Services>,
    Ruma { auth, body }: Ruma<delete_3pid::v3::Request>,
) -> Result<RumaResponse<delete_3pid::v3::Response>> {
    services.threepids.delete(&auth.user_id, &body.medium, &body.address).await?;
    // No identity server was ever told of the address.
    Ok(delete_3pid::v3::Response::new(ThirdPartyIdRemovalStatus::NoSupport).into())
}

fn no_phones() -> Error {
    Error::ThreepidMediumNotSupported("this server does not handle phone numbers".into())
}

/// [`POST /_matrix/client/v3/account/3pid/msisdn/requestToken`](https://spec.matrix.org/latest/client-server-api/#post_matrixclientv3account3pidmsisdnrequesttoken)
pub async fn msisdn_token_to_add(
    _: Ruma<request_3pid_management_token_via_msisdn::v3::Request>,
) -> Result<RumaResponse<request_3pid_management_token_via_msisdn::v3::Response>> {
    Err(no_phones())
}

/// [`POST /_matrix/client/v3/account/password/msisdn/requestToken`](https://spec.matrix.org/latest/client-server-api/#post_matrixclientv3accountpasswordmsisdnrequesttoken)
pub async fn msisdn_token_to_reset(
    _: Ruma<request_password_change_token_via_msisdn::v3::Request>,
) -> Result<RumaResponse<request_password_change_token_via_msisdn::v3::Response>> {
    Err(no_phones())
}

/// [`POST /_matrix/client/v3/register/email/requestToken`](https://spec.matrix.org/latest/client-server-api/#post_matrixclientv3registeremailrequesttoken):
/// registration asks for no address here (one is added afterwards).
pub async fn email_token_to_register(
    _: Ruma<request_registration_token_via_email::v3::Request>,
) -> Result<RumaResponse<request_registration_token_via_email::v3::Response>> {
    Err(Error::ThreepidMediumNotSupported(
        "registration does not ask for an e-mail address here; add one once signed in".into(),
    ))
}

/// [`POST /_matrix/client/v3/register/msisdn/requestToken`](https://spec.matrix.org/latest/client-server-api/#post_matrixclientv3registermsisdnrequesttoken)
pub async fn msisdn_token_to_register(
    _: Ruma<request_registration_token_via_msisdn::v3::Request>,
) -> Result<RumaResponse<request_registration_token_via_msisdn::v3::Response>> {
    Err(no_phones())
}
