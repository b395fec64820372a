//! The end-to-end encryption part of a sync: to-device messages, whose
//! devices changed, and how many one-time keys the device has left.

use ruma::api::client::sync::sync_events::v3::Response;

use super::{SyncService, since_token};
use crate::services::notifier::Positions;
use crate::{error::Result, services::auth::Requester};

impl SyncService {
    pub(super) async fn e2ee(
        &self,
        requester: &Requester,
        since: Option<Positions>,
        now: Positions,
        response: &mut Response,
    ) -> Result<()> {
        let (messages, reached) = self.keys.take_to_device(requester, since, now).await?;
        response.to_device.events = messages;
        // Messages past a full batch wait for the next sync's token.
        response.next_batch = since_token(Positions { to_device: reached, ..now });
        if let Some(since) = since {
            let lists = self.keys.device_list_changes(&requester.user_id, since, now).await?;
            response.device_lists.changed = lists.changed;
            response.device_lists.left = lists.left;
        }
        let (counts, fallback) = self.keys.key_summary(requester).await?;
        response.device_one_time_keys_count = counts;
        response.device_unused_fallback_key_types = Some(fallback);
        Ok(())
    }
}
