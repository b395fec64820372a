//! The Matrix server-server protocol, as Lattice speaks it.
//!
//! This crate knows the wire and the cryptography, not rooms or storage:
//! - [`address`]: the outbound address policy every connection passes;
//! - [`discovery`]: from a server name to the address to connect to
//!   (IP literals, explicit ports, `/.well-known/matrix/server`), cached;
//! - [`client`]: typed, X-Matrix-signed requests to other servers over HTTPS;
//! - [`keys`]: other servers' signing keys, fetched, checked, cached and kept
//!   through a [`keys::KeyStore`] the homeserver implements;
//! - [`request`]: authenticating an incoming request's X-Matrix header;
//! - [`pdu`]: the checks every received event passes before it is trusted
//!   (format, signatures, content hash, event id).
//!
//! The homeserver mounts the routes and implements the storage.

pub mod address;
pub mod client;
pub mod discovery;
mod error;
pub mod keys;
pub mod pdu;
pub mod request;

pub use error::{Error, Result};
pub use ruma::api::federation;
