//! Extractors for handlers outside ruma's types (media, admin): an
//! authenticated, rate-limited user, and a JSON body, query and path
//! whose faults are answered as Matrix errors.

use axum::{
    extract::{FromRequest, FromRequestParts},
    http::request::Parts,
};

use super::json_text;
use crate::{
    error::{Error, Result},
    services::{Services, auth::Requester, rate_limit::LimitClass},
};

/// An authenticated user, from the `Authorization` header (or the
/// deprecated `access_token` query parameter).
pub struct Authed(pub Requester);

impl FromRequestParts<Services> for Authed {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, services: &Services) -> Result<Self> {
        let probe = http::Request::from_parts(parts.clone(), ());
        use ruma::api::auth_scheme::{AccessTokenOptional, AuthScheme};
        let token = AccessTokenOptional::extract_authentication(&probe)
            .map_err(|e| Error::invalid_param(e.to_string()))?
            .ok_or(Error::MissingToken)?;
        let requester = super::ruma::resolve(services, &token, parts.uri.query()).await?;
        let exempt = requester
            .appservice
            .as_deref()
            .and_then(|id| services.appservices.by_id(id))
            .is_some_and(|registration| !registration.rate_limited);
        if !exempt {
            services.rate_limits.check(LimitClass::Client, requester.user_id.as_str())?;
        }
        Ok(Self(requester))
    }
}

/// A JSON body; bad input is M_NOT_JSON or M_BAD_JSON like everywhere else.
pub struct MatrixJson<T>(pub T);

impl<T: serde::de::DeserializeOwned, S: Send + Sync> FromRequest<S> for MatrixJson<T> {
    type Rejection = Error;

    async fn from_request(request: axum::extract::Request, state: &S) -> Result<Self> {
        let bytes = axum::body::Bytes::from_request(request, state)
            .await
            .map_err(|e| Error::BadJson(format!("could not read the body: {e}")))?;
        let bytes = json_text::or_empty_object(&bytes);
        json_text::check(bytes, json_text::MAX_DEPTH, json_text::Strings::Clean)?;
        let value: serde_json::Value = serde_json::from_slice(bytes)
            .map_err(|e| Error::NotJson(format!("the body is not JSON: {e}")))?;
        serde_json::from_value(value).map(Self).map_err(|e| Error::BadJson(e.to_string()))
    }
}

/// Query parameters; a missing or malformed one is M_INVALID_PARAM, not
/// axum's plain-text 400.
pub struct MatrixQuery<T>(pub T);

impl<T: serde::de::DeserializeOwned, S: Send + Sync> FromRequestParts<S> for MatrixQuery<T> {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self> {
        if json_text::query_has_nul(parts.uri.query()) {
            return Err(Error::invalid_param("the query holds a NUL character"));
        }
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|query| Self(query.0))
            .map_err(|e| Error::invalid_param(e.body_text()))
    }
}

/// Path parameters; a malformed one (bad percent-encoding, a NUL, not
/// the expected type) is M_INVALID_PARAM, not axum's plain-text 400.
pub struct MatrixPath<T>(pub T);

impl<T, S> FromRequestParts<S> for MatrixPath<T>
where
    T: serde::de::DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self> {
        let params = axum::extract::RawPathParams::from_request_parts(parts, state)
            .await
            .map_err(|e| Error::invalid_param(e.body_text()))?;
        if params.iter().any(|(_, value)| value.contains('\0')) {
            return Err(Error::invalid_param("the path holds a NUL character"));
        }
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|path| Self(path.0))
            .map_err(|e| Error::invalid_param(e.body_text()))
    }
}
