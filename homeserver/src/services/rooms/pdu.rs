//! The PDU: a room event as servers sign, store and exchange it, and its
//! client-facing form.

use ruma::{
    CanonicalJsonObject, CanonicalJsonValue, EventId, MilliSecondsSinceUnixEpoch, OwnedEventId,
    OwnedRoomId, OwnedUserId, RoomId, UInt, UserId,
    events::{TimelineEventType, room::member::MembershipState},
};
use std::borrow::Cow;

use serde::{
    Deserialize, Deserializer,
    de::{self, SeqAccess, Visitor},
};
use serde_json::{Value as JsonValue, value::RawValue};

use crate::{
    error::{Error, Result},
    store::DirectoryEntry,
};

/// A room event with the fields the server reads parsed out, and the
/// canonical JSON kept as the source of truth (signed by its server; our
/// own events only once they leave, see `Rooms::outgoing`).
#[derive(Debug, Clone)]
pub struct Pdu {
    pub event_id: OwnedEventId,
    /// Always set here, even for a v12 create event whose JSON has none.
    pub room_id: OwnedRoomId,
    pub sender: OwnedUserId,
    pub origin_server_ts: MilliSecondsSinceUnixEpoch,
    pub kind: TimelineEventType,
    pub content: Box<RawValue>,
    pub state_key: Option<String>,
    pub prev_events: Vec<OwnedEventId>,
    pub auth_events: Vec<OwnedEventId>,
    pub redacts: Option<OwnedEventId>,
    pub depth: UInt,
    /// `content.membership` of a member event, read once: membership is
    /// asked of every member's event on every send.
    pub membership: Option<MembershipState>,
    /// Whether the JSON carries `room_id` (v12 create events do not).
    has_room_id: bool,
    /// The event; `event_id` is in it only for room versions 1 and 2
    /// (later versions derive it from the hash).
    pub json: CanonicalJsonObject,
}

#[derive(Deserialize)]
struct Fields {
    room_id: Option<OwnedRoomId>,
    sender: OwnedUserId,
    origin_server_ts: MilliSecondsSinceUnixEpoch,
    #[serde(rename = "type")]
    kind: TimelineEventType,
    content: Box<RawValue>,
    state_key: Option<String>,
    #[serde(default, deserialize_with = "references")]
    prev_events: Vec<OwnedEventId>,
    #[serde(default, deserialize_with = "references")]
    auth_events: Vec<OwnedEventId>,
    redacts: Option<OwnedEventId>,
    depth: UInt,
}

/// `prev_events` / `auth_events`: event ids, or (room versions 1 and 2)
/// `[event id, {hashes}]` pairs, of which only the id is kept.
fn references<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<OwnedEventId>, D::Error> {
    struct Reference(OwnedEventId);

    impl<'de> Deserialize<'de> for Reference {
        fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
            deserializer.deserialize_any(ReferenceVisitor)
        }
    }

    struct ReferenceVisitor;

    impl<'de> Visitor<'de> for ReferenceVisitor {
        type Value = Reference;

        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("an event id or an [event id, hashes] pair")
        }

        fn visit_str<E: de::Error>(self, id: &str) -> Result<Reference, E> {
            EventId::parse(id).map(Reference).map_err(E::custom)
        }

        fn visit_seq<A: SeqAccess<'de>>(self, mut pair: A) -> Result<Reference, A::Error> {
            let id: OwnedEventId =
                pair.next_element()?.ok_or_else(|| de::Error::invalid_length(0, &self))?;
            while pair.next_element::<de::IgnoredAny>()?.is_some() {}
            Ok(Reference(id))
        }
    }

    let list = Vec::<Reference>::deserialize(deserializer)?;
    Ok(list.into_iter().map(|r| r.0).collect())
}

#[derive(Deserialize)]
struct MembershipContent {
    membership: MembershipState,
}

#[derive(Deserialize)]
struct RedactsInContent {
    redacts: Option<OwnedEventId>,
}

impl Pdu {
    /// Parses a signed PDU whose id (and, for v12 creates, room id) is known.
    pub fn from_json(
        event_id: OwnedEventId,
        room_id: OwnedRoomId,
        json: CanonicalJsonObject,
    ) -> Result<Self> {
        let text = serde_json::to_vec(&json).map_err(Error::internal)?;
        Self::from_json_text(event_id, room_id, json, &text)
    }

    /// [`from_json`](Self::from_json) when the JSON's text is at hand:
    /// the fields are read from it rather than from a converted copy.
    pub fn from_json_text(
        event_id: OwnedEventId,
        room_id: OwnedRoomId,
        json: CanonicalJsonObject,
        text: &[u8],
    ) -> Result<Self> {
        let fields: Fields = serde_json::from_slice(text)
            .map_err(|e| Error::BadJson(format!("invalid PDU: {e}")))?;
        Ok(Self::assemble(event_id, room_id, fields, json))
    }

