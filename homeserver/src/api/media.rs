//! The media repository's HTTP side. These handlers stream bodies both ways
//! (ruma's media types hold whole files in memory), so they use axum
//! directly; the rules live in `services::media`.

use axum::{
    Json,
    body::Body,
    extract::State,
    http::{HeaderMap, HeaderValue, header},
    response::{IntoResponse, Response},
    routing::{get, post, put},
};
use http_body_util::BodyExt;
use ruma::UserId;
use serde::Deserialize;
use serde_json::json;
use tokio_util::io::ReaderStream;

use super::{
    authed::{Authed, MatrixPath, MatrixQuery},
    routes::Routes,
};
use crate::{
    error::{Error, Result},
    services::{
        Services,
        media::{
            Download,
            storage::Upload,
            thumbnail::{self, Method},
        },
        rate_limit::LimitClass,
    },
};

#[derive(Deserialize)]
struct UploadQuery {
    filename: Option<String>,
}

/// Media types a browser may show inline without risk; anything else is
/// served as an attachment.
const INLINE_TYPES: &[&str] = &[
    "image/png",
    "image/jpeg",
    "image/gif",
    "image/webp",
    "image/apng",
    "image/avif",
    "video/mp4",
    "video/webm",
    "video/ogg",
    "audio/mp4",
    "audio/webm",
    "audio/ogg",
    "audio/mpeg",
    "audio/wav",
    "audio/flac",
    "text/plain",
];

pub fn router() -> Routes {
    Routes::new()
        .route("/_matrix/media/v3/upload", post(upload))
        .route("/_matrix/media/v1/create", post(create))
        .route("/_matrix/media/v3/upload/{server}/{media_id}", put(upload_pending))
        .route("/_matrix/client/v1/media/download/{server}/{media_id}", get(download))
        .route(
            "/_matrix/client/v1/media/download/{server}/{media_id}/{filename}",
            get(download_named),
        )
        .route("/_matrix/media/v3/download/{server}/{media_id}", get(legacy_download))
        .route(
            "/_matrix/media/v3/download/{server}/{media_id}/{filename}",
            get(legacy_download_named),
        )
        .route("/_matrix/client/v1/media/thumbnail/{server}/{media_id}", get(thumbnail))
        .route("/_matrix/media/v3/thumbnail/{server}/{media_id}", get(legacy_thumbnail))
        .route("/_matrix/client/v1/media/config", get(config))
        .route("/_matrix/client/v1/media/preview_url", get(preview_url))
        .route("/_matrix/media/v3/preview_url", get(preview_url))
        .route("/_matrix/media/v3/config", get(config))
}

/// Streams a request body into storage, within the uploader's budget.
async fn receive(
    services: &Services,
    uploader: &UserId,
    headers: &HeaderMap,
    body: Body,
) -> Result<Upload> {
    services.rate_limits.check(LimitClass::Upload, uploader.as_str())?;
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let mut upload = services.media.begin_upload(declared).await?;
    let mut body = body;
    while let Some(frame) = body.frame().await {
        let frame = match frame {
            Ok(frame) => frame,
            Err(e) => {
                upload.abort().await;
                return Err(Error::BadRequest(format!("upload interrupted: {e}")));
            }
        };
        if let Some(data) = frame.data_ref()
            && let Err(e) = upload.write(data).await
        {
            upload.abort().await;
            return Err(e);
        }
    }
    Ok(upload)
}

fn content_type(headers: &HeaderMap) -> Option<&str> {
    headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok())
}

