//! Room membership: join, invite, leave, kick, ban, forget, member lists.

use std::collections::BTreeMap;

use axum::extract::State;
use ruma::{
    OwnedRoomOrAliasId,
    api::client::knock::knock_room,
    api::client::membership::{
        ban_user, forget_room, get_member_events, invite_user,
        invite_user::v3::InvitationRecipient, join_room_by_id, join_room_by_id_or_alias,
        joined_members, joined_rooms, kick_user, leave_room, unban_user,
    },
    serde::Raw,
};

use crate::{
    api::ruma::{Ruma, RumaResponse},
    error::{Error, Result},
    services::Services,
};

/// [`POST /_matrix/client/v3/rooms/{room_id}/join`](https://spec.matrix.org/latest/client-server-api/#post_matrixclientv3roomsroomidjoin)
pub async fn join_by_id(
    State(services): State<Services>,
    Ruma { auth, body }: Ruma<join_room_by_id::v3::Request>,
) -> Result<RumaResponse<join_room_by_id::v3::Response>> {
    let room: OwnedRoomOrAliasId = body.room_id.into();
    let room_id = services.rooms.join(&room, &auth.user_id, body.reason.as_deref(), &[]).await?;
    Ok(join_room_by_id::v3::Response::new(room_id).into())
}

/// [`POST /_matrix/client/v3/join/{room_id_or_alias}`](https://spec.matrix.org/latest/client-server-api/#post_matrixclientv3joinroomidoralias)
pub async fn join(
    State(services): State<Services>,
    Ruma { auth, body }: Ruma<join_room_by_id_or_alias::v3::Request>,
) -> Result<RumaResponse<join_room_by_id_or_alias::v3::Response>> {
    let room_id = services
        .rooms
        .join(&body.room_id_or_alias, &auth.user_id, body.reason.as_deref(), &body.via)
        .await?;
    Ok(join_room_by_id_or_alias::v3::Response::new(room_id).into())
}

/// [`POST /_matrix/client/v3/rooms/{room_id}/invite`](https://spec.matrix.org/latest/client-server-api/#post_matrixclientv3roomsroomidinvite)
pub async fn invite(
    State(services): State<Services>,
    Ruma { auth, body }: Ruma<invite_user::v3::Request>,
) -> Result<RumaResponse<invite_user::v3::Response>> {
    let InvitationRecipient::UserId(recipient) = &body.recipient else {
        return Err(Error::BadRequest("third-party invites are not supported".into()));
    };
    services
        .rooms
        .invite(&body.room_id, &auth.user_id, &recipient.user_id, recipient.reason.as_deref())
        .await?;
    Ok(invite_user::v3::Response::new().into())
}

/// [`POST /_matrix/client/v3/rooms/{room_id}/leave`](https://spec.matrix.org/latest/client-server-api/#post_matrixclientv3roomsroomidleave)
pub async fn leave(
    State(services): State<Services>,
    Ruma { auth, body }: Ruma<leave_room::v3::Request>,
) -> Result<RumaResponse<leave_room::v3::Response>> {
    services.rooms.leave(&body.room_id, &auth.user_id, body.reason.as_deref()).await?;
    Ok(leave_room::v3::Response::new().into())
}

/// [`POST /_matrix/client/v3/rooms/{room_id}/forget`](https://spec.matrix.org/latest/client-server-api/#post_matrixclientv3roomsroomidforget)
pub async fn forget(
    State(services): State<Services>,
    Ruma { auth, body }: Ruma<forget_room::v3::Request>,
) -> Result<RumaResponse<forget_room::v3::Response>> {
    services.rooms.forget(&body.room_id, &auth.user_id).await?;
    Ok(forget_room::v3::Response::new().into())
}

/// [`POST /_matrix/client/v3/rooms/{room_id}/kick`](https://spec.matrix.org/latest/client-server-api/#post_matrixclientv3roomsroomidkick)
pub async fn kick(
    State(services): State<Services>,
    Ruma { auth, body }: Ruma<kick_user::v3::Request>,
) -> Result<RumaResponse<kick_user::v3::Response>> {
    services
        .rooms
        .kick(&body.room_id, &auth.user_id, &body.user_id, body.reason.as_deref())
        .await?;
    Ok(kick_user::v3::Response::new().into())
}

