//! The account page (`/_lattice/account`, ours): where a user enrols and
//! removes an authenticator app and passkeys, and prints recovery codes,
//! which Element has no screen for. Signing in takes the same steps as the
//! login page; the session lives in a short-lived cookie, and every change
//! carries the session's form token.

use axum::{
    Json,
    extract::{Path, Request, State},
    response::{IntoResponse, Response},
};
use http::{HeaderMap, HeaderValue, StatusCode, header};
use serde::Deserialize;
use serde_json::json;
use webauthn_rs::prelude::RegisterPublicKeyCredential;

use super::{
    account_page::{AccountFrame, BASE, Factors},
    explain, factor_answer, html, protect, read_form,
};
use crate::{
    error::{Error, Result},
    services::{
        Services,
        auth::{WebSession, WebSignIn, second_factor::qr_code_svg},
    },
};

const COOKIE: &str = "lattice_account";

fn frame(services: &Services) -> AccountFrame {
    let server_name = services.config.server.server_name.to_string();
    AccountFrame { server_name, error: None, notice: None }
}

/// The cookie's token, if the request carries one.
fn cookie_token(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, value)| value.to_owned())
}

async fn session(services: &Services, headers: &HeaderMap) -> Result<Option<WebSession>> {
    match cookie_token(headers) {
        Some(token) => services.auth.web_session(&token).await,
        None => Ok(None),
    }
}

/// A page, or the error it explains.
fn page(services: &Services, built: Result<String>) -> Response {
    match built {
        Ok(body) => html(StatusCode::OK, body),
        Err(error) => {
            let (status, message) = explain(&error);
            let mut frame = frame(services);
            frame.error = Some(message);
            html(status, frame.sign_in(""))
        }
    }
}

fn see_other(location: &str, cookie: Option<String>) -> Response {
    let mut response = StatusCode::SEE_OTHER.into_response();
    if let Ok(location) = HeaderValue::from_str(location) {
        response.headers_mut().insert(header::LOCATION, location);
    }
    if let Some(cookie) = cookie.and_then(|c| HeaderValue::from_str(&c).ok()) {
        response.headers_mut().insert(header::SET_COOKIE, cookie);
    }
    protect(response)
}

/// The session cookie: script cannot read it, other sites cannot send it.
fn session_cookie(services: &Services, token: &str, max_age: u64) -> String {
    let secure = services
        .config
        .server
        .public_baseurl
        .as_deref()
        .is_some_and(|url| url.starts_with("https://"));
    let secure = if secure { "; Secure" } else { "" };
    format!("{COOKIE}={token}; Path={BASE}; HttpOnly; SameSite=Strict; Max-Age={max_age}{secure}")
}

async fn overview(
    services: &Services,
    session: &WebSession,
    notice: Option<String>,
    error: Option<String>,
) -> Result<String> {
    let (totp, recovery_codes_left) = services.auth.totp_and_recovery(&session.user_id).await?;
    let passkeys = services
        .auth
        .webauthn_credentials(&session.user_id)
        .await?
        .into_iter()
        .map(|(id, name, _)| (id, name))
        .collect();
    let mut frame = frame(services);
    frame.notice = notice;
    frame.error = error;
    Ok(frame.overview(session, &Factors { totp, recovery_codes_left, passkeys }))
}

/// `GET /_lattice/account`: the overview, or the sign-in form.
pub(super) async fn show(State(services): State<Services>, headers: HeaderMap) -> Response {
    match session(&services, &headers).await {
        Ok(Some(session)) => page(&services, overview(&services, &session, None, None).await),
        Ok(None) => html(StatusCode::OK, frame(&services).sign_in("")),
        Err(error) => page(&services, Err(error)),
    }
}

/// Signed in: the cookie, and on to the overview.
async fn signed_in(services: &Services, login_token: &str) -> Response {
    match services.auth.open_web_session(login_token).await {
        Ok((token, _)) => {
            let max_age = services.config.auth.uia_session_lifetime.as_secs();
            see_other(BASE, Some(session_cookie(services, &token, max_age)))
        }
        Err(error) => page(services, Err(error)),
    }
}

#[derive(Deserialize)]
struct PasswordForm {
    username: String,
    password: String,
}

/// `POST /_lattice/account/password`: the password step of signing in.
pub(super) async fn password(State(services): State<Services>, request: Request) -> Response {
    let form: PasswordForm = match read_form(&services, request).await {
        Ok(form) => form,
        Err(error) => return page(&services, Err(error)),
    };
    match services.auth.web_password_step(&form.username, &form.password).await {
        Ok(WebSignIn::Done(token)) => signed_in(&services, &token).await,
        Ok(WebSignIn::SecondFactor(challenge)) => {
            html(StatusCode::OK, frame(&services).second_factor(&challenge))
        }
        Err(error) => {
            let (status, message) = explain(&error);
            let mut frame = frame(&services);
            frame.error = Some(message);
            html(status, frame.sign_in(&form.username))
        }
    }
}

#[derive(Deserialize)]
struct FactorForm {
    session: String,
    stage: String,
    #[serde(default)]
    code: Option<String>,
    #[serde(default)]
    credential: Option<String>,
}

