//! Pushing events to an application service
//! ([transactions](https://spec.matrix.org/latest/application-service-api/#pushing-events)):
//! one task per service follows the event stream once events are durable,
//! picks those the service is interested in, writes them as a transaction
//! (moving the service past them) and sends it with the `hs_token`,
//! again and again with growing waits while the service is down. The next
//! transaction waits for the last to be taken, so order holds; a restart
//! sends the pending one again, with its id, so none is lost.

use std::{
    collections::HashMap,
    sync::{
        Arc,
        atomic::{AtomicI64, AtomicU64, Ordering},
    },
    time::Duration,
};

use ruma::{OwnedRoomId, UserId};
use serde_json::{Value as JsonValue, json};

use super::{Registration, devices::DeviceData};
use crate::{
    error::{Error, Result},
    services::security::Security,
    services::{
        ephemeral::Typing,
        notifier::{Notifier, Positions},
        rooms::{Rooms, pdu::Pdu},
    },
    store::{AppserviceTxnRow, EventRow, Store, now_ms},
};

/// Events read from the stream per transaction at most.
const BATCH: i64 = 100;

/// Waits between tries of a transaction: doubling up to the last.
const FIRST_RETRY: Duration = Duration::from_secs(1);
const LONGEST_RETRY: Duration = Duration::from_secs(300);

/// How long one try may take.
const SEND_TIMEOUT: Duration = Duration::from_secs(30);

/// How long the sender waits after a failed read or write of its own.
const ERROR_BACKOFF: Duration = Duration::from_secs(1);

/// A service unreachable this long raises an alert (once per outage).
const ALERT_AFTER: Duration = Duration::from_secs(600);

/// How a service's deliveries are going, for the admin API and alerts.
#[derive(Debug, Default)]
pub struct Health {
    /// Failed tries since the last success.
    pub failures: AtomicU64,
    /// When the current outage began (ms since the epoch; 0: none).
    pub failing_since: AtomicI64,
}

/// How far a service has been sent each stream it follows.
#[derive(Debug, Clone, Copy)]
pub(super) struct Cursor {
    pub events: i64,
    pub receipts: i64,
    pub typing: i64,
    pub presence: i64,
    pub to_device: i64,
    pub device_lists: i64,
}

/// What every service's sender reads from and calls with.
#[derive(Clone)]
pub struct SenderContext {
    pub store: Store,
    pub rooms: Rooms,
    pub typing: Typing,
    pub notifier: Arc<Notifier>,
    pub http: reqwest::Client,
    pub security: Security,
}

/// Sends one application service its events, for the life of the server.
#[derive(Clone)]
pub struct AppserviceSender {
    pub(super) registration: Arc<Registration>,
    pub(super) store: Store,
    rooms: Rooms,
    pub(super) typing: Typing,
    notifier: Arc<Notifier>,
    http: reqwest::Client,
    health: Arc<Health>,
    security: Security,
}

impl AppserviceSender {
    pub fn new(registration: Registration, health: Arc<Health>, context: SenderContext) -> Self {
        let SenderContext { store, rooms, typing, notifier, http, security } = context;
        let registration = Arc::new(registration);
        Self { registration, store, rooms, typing, notifier, http, health, security }
    }

    /// Starts the sender from where the service last got to (read now, so
    /// that a server whose database is down does not start).
    pub async fn spawn(self) -> Result<()> {
        let start = self.notifier.positions().events;
        let position = self.store.appservice_position(&self.registration.id, start).await?;
        // Stops with the server: once the database closes, a sender still
        // trying would only send again what the next start sends.
        let closing = self.store.closing();
        tokio::spawn(async move {
            tokio::select! {
                () = closing => {}
                () = self.run(position) => {}
            }
        });
        Ok(())
    }

