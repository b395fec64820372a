//! Delayed events (MSC4140): a client schedules an event to be sent later
//! unless it restarts the timer (a heartbeat) or cancels it. Element Call
//! schedules "left the call" this way, so that a call does not keep a
//! member whose app vanished. The events wait in the database; one task
//! sleeps until the soonest is due and sends it as its user.

use std::{sync::Arc, time::Duration};

use ruma::{OwnedDeviceId, OwnedUserId, RoomId, UserId, events::StateEventType};
use serde_json::Value as JsonValue;
use tokio::sync::Notify;

use super::{auth::Requester, auth::tokens, rooms::Rooms};
use crate::{
    config::Config,
    error::{Error, Result},
    store::{DelayedEventRow, Store, now_ms},
};

/// What a client may do to a waiting event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Cancel,
    Restart,
    Send,
}

impl Action {
    pub fn parse(action: &str) -> Result<Self> {
        match action {
            "cancel" => Ok(Self::Cancel),
            "restart" => Ok(Self::Restart),
            "send" => Ok(Self::Send),
            _ => Err(Error::invalid_param("action must be cancel, restart or send")),
        }
    }
}

/// An event to schedule, as the client sent it.
#[derive(Debug, Clone)]
pub struct Scheduled {
    pub kind: String,
    pub state_key: Option<String>,
    pub content: JsonValue,
    pub delay: Duration,
    pub txn_id: Option<String>,
}

#[derive(Clone)]
pub struct DelayedEvents {
    store: Store,
    config: Arc<Config>,
    rooms: Rooms,
    /// Wakes the sending task when the soonest due time may have changed.
    wake: Arc<Notify>,
}

impl DelayedEvents {
    pub fn new(store: Store, config: Arc<Config>, rooms: Rooms) -> Self {
        Self { store, config, rooms, wake: Arc::default() }
    }

    pub fn enabled(&self) -> bool {
        !self.config.delayed_events.max_delay.is_zero()
    }

    /// Schedules an event; returns its delay id. A retry under the same
    /// transaction id gets the same id back.
    pub async fn schedule(
        &self,
        requester: &Requester,
        room_id: &RoomId,
        event: Scheduled,
    ) -> Result<String> {
        let max = self.config.delayed_events.max_delay;
        if max.is_zero() {
            return Err(Error::Unrecognized);
        }
        if event.delay.is_zero() {
            return Err(Error::invalid_param("the delay must be at least a millisecond"));
        }
        if event.delay > max {
            return Err(Error::MaxDelayExceeded { max_delay_ms: max.as_millis() as u64 });
        }
        if !event.content.is_object() {
            return Err(Error::BadJson("event content must be a JSON object".into()));
        }
        let (user, device) = (requester.user_id.as_str(), requester.device_id.as_str());
        if let Some(txn) = &event.txn_id
            && let Some(delay_id) = self.store.delayed_event_by_txn(user, device, txn).await?
        {
            return Ok(delay_id);
        }
        let state_key = event.state_key.clone();
        let state_kind = StateEventType::from(event.kind.as_str());
        let (membership, replaces) = self
            .rooms
            .with_head(room_id, |head| {
                let replaces = state_key
                    .as_deref()
                    .and_then(|key| head.get(&state_kind, key))
                    .map(|pdu| pdu.event_id.to_string());
                (head.membership(&requester.user_id), replaces)
            })
            .await?;
        if membership != Some(ruma::events::room::member::MembershipState::Join) {
            return Err(Error::forbidden("you are not in this room"));
        }
        let waiting = self.store.count_delayed_events(user).await?;
        if waiting >= i64::from(self.config.delayed_events.max_per_user) {
            let next = self.store.next_delayed_send().await?.unwrap_or_else(now_ms);
            let retry_after_ms = u64::try_from(next - now_ms()).unwrap_or(0).max(1000);
            return Err(Error::LimitExceeded { retry_after_ms });
        }
        let now = now_ms();
        let delay_ms = event.delay.as_millis() as i64;
        let row = DelayedEventRow {
            delay_id: tokens::random_letters(32)?,
            user_id: user.to_owned(),
            device_id: device.to_owned(),
            txn_id: event.txn_id,
            room_id: room_id.to_string(),
            event_type: event.kind,
            state_key,
            state_event_id: replaces,
            content: event.content.to_string(),
            delay_ms,
            running_since: now,
            send_at: now + delay_ms,
        };
        self.store.insert_delayed_event(&row).await?;
        self.wake.notify_one();
        Ok(row.delay_id)
    }