/// `POST /_lattice/account/factor`: the second-factor step of signing in.
pub(super) async fn factor(State(services): State<Services>, request: Request) -> Response {
    let form: FactorForm = match read_form(&services, request).await {
        Ok(form) => form,
        Err(error) => return page(&services, Err(error)),
    };
    let answer = factor_answer(&[("code", form.code.as_deref())], form.credential.as_deref());
    match services.auth.web_factor_step(&form.session, &form.stage, &answer).await {
        Ok(token) => signed_in(&services, &token).await,
        Err(error) => {
            let (status, message) = explain(&error);
            let mut frame = frame(&services);
            frame.error = Some(message);
            match services.auth.resume_factor_challenge(&form.session).await {
                Ok(Some(challenge)) => html(status, frame.second_factor(&challenge)),
                _ => html(status, frame.sign_in("")),
            }
        }
    }
}

/// The fields a change may carry; each action reads its own.
#[derive(Deserialize)]
struct ChangeForm {
    csrf: Option<String>,
    #[serde(default)]
    code: Option<String>,
    #[serde(default)]
    credential_id: Option<String>,
    #[serde(default)]
    registration: Option<String>,
    #[serde(default)]
    credential: Option<String>,
    #[serde(default)]
    name: Option<String>,
}

/// `POST /_lattice/account/{*action}`: a change to the signed-in user's
/// factors, checked against the session and its form token.
pub(super) async fn change(
    State(services): State<Services>,
    Path(action): Path<String>,
    request: Request,
) -> Response {
    let headers = request.headers().clone();
    let session = match session(&services, &headers).await {
        Ok(Some(session)) => session,
        Ok(None) => {
            let mut frame = frame(&services);
            frame.error = Some("Your session has ended; sign in again.".into());
            return html(StatusCode::UNAUTHORIZED, frame.sign_in(""));
        }
        Err(error) => return page(&services, Err(error)),
    };
    let form: ChangeForm = match read_form(&services, request).await {
        Ok(form) => form,
        Err(error) => return page(&services, Err(error)),
    };
    if let Err(error) = session.check_csrf(form.csrf.as_deref()) {
        let (status, message) = explain(&error);
        let mut frame = frame(&services);
        frame.error = Some(message);
        return html(status, frame.sign_in(""));
    }
    match action.as_str() {
        "logout" => {
            if let Some(token) = cookie_token(&headers)
                && let Err(error) = services.auth.close_web_session(&token).await
            {
                return page(&services, Err(error));
            }
            return see_other(BASE, Some(session_cookie(&services, "", 0)));
        }
        // The script's first step of adding a passkey: the options for
        // `navigator.credentials.create`.
        "passkey/options" => {
            return match services.auth.start_webauthn_registration(&session.user_id).await {
                Ok((registration, options)) => protect(
                    Json(json!({"registration": registration, "options": options})).into_response(),
                ),
                Err(error) => error.into_response(),
            };
        }
        _ => {}
    }
    match apply(&services, &session, &action, form).await {
        Ok(Outcome::Overview(notice)) => {
            page(&services, overview(&services, &session, notice, None).await)
        }
        Ok(Outcome::Page(body)) => html(StatusCode::OK, body),
        Err(error) => {
            let (status, message) = explain(&error);
            match overview(&services, &session, None, Some(message)).await {
                Ok(body) => html(status, body),
                Err(error) => page(&services, Err(error)),
            }
        }
    }
}

/// What a change shows next.
enum Outcome {
    /// The overview, with a line saying what was done.
    Overview(Option<String>),
    /// A page of its own (the TOTP key, new recovery codes).
    Page(String),
}

async fn apply(
    services: &Services,
    session: &WebSession,
    action: &str,
    form: ChangeForm,
) -> Result<Outcome> {
    let (auth, user) = (&services.auth, &session.user_id);
    let done = |notice: &str| Ok(Outcome::Overview(Some(notice.to_owned())));
    let codes_page = |codes: Vec<String>| Outcome::Page(frame(services).recovery_codes(&codes));
    match action {
        "totp/setup" => {
            let (secret, uri) = auth.start_totp(user).await?;
            let svg = qr_code_svg(&uri)?;
            Ok(Outcome::Page(frame(services).totp_setup(session, &secret, &uri, &svg)))
        }
        "totp/confirm" => {
            let code = form.code.as_deref().unwrap_or_default();
            match auth.confirm_totp(user, code).await? {
                Some(codes) => Ok(codes_page(codes)),
                None => done("The authenticator app is on."),
            }
        }
        "totp/remove" => {
            auth.remove_second_factor(user, None).await?;
            done("The authenticator app was removed.")
        }
        "recovery" => Ok(codes_page(auth.renew_recovery_codes(user).await?)),
        "passkey/remove" => {
            let id = form.credential_id.as_deref().unwrap_or_default();
            auth.remove_second_factor(user, Some(id)).await?;
            done("The passkey was removed.")
        }
        "passkey/finish" => {
            let credential: RegisterPublicKeyCredential =
                serde_json::from_str(form.credential.as_deref().unwrap_or_default())
                    .map_err(|_| Error::invalid_param("the authenticator gave no answer"))?;
            let registration = form.registration.as_deref().unwrap_or_default();
            let name = form.name.as_deref().filter(|n| !n.trim().is_empty()).unwrap_or("Passkey");
            match auth.finish_webauthn_registration(user, registration, name, &credential).await? {
                (_, Some(codes)) => Ok(codes_page(codes)),
                (_, None) => done("The passkey was added."),
            }
        }
        _ => Err(Error::not_found("no such action")),
    }
}
