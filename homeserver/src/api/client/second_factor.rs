//! Enrolling a second factor (our extension, documented in
//! spec/second-factor.md): TOTP set up behind the password, confirmed
//! with a first code, which yields single-use recovery codes.

use axum::{
    Json, Router,
    extract::State,
    routing::{get, post},
};
use ruma::api::client::uiaa::AuthData;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::{
    api::authed::{Authed, MatrixJson},
    error::Result,
    services::{Services, auth::UiaFlows},
};

const PREFIX: &str = "/_matrix/client/unstable/org.lattice.mfa";

pub fn router() -> Router<Services> {
    Router::new()
        .route(&format!("{PREFIX}/totp/setup"), post(setup))
        .route(&format!("{PREFIX}/totp/confirm"), post(confirm))
        .route(&format!("{PREFIX}/factors"), get(factors))
}

#[derive(Deserialize)]
struct SetupBody {
    auth: Option<AuthData>,
}

/// Starts a TOTP enrolment after the password (UIA); answers the secret
/// and an otpauth:// URI for the authenticator app.
async fn setup(
    State(services): State<Services>,
    Authed(requester): Authed,
    MatrixJson(body): MatrixJson<SetupBody>,
) -> Result<Json<Value>> {
    let flows = UiaFlows::password();
    services.auth.user_interactive(&flows, body.auth.as_ref(), Some(&requester.user_id)).await?;
    let (secret, uri) = services.auth.start_totp(&requester.user_id).await?;
    Ok(Json(json!({"secret": secret, "otpauth_uri": uri})))
}

#[derive(Deserialize)]
struct ConfirmBody {
    code: String,
}

async fn confirm(
    State(services): State<Services>,
    Authed(requester): Authed,
    MatrixJson(body): MatrixJson<ConfirmBody>,
) -> Result<Json<Value>> {
    let codes = services.auth.confirm_totp(&requester.user_id, &body.code).await?;
    Ok(Json(json!({"recovery_codes": codes})))
}

async fn factors(
    State(services): State<Services>,
    Authed(requester): Authed,
) -> Result<Json<Value>> {
    let (totp, recovery_codes_left) = services.auth.second_factors(&requester.user_id).await?;
    Ok(Json(json!({"totp": totp, "recovery_codes_left": recovery_codes_left})))
}
