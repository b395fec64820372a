//! What a room is in brief, read from its head: the summary the room
//! directory, space hierarchies and previews show; its join rule and the
//! rooms whose members a restricted rule admits; the children a space names.

use std::cmp::Reverse;

use ruma::{
    MilliSecondsSinceUnixEpoch, OwnedRoomAliasId, OwnedRoomId, OwnedServerName, OwnedUserId,
    RoomId, ServerName, UInt,
    events::{
        StateEventType, room::join_rules::RoomJoinRulesEventContent,
        space::child::HierarchySpaceChildEvent,
    },
    room::{AllowRule, JoinRule, RoomSummary, RoomType},
    serde::Raw,
};
use serde_json::Value as JsonValue;

use super::head::RoomHead;
use crate::error::{Error, Result};

/// A room a space names as its child (an `m.space.child` with servers to
/// join through; one without `via` removes the child).
#[derive(Debug, Clone)]
pub struct SpaceChild {
    pub room_id: OwnedRoomId,
    pub via: Vec<OwnedServerName>,
    pub suggested: bool,
    order: Option<String>,
    origin_server_ts: MilliSecondsSinceUnixEpoch,
    sender: OwnedUserId,
    content: JsonValue,
}

impl SpaceChild {
    /// Read by hand, not by ruma's type: an odd `order` must not hide the
    /// child, it only loses its place.
    fn new(
        state_key: &str,
        content: JsonValue,
        sender: OwnedUserId,
        origin_server_ts: MilliSecondsSinceUnixEpoch,
    ) -> Option<Self> {
        let via: Vec<OwnedServerName> = content["via"]
            .as_array()?
            .iter()
            .filter_map(|server| server.as_str()?.try_into().ok())
            .collect();
        if via.is_empty() {
            return None;
        }
        Some(Self {
            room_id: state_key.try_into().ok()?,
            via,
            suggested: content["suggested"].as_bool().unwrap_or(false),
            order: content["order"].as_str().filter(|order| valid_order(order)).map(Into::into),
            origin_server_ts,
            sender,
            content,
        })
    }

    /// A child event as another server or a hierarchy lists it (stripped
    /// state with its timestamp).
    pub fn from_stripped(event: &Raw<HierarchySpaceChildEvent>) -> Option<Self> {
        let event: JsonValue = event.deserialize_as().ok()?;
        let sender = event["sender"].as_str()?.try_into().ok()?;
        let ts = MilliSecondsSinceUnixEpoch(event["origin_server_ts"].as_u64()?.try_into().ok()?);
        Self::new(event["state_key"].as_str()?, event["content"].clone(), sender, ts)
    }

    pub fn to_stripped(&self) -> Result<Raw<HierarchySpaceChildEvent>> {
        let event = serde_json::json!({
            "type": "m.space.child",
            "state_key": self.room_id,
            "sender": self.sender,
            "content": self.content,
            "origin_server_ts": self.origin_server_ts,
        });
        serde_json::value::to_raw_value(&event).map(Raw::from_json).map_err(Error::internal)
    }
}

/// Orders a space's children as the spec says: those with a valid `order`
/// by it, then the rest by when they were added, ties by room id; keeps
/// only the suggested ones if asked.
pub fn ordered_children(mut children: Vec<SpaceChild>, suggested_only: bool) -> Vec<SpaceChild> {
    children.retain(|child| child.suggested || !suggested_only);
    children.sort_by(|a, b| {
        let key = |c: &SpaceChild| (c.order.is_none(), c.order.clone(), c.origin_server_ts);
        key(a).cmp(&key(b)).then_with(|| a.room_id.cmp(&b.room_id))
    });
    children
}

impl RoomHead {
    /// The room's join rule; a room without one admits by invite only.
    pub fn join_rule(&self) -> JoinRule {
        self.get(&StateEventType::RoomJoinRules, "")
            .and_then(|pdu| {
                serde_json::from_str::<RoomJoinRulesEventContent>(pdu.content.get()).ok()
            })
            .map_or(JoinRule::Invite, |content| content.join_rule)
    }

