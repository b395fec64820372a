//! The bridge between axum and ruma: an extractor that authenticates and
//! parses any ruma request type, and a response wrapper for any ruma
//! response type. `Routes::ruma` mounts an endpoint on all of its paths.
use axum::{
    extract::{FromRequest, FromRequestParts, RawPathParams, Request},
    response::{IntoResponse, Response},
};
use bytes::Bytes;
use ruma::api::{
    IncomingRequest, IncomingRequestExt, Metadata, OutgoingResponse, OutgoingResponseExt,
    auth_scheme::{
        AccessToken, AccessTokenOptional, AppserviceToken, AppserviceTokenOptional, AuthScheme,
        NoAccessToken, NoAuthentication,
    },
    error::{DeserializationError, FromHttpRequestError},
};
use std::sync::Arc;

use tracing::Span;

use super::json_text::{self, Strings};
use crate::{
    error::{Error, Result},
    services::{Services, auth::Requester, rate_limit::LimitClass},
};

/// A parsed ruma request, with the identity its auth scheme yields.
pub struct Ruma<T: Metadata>
where
    T::Authentication: Authenticate,
{
    pub body: T,
    pub auth: <T::Authentication as Authenticate>::Identity,
}

/// What each of ruma's auth schemes means on this server.
pub trait Authenticate: AuthScheme {
    type Identity: Send;

    /// Whether the scheme looks at the Authorization header at all. Those
    /// that do not must ignore it: other servers sign even key requests
    /// with X-Matrix, which is no access token.
    const READS_TOKEN: bool = true;

    /// The user a request is counted against for rate limits, if known.
    fn user_key(_identity: &Self::Identity) -> Option<String> {
        None
    }

    /// The application service acting, if one is.
    fn appservice(_identity: &Self::Identity) -> Option<&str> {
        None
    }

    /// Who the token (and, for an application service, the `user_id` and
    /// `device_id` of the query) stands for.
    fn authenticate(
        services: &Services,
        token: Option<String>,
        query: Option<&str>,
    ) -> impl Future<Output = Result<Self::Identity>> + Send;
}

/// The user a token stands for: a session's, or the one an application
/// service acts as.
pub(crate) async fn resolve(
    services: &Services,
    token: &str,
    query: Option<&str>,
) -> Result<Requester> {
    let requester = match services.appservices.by_token(token) {
        Some(registration) => {
            let (user_id, device_id) = asserted_identity(query);
            services
                .auth
                .as_appservice(registration, user_id.as_deref(), device_id.as_deref())
                .await?
        }
        None => services.auth.authenticate(token).await?,
    };
    Span::current().record("user", requester.user_id.as_str());
    Ok(requester)
}

/// The `user_id` and `device_id` (or MSC3202's name for it) an application
/// service asserts in a query.
fn asserted_identity(query: Option<&str>) -> (Option<String>, Option<String>) {
    let (mut user, mut device) = (None, None);
    for (key, value) in url::form_urlencoded::parse(query.unwrap_or_default().as_bytes()) {
        match key.as_ref() {
            "user_id" => user = Some(value.into_owned()),
            "device_id" | "org.matrix.msc3202.device_id" => device = Some(value.into_owned()),
            _ => {}
        }
    }
    (user, device)
}

impl Authenticate for AccessToken {
    type Identity = Requester;

    fn user_key(identity: &Requester) -> Option<String> {
        Some(identity.user_id.to_string())
    }

    fn appservice(identity: &Requester) -> Option<&str> {
        identity.appservice.as_deref()
    }

    async fn authenticate(
        services: &Services,
        token: Option<String>,
        query: Option<&str>,
    ) -> Result<Requester> {
        resolve(services, &token.ok_or(Error::MissingToken)?, query).await
    }
}

impl Authenticate for AccessTokenOptional {
    type Identity = Option<Requester>;

    fn user_key(identity: &Option<Requester>) -> Option<String> {
        identity.as_ref().map(|r| r.user_id.to_string())
    }

    fn appservice(identity: &Option<Requester>) -> Option<&str> {
        identity.as_ref().and_then(|r| r.appservice.as_deref())
    }

