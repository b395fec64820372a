//! Presence: whether the user is around ("online", "unavailable" for
//! away, "offline"), with an optional status message.

use ruma::{
    UserId,
    api::client::presence::{get_presence, set_presence},
    presence::PresenceState,
};

use super::Client;
use crate::error::Result;

impl Client {
    /// Sets this user's presence and status message. Syncing also says the
    /// user is around unless [`SyncSettings::presence`] says otherwise.
    ///
    /// [`SyncSettings::presence`]: crate::SyncSettings::presence
    pub async fn set_presence(&self, presence: PresenceState, status: Option<&str>) -> Result<()> {
        let mut request = set_presence::v3::Request::new(self.require_user_id()?, presence);
        request.status_msg = status.map(str::to_owned);
        self.send(request).await?;
        Ok(())
    }

    /// Someone's presence and status message, as the server knows them.
    pub async fn presence(&self, user: &UserId) -> Result<(PresenceState, Option<String>)> {
        let response = self.send(get_presence::v3::Request::new(user.to_owned())).await?;
        Ok((response.presence, response.status_msg))
    }
}
