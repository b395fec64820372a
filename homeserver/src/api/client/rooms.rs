//! Creating rooms, aliases and the public room directory.

use axum::extract::State;
use ruma::{
    api::client::{
        alias::{create_alias, delete_alias, get_alias},
        directory::{
            get_public_rooms, get_public_rooms_filtered, get_room_visibility, set_room_visibility,
        },
        room::{
            Visibility, aliases,
            create_room::{self, v3::CreationContent},
            report_content, report_room, upgrade_room,
        },
    },
    events::{AnyInitialStateEvent, room::power_levels::RoomPowerLevelsEventContent},
    serde::Raw,
};
use serde_json::Value as JsonValue;

use crate::{
    api::ruma::{Ruma, RumaResponse},
    error::{Error, Result},
    services::{
        Services,
        rooms::{CreateRoom, DirectoryQuery},
    },
};

fn to_json<T>(raw: &Raw<T>) -> Result<JsonValue> {
    serde_json::from_str(raw.json().get()).map_err(|e| Error::BadJson(e.to_string()))
}

/// A field ruma keeps as raw JSON, checked as the type `U` (ruma accepts
/// anything there): a JSON object of the right shape.
fn typed_object<U: serde::de::DeserializeOwned, T>(raw: &Raw<T>, field: &str) -> Result<JsonValue> {
    serde_json::from_str::<U>(raw.json().get())
        .map_err(|e| Error::BadJson(format!("{field}: {e}")))?;
    match to_json(raw)? {
        object @ JsonValue::Object(_) => Ok(object),
        _ => Err(Error::BadJson(format!("{field} must be an object"))),
    }
}

/// [`POST /_matrix/client/v3/createRoom`](https://spec.matrix.org/latest/client-server-api/#post_matrixclientv3createroom)
pub async fn create(
    State(services): State<Services>,
    Ruma { auth, body }: Ruma<create_room::v3::Request>,
) -> Result<RumaResponse<create_room::v3::Response>> {
    let mut initial_state = Vec::with_capacity(body.initial_state.len());
    for event in &body.initial_state {
        let event = typed_object::<AnyInitialStateEvent, _>(event, "initial_state")?;
        let kind = event["type"]
            .as_str()
            .ok_or_else(|| Error::BadJson("initial_state event without type".into()))?;
        let key = event["state_key"].as_str().unwrap_or_default();
        initial_state.push((kind.to_owned(), key.to_owned(), event["content"].clone()));
    }
    let request = CreateRoom {
        preset: body.preset,
        public: body.visibility == Visibility::Public,
        name: body.name,
        topic: body.topic,
        alias_localpart: body.room_alias_name,
        invite: body.invite,
        initial_state,
        power_level_content_override: body
            .power_level_content_override
            .as_ref()
            .map(|raw| {
                typed_object::<RoomPowerLevelsEventContent, _>(raw, "power_level_content_override")
            })
            .transpose()?,
        is_direct: body.is_direct,
        room_version: body.room_version,
        creation_content: body
            .creation_content
            .as_ref()
            .map(|raw| typed_object::<CreationContent, _>(raw, "creation_content"))
            .transpose()?,
    };
    let (room_id, _alias) = services.rooms.create_room(&auth.user_id, request).await?;
    Ok(create_room::v3::Response::new(room_id).into())
}

/// [`PUT /_matrix/client/v3/directory/room/{room_alias}`](https://spec.matrix.org/latest/client-server-api/#put_matrixclientv3directoryroomroomalias)
pub async fn set_alias(
    State(services): State<Services>,
    Ruma { auth, body }: Ruma<create_alias::v3::Request>,
) -> Result<RumaResponse<create_alias::v3::Response>> {
    services.rooms.create_alias(&auth.user_id, &body.room_alias, &body.room_id).await?;
    Ok(create_alias::v3::Response::new().into())
}

/// [`GET /_matrix/client/v3/directory/room/{room_alias}`](https://spec.matrix.org/latest/client-server-api/#get_matrixclientv3directoryroomroomalias)
pub async fn get_alias(
    State(services): State<Services>,
    Ruma { body, .. }: Ruma<get_alias::v3::Request>,
) -> Result<RumaResponse<get_alias::v3::Response>> {
    let room: ruma::OwnedRoomOrAliasId = body.room_alias.into();
    let room_id = services.rooms.resolve_room(&room).await?;
    let servers = vec![services.config.server.server_name.clone()];
    Ok(get_alias::v3::Response::new(room_id, servers).into())
}

/// [`DELETE /_matrix/client/v3/directory/room/{room_alias}`](https://spec.matrix.org/latest/client-server-api/#delete_matrixclientv3directoryroomroomalias)
pub async fn delete_alias(
    State(services): State<Services>,
    Ruma { auth, body }: Ruma<delete_alias::v3::Request>,
) -> Result<RumaResponse<delete_alias::v3::Response>> {
    services.rooms.delete_alias(&auth.user_id, &body.room_alias).await?;
    Ok(delete_alias::v3::Response::new().into())
}

