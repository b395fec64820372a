//! The page a validation link in an e-mail opens: it confirms the address
//! for the session, then sends the browser where the client asked
//! (`next_link`) or says to go back to the client.

use axum::{
    extract::{Query, State},
    response::{IntoResponse, Response},
};
use http::{HeaderValue, StatusCode, header};
use serde::Deserialize;

use super::{explain, html, page, protect};
use crate::services::Services;

#[derive(Deserialize)]
pub(super) struct LinkQuery {
    sid: Option<String>,
    client_secret: Option<String>,
    token: Option<String>,
}

/// `GET /_lattice/email/validate` (ours): the link in the e-mail.
pub(super) async fn validate(
    State(services): State<Services>,
    Query(link): Query<LinkQuery>,
) -> Response {
    let server_name = services.config.server.server_name.to_string();
    let (Some(sid), Some(secret), Some(token)) = (link.sid, link.client_secret, link.token) else {
        let message = "This link is incomplete; open the whole link from the e-mail.";
        return html(StatusCode::BAD_REQUEST, page::problem(&server_name, message));
    };
    match services.threepids.confirm(&sid, &secret, &token).await {
        Ok(Some(next)) => match HeaderValue::from_str(&next) {
            Ok(location) => {
                let mut response = StatusCode::FOUND.into_response();
                response.headers_mut().insert(header::LOCATION, location);
                protect(response)
            }
            Err(_) => html(StatusCode::OK, page::confirmed(&server_name)),
        },
        Ok(None) => html(StatusCode::OK, page::confirmed(&server_name)),
        Err(error) => {
            let (status, message) = explain(&error);
            html(status, page::problem(&server_name, &message))
        }
    }
}
