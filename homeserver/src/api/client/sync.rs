//! GET /sync, and simplified sliding sync (MSC4186).

use std::time::Duration;

use axum::{
    Json,
    extract::{FromRequest, Request, State},
};
use ruma::api::{
    OutgoingResponseExt,
    client::{filter::FilterDefinition, sync::sync_events},
};
use serde_json::{Map, Value, json};

use crate::{
    api::ruma::{Ruma, RumaResponse},
    error::{Error, Result},
    services::{
        Services,
        sync::{SlidingRequest, SyncOptions},
    },
};

/// Long polls are capped below the request timeout.
const MAX_TIMEOUT: Duration = Duration::from_secs(30);

/// [`GET /_matrix/client/v3/sync`](https://spec.matrix.org/latest/client-server-api/#get_matrixclientv3sync)
pub async fn sync(
    State(services): State<Services>,
    Ruma { auth, body }: Ruma<sync_events::v3::Request>,
) -> Result<Json<Value>> {
    let filter: FilterDefinition = match body.filter {
        Some(sync_events::v3::Filter::FilterDefinition(filter)) => filter,
        Some(sync_events::v3::Filter::FilterId(id)) => {
            services.user_data.filter(&auth, &auth.user_id, &id).await?
        }
        Some(_) | None => FilterDefinition::default(),
    };
    let options = SyncOptions {
        since: body.since,
        timeout: body.timeout.unwrap_or_default().min(MAX_TIMEOUT),
        full_state: body.full_state,
        filter,
    };
    // Syncing marks the user present, unless the client asks otherwise.
    services.presence.touch(&auth.user_id, &body.set_presence).await?;
    let response = services.sync.sync(&auth, options).await?;
    let http = response.try_into_http_response::<Vec<u8>>().map_err(Error::internal)?;
    let mut body: Value = serde_json::from_slice(http.body()).map_err(Error::internal)?;
    with_every_container(&mut body);
    Ok(Json(body))
}

/// A sliding sync request, with the `spaces` list filters ruma's type
/// leaves out read from the same body.
pub struct SlidingSync(Ruma<sync_events::v5::Request>, SlidingRequest);

impl FromRequest<Services> for SlidingSync {
    type Rejection = Error;

    async fn from_request(request: Request, services: &Services) -> Result<Self> {
        let mut spaces = Default::default();
        let ruma = Ruma::from_request_checked(request, services, |body| {
            spaces = SlidingRequest::spaces_in(body);
            Ok(())
        })
        .await?;
        Ok(Self(ruma, SlidingRequest { spaces, ..SlidingRequest::default() }))
    }
}

/// [`POST /_matrix/client/unstable/org.matrix.simplified_msc3575/sync`](https://github.com/matrix-org/matrix-spec-proposals/pull/4186)
pub async fn sliding_sync(
    State(services): State<Services>,
    SlidingSync(Ruma { auth, body }, mut request): SlidingSync,
) -> Result<RumaResponse<sync_events::v5::Response>> {
    let timeout = body.timeout.unwrap_or_default().min(MAX_TIMEOUT);
    services.presence.touch(&auth.user_id, &body.set_presence).await?;
    request.body = body;
    Ok(services.sync.sliding_sync(&auth, request, timeout).await?.into())
}

/// Completes a sync answer with every container the spec defines, empty
/// where there is nothing new: ruma leaves empty ones out, and clients
/// written against Synapse require them (matrix-nio checks its answers
/// against a schema that does).
fn with_every_container(body: &mut Value) {
    let Some(top) = body.as_object_mut() else { return };
    // Paginating back from "now" is where a room with no new events starts.
    let now = top.get("next_batch").cloned().unwrap_or_default();
    for stream in ["account_data", "presence", "to_device"] {
        events_in(top, stream);
    }
    if let Some(lists) = object_in(top, "device_lists") {
        lists.entry("changed").or_insert_with(|| json!([]));
        lists.entry("left").or_insert_with(|| json!([]));
    }
    object_in(top, "device_one_time_keys_count");
    let Some(rooms) = object_in(top, "rooms") else { return };
    for (kind, parts) in [
        ("join", &["state", "ephemeral", "account_data"][..]),
        ("leave", &["state", "account_data"][..]),
        ("invite", &["invite_state"][..]),
        ("knock", &["knock_state"][..]),
    ] {
        let Some(each) = object_in(rooms, kind) else { continue };
        for room in each.values_mut().filter_map(Value::as_object_mut) {
            for part in parts {
                // A client that asked for `state_after` has its state there.
                if *part != "state" || !room.contains_key("state_after") {
                    events_in(room, part);
                }
            }
            if matches!(kind, "join" | "leave")
                && let Some(timeline) = events_in(room, "timeline")
            {
                timeline.entry("limited").or_insert(Value::Bool(false));
                timeline.entry("prev_batch").or_insert_with(|| now.clone());
            }
            if kind == "join" {
                object_in(room, "unread_notifications");
                object_in(room, "summary");
            }
        }
    }
}

/// The object under `key`, made empty when missing.
fn object_in<'a>(map: &'a mut Map<String, Value>, key: &str) -> Option<&'a mut Map<String, Value>> {
    map.entry(key).or_insert_with(|| json!({})).as_object_mut()
}

/// The object under `key` with its `events` list, both made empty when missing.
fn events_in<'a>(map: &'a mut Map<String, Value>, key: &str) -> Option<&'a mut Map<String, Value>> {
    let container = object_in(map, key)?;
    container.entry("events").or_insert_with(|| json!([]));
    Some(container)
}