/// [`GET /_matrix/client/v3/rooms/{room_id}/aliases`](https://spec.matrix.org/latest/client-server-api/#get_matrixclientv3roomsroomidaliases)
pub async fn room_aliases(
    State(services): State<Services>,
    Ruma { auth, body }: Ruma<aliases::v3::Request>,
) -> Result<RumaResponse<aliases::v3::Response>> {
    let list = services.rooms.aliases(&body.room_id, &auth.user_id).await?;
    Ok(aliases::v3::Response::new(list).into())
}

/// [`GET /_matrix/client/v3/directory/list/room/{room_id}`](https://spec.matrix.org/latest/client-server-api/#get_matrixclientv3directorylistroomroomid)
pub async fn get_visibility(
    State(services): State<Services>,
    Ruma { body, .. }: Ruma<get_room_visibility::v3::Request>,
) -> Result<RumaResponse<get_room_visibility::v3::Response>> {
    let public = services.rooms.is_published(&body.room_id).await?;
    let visibility = if public { Visibility::Public } else { Visibility::Private };
    Ok(get_room_visibility::v3::Response::new(visibility).into())
}

/// [`PUT /_matrix/client/v3/directory/list/room/{room_id}`](https://spec.matrix.org/latest/client-server-api/#put_matrixclientv3directorylistroomroomid)
pub async fn set_visibility(
    State(services): State<Services>,
    Ruma { auth, body }: Ruma<set_room_visibility::v3::Request>,
) -> Result<RumaResponse<set_room_visibility::v3::Response>> {
    let public = body.visibility == Visibility::Public;
    services.rooms.publish(&body.room_id, &auth.user_id, public).await?;
    Ok(set_room_visibility::v3::Response::new().into())
}

/// [`GET /_matrix/client/v3/publicRooms`](https://spec.matrix.org/latest/client-server-api/#get_matrixclientv3publicrooms)
pub async fn public_rooms(
    State(services): State<Services>,
    Ruma { body, .. }: Ruma<get_public_rooms::v3::Request>,
) -> Result<RumaResponse<get_public_rooms::v3::Response>> {
    let query = DirectoryQuery {
        limit: body.limit.map(|l| u64::from(l) as usize),
        since: body.since.as_deref(),
        ..Default::default()
    };
    let page = services.rooms.public_rooms_of(body.server.as_deref(), query).await?;
    Ok(crate::api::public_rooms_page!(get_public_rooms::v3::Response::new(Vec::new()), page).into())
}

/// [`POST /_matrix/client/v3/publicRooms`](https://spec.matrix.org/latest/client-server-api/#post_matrixclientv3publicrooms)
pub async fn public_rooms_filtered(
    State(services): State<Services>,
    Ruma { body, .. }: Ruma<get_public_rooms_filtered::v3::Request>,
) -> Result<RumaResponse<get_public_rooms_filtered::v3::Response>> {
    let query = DirectoryQuery {
        search: body.filter.generic_search_term.as_deref(),
        limit: body.limit.map(|l| u64::from(l) as usize),
        since: body.since.as_deref(),
        network: body.room_network.clone(),
    };
    let page = services.rooms.public_rooms_of(body.server.as_deref(), query).await?;
    Ok(crate::api::public_rooms_page!(get_public_rooms_filtered::v3::Response::new(), page).into())
}

/// [`POST /_matrix/client/v3/rooms/{room_id}/upgrade`](https://spec.matrix.org/latest/client-server-api/#post_matrixclientv3roomsroomidupgrade)
pub async fn upgrade(
    State(services): State<Services>,
    Ruma { auth, body }: Ruma<upgrade_room::v3::Request>,
) -> Result<RumaResponse<upgrade_room::v3::Response>> {
    let new_room = services.rooms.upgrade(&body.room_id, &auth.user_id, body.new_version).await?;
    Ok(upgrade_room::v3::Response::new(new_room).into())
}

/// [`POST /_matrix/client/v3/rooms/{room_id}/report/{event_id}`](https://spec.matrix.org/latest/client-server-api/#post_matrixclientv3roomsroomidreporteventid)
pub async fn report_event(
    State(services): State<Services>,
    Ruma { auth, body }: Ruma<report_content::v3::Request>,
) -> Result<RumaResponse<report_content::v3::Response>> {
    services
        .rooms
        .report_event(&body.room_id, &auth.user_id, &body.event_id, body.reason.as_deref())
        .await?;
    Ok(report_content::v3::Response::new().into())
}

/// [`POST /_matrix/client/v3/rooms/{room_id}/report`](https://spec.matrix.org/latest/client-server-api/#post_matrixclientv3roomsroomidreport)
pub async fn report_room(
    State(services): State<Services>,
    Ruma { auth, body }: Ruma<report_room::v3::Request>,
) -> Result<RumaResponse<report_room::v3::Response>> {
    services.rooms.report_room(&body.room_id, &auth.user_id, &body.reason).await?;
    Ok(report_room::v3::Response::new().into())
}
