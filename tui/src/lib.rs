//! # lattice-chat
//!
//! A terminal Matrix client on [`lattice_sdk`]. The parts:
//! - [`app`]: the client's state, changed by keys and by what the server
//!   answers; it never waits.
//! - [`matrix`]: the worker that talks to the server (and the SDK's store)
//!   in tasks of its own and reports back.
//! - [`ui`]: drawing the state with ratatui.
//! - [`format`] (Markdown out, HTML in) and [`commands`] (`/join`, …).
//! - [`account`]: where each account's session lives between runs;
//!   [`config`]: the user's settings (notifications, colours, keys,
//!   named accounts).

pub mod account;
pub mod app;
pub mod commands;
pub mod config;
pub mod format;
pub mod matrix;
pub mod ui;