    async fn authenticate(
        services: &Services,
        token: Option<String>,
        query: Option<&str>,
    ) -> Result<Self::Identity> {
        match token {
            Some(token) => resolve(services, &token, query).await.map(Some),
            None => Ok(None),
        }
    }
}

/// Endpoints an application service may call with its token where no
/// user's is needed (registering its users): the service the token names,
/// or None for anyone else (whose token these endpoints do not need).
impl Authenticate for AppserviceTokenOptional {
    type Identity = Option<Arc<str>>;

    fn appservice(identity: &Self::Identity) -> Option<&str> {
        identity.as_deref()
    }

    async fn authenticate(
        services: &Services,
        token: Option<String>,
        _: Option<&str>,
    ) -> Result<Self::Identity> {
        Ok(token
            .and_then(|token| services.appservices.by_token(&token))
            .map(|registration| registration.id.as_str().into()))
    }
}

/// Endpoints only an application service calls: the service its token names.
impl Authenticate for AppserviceToken {
    type Identity = Arc<str>;

    fn appservice(identity: &Self::Identity) -> Option<&str> {
        Some(identity)
    }

    async fn authenticate(
        services: &Services,
        token: Option<String>,
        _: Option<&str>,
    ) -> Result<Self::Identity> {
        let token = token.ok_or(Error::MissingToken)?;
        services
            .appservices
            .by_token(&token)
            .map(|registration| registration.id.as_str().into())
            .ok_or(Error::UnknownToken { soft_logout: false })
    }
}

impl Authenticate for NoAccessToken {
    type Identity = ();
    const READS_TOKEN: bool = false;

    async fn authenticate(_: &Services, _: Option<String>, _: Option<&str>) -> Result<()> {
        Ok(())
    }
}

impl Authenticate for NoAuthentication {
    type Identity = ();
    const READS_TOKEN: bool = false;

    async fn authenticate(_: &Services, _: Option<String>, _: Option<&str>) -> Result<()> {
        Ok(())
    }
}

impl<T> FromRequest<Services> for Ruma<T>
where
    T: IncomingRequest + Send,
    T::Authentication: Authenticate,
{
    type Rejection = Error;

    async fn from_request(request: Request, services: &Services) -> Result<Self> {
        Self::from_request_checked(request, services, |_| Ok(())).await
    }
}

impl<T> Ruma<T>
where
    T: IncomingRequest + Send,
    T::Authentication: Authenticate,
{
    /// Like `from_request`, with `check` run on the body before ruma parses
    /// it: for the few ruma types whose deserializers panic on some input.
    pub async fn from_request_checked(
        request: Request,
        services: &Services,
        check: impl FnOnce(&[u8]) -> Result<()>,
    ) -> Result<Self> {
        let (mut parts, body) = request.into_parts();
        let mut path_args = path_args(&mut parts, services).await?;
        // Routes that leave out an empty trailing state key (see `ruma()`).
        if path_args.len() + 1 == T::_path_parameters().len() {
            path_args.push(String::new());
        }

        // Authenticate before reading anything the client sent.
        let probe = http::Request::from_parts(parts, ());
        let token = match T::Authentication::READS_TOKEN {
            true => AccessTokenOptional::extract_authentication(&probe)
                .map_err(|e| Error::invalid_param(e.to_string()))?,
            false => None,
        };
        let auth = T::Authentication::authenticate(services, token, probe.uri().query()).await?;
        let (parts, ()) = probe.into_parts();
        // Every authenticated request draws on its user's budget, besides
        // those the spec marks as rate limited.
        let user_key = T::Authentication::user_key(&auth);
        let class = LimitClass::for_path(parts.uri.path());
        // The spec leaves token requests unlimited, but each one mails someone.
        let mails = parts.uri.path().ends_with("/requestToken");
        // An application service registered with `rate_limited: false` is not.
        let exempt = T::Authentication::appservice(&auth)
            .and_then(|id| services.appservices.by_id(id))
            .is_some_and(|registration| !registration.rate_limited);
        if (T::RATE_LIMITED || user_key.is_some() || mails) && !exempt {
            let key = match user_key {
                Some(user) if class.per_user() => user,
                _ => client_ip(&parts, &services.config.server.trusted_proxies),
            };
            services.rate_limits.check(class, &key)?;
        }

        let limits = &services.config.limits;
        let limit = match T::Authentication::user_key(&auth) {
            Some(_) => limits.max_request_bytes,
            None => limits.max_unauthenticated_request_bytes.min(limits.max_request_bytes),
        };
        let bytes = read_body(body, limit).await?;
        let bytes = json_text::or_empty_object(&bytes);
        check(bytes)?;
        let request = http::Request::from_parts(parts, bytes);
        let body = parse(request, &path_args, bytes, Strings::Clean)?;
        Ok(Self { body, auth })
    }
}

