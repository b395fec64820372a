//! The server's web pages. The login page behind m.login.sso, for clients
//! such as Element that know nothing of our second-factor step: password,
//! then a second factor if the account has one, then back to the client
//! with a single-use loginToken (m.login.token). The account page, where a
//! user manages their second factors (account.rs). The fallback pages of
//! user-interactive auth (fallback.rs). The page an e-mail's validation
//! link opens (email.rs). Server-rendered; the only script
//! asks the browser's authenticator for a passkey and tells a client that
//! its fallback stage is done.

mod account;
mod account_page;
mod email;
mod fallback;
mod page;

use axum::{
    extract::{Query, Request, State},
    response::{IntoResponse, Response},
    routing::{get, post},
};
use http::{HeaderValue, StatusCode, header};
use serde::{Deserialize, de::DeserializeOwned};
use serde_json::{Map, Value};
use url::Url;

use self::page::Frame;
use crate::api::routes::Routes;
use crate::{
    api::ruma::{client_ip, read_body},
    error::{Error, Result},
    services::{Services, auth::WebSignIn, rate_limit::LimitClass},
};

pub fn router() -> Routes {
    Routes::new()
        .route("/_matrix/client/v3/login/sso/redirect", get(start))
        .route("/_matrix/client/r0/login/sso/redirect", get(start))
        .route("/_matrix/client/v3/login/sso/redirect/{idp_id}", get(start_with_provider))
        .route("/_lattice/sso/password", post(password))
        .route("/_lattice/sso/factor", post(factor))
        .route(
            "/_matrix/client/v3/auth/{auth_type}/fallback/web",
            get(fallback::show).post(fallback::answer),
        )
        .route(
            "/_matrix/client/r0/auth/{auth_type}/fallback/web",
            get(fallback::show).post(fallback::answer),
        )
        .route(crate::services::threepids::VALIDATE_PATH, get(email::validate))
        .route("/_lattice/account", get(account::show))
        .route("/_lattice/account/password", post(account::password))
        .route("/_lattice/account/factor", post(account::factor))
        .route("/_lattice/account/{*action}", post(account::change))
        .route("/_lattice/static/login.js", get(script))
        .route("/_lattice/static/login.css", get(style))
}

/// Where the browser goes back to: an absolute URL of the client (web or
/// app scheme), never one that would run script.
struct Target {
    url: Url,
}

impl Target {
    fn parse(redirect_url: &str) -> Result<Self> {
        let url = Url::parse(redirect_url)
            .map_err(|_| Error::invalid_param("redirectUrl must be an absolute URL"))?;
        if matches!(url.scheme(), "javascript" | "data" | "file" | "vbscript" | "blob") {
            return Err(Error::invalid_param("redirectUrl has a scheme that cannot be a client"));
        }
        Ok(Self { url })
    }

    fn host(&self) -> String {
        match self.url.host_str() {
            Some(host) => match self.url.port() {
                Some(port) => format!("{host}:{port}"),
                None => host.to_owned(),
            },
            None => format!("{}:", self.url.scheme()),
        }
    }

    /// The frame of a page for this client.
    fn frame(&self, server_name: String, redirect_url: String) -> Frame {
        Frame { server_name, redirect_url, client_host: self.host(), error: None }
    }

    /// The client's URL with the login token added.
    fn with_token(&self, token: &str) -> Response {
        let mut url = self.url.clone();
        url.query_pairs_mut().append_pair("loginToken", token);
        let mut response = StatusCode::SEE_OTHER.into_response();
        if let Ok(location) = HeaderValue::from_str(url.as_str()) {
            response.headers_mut().insert(header::LOCATION, location);
        }
        protect(response)
    }
}

/// Headers every page carries: no framing (clickjacking), no referrer
/// (the redirect URL stays private), no caching, script only from us.
fn protect(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; \
             img-src 'self' data:; base-uri 'none'; frame-ancestors 'none'",
        ),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

fn html(status: StatusCode, body: String) -> Response {
    let content_type = [(header::CONTENT_TYPE, "text/html; charset=utf-8")];
    protect((status, content_type, body).into_response())
}

/// The status and the words a failed step shows on the page.
fn explain(error: &Error) -> (StatusCode, String) {
    match error {
        Error::Forbidden(_) | Error::UserDeactivated => (StatusCode::FORBIDDEN, error.to_string()),
        Error::NotFound(_) => (StatusCode::NOT_FOUND, error.to_string()),
        Error::LimitExceeded { .. } => {
            (StatusCode::TOO_MANY_REQUESTS, "Too many attempts; wait a minute.".into())
        }
        Error::Database(_) | Error::Internal(_) => {
            (StatusCode::INTERNAL_SERVER_ERROR, "Something went wrong; try again.".into())
        }
        other => (StatusCode::BAD_REQUEST, other.to_string()),
    }
}

#[derive(Deserialize)]
struct StartQuery {
    #[serde(rename = "redirectUrl")]
    redirect_url: Option<String>,
}

/// [`GET /_matrix/client/v3/login/sso/redirect`](https://spec.matrix.org/latest/client-server-api/#get_matrixclientv3loginssoredirect)
///
/// The first step of our sign-in page.
async fn start(State(services): State<Services>, Query(query): Query<StartQuery>) -> Response {
    let server_name = services.config.server.server_name.to_string();
    let Some(redirect_url) = query.redirect_url else {
        let error = Error::MissingParam("redirectUrl is required".into());
        return error.into_response();
    };
    let target = match Target::parse(&redirect_url) {
        Ok(target) => target,
        Err(error) => return error.into_response(),
    };
    html(StatusCode::OK, target.frame(server_name, redirect_url).password(""))
}