/// [`POST /_matrix/client/v3/rooms/{room_id}/ban`](https://spec.matrix.org/latest/client-server-api/#post_matrixclientv3roomsroomidban)
pub async fn ban(
    State(services): State<Services>,
    Ruma { auth, body }: Ruma<ban_user::v3::Request>,
) -> Result<RumaResponse<ban_user::v3::Response>> {
    services.rooms.ban(&body.room_id, &auth.user_id, &body.user_id, body.reason.as_deref()).await?;
    Ok(ban_user::v3::Response::new().into())
}

/// [`POST /_matrix/client/v3/rooms/{room_id}/unban`](https://spec.matrix.org/latest/client-server-api/#post_matrixclientv3roomsroomidunban)
pub async fn unban(
    State(services): State<Services>,
    Ruma { auth, body }: Ruma<unban_user::v3::Request>,
) -> Result<RumaResponse<unban_user::v3::Response>> {
    services
        .rooms
        .unban(&body.room_id, &auth.user_id, &body.user_id, body.reason.as_deref())
        .await?;
    Ok(unban_user::v3::Response::new().into())
}

/// [`GET /_matrix/client/v3/joined_rooms`](https://spec.matrix.org/latest/client-server-api/#get_matrixclientv3joined_rooms)
pub async fn joined(
    State(services): State<Services>,
    Ruma { auth, .. }: Ruma<joined_rooms::v3::Request>,
) -> Result<RumaResponse<joined_rooms::v3::Response>> {
    let rooms = services.rooms.joined_rooms(&auth.user_id).await?;
    Ok(joined_rooms::v3::Response::new(rooms).into())
}

/// [`GET /_matrix/client/v3/rooms/{room_id}/members`](https://spec.matrix.org/latest/client-server-api/#get_matrixclientv3roomsroomidmembers)
pub async fn members(
    State(services): State<Services>,
    Ruma { auth, body }: Ruma<get_member_events::v3::Request>,
) -> Result<RumaResponse<get_member_events::v3::Response>> {
    let membership = body.membership.as_ref().map(|m| m.to_string());
    let not_membership = body.not_membership.as_ref().map(|m| m.to_string());
    let chunk = services
        .rooms
        .members(
            &body.room_id,
            &auth.user_id,
            body.at.as_deref(),
            membership.as_deref(),
            not_membership.as_deref(),
        )
        .await?;
    let chunk = chunk.iter().map(super::raw_event).collect::<Result<Vec<Raw<_>>>>()?;
    Ok(get_member_events::v3::Response::new(chunk).into())
}

/// [`GET /_matrix/client/v3/rooms/{room_id}/joined_members`](https://spec.matrix.org/latest/client-server-api/#get_matrixclientv3roomsroomidjoined_members)
pub async fn joined_members(
    State(services): State<Services>,
    Ruma { auth, body }: Ruma<joined_members::v3::Request>,
) -> Result<RumaResponse<joined_members::v3::Response>> {
    let events =
        services.rooms.members(&body.room_id, &auth.user_id, None, Some("join"), None).await?;
    let mut joined = BTreeMap::new();
    for event in events {
        let Some(user) =
            event["state_key"].as_str().and_then(|u| ruma::OwnedUserId::try_from(u).ok())
        else {
            continue;
        };
        let mut member = joined_members::v3::RoomMember::new();
        member.display_name = event["content"]["displayname"].as_str().map(str::to_owned);
        member.avatar_url = event["content"]["avatar_url"].as_str().map(Into::into);
        joined.insert(user, member);
    }
    Ok(joined_members::v3::Response::new(joined).into())
}

/// [`POST /_matrix/client/v3/knock/{room_id_or_alias}`](https://spec.matrix.org/latest/client-server-api/#post_matrixclientv3knockroomidoralias)
pub async fn knock(
    State(services): State<Services>,
    Ruma { auth, body }: Ruma<knock_room::v3::Request>,
) -> Result<RumaResponse<knock_room::v3::Response>> {
    let room_id = services
        .rooms
        .knock(&body.room_id_or_alias, &auth.user_id, body.reason.as_deref(), &body.via)
        .await?;
    Ok(knock_room::v3::Response::new(room_id).into())
}
