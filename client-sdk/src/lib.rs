//! # lattice-sdk
//!
//! A Rust SDK for Matrix clients and bots, for any spec-compliant
//! homeserver: log in, sync, read and send in rooms, page back through
//! history, share files.
//!
//! ```no_run
//! use lattice_sdk::{Client, SyncSettings};
//!
//! # async fn run() -> lattice_sdk::Result<()> {
//! let client = Client::builder()
//!     .homeserver_url("https://matrix.example.org")
//!     .store_path("bot.sqlite")
//!     .build()
//!     .await?;
//! if !client.logged_in() {
//!     client.login_password("bot", "secret", Some("my bot")).await?;
//! }
//! client.sync_once(SyncSettings::new()).await?;
//! for room in client.joined_rooms().await? {
//!     println!("{}", room.display_name().await?);
//! }
//! # Ok(()) }
//! ```
//!
//! The parts:
//! - [`Client`]: sessions (with automatic token refresh), sync, event
//!   handlers, rooms and direct chats, [`media`](Client::media).
//! - [`Room`]: what the room is and who is in it; send, edit, react, reply,
//!   redact; membership; [`Timeline`] for history.
//! - [`Store`]: SQLite on disk, or in memory; a client built on a store
//!   resumes its session and sync where it stopped.
//! - [`Error`]: one error type keeping the server's Matrix error code.

#![warn(missing_docs)]

mod client;
mod crypto;
mod error;
mod event_handler;
mod http;
mod media;
mod room;
mod session;
mod store;
mod sync;
mod timeline;

pub use ruma;

pub use self::store::sqlite;

pub use self::{
    client::{Client, ClientBuilder, SecondFactor},
    crypto::{
        devices::Device,
        verification::{SasCode, Verification},
    },
    error::{Error, Result},
    event_handler::SyncEvent,
    media::Media,
    room::{Member, Membership, Room},
    session::Session,
    store::Store,
    sync::{SyncReport, SyncSettings},
    timeline::Timeline,
};
