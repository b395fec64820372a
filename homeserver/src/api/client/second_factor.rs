//! Enrolling and removing second factors (our extension, documented in
//! spec/second-factor.md): TOTP confirmed with a first code, WebAuthn
//! credentials registered with a ceremony; the first factor yields
//! single-use recovery codes. Everything that changes factors sits behind
//! user-interactive auth.

use axum::{
    Json,
    extract::State,
    routing::{delete, get, post},
};
use ruma::api::client::uiaa::AuthData;
use serde::Deserialize;
use serde_json::{Value, json};
use webauthn_rs::prelude::RegisterPublicKeyCredential;

use crate::api::routes::Routes;
use crate::{
    api::authed::{Authed, MatrixJson, MatrixPath},
    error::Result,
    services::{
        Services,
        auth::{Requester, UiaFlows, second_factor},
    },
};

const PREFIX: &str = "/_matrix/client/unstable/org.lattice.mfa";

pub fn router() -> Routes {
    Routes::new()
        .route(&format!("{PREFIX}/totp/setup"), post(setup))
        .route(&format!("{PREFIX}/totp/confirm"), post(confirm))
        .route(&format!("{PREFIX}/totp"), delete(remove_totp))
        .route(&format!("{PREFIX}/webauthn/register"), post(start_webauthn))
        .route(&format!("{PREFIX}/webauthn/register/finish"), post(finish_webauthn))
        .route(&format!("{PREFIX}/webauthn/{{credential_id}}"), delete(remove_webauthn))
        .route(&format!("{PREFIX}/factors"), get(factors))
        .route(&format!("{PREFIX}/recovery_codes"), post(new_recovery_codes))
}

/// A body that carries only user-interactive auth.
#[derive(Deserialize)]
struct AuthBody {
    auth: Option<AuthData>,
}

/// Runs the password (and, once enrolled, second-factor) UIA for a change
/// to the requester's factors.
async fn confirm_identity(
    services: &Services,
    requester: &Requester,
    body: &AuthBody,
) -> Result<()> {
    let flows = UiaFlows::password();
    services.auth.user_interactive(&flows, body.auth.as_ref(), Some(&requester.user_id)).await?;
    Ok(())
}

/// `POST /_matrix/client/unstable/org.lattice.mfa/totp/setup` (ours: second factors are not in the spec).
///
/// Starts a TOTP enrolment after the password (UIA); answers the secret
/// and an otpauth:// URI for the authenticator app.
async fn setup(
    State(services): State<Services>,
    Authed(requester): Authed,
    MatrixJson(body): MatrixJson<AuthBody>,
) -> Result<Json<Value>> {
    confirm_identity(&services, &requester, &body).await?;
    let (secret, uri) = services.auth.start_totp(&requester.user_id).await?;
    let qr_code_svg = second_factor::qr_code_svg(&uri)?;
    Ok(Json(json!({"secret": secret, "otpauth_uri": uri, "qr_code_svg": qr_code_svg})))
}

#[derive(Deserialize)]
struct ConfirmBody {
    code: String,
}

/// `POST /_matrix/client/unstable/org.lattice.mfa/totp/confirm` (ours: second factors are not in the spec).
///
/// Finishes a TOTP enrolment with a first code from the app; answers the recovery codes.
async fn confirm(
    State(services): State<Services>,
    Authed(requester): Authed,
    MatrixJson(body): MatrixJson<ConfirmBody>,
) -> Result<Json<Value>> {
    let codes = services.auth.confirm_totp(&requester.user_id, &body.code).await?;
    Ok(Json(with_recovery_codes(json!({}), codes)))
}

/// Adds the recovery codes a first factor brings to an answer.
fn with_recovery_codes(mut answer: Value, codes: Option<Vec<String>>) -> Value {
    if let Some(codes) = codes {
        answer["recovery_codes"] = json!(codes);
    }
    answer
}

