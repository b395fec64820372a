//! GET /notifications: the events that notified a user, newest first.

use std::collections::HashMap;

use ruma::{
    MilliSecondsSinceUnixEpoch, OwnedRoomId, UInt,
    api::client::push::get_notifications::v3::Notification,
};

use super::Pushers;
use crate::{
    error::{Error, Result},
    services::{auth::Requester, rooms::pdu::Pdu},
};

/// Notifications a page holds unless asked for fewer; and at most.
const DEFAULT_PAGE: u64 = 20;
const MAX_PAGE: u64 = 100;

impl Pushers {
    /// A page of the requester's notifications before the `from` token
    /// (from the newest without one), only highlights when `only` says
    /// `highlight`; and the token of the next page, if there is one.
    pub async fn notifications(
        &self,
        requester: &Requester,
        from: Option<&str>,
        limit: Option<UInt>,
        only: Option<&str>,
    ) -> Result<(Vec<Notification>, Option<String>)> {
        let user = requester.user_id.as_str();
        let before = match from {
            Some(token) => token
                .parse()
                .map_err(|_| Error::invalid_param("from is not a notifications token"))?,
            None => i64::MAX,
        };
        let limit = limit.map_or(DEFAULT_PAGE, u64::from).clamp(1, MAX_PAGE) as i64;
        let only_highlight = only.is_some_and(|only| only.contains("highlight"));
        let rows = self.store.notifications(user, before, limit, only_highlight).await?;
        let read: HashMap<String, i64> =
            self.store.read_positions(user).await?.into_iter().collect();
        let next = (rows.len() as i64 == limit)
            .then(|| rows.last().map(|row| row.notification.stream.to_string()))
            .flatten();
        let mut page = Vec::with_capacity(rows.len());
        for row in rows {
            let n = &row.notification;
            let pdu = Pdu::from_stored(&n.event_id, &n.room_id, &row.pdu)?;
            let event = pdu.to_raw_client_event()?;
            let actions = serde_json::from_str(&n.actions).map_err(Error::internal)?;
            let room_id = OwnedRoomId::try_from(n.room_id.as_str()).map_err(Error::internal)?;
            let was_read = read.get(&n.room_id).is_some_and(|position| *position >= n.stream);
            let ts = MilliSecondsSinceUnixEpoch(UInt::try_from(n.ts).unwrap_or_default());
            page.push(Notification::new(actions, event, was_read, room_id, ts));
        }
        Ok((page, next))
    }
}
