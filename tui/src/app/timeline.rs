//! One room's timeline as the screen shows it: messages (with their edits,
//! reactions and redactions folded in), and one-line summaries of
//! membership and state changes.

use std::collections::{HashMap, HashSet};

use lattice_sdk::ruma::{
    MilliSecondsSinceUnixEpoch, OwnedEventId, OwnedUserId, UInt,
    events::{
        AnySyncMessageLikeEvent, AnySyncStateEvent, AnySyncTimelineEvent, SyncMessageLikeEvent,
        SyncStateEvent,
        room::{
            MediaSource,
            member::MembershipState,
            message::{MessageType, Relation, RoomMessageEventContent},
            redaction::SyncRoomRedactionEvent,
        },
    },
    serde::Raw,
};

/// What an item says.
#[derive(Debug, Clone, PartialEq)]
pub enum Body {
    /// A message; `html` is its `formatted_body` when it has one.
    Text { plain: String, html: Option<String>, kind: TextKind },
    /// A file, image, video or voice message.
    File { kind: &'static str, name: String, size: Option<u64> },
    /// An event we could not decrypt (no key was shared with this device).
    Undecryptable,
    /// Removed by its sender or a moderator.
    Redacted,
    /// A membership or state change, summarised.
    Info(String),
}

/// Plain messages, `/me` actions and bots' notices look different.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TextKind {
    Message,
    Emote,
    Notice,
}

/// One line (or block) of the timeline.
#[derive(Debug, Clone, PartialEq)]
pub struct Item {
    pub event_id: Option<OwnedEventId>,
    pub sender: OwnedUserId,
    pub ts: MilliSecondsSinceUnixEpoch,
    pub body: Body,
    pub edited: bool,
    /// The message this one answers.
    pub reply_to: Option<OwnedEventId>,
    /// The thread this message belongs to.
    pub thread_root: Option<OwnedEventId>,
    /// Reaction keys with who reacted, in the order they first came.
    pub reactions: Vec<(String, Vec<OwnedUserId>)>,
}

/// A room's items, oldest first.
#[derive(Debug, Default)]
pub struct RoomTimeline {
    pub items: Vec<Item>,
    by_id: HashMap<OwnedEventId, usize>,
    /// Every event taken in, shown or not (edits, reactions, state without
    /// a line of its own).
    seen: HashSet<OwnedEventId>,
    /// People's names in this room, from their member events.
    pub names: HashMap<OwnedUserId, String>,
    /// Relations whose target has not been seen yet (history not loaded):
    /// applied when it arrives.
    pending: Vec<AnySyncTimelineEvent>,
    /// Where each file message's content is (and its key, when encrypted).
    pub files: HashMap<OwnedEventId, MediaSource>,
    /// Where the user had stopped reading when the room was opened: new
    /// messages start after it.
    pub marker: Option<OwnedEventId>,
    /// The first event of the room has been loaded.
    pub at_start: bool,
    /// How many lines the view is scrolled up from the newest.
    pub scroll: usize,
}

impl RoomTimeline {
    /// Adds newer events (from a sync), in order.
    pub fn push_raw(&mut self, events: &[Raw<AnySyncTimelineEvent>]) {
        for raw in events {
            if let Ok(event) = raw.deserialize() {
                self.push(event);
            }
        }
    }

    /// Adds older events (a page of history, oldest first) before what is
    /// there. A page counted back from the newest event can hold events
    /// newer than the last sync brought: only those before the first event
    /// already here are older; the rest arrive with the next sync.
    pub fn prepend_raw(&mut self, events: &[Raw<AnySyncTimelineEvent>]) {
        let page: Vec<AnySyncTimelineEvent> =
            events.iter().filter_map(|raw| raw.deserialize().ok()).collect();
        let overlap = page.iter().position(|event| self.seen.contains(event.event_id()));
        let older_part = &page[..overlap.unwrap_or(page.len())];
        let mut older = RoomTimeline { names: std::mem::take(&mut self.names), ..Self::default() };
        for event in older_part {
            older.push(event.clone());
        }
        let newer = std::mem::take(&mut self.items);
        let pending = std::mem::take(&mut self.pending);
        self.names = std::mem::take(&mut older.names);
        self.items = older.items;
        self.by_id = older.by_id;
        self.seen.extend(older.seen);
        self.files.extend(older.files);
        self.pending = older.pending;
        for item in newer {
            if let Some(id) = &item.event_id {
                self.by_id.insert(id.clone(), self.items.len());
            }
            self.items.push(item);
        }
        // Relations to events of the new page now find them.
        for event in pending {
            self.seen.remove(event.event_id());
            self.push(event);
        }
    }

