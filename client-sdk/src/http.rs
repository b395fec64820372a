//! The transport: turns ruma's typed requests into HTTP and the answers
//! back into typed responses. Every endpoint the SDK uses goes through
//! [`Transport::send`], so there is one place for authentication, token
//! refresh and retries.

use std::borrow::Cow;

use ruma::OwnedUserId;

use ruma::api::{
    IncomingResponseExt, OutgoingRequest, OutgoingRequestExt, SupportedVersions,
    auth_scheme::{AuthScheme, SendAccessToken},
    error::IntoHttpError,
    path_builder::{PathBuilder, SinglePath, VersionHistory},
};

use crate::error::{Error, FromEndpointError, Result};

/// What a path builder needs to pick an endpoint's path.
pub(crate) trait PathInput: PathBuilder {
    fn input(versions: &SupportedVersions) -> Self::Input<'_>;
}

impl PathInput for SinglePath {
    fn input(_: &SupportedVersions) -> Self::Input<'_> {}
}

impl PathInput for VersionHistory {
    fn input(versions: &SupportedVersions) -> Self::Input<'_> {
        Cow::Borrowed(versions)
    }
}

/// A request the transport can send: a client-server endpoint whose
/// authentication is an access token (or none).
pub(crate) trait Endpoint: OutgoingRequest {
    fn into_http(
        self,
        homeserver: &str,
        token: SendAccessToken<'_>,
        versions: &SupportedVersions,
    ) -> Result<http::Request<Vec<u8>>>;

    fn parse(response: http::Response<&[u8]>) -> Result<Self::IncomingResponse>;
}

impl<R> Endpoint for R
where
    R: OutgoingRequest<PathBuilder: PathInput, EndpointError: FromEndpointError>,
    for<'a> R::Authentication: AuthScheme<Input<'a> = SendAccessToken<'a>>,
{
    fn into_http(
        self,
        homeserver: &str,
        token: SendAccessToken<'_>,
        versions: &SupportedVersions,
    ) -> Result<http::Request<Vec<u8>>> {
        self.try_into_http_request(homeserver, token, R::PathBuilder::input(versions)).map_err(
            |e| match e {
                IntoHttpError::Authentication(_) => Error::NotLoggedIn,
                other => Error::Invalid(other.to_string()),
            },
        )
    }

    fn parse(response: http::Response<&[u8]>) -> Result<Self::IncomingResponse> {
        Ok(R::IncomingResponse::try_from_http_response(response)?)
    }
}

/// The HTTP side of a client: a base URL and a connection pool.
#[derive(Clone, Debug)]
pub(crate) struct Transport {
    pub(crate) http: reqwest::Client,
    pub(crate) homeserver: String,
    /// For an application service: the user every request is made as
    /// (the `user_id` query parameter of identity assertion).
    pub(crate) assert_user: Option<OwnedUserId>,
}

impl Transport {
    pub(crate) fn new(homeserver: &str) -> Result<Self> {
        Ok(Self {
            http: http_client()?,
            homeserver: homeserver.trim_end_matches('/').to_owned(),
            assert_user: None,
        })
    }

    /// Adds the asserted user to a request's query, if there is one.
    fn assert_identity(&self, url: &mut reqwest::Url) {
        if let Some(user) = &self.assert_user {
            url.query_pairs_mut().append_pair("user_id", user.as_str());
        }
    }

    /// Sends one request with `token` (if the endpoint wants one).
    pub(crate) async fn send<R: Endpoint>(
        &self,
        request: R,
        token: Option<&str>,
        versions: &SupportedVersions,
    ) -> Result<R::IncomingResponse> {
        // An application service's token also goes to endpoints where it is
        // optional for others (registering its users).
        let token = match (token, &self.assert_user) {
            (None, _) => SendAccessToken::None,
            (Some(token), Some(_)) => SendAccessToken::Appservice(token),
            (Some(token), None) => SendAccessToken::IfRequired(token),
        };
        let request = request.into_http(&self.homeserver, token, versions)?;
        let mut request = reqwest::Request::try_from(request)?;
        self.assert_identity(request.url_mut());
        let response = self.http.execute(request).await?;
        let mut answer = http::Response::builder().status(response.status());
        if let Some(headers) = answer.headers_mut() {
            *headers = response.headers().clone();
        }
        let body = response.bytes().await?;
        let answer = answer.body(body.as_ref()).map_err(|e| Error::Response(e.to_string()))?;
        R::parse(answer)
    }
}

impl Transport {
    /// A JSON request to an endpoint ruma has no type for (server
    /// extensions); errors come back as for typed endpoints.
    pub(crate) async fn send_json(
        &self,
        method: http::Method,
        path: &str,
        token: Option<&str>,
        body: Option<&serde_json::Value>,
    ) -> Result<serde_json::Value> {
        let mut url = reqwest::Url::parse(&format!("{}{path}", self.homeserver))
            .map_err(|e| Error::Invalid(e.to_string()))?;
        self.assert_identity(&mut url);
        let mut request = self.http.request(method, url);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request.send().await?;
        let status = response.status();
        let bytes = response.bytes().await?;
        if status.is_success() {
            return Ok(serde_json::from_slice(&bytes)?);
        }
        let answer = http::Response::builder()
            .status(status)
            .body(bytes.as_ref())
            .map_err(|e| Error::Response(e.to_string()))?;
        use ruma::api::EndpointError;
        Err(ruma::api::client::uiaa::UiaaResponse::from_http_response(answer).into_error())
    }
}

/// A reqwest client with TLS on rustls and ring.
pub(crate) fn http_client() -> Result<reqwest::Client> {
    // Installing twice fails harmlessly: the first provider stays.
    let _ = rustls::crypto::ring::default_provider().install_default();
    Ok(reqwest::Client::builder()
        .user_agent(concat!("lattice-sdk/", env!("CARGO_PKG_VERSION")))
        .build()?)
}
