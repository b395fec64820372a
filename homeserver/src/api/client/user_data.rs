//! Account data and sync filters.

use axum::extract::State;
use ruma::{
    api::client::{
        config::{
            get_global_account_data, get_room_account_data, set_global_account_data,
            set_room_account_data,
        },
        filter::{create_filter, get_filter},
        tag::{create_tag, delete_tag, get_tags},
    },
    serde::Raw,
};

use crate::{
    api::ruma::{Ruma, RumaResponse},
    error::Result,
    services::Services,
};

/// [`GET /_matrix/client/v3/user/{user_id}/account_data/{event_type}`](https://spec.matrix.org/latest/client-server-api/#get_matrixclientv3useruseridaccount_dataeventtype)
pub async fn get_global(
    State(services): State<Services>,
    Ruma { auth, body }: Ruma<get_global_account_data::v3::Request>,
) -> Result<RumaResponse<get_global_account_data::v3::Response>> {
    let data = services
        .user_data
        .account_data(&auth, &body.user_id, None, &body.event_type.to_string())
        .await?;
    Ok(get_global_account_data::v3::Response::new(Raw::from_json(data)).into())
}

/// [`PUT /_matrix/client/v3/user/{user_id}/account_data/{event_type}`](https://spec.matrix.org/latest/client-server-api/#put_matrixclientv3useruseridaccount_dataeventtype)
pub async fn set_global(
    State(services): State<Services>,
    Ruma { auth, body }: Ruma<set_global_account_data::v3::Request>,
) -> Result<RumaResponse<set_global_account_data::v3::Response>> {
    services
        .user_data
        .set_account_data(
            &auth,
            &body.user_id,
            None,
            &body.event_type.to_string(),
            body.data.json(),
        )
        .await?;
    Ok(set_global_account_data::v3::Response::new().into())
}

/// [`GET /_matrix/client/v3/user/{user_id}/rooms/{room_id}/account_data/{event_type}`](https://spec.matrix.org/latest/client-server-api/#get_matrixclientv3useruseridroomsroomidaccount_dataeventtype)
pub async fn get_room(
    State(services): State<Services>,
    Ruma { auth, body }: Ruma<get_room_account_data::v3::Request>,
) -> Result<RumaResponse<get_room_account_data::v3::Response>> {
    let data = services
        .user_data
        .account_data(&auth, &body.user_id, Some(&body.room_id), &body.event_type.to_string())
        .await?;
    Ok(get_room_account_data::v3::Response::new(Raw::from_json(data)).into())
}

/// [`PUT /_matrix/client/v3/user/{user_id}/rooms/{room_id}/account_data/{event_type}`](https://spec.matrix.org/latest/client-server-api/#put_matrixclientv3useruseridroomsroomidaccount_dataeventtype)
pub async fn set_room(
    State(services): State<Services>,
    Ruma { auth, body }: Ruma<set_room_account_data::v3::Request>,
) -> Result<RumaResponse<set_room_account_data::v3::Response>> {
    services
        .user_data
        .set_account_data(
            &auth,
            &body.user_id,
            Some(&body.room_id),
            &body.event_type.to_string(),
            body.data.json(),
        )
        .await?;
    Ok(set_room_account_data::v3::Response::new().into())
}

/// [`POST /_matrix/client/v3/user/{user_id}/filter`](https://spec.matrix.org/latest/client-server-api/#post_matrixclientv3useruseridfilter)
pub async fn create_filter(
    State(services): State<Services>,
    Ruma { auth, body }: Ruma<create_filter::v3::Request>,
) -> Result<RumaResponse<create_filter::v3::Response>> {
    let id = services.user_data.create_filter(&auth, &body.user_id, &body.filter).await?;
    Ok(create_filter::v3::Response::new(id).into())
}

/// [`GET /_matrix/client/v3/user/{user_id}/filter/{filter_id}`](https://spec.matrix.org/latest/client-server-api/#get_matrixclientv3useruseridfilterfilterid)
pub async fn get_filter(
    State(services): State<Services>,
    Ruma { auth, body }: Ruma<get_filter::v3::Request>,
) -> Result<RumaResponse<get_filter::v3::Response>> {
    let filter = services.user_data.filter(&auth, &body.user_id, &body.filter_id).await?;
    Ok(get_filter::v3::Response::new(filter).into())
}

/// [`GET /_matrix/client/v3/user/{userId}/rooms/{roomId}/tags`](https://spec.matrix.org/latest/client-server-api/#get_matrixclientv3useruseridroomsroomidtags)
pub async fn get_tags(
    State(services): State<Services>,
    Ruma { auth, body }: Ruma<get_tags::v3::Request>,
) -> Result<RumaResponse<get_tags::v3::Response>> {
    let tags = services.user_data.tags(&auth, &body.user_id, &body.room_id).await?;
    Ok(get_tags::v3::Response::new(tags).into())
}

/// [`PUT /_matrix/client/v3/user/{userId}/rooms/{roomId}/tags/{tag}`](https://spec.matrix.org/latest/client-server-api/#put_matrixclientv3useruseridroomsroomidtagstag)
pub async fn create_tag(
    State(services): State<Services>,
    Ruma { auth, body }: Ruma<create_tag::v3::Request>,
) -> Result<RumaResponse<create_tag::v3::Response>> {
    let info = Some(body.tag_info);
    services.user_data.set_tag(&auth, &body.user_id, &body.room_id, &body.tag, info).await?;
    Ok(create_tag::v3::Response::new().into())
}

/// [`DELETE /_matrix/client/v3/user/{userId}/rooms/{roomId}/tags/{tag}`](https://spec.matrix.org/latest/client-server-api/#delete_matrixclientv3useruseridroomsroomidtagstag)
pub async fn delete_tag(
    State(services): State<Services>,
    Ruma { auth, body }: Ruma<delete_tag::v3::Request>,
) -> Result<RumaResponse<delete_tag::v3::Response>> {
    services.user_data.set_tag(&auth, &body.user_id, &body.room_id, &body.tag, None).await?;
    Ok(delete_tag::v3::Response::new().into())
}