    /// Puts a PDU together from its parsed fields and its signed JSON.
    fn assemble(
        event_id: OwnedEventId,
        room_id: OwnedRoomId,
        fields: Fields,
        json: CanonicalJsonObject,
    ) -> Self {
        // Since v11 `redacts` moved into the content; accept either place.
        let is_redaction = fields.kind == TimelineEventType::RoomRedaction;
        let redacts = match fields.redacts {
            Some(id) => Some(id),
            None => serde_json::from_str::<RedactsInContent>(fields.content.get())
                .ok()
                .and_then(|c| c.redacts),
        };
        let membership = (fields.kind == TimelineEventType::RoomMember)
            .then(|| serde_json::from_str::<MembershipContent>(fields.content.get()).ok())
            .flatten()
            .map(|content| content.membership);
        Self {
            event_id,
            membership,
            has_room_id: fields.room_id.is_some(),
            room_id: fields.room_id.unwrap_or(room_id),
            sender: fields.sender,
            origin_server_ts: fields.origin_server_ts,
            kind: fields.kind,
            content: fields.content,
            state_key: fields.state_key,
            prev_events: fields.prev_events,
            auth_events: fields.auth_events,
            redacts: if is_redaction { redacts } else { None },
            depth: fields.depth,
            json,
        }
    }

    /// Parses the stored text form.
    pub fn from_stored(event_id: &str, room_id: &str, text: &str) -> Result<Self> {
        // Two parses of the text are cheaper than parsing it once and then
        // converting the whole tree (this runs for every event read).
        let json: CanonicalJsonObject = serde_json::from_str(text).map_err(Error::internal)?;
        let fields: Fields = serde_json::from_str(text).map_err(Error::internal)?;
        let event_id = EventId::parse(event_id).map_err(Error::internal)?;
        let room_id = RoomId::parse(room_id).map_err(Error::internal)?;
        Ok(Self::assemble(event_id, room_id, fields, json))
    }

    pub fn is_state(&self) -> bool {
        self.state_key.is_some()
    }

    /// The content as untyped JSON.
    pub fn content_value(&self) -> JsonValue {
        serde_json::from_str(self.content.get()).unwrap_or(JsonValue::Null)
    }

    /// A string field of the content, such as `membership`.
    pub fn content_str(&self, field: &str) -> Option<String> {
        self.content_value().get(field).and_then(|v| v.as_str()).map(str::to_owned)
    }

    /// What full-text search indexes: a message's body, a room's name or topic.
    pub fn search_text(&self) -> Option<String> {
        let field = match self.kind {
            TimelineEventType::RoomMessage => "body",
            TimelineEventType::RoomName => "name",
            TimelineEventType::RoomTopic => "topic",
            _ => return None,
        };
        self.content_str(field).filter(|text| !text.is_empty())
    }

    /// For a join, the member's name and avatar as the user directory
    /// shows them.
    pub fn directory_entry(&self) -> Option<DirectoryEntry> {
        if self.membership != Some(MembershipState::Join) {
            return None;
        }
        let text = |field| self.content_str(field).filter(|value| !value.is_empty());
        Some(DirectoryEntry {
            user_id: self.state_key.clone()?,
            display_name: text("displayname"),
            avatar_url: text("avatar_url"),
        })
    }

    /// `content.m.relates_to` as (parent event id, relation type); replies
    /// (`m.in_reply_to`) are not relations.
    pub fn relation(&self) -> Option<(String, String)> {
        let content = self.content_value();
        let relates = content.get("m.relates_to")?;
        let parent = relates.get("event_id")?.as_str()?;
        let kind = relates.get("rel_type")?.as_str()?;
        EventId::parse(parent).ok()?;
        Some((parent.to_owned(), kind.to_owned()))
    }

    /// [`Self::to_client_event`] typed for ruma's answers that list events
    /// (notifications, push rule evaluation).
    pub fn to_raw_client_event(
        &self,
    ) -> Result<ruma::serde::Raw<ruma::events::AnySyncTimelineEvent>> {
        let json = serde_json::value::to_raw_value(&self.to_client_event(None))
            .map_err(Error::internal)?;
        Ok(ruma::serde::Raw::from_json(json))
    }

    /// The event as clients see it (the client-server "ClientEvent" format).
    pub fn to_client_event(&self, unsigned: Option<JsonValue>) -> JsonValue {
        let kind = self.kind.to_string();
        ClientView {
            event_id: self.event_id.as_str(),
            room_id: self.room_id.as_str(),
            sender: self.sender.as_str().into(),
            origin_server_ts: self.origin_server_ts.get().into(),
            kind: kind.as_str().into(),
            content: &self.content,
            state_key: self.state_key.as_deref().map(Into::into),
            redacts: self.redacts.as_ref().map(|id| id.as_str().into()),
        }
        .to_json(unsigned)
    }

    /// The stored text of the signed event.
    pub fn to_stored(&self) -> String {
        serde_json::to_string(&self.json).unwrap_or_default()
    }

    /// Whether `server` has signed the event.
    pub fn is_signed_by(&self, server: &ruma::ServerName) -> bool {
        matches!(self.json.get("signatures"), Some(CanonicalJsonValue::Object(by_server))
            if by_server.contains_key(server.as_str()))
    }

