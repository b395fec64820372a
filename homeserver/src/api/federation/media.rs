//! Our media for other servers (authenticated media: download and
//! thumbnail). The answer is `multipart/mixed` — metadata, then the file —
//! streamed from storage, so a large file never sits in memory.

use axum::{
    body::Body,
    extract::State,
    http::{HeaderValue, header},
    response::{IntoResponse, Response},
};
use ruma::api::federation::authenticated_media::{get_content, get_content_thumbnail};
use tokio::io::AsyncReadExt;
use tokio_util::io::ReaderStream;

use super::Fed;
use crate::{
    error::{Error, Result},
    services::{
        Services,
        auth::tokens::random_letters,
        media::{
            Download,
            thumbnail::{self, Method},
        },
    },
};

/// [`GET /_matrix/federation/v1/media/download/{media_id}`](https://spec.matrix.org/latest/server-server-api/#get_matrixfederationv1mediadownloadmediaid)
pub async fn download(
    State(services): State<Services>,
    Fed { body, .. }: Fed<get_content::v1::Request>,
) -> Result<Response> {
    multipart(services.media.for_federation(&body.media_id, None).await?)
}

/// [`GET /_matrix/federation/v1/media/thumbnail/{media_id}`](https://spec.matrix.org/latest/server-server-api/#get_matrixfederationv1mediathumbnailmediaid)
///
/// A thumbnail, made (or taken from those made before) as for our own
/// clients.
pub async fn thumbnail(
    State(services): State<Services>,
    Fed { body, .. }: Fed<get_content_thumbnail::v1::Request>,
) -> Result<Response> {
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
    multipart(services.media.for_federation(&body.media_id, Some(request)).await?)
}

/// Empty metadata, then the file as an attachment (as our client-facing
/// downloads are served). The boundary is random, so no file can end
/// its part early.
fn multipart(download: Download) -> Result<Response> {
    let boundary = random_letters(32)?;
    let content_type = download
        .content_type
        .as_deref()
        .unwrap_or("application/octet-stream")
        .replace(['\r', '\n'], "");
    let head = format!(
        "--{boundary}\r\nContent-Type: application/json\r\n\r\n{{}}\r\n\
         --{boundary}\r\nContent-Type: {content_type}\r\nContent-Disposition: attachment\r\n\r\n"
    );
    let tail = format!("\r\n--{boundary}--\r\n");
    let length = head.len() as u64 + download.size + tail.len() as u64;
    let body = std::io::Cursor::new(head.into_bytes())
        .chain(download.file)
        .chain(std::io::Cursor::new(tail.into_bytes()));
    let mut response = Body::from_stream(ReaderStream::new(body)).into_response();
    let headers = response.headers_mut();
    let multipart_type = format!("multipart/mixed; boundary={boundary}");
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_str(&multipart_type).map_err(Error::internal)?,
    );
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(length));
    Ok(response)
}