/// The values of the route's path parameters, in order.
pub(crate) async fn path_args(
    parts: &mut http::request::Parts,
    services: &Services,
) -> Result<Vec<String>> {
    let params = RawPathParams::from_request_parts(parts, services)
        .await
        .map_err(|e| Error::invalid_param(e.to_string()))?;
    let args: Vec<String> = params.iter().map(|(_, value)| value.to_owned()).collect();
    if args.iter().any(|arg| arg.contains('\0')) || json_text::query_has_nul(parts.uri.query()) {
        return Err(Error::invalid_param("the path or query holds a NUL character"));
    }
    Ok(args)
}

/// Parses a read request as the ruma type `T`.
pub(crate) fn parse<T: IncomingRequest>(
    request: http::Request<&[u8]>,
    path_args: &[String],
    bytes: &[u8],
    strings: Strings,
) -> Result<T> {
    json_text::check(bytes, json_text::MAX_DEPTH, strings)?;
    let args: Vec<&str> = path_args.iter().map(String::as_str).collect();
    T::try_from_http_request(request, &args).map_err(|e| request_error(bytes, e))
}

/// The client's address: the peer's, or, behind a trusted proxy, the
/// last address that proxy added to X-Forwarded-For.
pub fn client_ip(parts: &http::request::Parts, trusted: &[ipnet::IpNet]) -> String {
    let peer = parts
        .extensions
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .map(|info| info.0.ip());
    if let Some(peer) = peer
        && trusted.iter().any(|range| range.contains(&peer))
        && let Some(forwarded) = parts
            .headers
            .get("x-forwarded-for")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.rsplit(',').next())
            .and_then(|ip| ip.trim().parse::<std::net::IpAddr>().ok())
    {
        return forwarded.to_string();
    }
    peer.map_or_else(|| "unknown".to_owned(), |ip| ip.to_string())
}

pub(crate) async fn read_body(body: axum::body::Body, limit: usize) -> Result<Bytes> {
    axum::body::to_bytes(body, limit).await.map_err(|e| {
        let inner = e.into_inner();
        if inner.downcast_ref::<http_body_util::LengthLimitError>().is_some() {
            Error::TooLarge
        } else {
            Error::BadJson(format!("could not read the request body: {inner}"))
        }
    })
}

/// Tells apart a body that is not JSON at all from JSON of the wrong shape.
pub(crate) fn request_error(body: &[u8], error: FromHttpRequestError) -> Error {
    match error {
        FromHttpRequestError::MethodMismatch { .. } => Error::MethodNotAllowed,
        FromHttpRequestError::Deserialization(DeserializationError::Json(e)) => {
            if serde_json::from_slice::<serde::de::IgnoredAny>(body).is_err() {
                Error::NotJson(format!("the body is not valid JSON: {e}"))
            } else {
                Error::BadJson(format!("the body is not what this endpoint expects: {e}"))
            }
        }
        other => Error::invalid_param(other.to_string()),
    }
}

/// A ruma response, turned into an HTTP one.
pub struct RumaResponse<T>(pub T);

impl<T> From<T> for RumaResponse<T> {
    fn from(value: T) -> Self {
        Self(value)
    }
}

impl<T: OutgoingResponse> IntoResponse for RumaResponse<T> {
    fn into_response(self) -> Response {
        match self.0.try_into_http_response::<Vec<u8>>() {
            Ok(response) => response.map(axum::body::Body::from),
            Err(e) => {
                Error::internal(format!("could not serialise a response: {e}")).into_response()
            }
        }
    }
}
