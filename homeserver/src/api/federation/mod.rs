//! The server-server API. Every route but the key and version ones takes
//! [`Fed`], which checks the X-Matrix signature before the request is
//! parsed; handlers are thin and call `services.rooms` / `services.federation`.

mod e2ee;
mod keys;
mod media;
mod membership;
mod query;
mod transactions;

use axum::extract::{FromRequest, Request};
use ruma::{OwnedServerName, api::IncomingRequest};

use super::{
    json_text::Strings,
    routes::Routes,
    ruma::{parse, path_args, read_body},
};
use crate::{
    error::{Error, Result},
    services::{Services, rate_limit::LimitClass},
};

/// Largest federation request body (a transaction: 50 PDUs of 64 KiB and
/// 100 EDUs).
const MAX_BODY: usize = 8 * 1024 * 1024;

/// A ruma federation request from a server whose signature checked out.
pub struct Fed<T> {
    pub origin: OwnedServerName,
    pub body: T,
}

impl<T> FromRequest<Services> for Fed<T>
where
    T: IncomingRequest + Send,
{
    type Rejection = Error;

    async fn from_request(request: Request, services: &Services) -> Result<Self> {
        let (mut parts, body) = request.into_parts();
        let path_args = path_args(&mut parts, services).await?;
        // The signature covers the body, so it is read (bounded) first.
        let bytes = read_body(body, MAX_BODY).await?;
        let request = http::Request::from_parts(parts, bytes.as_ref());
        let origin = services.federation.authenticate(&request).await?;
        tracing::Span::current().record("user", origin.as_str());
        services.rate_limits.check(LimitClass::Federation, origin.as_str())?;
        let body = parse(request, &path_args, &bytes, Strings::Any)?;
        Ok(Self { origin, body })
    }
}

pub fn router() -> Routes {
    use ruma::api::federation::{
        authenticated_media::{get_content, get_content_thumbnail},
        backfill::get_backfill,
        device::get_devices,
        directory::{get_public_rooms, get_public_rooms_filtered},
        discovery::{
            discover_homeserver, get_remote_server_keys, get_remote_server_keys_batch,
            get_server_keys, get_server_version,
        },
        event::{get_event, get_missing_events, get_room_state, get_room_state_ids},
        keys::{claim_keys, get_keys},
        membership::{
            create_invite, create_join_event, create_knock_event, create_leave_event,
            prepare_join_event, prepare_knock_event, prepare_leave_event,
        },
        openid::get_openid_userinfo,
        query::{get_profile_information, get_room_information},
        transactions::send_transaction_message,
    };
    Routes::new()
        .ruma::<get_server_keys::v2::Request, _, _>(keys::server_keys)
        .ruma::<get_remote_server_keys::v2::Request, _, _>(keys::query_keys)
        .ruma::<get_remote_server_keys_batch::v2::Request, _, _>(keys::query_keys_batch)
        .ruma::<get_server_version::v1::Request, _, _>(keys::version)
        .ruma::<discover_homeserver::Request, _, _>(keys::well_known)
        .ruma::<send_transaction_message::v1::Request, _, _>(transactions::send)
        .ruma::<get_event::v1::Request, _, _>(transactions::event)
        .ruma::<get_room_state_ids::v1::Request, _, _>(transactions::state_ids)
        .ruma::<get_room_state::v1::Request, _, _>(transactions::state)
        .ruma::<get_backfill::v1::Request, _, _>(transactions::backfill)
        .ruma::<get_missing_events::v1::Request, _, _>(transactions::missing_events)
        .ruma::<prepare_join_event::v1::Request, _, _>(membership::make_join)
        .ruma::<create_join_event::v2::Request, _, _>(membership::send_join)
        .ruma::<create_invite::v2::Request, _, _>(membership::invite)
        .ruma::<prepare_leave_event::v1::Request, _, _>(membership::make_leave)
        .ruma::<create_leave_event::v2::Request, _, _>(membership::send_leave)
        .ruma::<prepare_knock_event::v1::Request, _, _>(membership::make_knock)
        .ruma::<create_knock_event::v1::Request, _, _>(membership::send_knock)
        .ruma::<get_room_information::v1::Request, _, _>(query::directory)
        .ruma::<get_profile_information::v1::Request, _, _>(query::profile)
        .ruma::<get_keys::v1::Request, _, _>(e2ee::query_keys)
        .ruma::<get_content::v1::Request, _, _>(media::download)
        .ruma::<get_content_thumbnail::v1::Request, _, _>(media::thumbnail)
        .ruma::<get_openid_userinfo::v1::Request, _, _>(query::openid_userinfo)
        .ruma::<get_public_rooms::v1::Request, _, _>(query::public_rooms)
        .ruma::<get_public_rooms_filtered::v1::Request, _, _>(query::public_rooms_filtered)
        .ruma::<ruma::api::federation::space::get_hierarchy::v1::Request, _, _>(query::hierarchy)
        .ruma::<claim_keys::v1::Request, _, _>(e2ee::claim_keys)
        .ruma::<get_devices::v1::Request, _, _>(e2ee::user_devices)
}