    /// The rooms whose members may join without an invite, when the join
    /// rule is `restricted` or `knock_restricted` in a version that has it.
    pub fn allowed_rooms(&self) -> Option<Vec<OwnedRoomId>> {
        let auth = &self.rules.authorization;
        let restricted = match self.join_rule() {
            JoinRule::Restricted(r) if auth.restricted_join_rule => r,
            JoinRule::KnockRestricted(r) if auth.knock_restricted_join_rule => r,
            _ => return None,
        };
        let rooms = restricted.allow.into_iter().filter_map(|rule| match rule {
            AllowRule::RoomMembership(membership) => Some(membership.room_id),
            _ => None,
        });
        Some(rooms.collect())
    }

    /// A member of `server` who may invite, to vouch for a restricted join
    /// (`join_authorised_via_users_server`): the most powerful one.
    pub fn join_authoriser(&self, server: &ServerName) -> Option<OwnedUserId> {
        let needed = self.required_power("invite", 0);
        self.joined()
            .iter()
            .filter(|user| user.server_name() == server)
            .map(|user| (self.power_of(user), user))
            .filter(|(power, _)| *power >= needed)
            .max_by_key(|(power, user)| (*power, Reverse(*user)))
            .map(|(_, user)| user.clone())
    }

    fn text(&self, kind: StateEventType, field: &str) -> Option<String> {
        self.get(&kind, "").and_then(|pdu| pdu.content_str(field))
    }

    pub fn is_world_readable(&self) -> bool {
        self.text(StateEventType::RoomHistoryVisibility, "history_visibility").as_deref()
            == Some("world_readable")
    }

    pub fn room_type(&self) -> Option<RoomType> {
        self.text(StateEventType::RoomCreate, "type").map(|kind| RoomType::from(kind.as_str()))
    }

    /// The room in brief, as the directory, hierarchies and previews show it.
    pub fn summary(&self, room_id: &RoomId) -> RoomSummary {
        let joined = UInt::try_from(self.joined().len() as u64).unwrap_or_default();
        let guests = self.text(StateEventType::RoomGuestAccess, "guest_access").as_deref()
            == Some("can_join");
        let mut summary = RoomSummary::new(
            room_id.to_owned(),
            self.join_rule().into(),
            guests,
            joined,
            self.is_world_readable(),
        );
        summary.name = self.text(StateEventType::RoomName, "name");
        summary.topic = self.text(StateEventType::RoomTopic, "topic");
        summary.canonical_alias = self
            .text(StateEventType::RoomCanonicalAlias, "alias")
            .and_then(|alias| OwnedRoomAliasId::try_from(alias).ok());
        summary.avatar_url = self.text(StateEventType::RoomAvatar, "url").map(Into::into);
        summary.room_type = self.room_type();
        summary.encryption =
            self.text(StateEventType::RoomEncryption, "algorithm").map(|a| a.as_str().into());
        summary.room_version = Some(self.version.clone());
        summary
    }

    /// The children this space names, in the spec's order.
    pub fn space_children(&self, suggested_only: bool) -> Vec<SpaceChild> {
        let children = self
            .state()
            .iter()
            .filter(|((kind, _), _)| *kind == StateEventType::SpaceChild)
            .filter_map(|((_, key), pdu)| {
                SpaceChild::new(key, pdu.content_value(), pdu.sender.clone(), pdu.origin_server_ts)
            })
            .collect();
        ordered_children(children, suggested_only)
    }
}

/// An `order` counts when it is at most 50 printable ASCII characters.
fn valid_order(order: &str) -> bool {
    order.len() <= 50 && order.chars().all(|c| ('\x20'..='\x7e').contains(&c))
}
