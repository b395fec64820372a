//! Typing notices, receipts, read markers and presence.

use std::time::Duration;

use axum::extract::State;
use ruma::{
    api::client::{
        presence::{get_presence, set_presence},
        read_marker::set_read_marker,
        receipt::create_receipt,
        typing::create_typing_event::{self, v3::Typing},
    },
    events::receipt::ReceiptThread,
};

use crate::{
    api::ruma::{Ruma, RumaResponse},
    error::{Error, Result},
    services::Services,
};

/// [`PUT /_matrix/client/v3/rooms/{room_id}/typing/{user_id}`](https://spec.matrix.org/latest/client-server-api/#put_matrixclientv3roomsroomidtypinguserid)
pub async fn typing(
    State(services): State<Services>,
    Ruma { auth, body }: Ruma<create_typing_event::v3::Request>,
) -> Result<RumaResponse<create_typing_event::v3::Response>> {
    if body.user_id != auth.user_id {
        return Err(Error::forbidden("you can only set your own typing state"));
    }
    let (typing, timeout) = match body.state {
        Typing::Yes(info) => (true, info.timeout),
        _ => (false, Duration::ZERO),
    };
    services.typing.set(&body.room_id, &auth.user_id, typing, timeout).await?;
    Ok(create_typing_event::v3::Response::new().into())
}

/// [`POST /_matrix/client/v3/rooms/{room_id}/receipt/{receipt_type}/{event_id}`](https://spec.matrix.org/latest/client-server-api/#post_matrixclientv3roomsroomidreceiptreceipttypeeventid)
pub async fn receipt(
    State(services): State<Services>,
    Ruma { auth, body }: Ruma<create_receipt::v3::Request>,
) -> Result<RumaResponse<create_receipt::v3::Response>> {
    let thread = match &body.thread {
        ReceiptThread::Unthreaded => None,
        ReceiptThread::Main => Some("main".to_owned()),
        ReceiptThread::Thread(root) => Some(root.to_string()),
        _ => return Err(Error::invalid_param("unknown thread id")),
    };
    services
        .receipts
        .set(
            &body.room_id,
            &auth.user_id,
            body.receipt_type.as_str(),
            &body.event_id,
            thread.as_deref(),
        )
        .await?;
    if body.receipt_type.as_str() != "m.fully_read" {
        services.push_sender.read_moved(&auth.user_id);
    }
    Ok(create_receipt::v3::Response::new().into())
}

/// [`POST /_matrix/client/v3/rooms/{room_id}/read_markers`](https://spec.matrix.org/latest/client-server-api/#post_matrixclientv3roomsroomidread_markers)
pub async fn read_markers(
    State(services): State<Services>,
    Ruma { auth, body }: Ruma<set_read_marker::v3::Request>,
) -> Result<RumaResponse<set_read_marker::v3::Response>> {
    for (kind, event_id) in [
        ("m.fully_read", &body.fully_read),
        ("m.read", &body.read_receipt),
        ("m.read.private", &body.private_read_receipt),
    ] {
        if let Some(event_id) = event_id {
            services.receipts.set(&body.room_id, &auth.user_id, kind, event_id, None).await?;
        }
    }
    if body.read_receipt.is_some() || body.private_read_receipt.is_some() {
        services.push_sender.read_moved(&auth.user_id);
    }
    Ok(set_read_marker::v3::Response::new().into())
}

/// [`GET /_matrix/client/v3/presence/{user_id}/status`](https://spec.matrix.org/latest/client-server-api/#get_matrixclientv3presenceuseridstatus)
pub async fn get_presence(
    State(services): State<Services>,
    Ruma { auth, body }: Ruma<get_presence::v3::Request>,
) -> Result<RumaResponse<get_presence::v3::Response>> {
    let status = services.presence.get(&auth.user_id, &body.user_id).await?;
    let mut response = get_presence::v3::Response::new(status.state);
    response.status_msg = status.status_msg;
    response.last_active_ago = Some(Duration::from_millis(status.last_active_ago_ms));
    Ok(response.into())
}

/// [`PUT /_matrix/client/v3/presence/{user_id}/status`](https://spec.matrix.org/latest/client-server-api/#put_matrixclientv3presenceuseridstatus)
pub async fn set_presence(
    State(services): State<Services>,
    Ruma { auth, body }: Ruma<set_presence::v3::Request>,
) -> Result<RumaResponse<set_presence::v3::Response>> {
    if body.user_id != auth.user_id {
        return Err(Error::forbidden("you can only set your own presence"));
    }
    services.presence.set(&auth.user_id, &body.presence, body.status_msg.as_deref()).await?;
    Ok(set_presence::v3::Response::new().into())
}