    async fn run(self, position: i64) {
        let id = self.registration.id.clone();
        let mut moved = self.notifier.follow_events();
        let mut ephemeral_moved = self.notifier.follow_ephemeral();
        let wants_ephemeral = self.registration.receive_ephemeral;
        let manages_devices = self.registration.device_management;
        // Ephemeral data is not kept for a service across restarts: it
        // gets typing, receipts and device-list changes from its start on.
        // To-device messages wait in their queue until a transaction takes
        // them: all of those are read again.
        let started = self.notifier.positions();
        let mut cursor = Cursor {
            events: position,
            receipts: started.receipts,
            typing: started.typing,
            presence: started.presence,
            to_device: 0,
            device_lists: started.device_lists,
        };
        loop {
            // Marked seen before looking: a move after this wakes `changed`.
            moved.borrow_and_update();
            ephemeral_moved.borrow_and_update();
            let step = async {
                if let Some(pending) = self.store.pending_appservice_txn(&id).await? {
                    // What waits for the service: the events of its pending transaction.
                    let waiting = metrics::gauge!("lattice_appservice_pending_events", "appservice" => id.clone());
                    waiting.set(pending.events as f64);
                    self.deliver(&pending).await;
                    self.store.appservice_txn_taken(&id, pending.txn_id).await?;
                    waiting.set(0.0);
                }
                let now = self.notifier.positions();
                let ephemeral_news = wants_ephemeral
                    && (now.receipts > cursor.receipts
                        || now.typing > cursor.typing
                        || now.presence > cursor.presence);
                let device_news = manages_devices
                    && (now.to_device > cursor.to_device || now.device_lists > cursor.device_lists);
                match now.events > cursor.events || ephemeral_news || device_news {
                    true => self.queue(&cursor, &now).await.map(Some),
                    false => Ok(None),
                }
            };
            match step.await {
                Ok(Some(reached)) => cursor = reached,
                Ok(None) => {
                    tokio::select! {
                        _ = moved.changed() => {}
                        _ = ephemeral_moved.changed(), if wants_ephemeral || manages_devices => {}
                    }
                }
                Err(error) => {
                    tracing::warn!(appservice = %id, %error, "appservice sender failed; trying again");
                    tokio::time::sleep(ERROR_BACKOFF).await;
                }
            }
        }
    }

    /// Reads events after the cursor up to `now` (a batch), and the
    /// ephemeral data since, and writes what the service wants as its next
    /// transaction; returns how far it got.
    async fn queue(&self, cursor: &Cursor, now: &Positions) -> Result<Cursor> {
        let mut interested_rooms: HashMap<String, bool> = HashMap::new();
        let (mut events, mut reached) = (Vec::new(), cursor.events);
        if now.events > cursor.events {
            let rows = self.store.events_after(cursor.events, now.events, BATCH).await?;
            reached = match rows.len() as i64 {
                BATCH => rows.last().map_or(now.events, |row| row.stream),
                _ => now.events,
            };
            for row in &rows {
                if self.wants(row, &mut interested_rooms).await? {
                    events.push(client_event(row)?);
                }
            }
        }
        let mut next = Cursor { events: reached, ..*cursor };
        let mut ephemeral = Vec::new();
        if self.registration.receive_ephemeral {
            ephemeral = self.ephemeral(cursor, now, &mut interested_rooms).await?;
            (next.receipts, next.typing, next.presence) = (now.receipts, now.typing, now.presence);
        }
        let mut devices = DeviceData::default();
        if self.registration.device_management {
            devices = self.device_data(cursor, now, &mut interested_rooms).await?;
            (next.to_device, next.device_lists) = (devices.to_device_reached, now.device_lists);
        }
        let id = &self.registration.id;
        if events.is_empty() && ephemeral.is_empty() && devices.is_empty() {
            self.store.skip_appservice_events(id, reached).await?;
        } else {
            let count = events.len() as i64;
            let mut body = json!({ "events": events });
            if self.registration.receive_ephemeral {
                // Under its stable name and its MSC2409 one, which bridge
                // frameworks still read.
                body["de.sorunome.msc2409.ephemeral"] = json!(ephemeral);
                body["ephemeral"] = json!(ephemeral);
            }
            let taken = std::mem::take(&mut devices.taken);
            if self.registration.device_management {
                devices.write_into(&mut body);
            }
            let body = body.to_string();
            self.store.queue_appservice_txn(id, &body, count, reached, &taken).await?;
            metrics::counter!("lattice_appservice_events_total", "appservice" => id.clone())
                .increment(count as u64);
        }
        Ok(next)
    }

    /// Whether the service is interested in an event: its sender or (for
    /// a membership) its subject is one of the service's users, its room
    /// is in the service's rooms, has an alias of the service's, or has one
    /// of the service's users as a member.
    async fn wants(&self, row: &EventRow, rooms: &mut HashMap<String, bool>) -> Result<bool> {
        let pdu = Pdu::from_stored(&row.event_id, &row.room_id, &row.pdu)?;
        let user_matches =
            |user: &str| UserId::parse(user).is_ok_and(|user| self.registration.claims_user(&user));
        if user_matches(pdu.sender.as_str())
            || (pdu.kind.to_string() == "m.room.member"
                && pdu.state_key.as_deref().is_some_and(user_matches))
        {
            return Ok(true);
        }
        self.room_wanted(&row.room_id, rooms).await
    }

