//! # lattice-appservice
//!
//! Write Matrix [application services](https://spec.matrix.org/latest/application-service-api/)
//! (bridges to IRC, Slack, e-mail...) in Rust, for any homeserver.
//!
//! - [`registration`]: generate, read and write the registration file the
//!   homeserver's operator installs.
//! - [`Appservice`]: the service. Its [`router`](Appservice::router)
//!   serves the endpoints the homeserver calls (transactions, handled once
//!   each and in order; user and alias queries; ping) and dispatches to
//!   the handlers the bridge registers.
//! - [`Intent`]: one of the service's users acting in Matrix (on
//!   [`lattice_sdk`]); it registers and joins by itself.
//! - [`StateStore`]: SQLite, for what the service knows and the bridge's
//!   own mappings.
//!
//! `examples/irc-bridge` is a whole bridge built on it.

#![warn(missing_docs)]

mod appservice;
mod error;
mod intent;
pub mod registration;
mod server;
mod store;

pub use lattice_sdk;
pub use ruma;

pub use self::{
    appservice::Appservice,
    error::{Error, Result},
    intent::Intent,
    registration::Registration,
    store::StateStore,
};
