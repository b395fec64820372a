//! The push sender: follows the event stream once events are durable,
//! judges each by the push rules of the room's members who have pushers,
//! records what notified whom, and POSTs those notifications to the push
//! gateways (Push Gateway API), retrying with backoff and dropping the
//! pushkeys a gateway rejects.

use std::{collections::HashMap, sync::Arc, time::Duration};

use lattice_federation::address::{AddressPolicy, GuardedResolver};
use ruma::{OwnedUserId, UserId, push::Action};
use serde_json::{Value as JsonValue, json};

use super::room_context;
use crate::{
    error::{Error, Result},
    services::{
        notifier::Notifier,
        rooms::{Rooms, pdu::Pdu},
        user_data::UserData,
    },
    store::{NotificationRow, RoomPusher, Store, now_ms},
};

/// Events judged per read of the stream.
const BATCH: i64 = 256;

/// How long the sender waits after a failed read or write of its own.
const ERROR_BACKOFF: Duration = Duration::from_secs(1);

/// Waits between tries of one delivery; then it is given up.
const RETRIES: [Duration; 4] = [
    Duration::from_secs(1),
    Duration::from_secs(5),
    Duration::from_secs(30),
    Duration::from_secs(120),
];

/// How long the sender's position may go unsaved while nothing notifies:
/// a restart judges those events again (finding, again, nothing to send)
/// instead of every batch of messages costing a write.
const SAVE_IDLE_POSITION: Duration = Duration::from_secs(10);

/// Notifications a badge count looks at (clients show "99+" long before).
const BADGE_WINDOW: i64 = 1000;

#[derive(Clone)]
pub struct PushSender {
    store: Store,
    /// The pushers, opened (sealed with the at-rest key when one is set).
    pushers: super::StoredPushers,
    rooms: Rooms,
    user_data: UserData,
    notifier: Arc<Notifier>,
    http: reqwest::Client,
    policy: AddressPolicy,
    /// How many pushers gateways have rejected (and we removed) since start.
    rejected: Arc<tokio::sync::watch::Sender<u64>>,
}

/// One notification for one user, to go to their pushers.
struct Delivery {
    user: OwnedUserId,
    pushers: Vec<RoomPusher>,
    pdu: Arc<Pdu>,
    actions: Vec<Action>,
}