    /// Whether the service is interested in a room: one of its rooms, with
    /// an alias of its own, or with one of its users as a member. Answers
    /// are kept in `known` for the rest of a batch.
    pub(super) async fn room_wanted(
        &self,
        room_id: &str,
        known: &mut HashMap<String, bool>,
    ) -> Result<bool> {
        if let Some(known) = known.get(room_id) {
            return Ok(*known);
        }
        let namespaces = &self.registration.namespaces;
        if namespaces.rooms.iter().any(|n| n.regex.is_match(room_id)) {
            known.insert(room_id.to_owned(), true);
            return Ok(true);
        }
        let room = OwnedRoomId::try_from(room_id).map_err(Error::internal)?;
        let registration = self.registration.clone();
        let interested = self
            .rooms
            .with_head(&room, |head| {
                let alias_matches = |alias: &str| {
                    registration.namespaces.aliases.iter().any(|n| n.regex.is_match(alias))
                };
                let aliases = head
                    .get(&ruma::events::StateEventType::RoomCanonicalAlias, "")
                    .map(|pdu| pdu.content_value())
                    .unwrap_or_default();
                let named = aliases["alias"].as_str().is_some_and(alias_matches)
                    || aliases["alt_aliases"].as_array().is_some_and(|alts| {
                        alts.iter().filter_map(JsonValue::as_str).any(alias_matches)
                    });
                named || head.joined().iter().any(|member| registration.claims_user(member))
            })
            .await
            .unwrap_or(false);
        known.insert(room_id.to_owned(), interested);
        Ok(interested)
    }

    /// Of `users`, those in a room the service is interested in (which
    /// its own users are): one query for their rooms.
    pub(super) async fn users_in_view(
        &self,
        users: Vec<String>,
        known: &mut HashMap<String, bool>,
    ) -> Result<Vec<String>> {
        let memberships = self.store.joined_rooms_of(&users).await?;
        let mut seen = Vec::new();
        for user in users {
            let ours = UserId::parse(&user).is_ok_and(|u| self.registration.claims_user(&u));
            let mut rooms = memberships.iter().filter(|(member, _)| *member == user);
            let mut shared = false;
            for (_, room) in rooms.by_ref() {
                if self.room_wanted(room, known).await? {
                    shared = true;
                    break;
                }
            }
            if ours || shared {
                seen.push(user);
            }
        }
        Ok(seen)
    }

    /// Sends a transaction until the service takes it: a 2xx answer.
    async fn deliver(&self, pending: &AppserviceTxnRow) {
        let Some(base) = &self.registration.url else { return };
        let id = &self.registration.id;
        let url = format!(
            "{}/_matrix/app/v1/transactions/{}",
            base.as_str().trim_end_matches('/'),
            pending.txn_id
        );
        let mut wait = FIRST_RETRY;
        loop {
            let sent = self
                .http
                .put(&url)
                .bearer_auth(&self.registration.hs_token)
                .header(http::header::CONTENT_TYPE, "application/json")
                .body(pending.body.clone())
                .timeout(SEND_TIMEOUT)
                .send()
                .await;
            match sent {
                Ok(answer) if answer.status().is_success() => {
                    self.health.failures.store(0, Ordering::Relaxed);
                    self.health.failing_since.store(0, Ordering::Relaxed);
                    return;
                }
                Ok(answer) => {
                    tracing::warn!(appservice = %id, status = %answer.status(), txn = pending.txn_id,
                        "application service refused a transaction; sending it again later");
                }
                Err(error) => {
                    tracing::warn!(appservice = %id, %error, txn = pending.txn_id,
                        "application service unreachable; sending the transaction again later");
                }
            }
            metrics::counter!("lattice_appservice_failures_total", "appservice" => id.clone())
                .increment(1);
            self.failed().await;
            tokio::time::sleep(wait).await;
            wait = (wait * 2).min(LONGEST_RETRY);
        }
    }
}

impl AppserviceSender {
    /// Counts a failed try; the first to find the service down for
    /// [`ALERT_AFTER`] raises an alert.
    async fn failed(&self) {
        let now = now_ms();
        self.health.failures.fetch_add(1, Ordering::Relaxed);
        let since = match self.health.failing_since.compare_exchange(
            0,
            now,
            Ordering::Relaxed,
            Ordering::Relaxed,
        ) {
            Ok(_) => now,
            Err(since) => since,
        };
        let down_for = Duration::from_millis(u64::try_from(now - since).unwrap_or_default());
        // Marked negative once alerted, so one outage alerts once.
        if since > 0 && down_for >= ALERT_AFTER {
            self.health.failing_since.store(-since, Ordering::Relaxed);
            let details = serde_json::json!({
                "appservice": self.registration.id,
                "down_for_seconds": down_for.as_secs(),
            });
            let _ = self.security.alert("appservice_unreachable", None, details).await;
        }
    }
}

/// An event as a transaction carries it (the client format, room id included).
fn client_event(row: &EventRow) -> Result<JsonValue> {
    let view = crate::services::rooms::pdu::ClientView::from_stored(
        &row.event_id,
        &row.room_id,
        &row.pdu,
    )?;
    Ok(view.to_json(None))
}
