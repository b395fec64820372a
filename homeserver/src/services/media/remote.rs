//! Other servers' media: fetched once over federation (authenticated
//! media, `/_matrix/federation/v1/media/download`), kept in the same
//! content-addressed storage, then served like our own.

use ruma::{ServerName, api::federation::authenticated_media::get_content};

use super::{
    Media, Upload,
    multipart::{self, MediaParts},
};
use crate::{
    error::{Error, Result},
    store::MediaRow,
};

impl Media {
    /// The kept copy of another server's media, fetched on first use.
    pub(super) async fn remote_row(
        &self,
        server: &str,
        media_id: &str,
    ) -> Result<Option<MediaRow>> {
        if let Some(row) = self.store.remote_media(server, media_id).await? {
            return Ok(Some(row));
        }
        let Some(federation) = &self.federation else { return Ok(None) };
        let origin = ServerName::parse(server)
            .map_err(|e| Error::invalid_param(format!("invalid server name: {e}")))?;
        let request = get_content::v1::Request::new(media_id.to_owned());
        let mut answer = match federation.send_streamed(&origin, request).await {
            Ok(answer) => answer,
            Err(Error::NotFound(_)) => return Ok(None),
            Err(error) => return Err(error),
        };
        let content_type = answer.headers().get(reqwest::header::CONTENT_TYPE);
        let boundary = content_type
            .and_then(|value| value.to_str().ok())
            .and_then(multipart::boundary)
            .ok_or_else(|| Error::Upstream("the media answer is not multipart/mixed".into()))?;
        let mut upload = self.begin_upload(None).await?;
        let fetched = fetch_into(&mut answer, &boundary, &mut upload).await;
        let content_type = match fetched {
            Ok(content_type) => content_type,
            Err(error) => {
                upload.abort().await;
                return Err(error);
            }
        };
        let (sha256, size) = upload.finish().await?;
        self.store
            .insert_remote_media(server, media_id, content_type.as_deref(), size as i64, &sha256)
            .await?;
        self.store.remote_media(server, media_id).await
    }

    /// What another server asks for: our own media, or a thumbnail of it.
    pub async fn for_federation(
        &self,
        media_id: &str,
        thumbnail: Option<super::thumbnail::Request>,
    ) -> Result<super::Download> {
        let own = self.config.server.server_name.to_string();
        match thumbnail {
            Some(request) => self.thumbnail(&own, media_id, request, false).await,
            None => self.download(&own, media_id, false).await,
        }
    }
}

/// Streams the file part of a media answer into `upload`; its content
/// type. Redirects to other hosts are not followed: that would let a
/// server point us anywhere.
async fn fetch_into(
    answer: &mut reqwest::Response,
    boundary: &str,
    upload: &mut Upload,
) -> Result<Option<String>> {
    let mut parts = MediaParts::new(boundary);
    let mut content_type = None;
    let upstream = |e: reqwest::Error| {
        tracing::warn!(error = %e, "a remote media download failed");
        Error::Upstream("the media download from its server failed".into())
    };
    while let Some(chunk) = answer.chunk().await.map_err(upstream)? {
        let (headers, file) = parts.feed(&chunk)?;
        if let Some(headers) = headers {
            if headers.location.is_some() {
                return Err(Error::Upstream("the media's server answered with a redirect".into()));
            }
            content_type = headers.content_type;
        }
        if !file.is_empty() {
            upload.write(&file).await?;
        }
        if parts.finished() {
            return Ok(content_type);
        }
    }
    Err(Error::Upstream("the media answer ended early".into()))
}
