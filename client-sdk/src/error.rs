//! One error type for everything the SDK does. A server's answer keeps its
//! HTTP status and Matrix error code, so callers can match on
//! [`ErrorKind`] (`M_FORBIDDEN`, `M_LIMIT_EXCEEDED`, ...).

use ruma::api::{
    client::uiaa::{UiaaInfo, UiaaResponse},
    error::{ErrorKind, FromHttpResponseError},
};

/// What went wrong.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The server answered with a Matrix error.
    #[error("the server refused: {0}")]
    Api(ruma::api::error::Error),
    /// The server needs more user-interactive authentication.
    #[error("additional authentication is required")]
    Uia(Box<UiaaInfo>),
    /// The request did not reach the server, or its answer did not arrive.
    #[error("HTTP error: {0}")]
    Http(#[from] reqwest::Error),
    /// The server's answer was not what the Matrix API specifies.
    #[error("unexpected answer from the server: {0}")]
    Response(String),
    /// The local store failed.
    #[error("store error: {0}")]
    Store(#[from] sqlx::Error),
    /// JSON that could not be read or written.
    #[error("JSON error: {0}")]
    Json(#[from] serde_json::Error),
    /// The password was right and the account wants its second factor:
    /// finish with [`Client::login_second_factor`](crate::Client::login_second_factor)
    /// under this session.
    #[error("a second factor is required to log in")]
    SecondFactorRequired {
        /// The login session the second step continues.
        session: String,
        /// The stages that can finish it (`org.lattice.login.totp`,
        /// `org.lattice.login.webauthn`, `org.lattice.login.recovery_code`).
        stages: Vec<String>,
        /// For WebAuthn: the options to give the authenticator
        /// (`navigator.credentials.get`'s argument, as JSON).
        webauthn_challenge: Option<serde_json::Value>,
    },
    /// The call needs a logged-in client.
    #[error("the client is not logged in")]
    NotLoggedIn,
    /// An argument the SDK could not use (a bad URL or identifier).
    #[error("invalid input: {0}")]
    Invalid(String),
}

/// The SDK's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// The Matrix error kind, when the server answered with one.
    pub fn kind(&self) -> Option<&ErrorKind> {
        match self {
            Self::Api(error) => error.error_kind(),
            _ => None,
        }
    }

    /// The HTTP status of a server's refusal.
    pub fn status(&self) -> Option<u16> {
        match self {
            Self::Api(error) => Some(error.status_code.as_u16()),
            Self::Uia(_) => Some(401),
            _ => None,
        }
    }

    /// The Matrix error code (`M_FORBIDDEN`, ...), when there is one.
    pub fn errcode(&self) -> Option<String> {
        self.kind().map(|kind| kind.errcode().to_string())
    }
}

/// Turns an endpoint's own error type into ours.
pub(crate) trait FromEndpointError: Sized {
    fn into_error(self) -> Error;
}

impl FromEndpointError for ruma::api::error::Error {
    fn into_error(self) -> Error {
        Error::Api(self)
    }
}

impl FromEndpointError for UiaaResponse {
    fn into_error(self) -> Error {
        match self {
            UiaaResponse::AuthResponse(info) => Error::Uia(Box::new(info)),
            UiaaResponse::MatrixError(error) => Error::Api(error),
        }
    }
}

impl<E: FromEndpointError> From<FromHttpResponseError<E>> for Error {
    fn from(error: FromHttpResponseError<E>) -> Self {
        match error {
            FromHttpResponseError::Server(error) => error.into_error(),
            FromHttpResponseError::Deserialization(error) => Self::Response(error.to_string()),
            _ => Self::Response("the server's answer could not be read".into()),
        }
    }
}
