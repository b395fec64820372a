//! The bridge's configuration file (TOML); `irc-bridge.example.toml`
//! shows every key.

use std::{net::SocketAddr, path::PathBuf};

use serde::Deserialize;

use crate::Error;

/// Everything the bridge needs to know.
#[derive(Clone, Debug, Deserialize)]
pub struct Config {
    /// The Matrix side.
    pub matrix: MatrixConfig,
    /// The IRC side.
    pub irc: IrcConfig,
    /// The bridge's state (its SQLite file).
    pub store: PathBuf,
}

/// Where the homeserver is, and where it reaches the bridge.
#[derive(Clone, Debug, Deserialize)]
pub struct MatrixConfig {
    /// The homeserver's client API, e.g. `http://127.0.0.1:8008`.
    pub homeserver_url: String,
    /// The homeserver's name (the part after the colon in user ids).
    pub server_name: String,
    /// The registration file (written by `generate-registration`).
    pub registration: PathBuf,
    /// Where the bridge listens for the homeserver.
    pub listen: SocketAddr,
    /// The URL the homeserver calls the bridge at (default: `http://{listen}`).
    pub url: Option<String>,
}

/// The IRC server and what to bridge on it.
#[derive(Clone, Debug, Deserialize)]
pub struct IrcConfig {
    /// `host:port` of the IRC server (plain TCP).
    pub server: String,
    /// The nick of the bridge's own connection, which listens to the channels.
    pub nick: String,
    /// Channels with a portal from the start; others get one when a Matrix
    /// user joins `#irc_{channel}:{server_name}`.
    #[serde(default)]
    pub channels: Vec<String>,
}

impl Config {
    /// Reads the configuration file.
    pub fn load(path: &std::path::Path) -> Result<Self, Error> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| Error::Config(format!("{}: {e}", path.display())))?;
        toml::from_str(&text).map_err(|e| Error::Config(format!("{}: {e}", path.display())))
    }

    /// The URL the homeserver reaches the bridge at.
    pub fn bridge_url(&self) -> String {
        self.matrix.url.clone().unwrap_or_else(|| format!("http://{}", self.matrix.listen))
    }
}
