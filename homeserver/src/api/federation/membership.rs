//! Joins over federation: make_join and send_join (v2).

use axum::extract::State;
use ruma::events::room::member::MembershipState;
use ruma::{
    CanonicalJsonObject,
    api::federation::membership::{
        create_invite, create_join_event, create_knock_event, create_leave_event,
        prepare_join_event, prepare_knock_event, prepare_leave_event,
    },
};

use super::Fed;
use crate::{
    api::ruma::RumaResponse,
    error::{Error, Result},
    services::Services,
};

/// [`GET /_matrix/federation/v1/make_join/{room_id}/{user_id}`](https://spec.matrix.org/latest/server-server-api/#get_matrixfederationv1make_joinroomiduserid)
pub async fn make_join(
    State(services): State<Services>,
    Fed { origin, body }: Fed<prepare_join_event::v1::Request>,
) -> Result<RumaResponse<prepare_join_event::v1::Response>> {
    let versions = match body.ver.is_empty() {
        true => vec![ruma::RoomVersionId::V1],
        false => body.ver,
    };
    let (version, event) = services
        .rooms
        .make_membership(&origin, &body.room_id, &body.user_id, &MembershipState::Join, &versions)
        .await?;
    let mut response = prepare_join_event::v1::Response::new(event);
    response.room_version = Some(version);
    Ok(response.into())
}

/// [`PUT /_matrix/federation/v2/send_join/{room_id}/{event_id}`](https://spec.matrix.org/latest/server-server-api/#put_matrixfederationv2send_joinroomideventid)
pub async fn send_join(
    State(services): State<Services>,
    Fed { origin, body }: Fed<create_join_event::v2::Request>,
) -> Result<RumaResponse<create_join_event::v2::Response>> {
    let json: CanonicalJsonObject =
        serde_json::from_str(body.pdu.get()).map_err(|e| Error::BadJson(e.to_string()))?;
    let state = services.rooms.send_join(&origin, &body.room_id, &body.event_id, json).await?;
    Ok(create_join_event::v2::Response::new(state).into())
}

/// [`PUT /_matrix/federation/v2/invite/{room_id}/{event_id}`](https://spec.matrix.org/latest/server-server-api/#put_matrixfederationv2inviteroomideventid)
pub async fn invite(
    State(services): State<Services>,
    Fed { origin, body }: Fed<create_invite::v2::Request>,
) -> Result<RumaResponse<create_invite::v2::Response>> {
    let event = services
        .rooms
        .receive_invite(
            &origin,
            &body.room_id,
            &body.event_id,
            &body.room_version,
            &body.event,
            &body.invite_room_state,
        )
        .await?;
    Ok(create_invite::v2::Response::new(event).into())
}

/// [`GET /_matrix/federation/v1/make_leave/{room_id}/{user_id}`](https://spec.matrix.org/latest/server-server-api/#get_matrixfederationv1make_leaveroomiduserid)
pub async fn make_leave(
    State(services): State<Services>,
    Fed { origin, body }: Fed<prepare_leave_event::v1::Request>,
) -> Result<RumaResponse<prepare_leave_event::v1::Response>> {
    let versions = crate::services::rooms::supported_versions();
    let (version, event) = services
        .rooms
        .make_membership(&origin, &body.room_id, &body.user_id, &MembershipState::Leave, &versions)
        .await?;
    Ok(prepare_leave_event::v1::Response::new(Some(version), event).into())
}

/// [`PUT /_matrix/federation/v2/send_leave/{room_id}/{event_id}`](https://spec.matrix.org/latest/server-server-api/#put_matrixfederationv2send_leaveroomideventid)
pub async fn send_leave(
    State(services): State<Services>,
    Fed { origin, body }: Fed<create_leave_event::v2::Request>,
) -> Result<RumaResponse<create_leave_event::v2::Response>> {
    let json: CanonicalJsonObject =
        serde_json::from_str(body.pdu.get()).map_err(|e| Error::BadJson(e.to_string()))?;
    services
        .rooms
        .receive_membership(&origin, &body.room_id, &body.event_id, json, &MembershipState::Leave)
        .await?;
    Ok(create_leave_event::v2::Response::new().into())
}

/// [`GET /_matrix/federation/v1/make_knock/{room_id}/{user_id}`](https://spec.matrix.org/latest/server-server-api/#get_matrixfederationv1make_knockroomiduserid)
pub async fn make_knock(
    State(services): State<Services>,
    Fed { origin, body }: Fed<prepare_knock_event::v1::Request>,
) -> Result<RumaResponse<prepare_knock_event::v1::Response>> {
    let (version, event) = services
        .rooms
        .make_membership(&origin, &body.room_id, &body.user_id, &MembershipState::Knock, &body.ver)
        .await?;
    Ok(prepare_knock_event::v1::Response::new(version, event).into())
}

/// [`PUT /_matrix/federation/v1/send_knock/{room_id}/{event_id}`](https://spec.matrix.org/latest/server-server-api/#put_matrixfederationv1send_knockroomideventid)
pub async fn send_knock(
    State(services): State<Services>,
    Fed { origin, body }: Fed<create_knock_event::v1::Request>,
) -> Result<RumaResponse<create_knock_event::v1::Response>> {
    let json: CanonicalJsonObject =
        serde_json::from_str(body.pdu.get()).map_err(|e| Error::BadJson(e.to_string()))?;
    let state = services.rooms.send_knock(&origin, &body.room_id, &body.event_id, json).await?;
    Ok(create_knock_event::v1::Response::new(state).into())
}