/// [`POST /_matrix/media/v3/upload`](https://spec.matrix.org/latest/client-server-api/#post_matrixmediav3upload)
async fn upload(
    State(services): State<Services>,
    Authed(requester): Authed,
    MatrixQuery(query): MatrixQuery<UploadQuery>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<serde_json::Value>> {
    let upload = receive(&services, &requester.user_id, &headers, body).await?;
    let uri = services
        .media
        .upload(&requester.user_id, upload, content_type(&headers), query.filename.as_deref())
        .await?;
    Ok(Json(json!({"content_uri": uri})))
}

/// [`POST /_matrix/media/v1/create`](https://spec.matrix.org/latest/client-server-api/#post_matrixmediav1create)
async fn create(
    State(services): State<Services>,
    Authed(requester): Authed,
) -> Result<Json<serde_json::Value>> {
    let (uri, expires_at) = services.media.create_pending(&requester.user_id).await?;
    Ok(Json(json!({"content_uri": uri, "unused_expires_at": expires_at})))
}

/// [`PUT /_matrix/media/v3/upload/{serverName}/{mediaId}`](https://spec.matrix.org/latest/client-server-api/#put_matrixmediav3uploadservernamemediaid)
async fn upload_pending(
    State(services): State<Services>,
    Authed(requester): Authed,
    MatrixPath((server, media_id)): MatrixPath<(String, String)>,
    MatrixQuery(query): MatrixQuery<UploadQuery>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<serde_json::Value>> {
    let upload = receive(&services, &requester.user_id, &headers, body).await?;
    services
        .media
        .upload_pending(
            &requester.user_id,
            &server,
            &media_id,
            upload,
            content_type(&headers),
            query.filename.as_deref(),
        )
        .await?;
    Ok(Json(json!({})))
}

/// [`GET /_matrix/client/v1/media/config`](https://spec.matrix.org/latest/client-server-api/#get_matrixclientv1mediaconfig):
/// authenticated like the rest of the media API.
async fn config(State(services): State<Services>, _: Authed) -> Json<serde_json::Value> {
    Json(json!({"m.upload.size": services.media.max_upload()}))
}

#[derive(Deserialize)]
struct PreviewQuery {
    url: String,
}

/// [`GET /_matrix/client/v1/media/preview_url`](https://spec.matrix.org/latest/client-server-api/#get_matrixclientv1mediapreview_url)
async fn preview_url(
    State(services): State<Services>,
    Authed(requester): Authed,
    MatrixQuery(query): MatrixQuery<PreviewQuery>,
) -> Result<Json<serde_json::Value>> {
    Ok(Json(services.media.preview_url(&requester.user_id, &query.url).await?))
}

/// [`GET /_matrix/client/v1/media/download/{serverName}/{mediaId}`](https://spec.matrix.org/latest/client-server-api/#get_matrixclientv1mediadownloadservernamemediaid)
async fn download(
    State(services): State<Services>,
    _: Authed,
    MatrixPath((server, media_id)): MatrixPath<(String, String)>,
) -> Result<Response> {
    serve(services.media.download(&server, &media_id, false).await?, None)
}

/// [`GET /_matrix/client/v1/media/download/{serverName}/{mediaId}/{fileName}`](https://spec.matrix.org/latest/client-server-api/#get_matrixclientv1mediadownloadservernamemediaidfilename)
async fn download_named(
    State(services): State<Services>,
    _: Authed,
    MatrixPath((server, media_id, filename)): MatrixPath<(String, String, String)>,
) -> Result<Response> {
    serve(services.media.download(&server, &media_id, false).await?, Some(filename))
}

/// [`GET /_matrix/media/v3/download/{serverName}/{mediaId}`](https://spec.matrix.org/latest/client-server-api/#get_matrixmediav3downloadservernamemediaid)
async fn legacy_download(
    State(services): State<Services>,
    MatrixPath((server, media_id)): MatrixPath<(String, String)>,
) -> Result<Response> {
    serve(services.media.download(&server, &media_id, true).await?, None)
}

/// [`GET /_matrix/media/v3/download/{serverName}/{mediaId}/{fileName}`](https://spec.matrix.org/latest/client-server-api/#get_matrixmediav3downloadservernamemediaidfilename)
async fn legacy_download_named(
    State(services): State<Services>,
    MatrixPath((server, media_id, filename)): MatrixPath<(String, String, String)>,
) -> Result<Response> {
    serve(services.media.download(&server, &media_id, true).await?, Some(filename))
}

#[derive(Deserialize)]
struct ThumbnailQuery {
    width: Option<u32>,
    height: Option<u32>,
    method: Option<String>,
    #[serde(default)]
    animated: bool,
}

impl ThumbnailQuery {
    fn request(&self) -> Result<thumbnail::Request> {
        let (Some(width), Some(height)) = (self.width, self.height) else {
            return Err(Error::MissingParam("width and height are required".into()));
        };
        let method = match self.method.as_deref() {
            None | Some("scale") => Method::Scale,
            Some("crop") => Method::Crop,
            Some(other) => return Err(Error::invalid_param(format!("unknown method {other}"))),
        };
        Ok(thumbnail::Request {
            width: width.max(1),
            height: height.max(1),
            method,
            animated: self.animated,
        })
    }
}

/// [`GET /_matrix/client/v1/media/thumbnail/{serverName}/{mediaId}`](https://spec.matrix.org/latest/client-server-api/#get_matrixclientv1mediathumbnailservernamemediaid)
async fn thumbnail(
    State(services): State<Services>,
    _: Authed,
    MatrixPath((server, media_id)): MatrixPath<(String, String)>,
    MatrixQuery(query): MatrixQuery<ThumbnailQuery>,
) -> Result<Response> {
    let request = query.request()?;
    serve(services.media.thumbnail(&server, &media_id, request, false).await?, None)
}

/// [`GET /_matrix/media/v3/thumbnail/{serverName}/{mediaId}`](https://spec.matrix.org/latest/client-server-api/#get_matrixmediav3thumbnailservernamemediaid)
async fn legacy_thumbnail(
    State(services): State<Services>,
    MatrixPath((server, media_id)): MatrixPath<(String, String)>,
    MatrixQuery(query): MatrixQuery<ThumbnailQuery>,
) -> Result<Response> {
    let request = query.request()?;
    serve(services.media.thumbnail(&server, &media_id, request, true).await?, None)
}

/// `filename*` in RFC 5987 form, which carries any character safely.
fn disposition(inline: bool, filename: Option<&str>) -> String {
    let kind = if inline { "inline" } else { "attachment" };
    match filename {
        Some(name) => {
            let encoded: String = name
                .bytes()
                .map(|b| match b {
                    b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'.' | b'-' | b'_' => {
                        (b as char).to_string()
                    }
                    other => format!("%{other:02X}"),
                })
                .collect();
            format!("{kind}; filename*=utf-8''{encoded}")
        }
        None => kind.to_owned(),
    }
}

/// Streams stored media with headers that keep uploaded HTML or SVG from
/// ever running script in this server's origin.
fn serve(download: Download, filename: Option<String>) -> Result<Response> {
    let content_type =
        download.content_type.clone().unwrap_or_else(|| "application/octet-stream".into());
    let essence = content_type.split(';').next().unwrap_or_default().trim().to_ascii_lowercase();
    let inline = INLINE_TYPES.contains(&essence.as_str());
    let filename = filename.or(download.filename);
    let body = Body::from_stream(ReaderStream::new(download.file));
    let mut response = body.into_response();
    let headers = response.headers_mut();
    let value = |text: &str| HeaderValue::from_str(text).map_err(Error::internal);
    headers.insert(
        header::CONTENT_TYPE,
        value(&content_type).unwrap_or(HeaderValue::from_static("application/octet-stream")),
    );
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(download.size));
    headers.insert(header::CONTENT_DISPOSITION, value(&disposition(inline, filename.as_deref()))?);
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("sandbox; default-src 'none'"),
    );
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert("cross-origin-resource-policy", HeaderValue::from_static("cross-origin"));
    Ok(response)
}
