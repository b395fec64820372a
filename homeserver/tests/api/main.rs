//! Integration tests of the client-server API: each test starts a real
//! server on 127.0.0.1:0 and talks HTTP to it, on SQLite and PostgreSQL.

mod common;

pub use lattice_homeserver::backend_tests;

mod account;
mod account_page;
mod admin;
mod appservice;
mod connections;
mod delayed_events;
mod devices;
mod directory;
mod discovery;
mod ephemeral;
mod federation;
mod federation_abuse;
mod federation_e2ee;
mod federation_gaps;
mod federation_keys;
mod federation_notary;
mod federation_synapse;
mod federation_synapse_spaces;
mod federation_visibility;
mod history;
mod injection;
mod js_sdk;
mod keys;
mod login;
mod media;
mod membership;
mod moderation;
mod openapi;
mod peeking;
mod persistence;
mod profile;
mod push_rules;
mod pushers;
mod rate_limits;
mod register;
mod relations;
mod robustness;
mod rooms;
mod search;
mod second_factor;
mod security;
mod session_lifetime;
mod spaces;
mod sweep;
mod sync;
mod threepids;
mod uia_fallback;
mod user_data;
mod user_directory;
mod web_login;
mod web_login_browser;
mod webauthn;
