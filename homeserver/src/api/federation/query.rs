//! Queries: room aliases, user profiles and media (and thumbnails) of
//! this server.

use axum::extract::State;
use ruma::api::federation::{
    authenticated_media::{
        Content, ContentMetadata, FileOrLocation, get_content, get_content_thumbnail,
    },
    directory::{get_public_rooms, get_public_rooms_filtered},
    openid::get_openid_userinfo,
    query::{get_profile_information, get_room_information},
};
use ruma::http_headers::{ContentDisposition, ContentDispositionType};

use super::Fed;
use crate::{
    api::ruma::RumaResponse,
    error::{Error, Result},
    services::{
        Services,
        media::thumbnail::{self, Method},
    },
};

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

pub async fn media(
    State(services): State<Services>,
    Fed { body, .. }: Fed<get_content::v1::Request>,
) -> Result<RumaResponse<get_content::v1::Response>> {
    let file = services.media.for_federation(&body.media_id, None).await?;
    Ok(get_content::v1::Response::new(ContentMetadata::new(), file_content(file)).into())
}

/// A thumbnail of our media, made (or taken from those made before) as
/// for our own clients.
pub async fn media_thumbnail(
    State(services): State<Services>,
    Fed { body, .. }: Fed<get_content_thumbnail::v1::Request>,
) -> Result<RumaResponse<get_content_thumbnail::v1::Response>> {
    let method = match body.method {
        Some(ruma::media::Method::Crop) => Method::Crop,
        _ => Method::Scale,
    };
    let size = |n: ruma::UInt| u32::try_from(u64::from(n)).unwrap_or(u32::MAX).max(1);
    let request = thumbnail::Request {
        width: size(body.width),
        height: size(body.height),
        method,
        animated: body.animated.unwrap_or(false),
    };
    let file = services.media.for_federation(&body.media_id, Some(request)).await?;
    Ok(get_content_thumbnail::v1::Response::new(ContentMetadata::new(), file_content(file)).into())
}

fn file_content((file, content_type): (Vec<u8>, Option<String>)) -> FileOrLocation {
    let content_type = content_type.unwrap_or_else(|| "application/octet-stream".to_owned());
    // Served as an attachment, as our client-facing downloads are.
    let disposition = ContentDisposition::new(ContentDispositionType::Attachment);
    FileOrLocation::File(Content::new(file, content_type, disposition))
}

pub async fn public_rooms(
    State(services): State<Services>,
    Fed { body, .. }: Fed<get_public_rooms::v1::Request>,
) -> Result<RumaResponse<get_public_rooms::v1::Response>> {
    let limit = body.limit.map(|l| u64::from(l) as usize);
    let page = services.rooms.public_rooms(None, limit, body.since.as_deref()).await?;
    Ok(crate::api::public_rooms_page!(get_public_rooms::v1::Response::new(), page).into())
}

pub async fn public_rooms_filtered(
    State(services): State<Services>,
    Fed { body, .. }: Fed<get_public_rooms_filtered::v1::Request>,
) -> Result<RumaResponse<get_public_rooms_filtered::v1::Response>> {
    let limit = body.limit.map(|l| u64::from(l) as usize);
    let term = body.filter.generic_search_term.as_deref();
    let page = services.rooms.public_rooms(term, limit, body.since.as_deref()).await?;
    Ok(crate::api::public_rooms_page!(get_public_rooms_filtered::v1::Response::new(), page).into())
}

/// Who an OpenID token stands for (asked by third parties, unsigned).
pub async fn openid_userinfo(
    State(services): State<Services>,
    crate::api::ruma::Ruma { body, .. }: crate::api::ruma::Ruma<get_openid_userinfo::v1::Request>,
) -> Result<RumaResponse<get_openid_userinfo::v1::Response>> {
    let user = services.federation.openid_userinfo(&body.access_token).await?;
    Ok(get_openid_userinfo::v1::Response::new(user).into())
}