    /// Where an event's item is in `items`.
    pub fn position(&self, event_id: &OwnedEventId) -> Option<usize> {
        self.by_id.get(event_id).copied()
    }

    /// The item for an event id.
    pub fn get(&self, event_id: &OwnedEventId) -> Option<&Item> {
        self.by_id.get(event_id).map(|&at| &self.items[at])
    }

    /// A person's name here: the display name from their member event, else
    /// their user id's localpart.
    pub fn name_of(&self, user: &OwnedUserId) -> String {
        self.names.get(user).cloned().unwrap_or_else(|| user.localpart().to_owned())
    }

    /// Messages whose text contains `term` (ignoring case), newest first.
    pub fn search(&self, term: &str) -> Vec<&Item> {
        let term = term.to_lowercase();
        self.items
            .iter()
            .rev()
            .filter(|item| match &item.body {
                Body::Text { plain, .. } => plain.to_lowercase().contains(&term),
                Body::File { name, .. } => name.to_lowercase().contains(&term),
                _ => false,
            })
            .collect()
    }

    /// The newest file message, when none is picked.
    pub fn latest_file(&self) -> Option<&Item> {
        self.items.iter().rev().find(|item| matches!(item.body, Body::File { .. }))
    }

    /// The newest event id, for read receipts.
    pub fn latest_event_id(&self) -> Option<&OwnedEventId> {
        self.items.iter().rev().find_map(|item| item.event_id.as_ref())
    }

    fn push(&mut self, event: AnySyncTimelineEvent) {
        if !self.seen.insert(event.event_id().to_owned()) {
            return;
        }
        let sender = event.sender().to_owned();
        let ts = event.origin_server_ts();
        let event_id = event.event_id().to_owned();
        // What the item shows, and the message it answers or the thread it is in.
        let shown = match &event {
            AnySyncTimelineEvent::MessageLike(message) => match message {
                AnySyncMessageLikeEvent::RoomMessage(SyncMessageLikeEvent::Original(original)) => {
                    if let Some(Relation::Replacement(replacement)) = &original.content.relates_to {
                        let target = replacement.event_id.clone();
                        let new = text_body(&replacement.new_content.msgtype);
                        if !self.edit(&target, &sender, new) {
                            self.pending.push(event);
                        }
                        return;
                    }
                    let (reply_to, thread_root) = relation_targets(&original.content);
                    if let Some(source) = media_source(&original.content.msgtype) {
                        self.files.insert(event_id.clone(), source);
                    }
                    (text_body(&original.content.msgtype), reply_to, thread_root)
                }
                AnySyncMessageLikeEvent::Reaction(SyncMessageLikeEvent::Original(reaction)) => {
                    let target = reaction.content.relates_to.event_id.clone();
                    let key = reaction.content.relates_to.key.clone();
                    if !self.react(&target, key, sender) {
                        self.pending.push(event);
                    }
                    return;
                }
                AnySyncMessageLikeEvent::RoomRedaction(SyncRoomRedactionEvent::Original(
                    redaction,
                )) => {
                    if let Some(target) =
                        redaction.redacts.clone().or(redaction.content.redacts.clone())
                        && let Some(&at) = self.by_id.get(&target)
                    {
                        self.items[at].body = Body::Redacted;
                        self.items[at].reactions.clear();
                    }
                    return;
                }
                AnySyncMessageLikeEvent::RoomEncrypted(_) => (Body::Undecryptable, None, None),
                _ if message.original_content().is_none() => (Body::Redacted, None, None),
                // Calls, polls and the like have no line of their own yet.
                _ => return,
            },
            AnySyncTimelineEvent::State(state) => match self.state_summary(state) {
                Some(text) => (Body::Info(text), None, None),
                None => return,
            },
        };
        let (body, reply_to, thread_root) = shown;
        self.insert(Item {
            event_id: Some(event_id),
            sender,
            ts,
            body,
            edited: false,
            reply_to,
            thread_root,
            reactions: Vec::new(),
        });
    }

    fn insert(&mut self, item: Item) {
        if let Some(id) = &item.event_id {
            self.by_id.insert(id.clone(), self.items.len());
        }
        self.items.push(item);
    }

    /// Applies an edit from the original's sender; false when the original
    /// is not here (yet).
    fn edit(&mut self, target: &OwnedEventId, sender: &OwnedUserId, body: Body) -> bool {
        let Some(&at) = self.by_id.get(target) else { return false };
        let item = &mut self.items[at];
        // Only the sender may edit a message; others' "edits" are ignored.
        if &item.sender == sender && item.body != Body::Redacted {
            item.body = body;
            item.edited = true;
        }
        true
    }