    /// Cancels, restarts or sends a waiting event. `owner` is the user of
    /// an authenticated request (who may touch only their own events);
    /// None is the unauthenticated form, where the delay id is the key.
    pub async fn update(
        &self,
        delay_id: &str,
        action: Action,
        owner: Option<&UserId>,
    ) -> Result<()> {
        let row = self.store.delayed_event(delay_id).await?;
        let row = row
            .filter(|row| owner.is_none_or(|owner| owner.as_str() == row.user_id))
            .ok_or_else(|| Error::not_found("no such delayed event"))?;
        match action {
            Action::Cancel => {
                self.store.delete_delayed_event(delay_id).await?;
            }
            Action::Restart => {
                self.store.restart_delayed_event(delay_id, now_ms()).await?;
                self.wake.notify_one();
            }
            // An error is the client's to see; the event stays scheduled.
            Action::Send => self.send(&row).await?,
        }
        Ok(())
    }

    /// The user's waiting events.
    pub async fn list(&self, user_id: &UserId) -> Result<Vec<DelayedEventRow>> {
        self.store.user_delayed_events(user_id.as_str()).await
    }

    /// Sends a delayed event as its user, then forgets it. A state event
    /// whose key someone wrote since it was scheduled is dropped instead:
    /// its news is stale.
    async fn send(&self, row: &DelayedEventRow) -> Result<()> {
        let room_id = RoomId::parse(&row.room_id).map_err(Error::internal)?;
        let requester = Requester::new(
            OwnedUserId::try_from(row.user_id.as_str()).map_err(Error::internal)?,
            OwnedDeviceId::from(row.device_id.as_str()),
        );
        let content: JsonValue = serde_json::from_str(&row.content).map_err(Error::internal)?;
        match &row.state_key {
            Some(key) => {
                let kind = StateEventType::from(row.event_type.as_str());
                let current = self
                    .rooms
                    .with_head(&room_id, |head| {
                        head.get(&kind, key).map(|pdu| pdu.event_id.to_string())
                    })
                    .await?;
                if current != row.state_event_id {
                    tracing::debug!(delay_id = %row.delay_id, "delayed state overtaken; dropped");
                } else {
                    self.rooms
                        .set_state(&room_id, &requester, &row.event_type, key, content)
                        .await?;
                }
            }
            None => {
                let txn = format!("delayed-{}", row.delay_id);
                self.rooms
                    .send_message(&room_id, &requester, &row.event_type, content, &txn)
                    .await?;
            }
        }
        self.store.delete_delayed_event(&row.delay_id).await?;
        Ok(())
    }

    /// Starts the task that sends events when they are due.
    pub fn spawn(self) {
        tokio::spawn(async move {
            loop {
                let woken = self.wake.notified();
                if let Err(error) = self.send_due().await {
                    tracing::warn!(%error, "delayed events not sent; trying again shortly");
                }
                let next = match self.store.next_delayed_send().await {
                    Ok(next) => next,
                    Err(error) => {
                        tracing::warn!(%error, "could not read the next delayed event");
                        Some(now_ms() + 5_000)
                    }
                };
                // Sleep until the soonest is due, or something changes.
                let wait = next.map(|at| Duration::from_millis((at - now_ms()).max(0) as u64));
                match wait {
                    Some(wait) => {
                        let _ = tokio::time::timeout(wait, woken).await;
                    }
                    None => woken.await,
                }
            }
        });
    }

    async fn send_due(&self) -> Result<()> {
        for row in self.store.take_due_delayed_events().await? {
            match self.send(&row).await {
                Ok(()) => {}
                // A fault of ours: the lease runs out and it is tried again.
                Err(error @ (Error::Database(_) | Error::Internal(_))) => {
                    tracing::warn!(%error, delay_id = %row.delay_id, "delayed event not sent yet");
                }
                // Not allowed any more (left the room, lost the power): the
                // event is dropped, as the client's own send would fail.
                Err(error) => {
                    tracing::info!(%error, delay_id = %row.delay_id, "delayed event refused");
                    self.store.delete_delayed_event(&row.delay_id).await?;
                }
            }
        }
        Ok(())
    }
}