impl PushSender {
    pub fn new(
        store: Store,
        rooms: Rooms,
        user_data: UserData,
        notifier: Arc<Notifier>,
        policy: AddressPolicy,
        secrets: crate::services::encryption::Secrets,
    ) -> Result<Self> {
        let http = crate::services::http::client_builder()
            .no_proxy()
            .dns_resolver(Arc::new(GuardedResolver(policy.clone())))
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(15))
            .build()
            .map_err(Error::internal)?;
        let rejected = Arc::new(tokio::sync::watch::Sender::new(0));
        let pushers = super::StoredPushers::new(store.clone(), secrets);
        Ok(Self { store, pushers, rooms, user_data, notifier, http, policy, rejected })
    }

    /// Follows the count of pushers removed because their gateway rejected
    /// them, so that their removal can be awaited rather than polled for.
    pub fn rejected_pushers(&self) -> tokio::sync::watch::Receiver<u64> {
        self.rejected.subscribe()
    }

    /// Runs the sender for the life of the server, from where it last
    /// got to (read now, so that a server whose database is down does not start).
    pub async fn spawn(self) -> Result<()> {
        let position = self.store.stream_position("push_sender").await?;
        tokio::spawn(async move { self.run(position).await });
        Ok(())
    }

    async fn run(self, mut position: i64) {
        let mut saved_at = tokio::time::Instant::now();
        let mut moved = self.notifier.follow_events();
        loop {
            // Marked seen before looking: a move after this wakes `changed`.
            moved.borrow_and_update();
            let now = self.notifier.positions().events;
            if now <= position {
                let _ = moved.changed().await;
                continue;
            }
            match self.judge(position, now, &mut saved_at).await {
                Ok(reached) => position = reached,
                Err(error) => {
                    // A database error: back off before the same read again.
                    tracing::warn!(%error, "push sender failed; trying again");
                    tokio::time::sleep(ERROR_BACKOFF).await;
                }
            }
        }
    }

    /// Judges the events in (after, up_to] (a batch of them), records the
    /// notifications and sends them; returns how far it got.
    async fn judge(
        &self,
        after: i64,
        up_to: i64,
        saved_at: &mut tokio::time::Instant,
    ) -> Result<i64> {
        let events = match self.store.any_pushers().await? {
            true => self.store.events_after(after, up_to, BATCH).await?,
            false => Vec::new(),
        };
        let reached = match events.len() as i64 {
            BATCH => events.last().map_or(up_to, |row| row.stream),
            _ => up_to,
        };
        let mut pushers_of: HashMap<String, Vec<RoomPusher>> = HashMap::new();
        let mut rows = Vec::new();
        let mut deliveries = Vec::new();
        for row in events {
            if !pushers_of.contains_key(&row.room_id) {
                let pushers = self.pushers.of_room(&row.room_id).await?;
                pushers_of.insert(row.room_id.clone(), pushers);
            }
            // Pushers set after the event do not push it (the sender may lag).
            let pushers: Vec<&RoomPusher> =
                pushers_of[&row.room_id].iter().filter(|p| p.since_stream < row.stream).collect();
            if pushers.is_empty() || row.redacted_by.is_some() {
                continue;
            }
            let pdu = Arc::new(Pdu::from_stored(&row.event_id, &row.room_id, &row.pdu)?);
            let event = pdu.to_raw_client_event()?;
            let mut users: Vec<&str> = pushers.iter().map(|p| p.user_id.as_str()).collect();
            users.dedup();
            for user in users {
                let Ok(user) = OwnedUserId::try_from(user) else { continue };
                if user == pdu.sender {
                    continue;
                }
                let rules = self.user_data.push_rules(&user).await?;
                let context = room_context(&self.rooms, &pdu.room_id, &user).await?;
                let actions = rules.get_actions(&event, &context).await.to_vec();
                if !actions.iter().any(Action::should_notify) {
                    continue;
                }
                rows.push(NotificationRow {
                    user_id: user.to_string(),
                    stream: row.stream,
                    room_id: row.room_id.clone(),
                    event_id: row.event_id.clone(),
                    highlight: i64::from(actions.iter().any(Action::is_highlight)),
                    actions: serde_json::to_string(&actions).map_err(Error::internal)?,
                    ts: now_ms(),
                });
                let mine = pushers
                    .iter()
                    .filter(|p| p.user_id == user.as_str())
                    .map(|p| (*p).clone())
                    .collect();
                deliveries.push(Delivery { user, pushers: mine, pdu: pdu.clone(), actions });
            }
        }
        if !rows.is_empty() || saved_at.elapsed() >= SAVE_IDLE_POSITION {
            self.store.record_push(&rows, reached).await?;
            *saved_at = tokio::time::Instant::now();
        }
        for delivery in deliveries {
            let unread = self.badge(&delivery.user).await.unwrap_or(0);
            for pusher in &delivery.pushers {
                let body = notify_body(&delivery, pusher, unread);
                let sender = self.clone();
                let pusher = pusher.clone();
                tokio::spawn(async move { sender.deliver(pusher, body).await });
            }
        }
        Ok(reached)
    }

    /// The user read something: their apps' badges get the new count
    /// (a notification with only counts), in the background.
    pub fn read_moved(&self, user: &UserId) {
        let (sender, user) = (self.clone(), user.to_owned());
        tokio::spawn(async move {
            let pushers = match sender.pushers.of_user(user.as_str()).await {
                Ok(pushers) if !pushers.is_empty() => pushers,
                Ok(_) => return,
                Err(error) => return tracing::warn!(%error, "badge update skipped"),
            };
            let unread = sender.badge(&user).await.unwrap_or(0);
            for pusher in pushers {
                let body = badge_body(&pusher, unread);
                sender.deliver(pusher, body).await;
            }
        });
    }

    /// The user's unread notifications across rooms, for the app badge.
    async fn badge(&self, user: &UserId) -> Result<u64> {
        let read: HashMap<String, i64> =
            self.store.read_positions(user.as_str()).await?.into_iter().collect();
        let recent = self.store.recent_notifications(user.as_str(), BADGE_WINDOW).await?;
        Ok(recent.iter().filter(|(room, stream)| read.get(room).is_none_or(|r| stream > r)).count()
            as u64)
    }

    /// POSTs one notification to a pusher's gateway, with retries; a
    /// gateway that rejects the pushkey has the pusher removed.
    async fn deliver(&self, pusher: RoomPusher, body: JsonValue) {
        let Some(url) = pusher.url.as_deref() else { return };
        // Address literals never reach the resolver: judge them here.
        let host_allowed = reqwest::Url::parse(url)
            .ok()
            .and_then(|u| u.host_str().map(|h| self.policy.check_host(h).is_ok()))
            .unwrap_or(false);
        if !host_allowed {
            tracing::warn!(url, "push gateway address not allowed");
            return;
        }
        for wait in std::iter::once(Duration::ZERO).chain(RETRIES) {
            tokio::time::sleep(wait).await;
            let answer = self.http.post(url).json(&body).send().await;
            let response = match answer {
                Ok(response) => response,
                Err(error) => {
                    tracing::debug!(url, %error, "push gateway unreachable");
                    continue;
                }
            };
            let status = response.status();
            if status.is_success() {
                let answer: JsonValue = response.json().await.unwrap_or_default();
                let rejected = answer["rejected"].as_array().into_iter().flatten();
                if rejected.filter_map(JsonValue::as_str).any(|key| key == pusher.pushkey) {
                    tracing::info!(user = %pusher.user_id, app_id = %pusher.app_id, "gateway rejected a pushkey: pusher removed");
                    let removed =
                        self.pushers.delete(&pusher.user_id, &pusher.app_id, &pusher.pushkey);
                    match removed.await {
                        Ok(_) => self.rejected.send_modify(|count| *count += 1),
                        Err(error) => tracing::warn!(%error, "could not remove a rejected pusher"),
                    }
                }
                metrics::counter!("lattice_push_sent_total").increment(1);
                return;
            }
            // A gateway that refuses the request will refuse it again.
            if status.is_client_error() && status != reqwest::StatusCode::TOO_MANY_REQUESTS {
                tracing::warn!(url, %status, "push gateway refused a notification");
                return;
            }
        }
        metrics::counter!("lattice_push_failed_total").increment(1);
        tracing::warn!(url, "push gateway unreachable; notification dropped");
    }
}