/// `POST /_matrix/client/unstable/org.lattice.mfa/recovery_codes` (ours: second factors are not in the spec).
///
/// Replaces the recovery codes (the old ones stop working).
async fn new_recovery_codes(
    State(services): State<Services>,
    Authed(requester): Authed,
    MatrixJson(body): MatrixJson<AuthBody>,
) -> Result<Json<Value>> {
    confirm_identity(&services, &requester, &body).await?;
    let codes = services.auth.renew_recovery_codes(&requester.user_id).await?;
    Ok(Json(with_recovery_codes(json!({}), Some(codes))))
}

/// `DELETE /_matrix/client/unstable/org.lattice.mfa/totp` (ours: second factors are not in the spec).
///
/// Removes the TOTP factor (after UIA).
async fn remove_totp(
    State(services): State<Services>,
    Authed(requester): Authed,
    MatrixJson(body): MatrixJson<AuthBody>,
) -> Result<Json<Value>> {
    confirm_identity(&services, &requester, &body).await?;
    services.auth.remove_second_factor(&requester.user_id, None).await?;
    Ok(Json(json!({})))
}

/// `POST /_matrix/client/unstable/org.lattice.mfa/webauthn/register` (ours: second factors are not in the spec).
///
/// Starts a WebAuthn enrolment; answers the options for
/// `navigator.credentials.create` and the id to finish it under.
async fn start_webauthn(
    State(services): State<Services>,
    Authed(requester): Authed,
    MatrixJson(body): MatrixJson<AuthBody>,
) -> Result<Json<Value>> {
    confirm_identity(&services, &requester, &body).await?;
    let (registration, options) =
        services.auth.start_webauthn_registration(&requester.user_id).await?;
    Ok(Json(json!({"registration": registration, "options": options})))
}

#[derive(Deserialize)]
struct FinishWebauthnBody {
    registration: String,
    #[serde(default)]
    name: String,
    credential: RegisterPublicKeyCredential,
}

/// `POST /_matrix/client/unstable/org.lattice.mfa/webauthn/register/finish` (ours: second factors are not in the spec).
///
/// Stores the security key the browser created for the started enrolment;
/// answers its id (and recovery codes when it is the first factor).
async fn finish_webauthn(
    State(services): State<Services>,
    Authed(requester): Authed,
    MatrixJson(body): MatrixJson<FinishWebauthnBody>,
) -> Result<Json<Value>> {
    let (credential_id, codes) = services
        .auth
        .finish_webauthn_registration(
            &requester.user_id,
            &body.registration,
            &body.name,
            &body.credential,
        )
        .await?;
    Ok(Json(with_recovery_codes(json!({"credential_id": credential_id}), codes)))
}

/// `DELETE /_matrix/client/unstable/org.lattice.mfa/webauthn/{credential_id}` (ours: second factors are not in the spec).
///
/// Removes one security key (after UIA).
async fn remove_webauthn(
    State(services): State<Services>,
    Authed(requester): Authed,
    MatrixPath(credential_id): MatrixPath<String>,
    MatrixJson(body): MatrixJson<AuthBody>,
) -> Result<Json<Value>> {
    confirm_identity(&services, &requester, &body).await?;
    services.auth.remove_second_factor(&requester.user_id, Some(&credential_id)).await?;
    Ok(Json(json!({})))
}

/// `GET /_matrix/client/unstable/org.lattice.mfa/factors` (ours: second factors are not in the spec).
///
/// The requester's second factors: TOTP, security keys, recovery codes left.
async fn factors(
    State(services): State<Services>,
    Authed(requester): Authed,
) -> Result<Json<Value>> {
    let (totp, recovery_codes_left) = services.auth.totp_and_recovery(&requester.user_id).await?;
    let credentials = services.auth.webauthn_credentials(&requester.user_id).await?;
    let webauthn: Vec<Value> = credentials
        .into_iter()
        .map(|(id, name, created_ts)| json!({"credential_id": id, "name": name, "created_ts": created_ts}))
        .collect();
    Ok(Json(json!({
        "totp": totp,
        "webauthn": webauthn,
        "recovery_codes_left": recovery_codes_left,
    })))
}