    fn react(&mut self, target: &OwnedEventId, key: String, sender: OwnedUserId) -> bool {
        let Some(&at) = self.by_id.get(target) else { return false };
        let reactions = &mut self.items[at].reactions;
        match reactions.iter_mut().find(|(k, _)| *k == key) {
            Some((_, senders)) if !senders.contains(&sender) => senders.push(sender),
            Some(_) => {}
            None => reactions.push((key, vec![sender])),
        }
        true
    }

    /// One line for a state event, remembering member names on the way.
    fn state_summary(&mut self, state: &AnySyncStateEvent) -> Option<String> {
        let who = |user: &OwnedUserId, names: &HashMap<OwnedUserId, String>| {
            names.get(user).cloned().unwrap_or_else(|| user.localpart().to_owned())
        };
        match state {
            AnySyncStateEvent::RoomMember(SyncStateEvent::Original(member)) => {
                let target: OwnedUserId = member.state_key.clone();
                let before = who(&target, &self.names);
                if let Some(name) = &member.content.displayname {
                    self.names.insert(target.clone(), name.clone());
                }
                let sender = who(&member.sender, &self.names);
                let previous = member.unsigned.prev_content.as_ref().map(|p| p.membership.clone());
                let reason =
                    member.content.reason.as_deref().map(|r| format!(": {r}")).unwrap_or_default();
                Some(match (&member.content.membership, previous) {
                    (MembershipState::Join, Some(MembershipState::Join)) => {
                        let now = who(&target, &self.names);
                        if now == before {
                            return None;
                        }
                        format!("{before} is now {now}")
                    }
                    (MembershipState::Join, _) => format!("{} joined", who(&target, &self.names)),
                    (MembershipState::Invite, _) => format!("{sender} invited {before}"),
                    (MembershipState::Leave, Some(MembershipState::Invite))
                        if member.sender == target =>
                    {
                        format!("{before} declined the invitation")
                    }
                    (MembershipState::Leave, Some(MembershipState::Ban)) => {
                        format!("{sender} unbanned {before}")
                    }
                    (MembershipState::Leave, _) if member.sender == target => {
                        format!("{before} left{reason}")
                    }
                    (MembershipState::Leave, _) => format!("{sender} removed {before}{reason}"),
                    (MembershipState::Ban, _) => format!("{sender} banned {before}{reason}"),
                    (MembershipState::Knock, _) => format!("{before} asks to join"),
                    _ => return None,
                })
            }
            AnySyncStateEvent::RoomName(SyncStateEvent::Original(name)) => Some(format!(
                "{} named the room \"{}\"",
                who(&name.sender, &self.names),
                name.content.name
            )),
            AnySyncStateEvent::RoomTopic(SyncStateEvent::Original(topic)) => Some(format!(
                "{} set the topic: {}",
                who(&topic.sender, &self.names),
                topic.content.topic
            )),
            AnySyncStateEvent::RoomEncryption(SyncStateEvent::Original(e)) => {
                Some(format!("{} turned on end-to-end encryption", who(&e.sender, &self.names)))
            }
            AnySyncStateEvent::RoomCreate(SyncStateEvent::Original(create)) => {
                Some(format!("{} created the room", who(&create.sender, &self.names)))
            }
            _ => None,
        }
    }
}

/// What a message's content shows.
fn text_body(msgtype: &MessageType) -> Body {
    let text = |kind: TextKind, body: &str, formatted: Option<&str>| Body::Text {
        plain: body.to_owned(),
        html: formatted.map(str::to_owned),
        kind,
    };
    let html = |f: &Option<lattice_sdk::ruma::events::room::message::FormattedBody>| {
        f.as_ref()
            .filter(|f| f.format == lattice_sdk::ruma::events::room::message::MessageFormat::Html)
            .map(|f| f.body.clone())
    };
    let file = |kind, body: &String, filename: &Option<String>, size: Option<UInt>| Body::File {
        kind,
        name: filename.clone().unwrap_or_else(|| body.clone()),
        size: size.map(u64::from),
    };
    match msgtype {
        MessageType::Text(t) => text(TextKind::Message, &t.body, html(&t.formatted).as_deref()),
        MessageType::Emote(t) => text(TextKind::Emote, &t.body, html(&t.formatted).as_deref()),
        MessageType::Notice(t) => text(TextKind::Notice, &t.body, html(&t.formatted).as_deref()),
        MessageType::Image(f) => {
            file("image", &f.body, &f.filename, f.info.as_ref().and_then(|i| i.size))
        }
        MessageType::File(f) => {
            file("file", &f.body, &f.filename, f.info.as_ref().and_then(|i| i.size))
        }
        MessageType::Video(f) => {
            file("video", &f.body, &f.filename, f.info.as_ref().and_then(|i| i.size))
        }
        MessageType::Audio(f) => {
            file("audio", &f.body, &f.filename, f.info.as_ref().and_then(|i| i.size))
        }
        other => text(TextKind::Message, other.body(), None),
    }
}

