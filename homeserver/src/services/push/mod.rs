//! Push notifications: the pushers users register, that is where their
//! phones and desktops are reached through a push gateway.

use lattice_federation::address::{AddressPolicy, Denied};
use ruma::{
    RoomId, UInt, UserId,
    api::client::push::{Pusher, PusherKind, set_pusher::v3::PusherAction},
    events::StateEventType,
    push::PushConditionRoomCtx,
    serde::Raw,
};

use self::stored::StoredPushers;
use super::{auth::Requester, encryption::Secrets, rooms::Rooms};
use crate::{
    error::{Error, Result},
    store::{PusherRow, Store},
};

/// The one path a push gateway serves (Push Gateway API).
pub const NOTIFY_PATH: &str = "/_matrix/push/v1/notify";

/// Longest app id and pushkey the spec allows, in bytes.
const MAX_APP_ID_BYTES: usize = 64;
const MAX_PUSHKEY_BYTES: usize = 512;

mod notifications;
mod sender;
mod stored;

pub use sender::PushSender;

/// What push rules know of a room when judging an event for `user`: its
/// member count and the user's display name in it.
pub async fn room_context(
    rooms: &Rooms,
    room_id: &RoomId,
    user: &UserId,
) -> Result<PushConditionRoomCtx> {
    rooms
        .with_head(room_id, |head| {
            let members = head.joined().len() as u64;
            let name = head
                .get(&StateEventType::RoomMember, user.as_str())
                .and_then(|member| member.content_str("displayname"))
                .unwrap_or_else(|| user.localpart().to_owned());
            PushConditionRoomCtx::new(
                room_id.to_owned(),
                UInt::try_from(members).unwrap_or_default(),
                user.to_owned(),
                name,
            )
        })
        .await
}

#[derive(Clone)]
pub struct Pushers {
    store: Store,
    stored: StoredPushers,
    /// Gateways are addresses users hand us: they pass the address policy.
    policy: AddressPolicy,
}

impl Pushers {
    pub fn new(store: Store, policy: AddressPolicy, secrets: Secrets) -> Self {
        Self { stored: StoredPushers::new(store.clone(), secrets), store, policy }
    }

    /// Seals the pushers kept in clear, or under an earlier key (at start).
    pub async fn seal_stored(&self) -> Result<()> {
        self.stored.seal_stored().await
    }

    /// The requester's pushers, as their clients set them.
    pub async fn list(&self, requester: &Requester) -> Result<Vec<Pusher>> {
        let stored = self.stored.of_user(requester.user_id.as_str()).await?;
        stored
            .into_iter()
            .map(|row| {
                Raw::<Pusher>::from_json_string(row.pusher)
                    .and_then(|raw| raw.deserialize())
                    .map_err(Error::internal)
            })
            .collect()
    }

    /// Creates, replaces or (kind null) removes one of the requester's pushers.
    pub async fn set(&self, requester: &Requester, action: PusherAction) -> Result<()> {
        let user = requester.user_id.as_str();
        let post = match action {
            PusherAction::Delete(ids) => {
                self.stored.delete(user, &ids.app_id, &ids.pushkey).await?;
                return Ok(());
            }
            PusherAction::Post(post) => post,
            _ => return Err(Error::invalid_param("unknown pusher action")),
        };
        let pusher = &post.pusher;
        if pusher.ids.app_id.is_empty() || pusher.ids.app_id.len() > MAX_APP_ID_BYTES {
            return Err(Error::invalid_param("app_id has 1 to 64 bytes"));
        }
        if pusher.ids.pushkey.is_empty() || pusher.ids.pushkey.len() > MAX_PUSHKEY_BYTES {
            return Err(Error::invalid_param("pushkey has 1 to 512 bytes"));
        }
        let url = match &pusher.kind {
            PusherKind::Http(http) => self.gateway(&http.url).await?,
            PusherKind::Email(_) => {
                return Err(Error::invalid_param("email pushers need an email server"));
            }
            _ => return Err(Error::invalid_param("pushers are of kind http")),
        };
        let row = PusherRow {
            user_id: user.to_owned(),
            app_id: pusher.ids.app_id.clone(),
            pushkey: pusher.ids.pushkey.clone(),
            device_id: requester.device_id.to_string(),
            kind: "http".to_owned(),
            url: Some(url),
            pusher: serde_json::to_string(pusher).map_err(Error::internal)?,
            since_stream: self.store.max_event_stream().await?,
        };
        self.stored.set(row, post.append).await
    }

    /// Checks a push gateway URL: http(s), the notify path, and a host we
    /// may connect to (an address literal, or a name resolving to one).
    async fn gateway(&self, url: &str) -> Result<String> {
        let bad = |why: &str| Error::invalid_param(format!("data.url {why}"));
        let parsed = reqwest::Url::parse(url).map_err(|_| bad("is not a URL"))?;
        if !matches!(parsed.scheme(), "https" | "http") {
            return Err(bad("must be an https URL"));
        }
        if parsed.path() != NOTIFY_PATH {
            return Err(bad(&format!("must have the path {NOTIFY_PATH}")));
        }
        let host = parsed.host_str().ok_or_else(|| bad("has no host"))?;
        let denied = |e: &Denied| bad(&format!("is not allowed: {e}"));
        self.policy.check_host(host).map_err(|e| denied(&e))?;
        // A name is judged by what it resolves to; one that does not resolve
        // now is left to the sender, which checks every connection anyway.
        if let Err(error) = self.policy.resolve(host).await
            && let Some(refused) = AddressPolicy::denied_in(error.as_ref())
        {
            return Err(denied(refused));
        }
        Ok(parsed.to_string())
    }
}
