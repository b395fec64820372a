//! PDUs on their way to other servers. Our own events are signed when
//! they are created only if they go to another server at once; the others
//! are stored unsigned and signed here, when they first leave. Neither the
//! event id (reference hash) nor the content hash covers signatures, and
//! ed25519 signatures are deterministic, so another server gets exactly
//! what signing at creation would have given it — and a room with only
//! local members never pays for a signature.

use std::sync::Arc;

use ruma::{RoomId, RoomVersionId, room_version_rules::RoomVersionRules};
use serde_json::value::RawValue;

use super::{Rooms, builder::add_signature, pdu::Pdu};
use crate::error::{Error, Result};

impl Rooms {
    /// `pdu` as sent to another server: with our signature if it is ours.
    /// Every PDU this server hands out on request (send_join state, /event,
    /// /state, backfill, missing events, invite state) goes through here;
    /// events pushed through the outbox were signed when built, since they
    /// had a destination then.
    pub(super) fn outgoing(&self, rules: &RoomVersionRules, pdu: &Pdu) -> Result<Box<RawValue>> {
        let own = &self.inner.config.server.server_name;
        let text = if pdu.sender.server_name() == own && !pdu.is_signed_by(own) {
            let mut signed = pdu.json.clone();
            add_signature(&mut signed, &rules.redaction, own, &self.inner.key)?;
            serde_json::to_string(&signed).map_err(Error::internal)?
        } else {
            pdu.to_stored()
        };
        RawValue::from_string(text).map_err(Error::internal)
    }

    /// [`outgoing`](Self::outgoing) for events of one room.
    pub async fn outgoing_all<'a>(
        &self,
        room_id: &RoomId,
        pdus: impl IntoIterator<Item = &'a Arc<Pdu>>,
    ) -> Result<Vec<Box<RawValue>>> {
        let rules = self.rules_of(room_id).await?;
        pdus.into_iter().map(|pdu| self.outgoing(&rules, pdu)).collect()
    }

    /// The rules of a room's version.
    pub(super) async fn rules_of(&self, room_id: &RoomId) -> Result<RoomVersionRules> {
        rules_of_version(&self.room_version(room_id).await?)
    }
}

/// The rules of a room version this server supports.
pub(super) fn rules_of_version(version: &RoomVersionId) -> Result<RoomVersionRules> {
    version.rules().ok_or_else(|| Error::UnsupportedRoomVersion(version.to_string()))
}