/// Where a file message's content is.
fn media_source(msgtype: &MessageType) -> Option<MediaSource> {
    Some(match msgtype {
        MessageType::Image(f) => f.source.clone(),
        MessageType::File(f) => f.source.clone(),
        MessageType::Video(f) => f.source.clone(),
        MessageType::Audio(f) => f.source.clone(),
        _ => return None,
    })
}

fn relation_targets(
    content: &RoomMessageEventContent,
) -> (Option<OwnedEventId>, Option<OwnedEventId>) {
    match &content.relates_to {
        Some(Relation::Reply(reply)) => (Some(reply.in_reply_to.event_id.clone()), None),
        Some(Relation::Thread(thread)) => {
            let reply = thread.in_reply_to.as_ref().filter(|_| !thread.is_falling_back);
            (reply.map(|r| r.event_id.clone()), Some(thread.event_id.clone()))
        }
        _ => (None, None),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;

    fn event(
        id: &str,
        kind: &str,
        state_key: Option<&str>,
        content: Value,
    ) -> Raw<AnySyncTimelineEvent> {
        let mut event = json!({"event_id": id, "sender": "@a:x", "origin_server_ts": 1, "type": kind, "content": content});
        if let Some(key) = state_key {
            event["state_key"] = key.into();
        }
        Raw::from_json(serde_json::value::to_raw_value(&event).expect("json"))
    }

    fn text(id: &str, body: &str) -> Raw<AnySyncTimelineEvent> {
        event(id, "m.room.message", None, json!({"msgtype": "m.text", "body": body}))
    }

    fn shown(timeline: &RoomTimeline) -> Vec<String> {
        timeline
            .items
            .iter()
            .map(|item| match &item.body {
                Body::Text { plain, .. } => plain.clone(),
                Body::Info(info) => info.clone(),
                other => format!("{other:?}"),
            })
            .collect()
    }

    /// History paged back from the newest event can overlap what a sync
    /// brought and run past it: older events go first, newer ones wait for
    /// their sync, nothing is doubled.
    #[test]
    fn a_page_of_history_keeps_the_order() {
        let create = event("$1", "m.room.create", Some(""), json!({"room_version": "12"}));
        let mut timeline = RoomTimeline::default();
        timeline.push_raw(&[text("$3", "second"), text("$4", "third")]);
        timeline.prepend_raw(&[
            create.clone(),
            text("$2", "first"),
            text("$3", "second"),
            text("$4", "third"),
            text("$5", "fourth"),
        ]);
        assert_eq!(shown(&timeline), ["a created the room", "first", "second", "third"]);
        timeline.push_raw(&[text("$4", "third"), text("$5", "fourth")]);
        assert_eq!(shown(&timeline), ["a created the room", "first", "second", "third", "fourth"]);
    }

    /// An edit or a reaction to a message not loaded yet applies once the
    /// message arrives with older history; an edit by someone else does not.
    #[test]
    fn relations_wait_for_their_message() {
        let mut timeline = RoomTimeline::default();
        let edit = event(
            "$e",
            "m.room.message",
            None,
            json!({
                "msgtype": "m.text", "body": "* fixed",
                "m.new_content": {"msgtype": "m.text", "body": "fixed"},
                "m.relates_to": {"rel_type": "m.replace", "event_id": "$1"},
            }),
        );
        let reaction = event(
            "$r",
            "m.reaction",
            None,
            json!({
                "m.relates_to": {"rel_type": "m.annotation", "event_id": "$1", "key": "👍"},
            }),
        );
        timeline.push_raw(&[edit, reaction, text("$2", "later")]);
        assert_eq!(shown(&timeline), ["later"]);
        timeline.prepend_raw(&[text("$1", "typo")]);
        assert_eq!(shown(&timeline), ["fixed", "later"]);
        assert!(timeline.items[0].edited);
        assert_eq!(timeline.items[0].reactions.len(), 1);

        let mut forged = json!({"event_id": "$f", "sender": "@mallory:x", "origin_server_ts": 2, "type": "m.room.message",
            "content": {"msgtype": "m.text", "body": "* pwned", "m.new_content": {"msgtype": "m.text", "body": "pwned"},
            "m.relates_to": {"rel_type": "m.replace", "event_id": "$2"}}});
        forged["sender"] = "@mallory:x".into();
        timeline
            .push_raw(&[Raw::from_json(serde_json::value::to_raw_value(&forged).expect("json"))]);
        assert_eq!(shown(&timeline), ["fixed", "later"]);
    }
}