    pub fn json_field(&self, name: &str) -> Option<&CanonicalJsonValue> {
        self.json.get(name)
    }
}

/// What clients see of a stored PDU, read from its text without building
/// the whole event (hashes, signatures, prev and auth events are skipped):
/// syncs and history turn many stored events into client events.
#[derive(Debug)]
pub struct ClientView<'a> {
    pub event_id: &'a str,
    pub room_id: &'a str,
    pub sender: Cow<'a, str>,
    pub origin_server_ts: u64,
    pub kind: Cow<'a, str>,
    pub content: &'a RawValue,
    pub state_key: Option<Cow<'a, str>>,
    pub redacts: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
struct ClientFields<'a> {
    #[serde(borrow)]
    sender: Cow<'a, str>,
    origin_server_ts: u64,
    #[serde(rename = "type", borrow)]
    kind: Cow<'a, str>,
    #[serde(borrow)]
    content: &'a RawValue,
    #[serde(borrow)]
    state_key: Option<Cow<'a, str>>,
    #[serde(borrow)]
    redacts: Option<Cow<'a, str>>,
}

impl<'a> ClientView<'a> {
    /// Reads the stored text of event `event_id` of room `room_id`.
    pub fn from_stored(event_id: &'a str, room_id: &'a str, text: &'a str) -> Result<Self> {
        let fields: ClientFields<'a> = serde_json::from_str(text).map_err(Error::internal)?;
        // Since v11 a redaction names its target in the content; clients
        // still find it at the top level too.
        let redacts = match fields.redacts {
            Some(id) => Some(id),
            None if fields.kind == "m.room.redaction" => {
                serde_json::from_str::<RedactsInContent>(fields.content.get())
                    .ok()
                    .and_then(|c| c.redacts)
                    .map(|id| Cow::Owned(id.to_string()))
            }
            None => None,
        };
        Ok(Self {
            event_id,
            room_id,
            sender: fields.sender,
            origin_server_ts: fields.origin_server_ts,
            kind: fields.kind,
            content: fields.content,
            state_key: fields.state_key,
            redacts,
        })
    }

    /// The client-server "ClientEvent" JSON; `unsigned` only if not empty.
    pub fn to_json(&self, unsigned: Option<JsonValue>) -> JsonValue {
        let content: JsonValue =
            serde_json::from_str(self.content.get()).unwrap_or(JsonValue::Null);
        let mut event = serde_json::Map::new();
        event.insert("event_id".into(), self.event_id.into());
        event.insert("room_id".into(), self.room_id.into());
        event.insert("sender".into(), self.sender.as_ref().into());
        event.insert("origin_server_ts".into(), self.origin_server_ts.into());
        event.insert("type".into(), self.kind.as_ref().into());
        event.insert("content".into(), content);
        if let Some(state_key) = &self.state_key {
            event.insert("state_key".into(), state_key.as_ref().into());
        }
        if let Some(redacts) = &self.redacts {
            event.insert("redacts".into(), redacts.as_ref().into());
        }
        if let Some(unsigned) = unsigned.filter(|u| u.as_object().is_some_and(|o| !o.is_empty())) {
            event.insert("unsigned".into(), unsigned);
        }
        JsonValue::Object(event)
    }
}

/// A string field of a stored PDU's content, read without parsing the rest.
pub fn stored_content_str(text: &str, field: &str) -> Option<String> {
    #[derive(Deserialize)]
    struct Content<'a> {
        #[serde(borrow)]
        content: &'a RawValue,
    }
    let content: Content<'_> = serde_json::from_str(text).ok()?;
    let value: JsonValue = serde_json::from_str(content.content.get()).ok()?;
    value.get(field)?.as_str().map(str::to_owned)
}

impl ruma::state_res::Event for Pdu {
    type Id = OwnedEventId;

    fn event_id(&self) -> &Self::Id {
        &self.event_id
    }

    fn room_id(&self) -> Option<&RoomId> {
        self.has_room_id.then_some(&*self.room_id)
    }

    fn sender(&self) -> &UserId {
        &self.sender
    }

    fn origin_server_ts(&self) -> MilliSecondsSinceUnixEpoch {
        self.origin_server_ts
    }

    fn event_type(&self) -> &TimelineEventType {
        &self.kind
    }

    fn content(&self) -> &RawValue {
        &self.content
    }

    fn state_key(&self) -> Option<&str> {
        self.state_key.as_deref()
    }

    fn prev_events(&self) -> Box<dyn DoubleEndedIterator<Item = &Self::Id> + '_> {
        Box::new(self.prev_events.iter())
    }

    fn auth_events(&self) -> Box<dyn DoubleEndedIterator<Item = &Self::Id> + '_> {
        Box::new(self.auth_events.iter())
    }

    fn redacts(&self) -> Option<&Self::Id> {
        self.redacts.as_ref()
    }

    fn rejected(&self) -> bool {
        false
    }
}
