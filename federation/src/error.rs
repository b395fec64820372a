//! The crate's one error type.

/// What can go wrong talking to, or trusting, another server.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A server name outside the spec's grammar: no connection is tried.
    #[error("invalid server name {0}")]
    InvalidServerName(String),
    /// The server's address is one the outbound address policy refuses
    /// (loopback, a private network, ...): no connection was made.
    #[error("{server} may not be connected to")]
    Denied { server: String },
    /// The server name could not be turned into an address.
    #[error("cannot find server {server}: {reason}")]
    Discovery { server: String, reason: String },
    /// The connection failed or timed out.
    #[error("request to {server} failed: {reason}")]
    Transport { server: String, reason: String },
    /// The server answered with an error status.
    #[error("{server} answered {status}: {body}")]
    Remote { server: String, status: u16, errcode: Option<String>, body: String },
    /// The server answered something that is not what the spec says.
    #[error("unexpected answer from {server}: {reason}")]
    BadResponse { server: String, reason: String },
    /// A signature, hash or key did not check out.
    #[error("signature check failed: {0}")]
    BadSignature(String),
    /// A request or event is malformed.
    #[error("malformed: {0}")]
    Malformed(String),
    /// The request carries no valid X-Matrix authorization.
    #[error("unauthorized: {0}")]
    Unauthorized(String),
}

impl Error {
    pub(crate) fn transport(server: &impl ToString, reason: impl ToString) -> Self {
        Self::Transport { server: server.to_string(), reason: reason.to_string() }
    }

    pub(crate) fn bad_response(server: &impl ToString, reason: impl ToString) -> Self {
        Self::BadResponse { server: server.to_string(), reason: reason.to_string() }
    }

    /// The Matrix error code a remote server answered with, if any.
    pub fn errcode(&self) -> Option<&str> {
        match self {
            Self::Remote { errcode, .. } => errcode.as_deref(),
            _ => None,
        }
    }
}

/// The crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
