//! The bridge between axum and ruma: an extractor that authenticates and
//! parses any ruma request type, a response wrapper for any ruma response
//! type, and a router method that mounts an endpoint on all of its paths.

use axum::{
    Router,
    extract::{FromRequest, FromRequestParts, RawPathParams, Request},
    handler::Handler,
    response::{IntoResponse, Response},
    routing::{MethodFilter, on},
};
use bytes::Bytes;
use ruma::api::{
    IncomingRequest, IncomingRequestExt, Metadata, OutgoingResponse, OutgoingResponseExt,
    auth_scheme::{
        AccessToken, AccessTokenOptional, AppserviceTokenOptional, AuthScheme, NoAccessToken,
        NoAuthentication,
    },
    error::{DeserializationError, FromHttpRequestError},
    path_builder::PathBuilder,
};
use tracing::Span;

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

    fn authenticate(
        services: &Services,
        token: Option<String>,
    ) -> impl Future<Output = Result<Self::Identity>> + Send;
}

async fn resolve(services: &Services, token: &str) -> Result<Requester> {
    let requester = services.auth.authenticate(token).await?;
    Span::current().record("user", requester.user_id.as_str());
    Ok(requester)
}

impl Authenticate for AccessToken {
    type Identity = Requester;

    fn user_key(identity: &Requester) -> Option<String> {
        Some(identity.user_id.to_string())
    }

    async fn authenticate(services: &Services, token: Option<String>) -> Result<Requester> {
        resolve(services, &token.ok_or(Error::MissingToken)?).await
    }
}

impl Authenticate for AccessTokenOptional {
    type Identity = Option<Requester>;

    fn user_key(identity: &Option<Requester>) -> Option<String> {
        identity.as_ref().map(|r| r.user_id.to_string())
    }

    async fn authenticate(services: &Services, token: Option<String>) -> Result<Self::Identity> {
        match token {
            Some(token) => resolve(services, &token).await.map(Some),
            None => Ok(None),
        }
    }
}

/// No appservices are registered yet, so an appservice token grants nothing
/// and these endpoints behave as unauthenticated ones.
impl Authenticate for AppserviceTokenOptional {
    type Identity = ();
    const READS_TOKEN: bool = false;

    async fn authenticate(_: &Services, _: Option<String>) -> Result<()> {
        Ok(())
    }
}

impl Authenticate for NoAccessToken {
    type Identity = ();
    const READS_TOKEN: bool = false;

    async fn authenticate(_: &Services, _: Option<String>) -> Result<()> {
        Ok(())
    }
}

impl Authenticate for NoAuthentication {
    type Identity = ();
    const READS_TOKEN: bool = false;

    async fn authenticate(_: &Services, _: Option<String>) -> Result<()> {
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
        let auth = T::Authentication::authenticate(services, token).await?;
        let (parts, ()) = probe.into_parts();
        // Every authenticated request draws on its user's budget, besides
        // those the spec marks as rate limited.
        let user_key = T::Authentication::user_key(&auth);
        if T::RATE_LIMITED || user_key.is_some() {
            let class = LimitClass::for_path(parts.uri.path());
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
        let request = http::Request::from_parts(parts, bytes.as_ref());
        let body = parse(request, &path_args, &bytes)?;
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
    Ok(params.iter().map(|(_, value)| value.to_owned()).collect())
}

/// Deepest nesting of arrays and objects accepted in a request body.
/// Bodies kept as raw JSON (event contents, account data) are not parsed
/// into trees here, so serde's own recursion limit would not catch them;
/// whoever parses them later must not be handed a stack overflow.
const MAX_JSON_DEPTH: usize = 64;

/// Whether `bytes` nests arrays and objects at most `max` deep (strings,
/// with their escapes, are skipped).
fn nesting_within(bytes: &[u8], max: usize) -> bool {
    let (mut depth, mut in_string, mut escaped) = (0usize, false, false);
    for &byte in bytes {
        if in_string {
            match (escaped, byte) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_string = false,
                _ => {}
            }
            continue;
        }
        match byte {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                if depth > max {
                    return false;
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    true
}

/// Parses a read request as the ruma type `T`.
pub(crate) fn parse<T: IncomingRequest>(
    request: http::Request<&[u8]>,
    path_args: &[String],
    bytes: &[u8],
) -> Result<T> {
    if !nesting_within(bytes, MAX_JSON_DEPTH) {
        return Err(Error::NotJson(format!("JSON nested deeper than {MAX_JSON_DEPTH} levels")));
    }
    let args: Vec<&str> = path_args.iter().map(String::as_str).collect();
    T::try_from_http_request(request, &args).map_err(|e| request_error(bytes, e))
}

/// The client's address: the peer's, or, behind a trusted proxy, the
/// last address that proxy added to X-Forwarded-For.
pub fn client_ip(parts: &http::request::Parts, trusted: &[std::net::IpAddr]) -> String {
    let peer = parts
        .extensions
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .map(|info| info.0.ip());
    if let Some(peer) = peer
        && trusted.contains(&peer)
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

/// Mounts ruma endpoints on a router.
pub trait RumaRouter {
    /// Routes every path of endpoint `T` (stable, legacy r0 and unstable) to `handler`.
    fn ruma<T, H, X>(self, handler: H) -> Self
    where
        T: IncomingRequest,
        H: Handler<X, Services>,
        X: 'static;
}

impl RumaRouter for Router<Services> {
    fn ruma<T, H, X>(mut self, handler: H) -> Self
    where
        T: IncomingRequest,
        H: Handler<X, Services>,
        X: 'static,
    {
        let filter =
            MethodFilter::try_from(T::METHOD).expect("ruma endpoints use standard methods");
        for path in T::PATH_BUILDER.all_paths() {
            self = self.route(path, on(filter, handler.clone()));
            // An empty state key may be left out: `/state/{type}` and `/state/{type}/`.
            if let Some(base) = path.strip_suffix("/{state_key}") {
                self = self.route(base, on(filter, handler.clone()));
                self = self.route(&format!("{base}/"), on(filter, handler.clone()));
            }
        }
        self
    }
}

#[cfg(test)]
mod tests {
    use super::nesting_within;

    #[test]
    fn nesting_is_counted_outside_strings() {
        assert!(nesting_within(br#"{"a": [[1]], "b": "[[[[[[["}"#, 3));
        assert!(!nesting_within(br#"{"a": [[[1]]]}"#, 3));
        assert!(nesting_within(br#"{"a": "\"[[[[\""}"#, 1));
    }
}
