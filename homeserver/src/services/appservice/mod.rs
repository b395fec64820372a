//! Application services (bridges to IRC, Slack, e-mail...): the
//! registrations operators install, read once at start. A registration
//! names the service's tokens, where to push events, and the user ids,
//! aliases and rooms it speaks for.

mod registration;

pub use registration::{Namespace, Namespaces, Registration, load_registrations};
