//! The SDK against a real `lattice` server started in-process on
//! 127.0.0.1, on SQLite and on PostgreSQL.

mod common;

mod chat;
mod echo_bot;
mod encryption;
mod errors;
mod history;
mod media;
mod persistence;
mod search;
mod sessions;
mod spaces;
mod verification;

pub use lattice_homeserver::backend_tests;
