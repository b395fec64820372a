//! An IRC bridge on [`lattice_appservice`]: each IRC channel is a Matrix
//! room (its portal, `#irc_{channel}:{server}`), each IRC user a ghost
//! Matrix user (`@irc_{nick}:{server}`), and each Matrix user in a portal
//! an IRC connection of its own (`{localpart}[m]`). Messages, emotes,
//! joins and parts cross both ways. See the README for running it.

mod bridge;
mod config;
mod irc;
pub mod names;

pub use self::{
    bridge::{Bridge, registration},
    config::{Config, IrcConfig, MatrixConfig},
    irc::IrcClient,
};

/// What can stop the bridge.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The Matrix side failed.
    #[error(transparent)]
    Appservice(#[from] lattice_appservice::Error),
    /// The IRC server or the listener failed.
    #[error(transparent)]
    Io(#[from] std::io::Error),
    /// The configuration is unusable.
    #[error("configuration: {0}")]
    Config(String),
}

impl From<lattice_appservice::lattice_sdk::Error> for Error {
    fn from(error: lattice_appservice::lattice_sdk::Error) -> Self {
        Self::Appservice(error.into())
    }
}