/// The pusher's device as a gateway wants it: ids, when it was set, and
/// the pusher's data without the gateway's own URL.
fn device(pusher: &RoomPusher, tweaks: serde_json::Map<String, JsonValue>) -> JsonValue {
    let stored: JsonValue = serde_json::from_str(&pusher.pusher).unwrap_or_default();
    let mut data = stored["data"].clone();
    if let Some(data) = data.as_object_mut() {
        data.remove("url");
    }
    json!({
        "app_id": pusher.app_id,
        "pushkey": pusher.pushkey,
        "pushkey_ts": pusher.created_at / 1000,
        "data": data,
        "tweaks": tweaks,
    })
}

/// A badge update: only the count, at low priority.
fn badge_body(pusher: &RoomPusher, unread: u64) -> JsonValue {
    let device = device(pusher, serde_json::Map::new());
    json!({"notification": {"counts": {"unread": unread}, "prio": "low", "devices": [device]}})
}

/// The Push Gateway API body for one pusher: the event (only its ids with
/// the `event_id_only` format), the badge count, and the device.
fn notify_body(delivery: &Delivery, pusher: &RoomPusher, unread: u64) -> JsonValue {
    let stored: JsonValue = serde_json::from_str(&pusher.pusher).unwrap_or_default();
    let event_id_only = stored["data"]["format"] == "event_id_only";
    let highlight = delivery.actions.iter().any(Action::is_highlight);
    let mut tweaks = serde_json::Map::new();
    for action in &delivery.actions {
        // Serialized as {"set_tweak": name, "value": v}; gateways want {name: v}.
        if let Action::SetTweak(tweak) = action
            && let Ok(tweak) = serde_json::to_value(tweak)
            && let Some(name) = tweak["set_tweak"].as_str()
        {
            let value = tweak.get("value").cloned().unwrap_or(JsonValue::Bool(true));
            tweaks.insert(name.to_owned(), value);
        }
    }
    let pdu = &delivery.pdu;
    let mut notification = json!({
        "event_id": pdu.event_id,
        "room_id": pdu.room_id,
        "counts": {"unread": unread},
        "prio": if highlight { "high" } else { "low" },
        "devices": [device(pusher, tweaks)],
    });
    if !event_id_only {
        notification["type"] = json!(pdu.kind.to_string());
        notification["sender"] = json!(pdu.sender);
        notification["content"] = pdu.content_value();
    }
    json!({ "notification": notification })
}
