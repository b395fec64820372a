//! One error type for the crate.

use ruma::OwnedUserId;

/// What went wrong.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A call to the homeserver failed (it keeps the Matrix error code).
    #[error(transparent)]
    Client(#[from] lattice_sdk::Error),
    /// The state store failed.
    #[error("state store: {0}")]
    Store(#[from] sqlx::Error),
    /// The registration could not be read, written or used.
    #[error("registration: {0}")]
    Registration(String),
    /// A user outside the service's namespaces.
    #[error("{0} is not in the service's namespaces")]
    NotOurs(OwnedUserId),
    /// The listener failed.
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

/// The crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
