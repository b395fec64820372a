//! Room key backups (/room_keys): versions and the session keys in them.

use std::collections::BTreeMap;

use axum::extract::State;
use ruma::{
    OwnedRoomId,
    api::client::backup::{
        RoomKeyBackup, add_backup_keys, add_backup_keys_for_room, add_backup_keys_for_session,
        create_backup_version, delete_backup_keys, delete_backup_keys_for_room,
        delete_backup_keys_for_session, delete_backup_version, get_backup_info, get_backup_keys,
        get_backup_keys_for_room, get_backup_keys_for_session, get_latest_backup_info,
        update_backup_version,
    },
};

use crate::{
    api::ruma::{Ruma, RumaResponse},
    error::{Error, Result},
    services::Services,
};

/// [`POST /_matrix/client/v3/room_keys/version`](https://spec.matrix.org/latest/client-server-api/#post_matrixclientv3room_keysversion)
pub async fn create_version(
    State(services): State<Services>,
    Ruma { auth, body }: Ruma<create_backup_version::v3::Request>,
) -> Result<RumaResponse<create_backup_version::v3::Response>> {
    let version = services.keys.create_backup(&auth.user_id, &body.algorithm).await?;
    Ok(create_backup_version::v3::Response::new(version).into())
}

/// [`GET /_matrix/client/v3/room_keys/version`](https://spec.matrix.org/latest/client-server-api/#get_matrixclientv3room_keysversion)
pub async fn latest_version(
    State(services): State<Services>,
    Ruma { auth, .. }: Ruma<get_latest_backup_info::v3::Request>,
) -> Result<RumaResponse<get_latest_backup_info::v3::Response>> {
    let (version, algorithm, count, etag) = services.keys.backup_info(&auth.user_id, None).await?;
    Ok(get_latest_backup_info::v3::Response::new(algorithm, count, etag, version).into())
}

/// [`GET /_matrix/client/v3/room_keys/version/{version}`](https://spec.matrix.org/latest/client-server-api/#get_matrixclientv3room_keysversionversion)
pub async fn get_version(
    State(services): State<Services>,
    Ruma { auth, body }: Ruma<get_backup_info::v3::Request>,
) -> Result<RumaResponse<get_backup_info::v3::Response>> {
    let (version, algorithm, count, etag) =
        services.keys.backup_info(&auth.user_id, Some(&body.version)).await?;
    Ok(get_backup_info::v3::Response::new(algorithm, count, etag, version).into())
}

/// [`PUT /_matrix/client/v3/room_keys/version/{version}`](https://spec.matrix.org/latest/client-server-api/#put_matrixclientv3room_keysversionversion)
pub async fn update_version(
    State(services): State<Services>,
    Ruma { auth, body }: Ruma<update_backup_version::v3::Request>,
) -> Result<RumaResponse<update_backup_version::v3::Response>> {
    services.keys.update_backup(&auth.user_id, &body.version, &body.algorithm).await?;
    Ok(update_backup_version::v3::Response::new().into())
}

/// [`DELETE /_matrix/client/v3/room_keys/version/{version}`](https://spec.matrix.org/latest/client-server-api/#delete_matrixclientv3room_keysversionversion)
pub async fn delete_version(
    State(services): State<Services>,
    Ruma { auth, body }: Ruma<delete_backup_version::v3::Request>,
) -> Result<RumaResponse<delete_backup_version::v3::Response>> {
    services.keys.delete_backup(&auth.user_id, &body.version).await?;
    Ok(delete_backup_version::v3::Response::new().into())
}

/// [`PUT /_matrix/client/v3/room_keys/keys`](https://spec.matrix.org/latest/client-server-api/#put_matrixclientv3room_keyskeys)
pub async fn put_keys(
    State(services): State<Services>,
    Ruma { auth, body }: Ruma<add_backup_keys::v3::Request>,
) -> Result<RumaResponse<add_backup_keys::v3::Response>> {
    let keys = body
        .rooms
        .into_iter()
        .flat_map(|(room_id, room)| {
            room.sessions
                .into_iter()
                .map(move |(session, data)| (room_id.to_string(), session, data))
        })
        .collect();
    let (count, etag) = services.keys.put_backup_keys(&auth.user_id, &body.version, keys).await?;
    Ok(add_backup_keys::v3::Response::new(etag, count).into())
}

/// [`PUT /_matrix/client/v3/room_keys/keys/{room_id}`](https://spec.matrix.org/latest/client-server-api/#put_matrixclientv3room_keyskeysroomid)
pub async fn put_room_keys(
    State(services): State<Services>,
    Ruma { auth, body }: Ruma<add_backup_keys_for_room::v3::Request>,
) -> Result<RumaResponse<add_backup_keys_for_room::v3::Response>> {
    let room = body.room_id.to_string();
    let keys =
        body.sessions.into_iter().map(|(session, data)| (room.clone(), session, data)).collect();
    let (count, etag) = services.keys.put_backup_keys(&auth.user_id, &body.version, keys).await?;
    Ok(add_backup_keys_for_room::v3::Response::new(etag, count).into())
}

