//! The homeserver's one error type, and how each case is answered on the wire:
//! the spec's status code and `{errcode, error}` body.

use axum::response::{IntoResponse, Response};
use http::StatusCode;
use ruma::api::{
    OutgoingResponseExt,
    client::uiaa::UiaaInfo,
    error::{
        Error as RumaError, ErrorBody, ErrorKind, LimitExceededErrorData, RetryAfter,
        StandardErrorBody, UnknownTokenErrorData, WrongRoomKeysVersionErrorData,
    },
};

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    Forbidden(String),
    #[error("unrecognised access token")]
    UnknownToken { soft_logout: bool },
    #[error("missing access token")]
    MissingToken,
    #[error("user id already taken")]
    UserInUse,
    #[error("{0}")]
    InvalidUsername(String),
    #[error("{0}")]
    NotJson(String),
    #[error("{0}")]
    BadJson(String),
    #[error("{0}")]
    InvalidParam(String),
    #[error("{0}")]
    MissingParam(String),
    #[error("{0}")]
    NotFound(String),
    /// A 400 that no more specific code describes (M_UNKNOWN).
    #[error("{0}")]
    BadRequest(String),
    #[error("unrecognised request")]
    Unrecognized,
    #[error("method not allowed on this endpoint")]
    MethodNotAllowed,
    /// Data the server manages itself; clients write it through another API.
    #[error("{0}")]
    ServerManaged(String),
    #[error("request body too large")]
    TooLarge,
    #[error("this account has been deactivated")]
    UserDeactivated,
    #[error("too many requests")]
    LimitExceeded { retry_after_ms: u64 },
    #[error("{0}")]
    WeakPassword(String),
    #[error("unsupported room version {0}")]
    UnsupportedRoomVersion(String),
    /// The joining server cannot handle this room's version.
    #[error("this room's version ({0}) is not supported by your server")]
    IncompatibleRoomVersion(String),
    #[error("room alias already taken")]
    RoomInUse,
    /// A user id or alias an application service keeps for itself.
    #[error("{0}")]
    Exclusive(String),
    #[error("no account has this address")]
    ThreepidNotFound,
    #[error("this address is already in use")]
    ThreepidInUse,
    /// E-mail is not set up on this server (or the medium is not e-mail).
    #[error("{0}")]
    ThreepidMediumNotSupported(String),
    /// The address of a validation session was not confirmed.
    #[error("{0}")]
    ThreepidAuthFailed(String),
    /// A restricted join this server cannot judge: it knows none of the
    /// rooms the join rule names.
    #[error("this server cannot check the room's join conditions")]
    UnableToAuthoriseJoin,
    /// A restricted join the user qualifies for, but no member here may
    /// invite: another server should be asked.
    #[error("no member of this server may admit you; try another server")]
    UnableToGrantJoin,
    #[error("this media already has content")]
    CannotOverwriteMedia,
    #[error("the content of this media has not been uploaded yet")]
    NotYetUploaded,
    /// PUT /directory/room/{alias} on a taken alias answers 409.
    #[error("{0}")]
    Conflict(String),
    /// Pinging an application service that has no URL.
    #[error("the application service has no URL")]
    UrlNotSet,
    /// An application service could not be reached (refused, reset...).
    #[error("the application service could not be reached: {0}")]
    ConnectionFailed(String),
    /// An application service did not answer in time.
    #[error("the application service did not answer in time")]
    ConnectionTimeout,
    /// An application service answered with an error status.
    #[error("the application service answered {status}")]
    BadStatus { status: StatusCode, body: String },
    /// A device an application service named that its user does not have.
    #[error("this device does not belong to the user")]
    UnknownDevice,
    /// A sliding sync `pos` this server does not know (any more): the
    /// client starts its connection over.
    #[error("unknown sliding sync position; start the connection afresh")]
    UnknownPos,
    /// A delayed event (MSC4140) asked for a longer delay than allowed.
    #[error("the requested delay exceeds the allowed maximum of {max_delay_ms} ms")]
    MaxDelayExceeded { max_delay_ms: u64 },
    /// A user-interactive auth stage is still needed: answered 401 with flows.
    #[error("additional authentication required")]
    Uia(Box<UiaaInfo>),
    /// A key backup write aimed at a version that is not the current one.
    #[error("the current backup version is {0}")]
    WrongRoomKeysVersion(String),
    /// A remote party (a previewed page, later a federated server) failed.
    #[error("{0}")]
    Upstream(String),
    /// A federation request without a valid X-Matrix signature.
    #[error("{0}")]
    Unauthorized(String),
    /// Another instance sharing the database writes this room now (it took
    /// the room over or has not handed it here yet): the request may be
    /// tried again.
    #[error("room {0} is moving between server instances; try again")]
    RoomMoving(String),
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("internal error: {0}")]
    Internal(String),
    /// A setting or a file it names that the server cannot start with.
    #[error("{0}")]
    Config(String),
}