/// [`GET /_matrix/client/v3/login/sso/redirect/{idpId}`](https://spec.matrix.org/latest/client-server-api/#get_matrixclientv3loginssoredirectidpid)
///
/// We have one sign-in, not several identity providers.
async fn start_with_provider(
    state: State<Services>,
    axum::extract::Path(idp_id): axum::extract::Path<String>,
    query: Query<StartQuery>,
) -> Response {
    if idp_id != "lattice" {
        return Error::not_found("no such identity provider").into_response();
    }
    start(state, query).await
}

/// Reads a form post: rate-limited per address like /login, and small.
async fn read_form<T: DeserializeOwned>(services: &Services, request: Request) -> Result<T> {
    let (parts, body) = request.into_parts();
    let address = client_ip(&parts, &services.config.server.trusted_proxies);
    services.rate_limits.check(LimitClass::Login, &address)?;
    let bytes = read_body(body, services.config.limits.max_unauthenticated_request_bytes).await?;
    serde_urlencoded::from_bytes(&bytes).map_err(|e| Error::BadRequest(format!("bad form: {e}")))
}

/// A form post of the page: its fields, and where the client waits.
trait StepForm: DeserializeOwned {
    fn redirect_url(&self) -> &str;
}

/// Reads a step's form: the form, the client it is for and the frame of
/// the next page; or the page that says why the step cannot go on.
async fn read_step<T: StepForm>(
    services: &Services,
    request: Request,
) -> std::result::Result<(T, Target, Frame), Response> {
    let server_name = services.config.server.server_name.to_string();
    let form: T = read_form(services, request).await.map_err(|error| {
        let (status, message) = explain(&error);
        html(status, page::problem(&server_name, &message))
    })?;
    let target = Target::parse(form.redirect_url()).map_err(|error| {
        html(StatusCode::BAD_REQUEST, page::problem(&server_name, &error.to_string()))
    })?;
    let frame = target.frame(server_name, form.redirect_url().to_owned());
    Ok((form, target, frame))
}

#[derive(Deserialize)]
struct PasswordForm {
    redirect_url: String,
    username: String,
    password: String,
}

impl StepForm for PasswordForm {
    fn redirect_url(&self) -> &str {
        &self.redirect_url
    }
}

/// `POST /_lattice/sso/password` (ours): the page's password step.
async fn password(State(services): State<Services>, request: Request) -> Response {
    let (form, target, mut frame) = match read_step::<PasswordForm>(&services, request).await {
        Ok(step) => step,
        Err(page) => return page,
    };
    match services.auth.web_password_step(&form.username, &form.password).await {
        Ok(WebSignIn::Done(token)) => target.with_token(&token),
        Ok(WebSignIn::SecondFactor(challenge)) => {
            html(StatusCode::OK, frame.second_factor(&challenge))
        }
        Err(error) => {
            let (status, message) = explain(&error);
            frame.error = Some(message);
            html(status, frame.password(&form.username))
        }
    }
}

#[derive(Deserialize)]
struct FactorForm {
    redirect_url: String,
    session: String,
    stage: String,
    #[serde(default)]
    code: Option<String>,
    /// The WebAuthn assertion, as JSON.
    #[serde(default)]
    credential: Option<String>,
}

impl StepForm for FactorForm {
    fn redirect_url(&self) -> &str {
        &self.redirect_url
    }
}

impl FactorForm {
    fn answer(&self) -> Map<String, Value> {
        factor_answer(&[("code", self.code.as_deref())], self.credential.as_deref())
    }
}

/// A form's answer to an auth stage in the shape the API takes it: the
/// text fields given, and the WebAuthn credential (JSON in the form).
pub(super) fn factor_answer(
    fields: &[(&str, Option<&str>)],
    credential: Option<&str>,
) -> Map<String, Value> {
    let mut answer = Map::new();
    for (name, value) in fields {
        if let Some(value) = value {
            answer.insert((*name).into(), Value::String((*value).to_owned()));
        }
    }
    if let Some(credential) = credential.and_then(|c| serde_json::from_str(c).ok()) {
        answer.insert("credential".into(), credential);
    }
    answer
}

/// `POST /_lattice/sso/factor` (ours): the page's second-factor step.
async fn factor(State(services): State<Services>, request: Request) -> Response {
    let (form, target, mut frame) = match read_step::<FactorForm>(&services, request).await {
        Ok(step) => step,
        Err(page) => return page,
    };
    let outcome = services.auth.web_factor_step(&form.session, &form.stage, &form.answer()).await;
    let error = match outcome {
        Ok(token) => return target.with_token(&token),
        Err(error) => error,
    };
    let (status, message) = explain(&error);
    frame.error = Some(message);
    // Another try under the same session, with a fresh passkey challenge;
    // once the session is gone, back to the password.
    match services.auth.resume_factor_challenge(&form.session).await {
        Ok(Some(challenge)) => html(status, frame.second_factor(&challenge)),
        _ => html(status, frame.password("")),
    }
}

/// `GET /_lattice/static/login.js`: the page's script (served by us, so the CSP can forbid any other).
async fn script() -> Response {
    let body = include_str!("static/login.js");
    let content_type = [(header::CONTENT_TYPE, "text/javascript; charset=utf-8")];
    (content_type, body).into_response()
}

/// `GET /_lattice/static/login.css`: the page's style.
async fn style() -> Response {
    let body = include_str!("static/login.css");
    let content_type = [(header::CONTENT_TYPE, "text/css; charset=utf-8")];
    (content_type, body).into_response()
}
