//! Typed event handlers: `client.add_event_handler(|ev: OriginalSyncRoomMessageEvent, room: Room| async move { .. })`
//! runs the closure for every event of that type a sync brings. The event
//! type comes from the Rust type, so a handler never sees events it did not
//! ask for.

use std::{future::Future, pin::Pin, sync::Arc};

use ruma::events::{
    AnyStrippedStateEvent, AnySyncEphemeralRoomEvent, AnySyncStateEvent, AnySyncTimelineEvent,
    EphemeralRoomEventContent, MessageLikeEventContent, OriginalSyncMessageLikeEvent,
    OriginalSyncStateEvent, PossiblyRedactedStateEventContent, RedactContent,
    RedactedMessageLikeEventContent, RedactedStateEventContent, StaticEventContent,
    StaticStateEventContent, StrippedStateEvent, SyncEphemeralRoomEvent, SyncMessageLikeEvent,
    SyncStateEvent,
};
use serde::de::DeserializeOwned;
use serde_json::value::RawValue;

use crate::room::Room;

/// Where in a sync response an event comes from.
#[doc(hidden)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventSource {
    /// Timeline and state of joined and left rooms.
    Room,
    /// The stripped state of rooms the user is invited to.
    Invite,
    /// Typing notices and receipts in joined rooms.
    Ephemeral,
}

/// An event type a handler can be registered for.
pub trait SyncEvent: DeserializeOwned + Send + 'static {
    #[doc(hidden)]
    const SOURCE: EventSource;
    /// The `type` this handler listens for; `None` for every type.
    #[doc(hidden)]
    const TYPE: Option<&'static str>;
}

/// Handlers for one event type, named by the content type `C`.
macro_rules! typed_event {
    ($($event:ident [$($bounds:tt)*] => $source:ident),* $(,)?) => {
        $(
            impl<C> SyncEvent for $event<C>
            where
                C: StaticEventContent,
                $($bounds)*
                Self: DeserializeOwned + Send + 'static,
            {
                const SOURCE: EventSource = EventSource::$source;
                const TYPE: Option<&'static str> = Some(C::TYPE);
            }
        )*
    };
}

typed_event!(
    OriginalSyncMessageLikeEvent [C: MessageLikeEventContent,] => Room,
    SyncMessageLikeEvent [
        C: MessageLikeEventContent + RedactContent,
        C::Redacted: RedactedMessageLikeEventContent,
    ] => Room,
    OriginalSyncStateEvent [C: StaticStateEventContent,] => Room,
    SyncStateEvent [
        C: StaticStateEventContent + RedactContent,
        C::Redacted: RedactedStateEventContent,
    ] => Room,
    StrippedStateEvent [C: PossiblyRedactedStateEventContent,] => Invite,
    SyncEphemeralRoomEvent [C: EphemeralRoomEventContent,] => Ephemeral,
);

/// Handlers for every event of a source, whatever its type.
macro_rules! any_event {
    ($($event:ty => $source:ident),* $(,)?) => {
        $(
            impl SyncEvent for $event {
                const SOURCE: EventSource = EventSource::$source;
                const TYPE: Option<&'static str> = None;
            }
        )*
    };
}

any_event!(
    AnySyncEphemeralRoomEvent => Ephemeral,
    AnySyncTimelineEvent => Room,
    AnySyncStateEvent => Room,
    AnyStrippedStateEvent => Invite,
);

type BoxFuture = Pin<Box<dyn Future<Output = ()> + Send>>;
type Callback = Arc<dyn Fn(&RawValue, Room) -> Option<BoxFuture> + Send + Sync>;

/// One registered handler.
#[derive(Clone)]
pub(crate) struct Handler {
    source: EventSource,
    event_type: Option<&'static str>,
    callback: Callback,
}

impl Handler {
    pub(crate) fn new<Ev, H, Fut>(handler: H) -> Self
    where
        Ev: SyncEvent,
        H: Fn(Ev, Room) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let callback: Callback = Arc::new(move |raw, room| {
            // An event of the right type that does not fit (a redacted
            // event for an `Original..` handler) is not this handler's.
            let event: Ev = serde_json::from_str(raw.get()).ok()?;
            Some(Box::pin(handler(event, room)))
        });
        Self { source: Ev::SOURCE, event_type: Ev::TYPE, callback }
    }

    /// The handler's work for this event, if it wants it.
    pub(crate) fn call(
        &self,
        source: EventSource,
        event_type: &str,
        raw: &RawValue,
        room: &Room,
    ) -> Option<BoxFuture> {
        if self.source != source || self.event_type.is_some_and(|wanted| wanted != event_type) {
            return None;
        }
        (self.callback)(raw, room.clone())
    }
}
