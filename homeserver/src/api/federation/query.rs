//! Queries: room aliases and user profiles of this server; its room
//! directory; space hierarchies; OpenID.

use axum::extract::State;
use ruma::api::federation::{
    directory::{get_public_rooms, get_public_rooms_filtered},
    openid::get_openid_userinfo,
    query::{get_profile_information, get_room_information},
    space::get_hierarchy,
};

use super::Fed;
use crate::{
    api::ruma::RumaResponse,
    error::{Error, Result},
    services::{Services, rooms::DirectoryQuery},
};

/// [`GET /_matrix/federation/v1/query/directory`](https://spec.matrix.org/latest/server-server-api/#get_matrixfederationv1querydirectory)
pub async fn directory(
    State(services): State<Services>,
    Fed { body, .. }: Fed<get_room_information::v1::Request>,
) -> Result<RumaResponse<get_room_information::v1::Response>> {
    if body.room_alias.server_name() != services.federation.server_name() {
        return Err(Error::not_found("not an alias of this server"));
    }
    let room_id =
        services.rooms.resolve_room(<&ruma::RoomOrAliasId>::from(&*body.room_alias)).await?;
    let servers = services.rooms.servers_in_room(&room_id).await?;
    Ok(get_room_information::v1::Response::new(room_id, servers).into())
}

/// [`GET /_matrix/federation/v1/query/profile`](https://spec.matrix.org/latest/server-server-api/#get_matrixfederationv1queryprofile)
pub async fn profile(
    State(services): State<Services>,
    Fed { body, .. }: Fed<get_profile_information::v1::Request>,
) -> Result<RumaResponse<get_profile_information::v1::Response>> {
    if body.user_id.server_name() != services.federation.server_name() {
        return Err(Error::not_found("not a user of this server"));
    }
    let data = services.profiles.federation_profile(&body.user_id).await?;
    let mut response = get_profile_information::v1::Response::new();
    response.data = data;
    Ok(response.into())
}

/// [`GET /_matrix/federation/v1/publicRooms`](https://spec.matrix.org/latest/server-server-api/#get_matrixfederationv1publicrooms)
pub async fn public_rooms(
    State(services): State<Services>,
    Fed { body, .. }: Fed<get_public_rooms::v1::Request>,
) -> Result<RumaResponse<get_public_rooms::v1::Response>> {
    let query = DirectoryQuery {
        limit: body.limit.map(|l| u64::from(l) as usize),
        since: body.since.as_deref(),
        network: body.room_network.clone(),
        ..Default::default()
    };
    let page = services.rooms.public_rooms(query).await?;
    Ok(crate::api::public_rooms_page!(get_public_rooms::v1::Response::new(), page).into())
}

/// [`POST /_matrix/federation/v1/publicRooms`](https://spec.matrix.org/latest/server-server-api/#post_matrixfederationv1publicrooms)
pub async fn public_rooms_filtered(
    State(services): State<Services>,
    Fed { body, .. }: Fed<get_public_rooms_filtered::v1::Request>,
) -> Result<RumaResponse<get_public_rooms_filtered::v1::Response>> {
    let query = DirectoryQuery {
        search: body.filter.generic_search_term.as_deref(),
        limit: body.limit.map(|l| u64::from(l) as usize),
        since: body.since.as_deref(),
        network: body.room_network.clone(),
    };
    let page = services.rooms.public_rooms(query).await?;
    Ok(crate::api::public_rooms_page!(get_public_rooms_filtered::v1::Response::new(), page).into())
}

/// [`GET /_matrix/federation/v1/openid/userinfo`](https://spec.matrix.org/latest/server-server-api/#get_matrixfederationv1openiduserinfo)
///
/// Who an OpenID token stands for (asked by third parties, unsigned).
pub async fn openid_userinfo(
    State(services): State<Services>,
    crate::api::ruma::Ruma { body, .. }: crate::api::ruma::Ruma<get_openid_userinfo::v1::Request>,
) -> Result<RumaResponse<get_openid_userinfo::v1::Response>> {
    let user = services.federation.openid_userinfo(&body.access_token).await?;
    Ok(get_openid_userinfo::v1::Response::new(user).into())
}

/// [`GET /_matrix/federation/v1/hierarchy/{roomId}`](https://spec.matrix.org/latest/server-server-api/#get_matrixfederationv1hierarchyroomid)
pub async fn hierarchy(
    State(services): State<Services>,
    Fed { origin, body }: Fed<get_hierarchy::v1::Request>,
) -> Result<RumaResponse<get_hierarchy::v1::Response>> {
    let answer =
        services.rooms.federated_hierarchy(&origin, &body.room_id, body.suggested_only).await?;
    Ok(answer.into())
}