impl Error {
    pub fn forbidden(msg: impl Into<String>) -> Self {
        Self::Forbidden(msg.into())
    }

    pub fn not_found(msg: impl Into<String>) -> Self {
        Self::NotFound(msg.into())
    }

    pub fn invalid_param(msg: impl Into<String>) -> Self {
        Self::InvalidParam(msg.into())
    }

    pub fn internal(msg: impl std::fmt::Display) -> Self {
        Self::Internal(msg.to_string())
    }

    fn status_and_kind(&self) -> (StatusCode, ErrorKind) {
        use StatusCode as S;
        match self {
            Self::Forbidden(_) => (S::FORBIDDEN, ErrorKind::Forbidden),
            Self::UnknownToken { soft_logout } => {
                let mut data = UnknownTokenErrorData::new();
                data.soft_logout = *soft_logout;
                (S::UNAUTHORIZED, ErrorKind::UnknownToken(data))
            }
            Self::MissingToken => (S::UNAUTHORIZED, ErrorKind::MissingToken),
            Self::UserInUse => (S::BAD_REQUEST, ErrorKind::UserInUse),
            Self::InvalidUsername(_) => (S::BAD_REQUEST, ErrorKind::InvalidUsername),
            Self::NotJson(_) => (S::BAD_REQUEST, ErrorKind::NotJson),
            Self::BadJson(_) => (S::BAD_REQUEST, ErrorKind::BadJson),
            Self::InvalidParam(_) => (S::BAD_REQUEST, ErrorKind::InvalidParam),
            Self::MissingParam(_) => (S::BAD_REQUEST, ErrorKind::MissingParam),
            Self::NotFound(_) => (S::NOT_FOUND, ErrorKind::NotFound),
            Self::BadRequest(_) => (S::BAD_REQUEST, ErrorKind::Unknown),
            Self::Unrecognized => (S::NOT_FOUND, ErrorKind::Unrecognized),
            Self::MethodNotAllowed => (S::METHOD_NOT_ALLOWED, ErrorKind::Unrecognized),
            Self::ServerManaged(_) => (S::METHOD_NOT_ALLOWED, ErrorKind::BadJson),
            Self::TooLarge => (S::PAYLOAD_TOO_LARGE, ErrorKind::TooLarge),
            Self::UserDeactivated => (S::FORBIDDEN, ErrorKind::UserDeactivated),
            Self::LimitExceeded { retry_after_ms } => {
                let mut data = LimitExceededErrorData::new();
                data.retry_after =
                    Some(RetryAfter::Delay(std::time::Duration::from_millis(*retry_after_ms)));
                (S::TOO_MANY_REQUESTS, ErrorKind::LimitExceeded(data))
            }
            Self::WeakPassword(_) => (S::BAD_REQUEST, ErrorKind::WeakPassword),
            Self::UnsupportedRoomVersion(_) => (S::BAD_REQUEST, ErrorKind::UnsupportedRoomVersion),
            Self::RoomInUse => (S::BAD_REQUEST, ErrorKind::RoomInUse),
            Self::Exclusive(_) => (S::BAD_REQUEST, ErrorKind::Exclusive),
            Self::ThreepidNotFound => (S::BAD_REQUEST, ErrorKind::ThreepidNotFound),
            Self::ThreepidInUse => (S::BAD_REQUEST, ErrorKind::ThreepidInUse),
            Self::ThreepidMediumNotSupported(_) => {
                (S::BAD_REQUEST, ErrorKind::ThreepidMediumNotSupported)
            }
            Self::ThreepidAuthFailed(_) => (S::UNAUTHORIZED, ErrorKind::ThreepidAuthFailed),
            Self::UnableToAuthoriseJoin => (S::BAD_REQUEST, ErrorKind::UnableToAuthorizeJoin),
            Self::UnableToGrantJoin => (S::BAD_REQUEST, ErrorKind::UnableToGrantJoin),
            Self::IncompatibleRoomVersion(version) => (
                S::BAD_REQUEST,
                ErrorKind::IncompatibleRoomVersion(
                    ruma::api::error::IncompatibleRoomVersionErrorData::new(
                        ruma::RoomVersionId::try_from(version.as_str())
                            .unwrap_or(ruma::RoomVersionId::V1),
                    ),
                ),
            ),
            Self::CannotOverwriteMedia => (S::CONFLICT, ErrorKind::CannotOverwriteMedia),
            Self::NotYetUploaded => (S::GATEWAY_TIMEOUT, ErrorKind::NotYetUploaded),
            Self::Conflict(_) => (S::CONFLICT, ErrorKind::Unknown),
            Self::Uia(_) => (S::UNAUTHORIZED, ErrorKind::Forbidden),
            Self::Upstream(_) => (S::BAD_GATEWAY, ErrorKind::Unknown),
            Self::Unauthorized(_) => (S::UNAUTHORIZED, ErrorKind::Unauthorized),
            Self::WrongRoomKeysVersion(current) => (
                S::FORBIDDEN,
                ErrorKind::WrongRoomKeysVersion(WrongRoomKeysVersionErrorData::new(
                    current.clone(),
                )),
            ),
            Self::MaxDelayExceeded { .. } => (S::BAD_REQUEST, ErrorKind::Unknown),
            Self::UnknownPos => (S::BAD_REQUEST, ErrorKind::UnknownPos),
            Self::UnknownDevice => (S::BAD_REQUEST, ErrorKind::UnknownDevice),
            Self::UrlNotSet => (S::BAD_REQUEST, ErrorKind::UrlNotSet),
            Self::ConnectionFailed(_) => (S::BAD_GATEWAY, ErrorKind::ConnectionFailed),
            Self::ConnectionTimeout => (S::GATEWAY_TIMEOUT, ErrorKind::ConnectionTimeout),
            Self::BadStatus { status, body } => {
                let mut data = ruma::api::error::BadStatusErrorData::new();
                data.status = Some(*status);
                data.body = Some(body.clone());
                (S::BAD_GATEWAY, ErrorKind::BadStatus(data))
            }
            Self::RoomMoving(_) => (S::SERVICE_UNAVAILABLE, ErrorKind::Unknown),
            Self::Database(_) | Self::Internal(_) | Self::Config(_) => {
                (S::INTERNAL_SERVER_ERROR, ErrorKind::Unknown)
            }
        }
    }
}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        if let Self::MaxDelayExceeded { max_delay_ms } = self {
            // An errcode ruma does not know, with the field MSC4140 adds.
            let body = serde_json::json!({
                "errcode": "M_MAX_DELAY_EXCEEDED",
                "error": self.to_string(),
                "max_delay": max_delay_ms,
            });
            return (StatusCode::BAD_REQUEST, axum::Json(body)).into_response();
        }
        if let Self::Uia(info) = self {
            let body = serde_json::to_vec(&info).unwrap_or_default();
            return (
                StatusCode::UNAUTHORIZED,
                [(http::header::CONTENT_TYPE, "application/json")],
                body,
            )
                .into_response();
        }
        let message = match &self {
            // Internal details go to the log, never to the client.
            Self::Database(e) => {
                tracing::error!(error = %e, "database error");
                "internal server error".to_owned()
            }
            Self::Internal(e) | Self::Config(e) => {
                tracing::error!(error = %e, "internal error");
                "internal server error".to_owned()
            }
            other => other.to_string(),
        };
        let (status, kind) = self.status_and_kind();
        let error =
            RumaError::new(status, ErrorBody::Standard(StandardErrorBody::new(kind, message)));
        match error.try_into_http_response::<Vec<u8>>() {
            Ok(response) => response.map(axum::body::Body::from),
            Err(_) => status.into_response(),
        }
    }
}

impl From<lattice_federation::Error> for Error {
    fn from(error: lattice_federation::Error) -> Self {
        use lattice_federation::Error as F;
        match error {
            F::Remote { status: 403, body, .. } => Self::Forbidden(body),
            F::Remote { status: 404, body, .. } => Self::NotFound(body),
            F::Unauthorized(reason) => Self::Unauthorized(reason),
            F::BadSignature(reason) => Self::Forbidden(reason),
            F::Malformed(reason) => Self::BadJson(reason),
            F::InvalidServerName(name) => {
                Self::invalid_param(format!("invalid server name {name}"))
            }
            F::Denied { server } => Self::forbidden(format!("{server} may not be contacted")),
            // The cause (addresses, TLS, a remote body) goes to the log;
            // the client learns which server failed, not how.
            other => {
                tracing::warn!(error = %other, "a request to another server failed");
                let server = match &other {
                    F::Discovery { server, .. }
                    | F::Transport { server, .. }
                    | F::Remote { server, .. }
                    | F::BadResponse { server, .. } => server.as_str(),
                    _ => "another server",
                };
                Self::Upstream(format!("{server} could not be reached or answered badly"))
            }
        }
    }
}
