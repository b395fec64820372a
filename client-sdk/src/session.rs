//! What a logged-in client holds: who it is and its tokens.

use ruma::{OwnedDeviceId, OwnedUserId};
use serde::{Deserialize, Serialize};

/// A login: save it to resume later without the password (the SQLite
/// store does this by itself).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Session {
    /// The logged-in user.
    pub user_id: OwnedUserId,
    /// This login's device.
    pub device_id: OwnedDeviceId,
    /// The token sent with every request.
    pub access_token: String,
    /// Renews the access token when it expires, if the server issued one.
    pub refresh_token: Option<String>,
}
