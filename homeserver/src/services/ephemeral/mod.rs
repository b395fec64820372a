//! Ephemeral room data and presence: typing notices (in memory), read
//! receipts and presence (stored), each on its own sync stream.

pub mod presence;
mod receipts;
mod typing;

pub use self::{
    presence::Presence,
    receipts::{Receipts, receipt_contents},
    typing::Typing,
};
