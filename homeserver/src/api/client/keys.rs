//! End-to-end encryption: key upload, query and claim, device-list
//! changes, cross-signing, and to-device messages.

use axum::extract::State;
use ruma::api::client::{
    keys::{
        claim_keys, get_key_changes, get_keys, upload_keys, upload_signatures, upload_signing_keys,
    },
    to_device::send_event_to_device,
};

use crate::{
    api::ruma::{Ruma, RumaResponse},
    error::{Error, Result},
    services::{Services, sync::parse_since},
};

/// [`POST /_matrix/client/v3/keys/upload`](https://spec.matrix.org/latest/client-server-api/#post_matrixclientv3keysupload)
pub async fn upload(
    State(services): State<Services>,
    Ruma { auth, body }: Ruma<upload_keys::v3::Request>,
) -> Result<RumaResponse<upload_keys::v3::Response>> {
    let counts = services
        .keys
        .upload(&auth, body.device_keys.as_ref(), &body.one_time_keys, &body.fallback_keys)
        .await?;
    Ok(upload_keys::v3::Response::new(counts).into())
}

/// [`POST /_matrix/client/v3/keys/query`](https://spec.matrix.org/latest/client-server-api/#post_matrixclientv3keysquery)
pub async fn query(
    State(services): State<Services>,
    Ruma { auth, body }: Ruma<get_keys::v3::Request>,
) -> Result<RumaResponse<get_keys::v3::Response>> {
    Ok(services.keys.query(&auth, &body.device_keys).await?.into())
}

/// [`POST /_matrix/client/v3/keys/claim`](https://spec.matrix.org/latest/client-server-api/#post_matrixclientv3keysclaim)
pub async fn claim(
    State(services): State<Services>,
    Ruma { body, .. }: Ruma<claim_keys::v3::Request>,
) -> Result<RumaResponse<claim_keys::v3::Response>> {
    Ok(services.keys.claim(&body.one_time_keys).await?.into())
}

/// [`GET /_matrix/client/v3/keys/changes`](https://spec.matrix.org/latest/client-server-api/#get_matrixclientv3keyschanges)
pub async fn changes(
    State(services): State<Services>,
    Ruma { auth, body }: Ruma<get_key_changes::v3::Request>,
) -> Result<RumaResponse<get_key_changes::v3::Response>> {
    let from = parse_since(&body.from)?;
    let to = parse_since(&body.to)?;
    let lists = services.keys.device_list_changes(&auth.user_id, from, to).await?;
    Ok(get_key_changes::v3::Response::new(lists.changed, lists.left).into())
}

/// [`POST /_matrix/client/v3/keys/device_signing/upload`](https://spec.matrix.org/latest/client-server-api/#post_matrixclientv3keysdevice_signingupload)
pub async fn upload_cross_signing(
    State(services): State<Services>,
    Ruma { auth, body }: Ruma<upload_signing_keys::v3::Request>,
) -> Result<RumaResponse<upload_signing_keys::v3::Response>> {
    services
        .keys
        .upload_cross_signing(
            &auth,
            body.auth.as_ref(),
            body.master_key.as_ref(),
            body.self_signing_key.as_ref(),
            body.user_signing_key.as_ref(),
        )
        .await?;
    Ok(upload_signing_keys::v3::Response::new().into())
}

/// [`POST /_matrix/client/v3/keys/signatures/upload`](https://spec.matrix.org/latest/client-server-api/#post_matrixclientv3keyssignaturesupload)
pub async fn upload_signatures(
    State(services): State<Services>,
    Ruma { auth, body }: Ruma<upload_signatures::v3::Request>,
) -> Result<RumaResponse<upload_signatures::v3::Response>> {
    let failures = services.keys.upload_signatures(&auth, &body.signed_keys).await?;
    let mut response = upload_signatures::v3::Response::new();
    response.failures = failures;
    Ok(response.into())
}

/// [`PUT /_matrix/client/v3/sendToDevice/{event_type}/{txn_id}`](https://spec.matrix.org/latest/client-server-api/#put_matrixclientv3sendtodeviceeventtypetxnid)
pub async fn send_to_device(
    State(services): State<Services>,
    Ruma { auth, body }: Ruma<send_event_to_device::v3::Request>,
) -> Result<RumaResponse<send_event_to_device::v3::Response>> {
    if body.txn_id.as_str().is_empty() {
        return Err(Error::invalid_param("empty transaction id"));
    }
    services
        .keys
        .send_to_device(&auth, &body.event_type, body.txn_id.as_str(), &body.messages)
        .await?;
    Ok(send_event_to_device::v3::Response::new().into())
}