/// [`PUT /_matrix/client/v3/room_keys/keys/{room_id}/{session_id}`](https://spec.matrix.org/latest/client-server-api/#put_matrixclientv3room_keyskeysroomidsessionid)
pub async fn put_session_key(
    State(services): State<Services>,
    Ruma { auth, body }: Ruma<add_backup_keys_for_session::v3::Request>,
) -> Result<RumaResponse<add_backup_keys_for_session::v3::Response>> {
    let keys = vec![(body.room_id.to_string(), body.session_id, body.session_data)];
    let (count, etag) = services.keys.put_backup_keys(&auth.user_id, &body.version, keys).await?;
    Ok(add_backup_keys_for_session::v3::Response::new(etag, count).into())
}

/// [`GET /_matrix/client/v3/room_keys/keys`](https://spec.matrix.org/latest/client-server-api/#get_matrixclientv3room_keyskeys)
pub async fn get_keys(
    State(services): State<Services>,
    Ruma { auth, body }: Ruma<get_backup_keys::v3::Request>,
) -> Result<RumaResponse<get_backup_keys::v3::Response>> {
    let keys = services.keys.backup_keys(&auth.user_id, &body.version, None, None).await?;
    let mut rooms: BTreeMap<OwnedRoomId, BTreeMap<_, _>> = BTreeMap::new();
    for (room, session, data) in keys {
        if let Ok(room) = OwnedRoomId::try_from(room) {
            rooms.entry(room).or_default().insert(session, data);
        }
    }
    let rooms =
        rooms.into_iter().map(|(room, sessions)| (room, RoomKeyBackup::new(sessions))).collect();
    Ok(get_backup_keys::v3::Response::new(rooms).into())
}

/// [`GET /_matrix/client/v3/room_keys/keys/{room_id}`](https://spec.matrix.org/latest/client-server-api/#get_matrixclientv3room_keyskeysroomid)
pub async fn get_room_keys(
    State(services): State<Services>,
    Ruma { auth, body }: Ruma<get_backup_keys_for_room::v3::Request>,
) -> Result<RumaResponse<get_backup_keys_for_room::v3::Response>> {
    let keys = services
        .keys
        .backup_keys(&auth.user_id, &body.version, Some(body.room_id.as_str()), None)
        .await?;
    let sessions = keys.into_iter().map(|(_, session, data)| (session, data)).collect();
    Ok(get_backup_keys_for_room::v3::Response::new(sessions).into())
}

/// [`GET /_matrix/client/v3/room_keys/keys/{room_id}/{session_id}`](https://spec.matrix.org/latest/client-server-api/#get_matrixclientv3room_keyskeysroomidsessionid)
pub async fn get_session_key(
    State(services): State<Services>,
    Ruma { auth, body }: Ruma<get_backup_keys_for_session::v3::Request>,
) -> Result<RumaResponse<get_backup_keys_for_session::v3::Response>> {
    let keys = services
        .keys
        .backup_keys(
            &auth.user_id,
            &body.version,
            Some(body.room_id.as_str()),
            Some(&body.session_id),
        )
        .await?;
    let (_, _, data) =
        keys.into_iter().next().ok_or_else(|| Error::not_found("no such session in the backup"))?;
    Ok(get_backup_keys_for_session::v3::Response::new(data).into())
}

/// [`DELETE /_matrix/client/v3/room_keys/keys`](https://spec.matrix.org/latest/client-server-api/#delete_matrixclientv3room_keyskeys)
pub async fn delete_keys(
    State(services): State<Services>,
    Ruma { auth, body }: Ruma<delete_backup_keys::v3::Request>,
) -> Result<RumaResponse<delete_backup_keys::v3::Response>> {
    let (count, etag) =
        services.keys.delete_backup_keys(&auth.user_id, &body.version, None, None).await?;
    Ok(delete_backup_keys::v3::Response::new(etag, count).into())
}

/// [`DELETE /_matrix/client/v3/room_keys/keys/{room_id}`](https://spec.matrix.org/latest/client-server-api/#delete_matrixclientv3room_keyskeysroomid)
pub async fn delete_room_keys(
    State(services): State<Services>,
    Ruma { auth, body }: Ruma<delete_backup_keys_for_room::v3::Request>,
) -> Result<RumaResponse<delete_backup_keys_for_room::v3::Response>> {
    let (count, etag) = services
        .keys
        .delete_backup_keys(&auth.user_id, &body.version, Some(body.room_id.as_str()), None)
        .await?;
    Ok(delete_backup_keys_for_room::v3::Response::new(etag, count).into())
}

/// [`DELETE /_matrix/client/v3/room_keys/keys/{room_id}/{session_id}`](https://spec.matrix.org/latest/client-server-api/#delete_matrixclientv3room_keyskeysroomidsessionid)
pub async fn delete_session_key(
    State(services): State<Services>,
    Ruma { auth, body }: Ruma<delete_backup_keys_for_session::v3::Request>,
) -> Result<RumaResponse<delete_backup_keys_for_session::v3::Response>> {
    let (count, etag) = services
        .keys
        .delete_backup_keys(
            &auth.user_id,
            &body.version,
            Some(body.room_id.as_str()),
            Some(&body.session_id),
        )
        .await?;
    Ok(delete_backup_keys_for_session::v3::Response::new(etag, count).into())
}
