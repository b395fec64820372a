//! Sending into a room: messages (plain, formatted, notices, emotes),
//! edits, reactions, replies, threads, redactions, files; typing and read
//! receipts; and history.
//!
//! Every event goes out through [`Room::send`]: the one place where the
//! encryption layer will encrypt events for encrypted rooms.

use std::time::Duration;

use ruma::{
    EventId, OwnedEventId, TransactionId, UInt, UserId,
    api::client::{
        message::{get_message_events, send_message_event},
        receipt::create_receipt::{self, v3::ReceiptType},
        redact::redact_event,
        typing::create_typing_event::{
            self,
            v3::{Typing, TypingInfo},
        },
    },
    events::{
        AnySyncTimelineEvent, MessageLikeEventContent,
        reaction::ReactionEventContent,
        receipt::ReceiptThread,
        relation::{Annotation, Thread},
        room::{
            ImageInfo, MediaSource,
            message::{
                AddMentions, FileInfo, FileMessageEventContent, ForwardThread,
                ImageMessageEventContent, MessageType, Relation, ReplacementMetadata,
                ReplyMetadata, RoomMessageEventContent,
            },
        },
    },
    serde::Raw,
};

use super::Room;
use crate::{error::Result, timeline::Timeline};

impl Room {
    /// Sends any message-like event. A fresh transaction id makes a retried
    /// request idempotent on the server.
    pub async fn send<C>(&self, content: C) -> Result<OwnedEventId>
    where
        C: MessageLikeEventContent + serde::Serialize,
    {
        let event_type = content.event_type().to_string();
        self.send_raw(&event_type, serde_json::to_value(&content)?).await
    }

    /// Sends an event given as JSON. In an encrypted room it is encrypted
    /// first: this is the one way events leave the SDK.
    pub async fn send_raw(
        &self,
        event_type: &str,
        content: serde_json::Value,
    ) -> Result<OwnedEventId> {
        let (event_type, content) = match self.encryption_settings().await? {
            Some(settings) => {
                let encrypted =
                    self.client.encrypt_for_room(self, &settings, event_type, content).await?;
                ("m.room.encrypted".to_owned(), encrypted)
            }
            None => (event_type.to_owned(), content),
        };
        let request = send_message_event::v3::Request::new_raw(
            self.room_id.clone(),
            TransactionId::new(),
            event_type.as_str().into(),
            Raw::from_json(serde_json::value::to_raw_value(&content)?),
        );
        Ok(self.client.send(request).await?.event_id)
    }

    /// Sends a plain-text message.
    pub async fn send_text(&self, body: &str) -> Result<OwnedEventId> {
        self.send(RoomMessageEventContent::text_plain(body)).await
    }

    /// Sends a message with an HTML body and its plain-text fallback.
    pub async fn send_html(&self, plain: &str, html: &str) -> Result<OwnedEventId> {
        self.send(RoomMessageEventContent::text_html(plain, html)).await
    }

    /// Sends a notice (what bots say, which other bots ignore).
    pub async fn send_notice(&self, body: &str) -> Result<OwnedEventId> {
        self.send(RoomMessageEventContent::notice_plain(body)).await
    }

    /// Sends an emote (`/me waves`).
    pub async fn send_emote(&self, body: &str) -> Result<OwnedEventId> {
        self.send(RoomMessageEventContent::emote_plain(body)).await
    }

    /// Replaces the text of an earlier message (an `m.replace` edit).
    pub async fn edit(&self, event_id: &EventId, new_body: &str) -> Result<OwnedEventId> {
        self.replace(event_id, RoomMessageEventContent::text_plain(new_body)).await
    }

    /// Replaces an earlier message with formatted text: `html`, and `plain`
    /// for clients that show no HTML.
    pub async fn edit_html(
        &self,
        event_id: &EventId,
        plain: &str,
        html: &str,
    ) -> Result<OwnedEventId> {
        self.replace(event_id, RoomMessageEventContent::text_html(plain, html)).await
    }

    async fn replace(
        &self,
        event_id: &EventId,
        new: RoomMessageEventContent,
    ) -> Result<OwnedEventId> {
        let content = new.make_replacement(ReplacementMetadata::new(event_id.to_owned(), None));
        self.send(content).await
    }

    /// Reacts to an event with `key` (usually an emoji).
    pub async fn react(&self, event_id: &EventId, key: &str) -> Result<OwnedEventId> {
        let annotation = Annotation::new(event_id.to_owned(), key.to_owned());
        self.send(ReactionEventContent::new(annotation)).await
    }

    /// Replies to `event_id`, a message `sender` sent.
    pub async fn reply(
        &self,
        event_id: &EventId,
        sender: &UserId,
        body: &str,
    ) -> Result<OwnedEventId> {
        self.answer(event_id, sender, RoomMessageEventContent::text_plain(body)).await
    }

    /// Replies with formatted text: `html`, and `plain` for clients that
    /// show no HTML.
    pub async fn reply_html(
        &self,
        event_id: &EventId,
        sender: &UserId,
        plain: &str,
        html: &str,
    ) -> Result<OwnedEventId> {
        self.answer(event_id, sender, RoomMessageEventContent::text_html(plain, html)).await
    }

