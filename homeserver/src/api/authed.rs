//! The extractor for handlers outside ruma's types (media, admin): an
//! authenticated, rate-limited user.

use axum::{extract::FromRequestParts, http::request::Parts};

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
        let requester = services.auth.authenticate(&token).await?;
        tracing::Span::current().record("user", requester.user_id.as_str());
        services.rate_limits.check(LimitClass::Client, requester.user_id.as_str())?;
        Ok(Self(requester))
    }
}
