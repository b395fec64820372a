//! Fallback pages of user-interactive auth: a client that cannot do a
//! stage itself (Element and our second factors) opens
//! `/auth/{authType}/fallback/web?session=…` in a browser window; once
//! the page has the answer, it tells the client, which sends its request
//! again with only the session.

use axum::{
    extract::{Path, Query, Request, State},
    response::Response,
};
use http::StatusCode;
use serde::Deserialize;
use serde_json::{Map, Value};

use super::{explain, factor_answer, html, page::FallbackFrame, read_form};
use crate::{
    error::Error,
    services::{Services, auth::second_factor::is_factor_stage},
};

const PASSWORD: &str = "m.login.password";

#[derive(Deserialize)]
pub(super) struct SessionQuery {
    session: Option<String>,
}

fn frame(services: &Services, session: &str) -> FallbackFrame {
    let server_name = services.config.server.server_name.to_string();
    FallbackFrame { server_name, session: session.to_owned(), error: None }
}

/// The form for `stage`, with `error` from a failed answer if any.
async fn stage_page(
    services: &Services,
    stage: &str,
    session: &str,
    error: Option<&Error>,
) -> Response {
    let mut frame = frame(services, session);
    let status = error.map_or(StatusCode::OK, |error| {
        let (status, message) = explain(error);
        frame.error = Some(message);
        status
    });
    if stage == PASSWORD {
        return html(status, frame.password());
    }
    if !is_factor_stage(stage) {
        let message = format!("There is no page for the {stage} stage.");
        return problem(services, StatusCode::NOT_FOUND, message);
    }
    match services.auth.fallback_challenge(session).await {
        Ok(challenge) => html(status, frame.second_factor(&challenge)),
        Err(error) => {
            let (status, message) = explain(&error);
            problem(services, status, message)
        }
    }
}

fn problem(services: &Services, status: StatusCode, message: String) -> Response {
    let mut frame = frame(services, "");
    frame.error = Some(message);
    html(status, frame.problem())
}

/// [`GET /_matrix/client/v3/auth/{authType}/fallback/web`](https://spec.matrix.org/latest/client-server-api/#fallback)
pub(super) async fn show(
    State(services): State<Services>,
    Path(stage): Path<String>,
    Query(query): Query<SessionQuery>,
) -> Response {
    let Some(session) = query.session else {
        return problem(&services, StatusCode::BAD_REQUEST, "session is required".into());
    };
    stage_page(&services, &stage, &session, None).await
}

#[derive(Deserialize)]
struct AnswerForm {
    session: String,
    #[serde(default)]
    password: Option<String>,
    #[serde(default)]
    code: Option<String>,
    /// The WebAuthn assertion, as JSON.
    #[serde(default)]
    credential: Option<String>,
}

impl AnswerForm {
    fn answer(&self) -> Map<String, Value> {
        let fields = [("password", self.password.as_deref()), ("code", self.code.as_deref())];
        factor_answer(&fields, self.credential.as_deref())
    }
}

/// `POST /_matrix/client/v3/auth/{authType}/fallback/web`: the page's
/// form, answered with the done page or the form again.
pub(super) async fn answer(
    State(services): State<Services>,
    Path(stage): Path<String>,
    request: Request,
) -> Response {
    let form: AnswerForm = match read_form(&services, request).await {
        Ok(form) => form,
        Err(error) => {
            let (status, message) = explain(&error);
            return problem(&services, status, message);
        }
    };
    match services.auth.complete_fallback_stage(&form.session, &stage, &form.answer()).await {
        Ok(()) => html(StatusCode::OK, frame(&services, &form.session).done()),
        Err(error) => stage_page(&services, &stage, &form.session, Some(&error)).await,
    }
}