    async fn answer(
        &self,
        event_id: &EventId,
        sender: &UserId,
        content: RoomMessageEventContent,
    ) -> Result<OwnedEventId> {
        let content = content.make_reply_to(
            ReplyMetadata::new(event_id, sender, None),
            ForwardThread::Yes,
            AddMentions::Yes,
        );
        self.send(content).await
    }

    /// Sends a message into the thread whose first message is `root`.
    pub async fn send_thread_reply(&self, root: &EventId, body: &str) -> Result<OwnedEventId> {
        self.in_thread(root, RoomMessageEventContent::text_plain(body)).await
    }

    /// Sends formatted text into the thread whose first message is `root`:
    /// `html`, and `plain` for clients that show no HTML.
    pub async fn send_thread_reply_html(
        &self,
        root: &EventId,
        plain: &str,
        html: &str,
    ) -> Result<OwnedEventId> {
        self.in_thread(root, RoomMessageEventContent::text_html(plain, html)).await
    }

    async fn in_thread(
        &self,
        root: &EventId,
        mut content: RoomMessageEventContent,
    ) -> Result<OwnedEventId> {
        content.relates_to = Some(Relation::Thread(Thread::without_fallback(root.to_owned())));
        self.send(content).await
    }

    /// Sends a file the user picked: uploads it, then posts it as `m.file`.
    pub async fn send_file(
        &self,
        filename: &str,
        content_type: &str,
        bytes: Vec<u8>,
    ) -> Result<OwnedEventId> {
        self.send_attachment(filename, content_type, bytes, |name, source| {
            MessageType::File(FileMessageEventContent::new(name, source))
        })
        .await
    }

    /// Sends an image: uploads it, then posts it as `m.image`.
    pub async fn send_image(
        &self,
        filename: &str,
        content_type: &str,
        bytes: Vec<u8>,
    ) -> Result<OwnedEventId> {
        self.send_attachment(filename, content_type, bytes, |name, source| {
            MessageType::Image(ImageMessageEventContent::new(name, source))
        })
        .await
    }

    async fn send_attachment(
        &self,
        filename: &str,
        content_type: &str,
        bytes: Vec<u8>,
        message: impl FnOnce(String, MediaSource) -> MessageType,
    ) -> Result<OwnedEventId> {
        let media = self.client.media();
        let size = UInt::try_from(bytes.len() as u64).ok();
        // In an encrypted room the file is encrypted too, and its key
        // travels in the encrypted event.
        let source = match self.is_encrypted().await? {
            true => MediaSource::Encrypted(Box::new(media.upload_encrypted(bytes).await?)),
            false => MediaSource::Plain(media.upload(content_type, Some(filename), bytes).await?),
        };
        // Size and type let receivers show the file before downloading it.
        let mut msgtype = message(filename.to_owned(), source);
        let mimetype = Some(content_type.to_owned());
        match &mut msgtype {
            MessageType::File(file) => {
                let mut info = FileInfo::new();
                (info.mimetype, info.size) = (mimetype, size);
                file.info = Some(Box::new(info));
            }
            MessageType::Image(image) => {
                let mut info = ImageInfo::new();
                (info.mimetype, info.size) = (mimetype, size);
                image.info = Some(Box::new(info));
            }
            _ => {}
        }
        self.send(RoomMessageEventContent::new(msgtype)).await
    }

    /// Redacts (removes the content of) an event, with an optional reason.
    pub async fn redact(&self, event_id: &EventId, reason: Option<&str>) -> Result<OwnedEventId> {
        let mut request = redact_event::v3::Request::new(
            self.room_id.clone(),
            event_id.to_owned(),
            TransactionId::new(),
        );
        request.reason = reason.map(str::to_owned);
        Ok(self.client.send(request).await?.event_id)
    }

    /// Tells the room the user is typing (for up to 30 seconds) or stopped.
    pub async fn typing(&self, typing: bool) -> Result<()> {
        let user_id = self.client.require_user_id()?;
        let state = match typing {
            true => Typing::Yes(TypingInfo::new(Duration::from_secs(30))),
            false => Typing::No,
        };
        let request = create_typing_event::v3::Request::new(user_id, self.room_id.clone(), state);
        self.client.send(request).await?;
        Ok(())
    }

    /// Marks `event_id` and everything before it as read (public receipt).
    pub async fn send_read_receipt(&self, event_id: &EventId) -> Result<()> {
        let mut request = create_receipt::v3::Request::new(
            self.room_id.clone(),
            ReceiptType::Read,
            event_id.to_owned(),
        );
        request.thread = ReceiptThread::Unthreaded;
        self.client.send(request).await?;
        Ok(())
    }

    /// One page of history from the server.
    pub async fn messages(
        &self,
        request: get_message_events::v3::Request,
    ) -> Result<get_message_events::v3::Response> {
        self.client.send(request).await
    }

    /// A timeline that starts at the newest event and pages back.
    pub fn timeline(&self) -> Timeline {
        Timeline::new(self.clone())
    }

    /// The latest events the store kept from syncs, oldest first.
    pub async fn latest_events(&self) -> Result<Vec<Raw<AnySyncTimelineEvent>>> {
        let events = self.client.inner.store.latest_events(self.room_id.as_str()).await?;
        events
            .into_iter()
            .map(|json| Ok(Raw::from_json(serde_json::value::RawValue::from_string(json)?)))
            .collect()
    }
}
