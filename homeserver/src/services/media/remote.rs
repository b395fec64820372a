//! Other servers' media: fetched once over federation (authenticated
//! media, `/_matrix/federation/v1/media/download`), kept in the same
//! content-addressed storage, then served like our own.

use ruma::{
    ServerName,
    api::federation::authenticated_media::{FileOrLocation, get_content},
};

use super::Media;
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
        let origin = ServerName::parse(server).map_err(|_| Error::not_found("media not found"))?;
        let request = get_content::v1::Request::new(media_id.to_owned());
        let answer = match federation.send(&origin, request).await {
            Ok(answer) => answer,
            Err(Error::NotFound(_)) => return Ok(None),
            Err(error) => return Err(error),
        };
        let FileOrLocation::File(content) = answer.content else {
            // Redirects to other hosts are not followed: that would let a
            // server point us anywhere.
            return Err(Error::Upstream("the media's server answered with a redirect".into()));
        };
        if content.file.len() as u64 > self.max_upload() {
            return Err(Error::TooLarge);
        }
        let mut upload = self.begin_upload(Some(content.file.len() as u64)).await?;
        if let Err(error) = upload.write(&content.file).await {
            upload.abort().await;
            return Err(error);
        }
        let (sha256, size) = upload.finish().await?;
        self.store
            .insert_remote_media(
                server,
                media_id,
                content.content_type.as_deref(),
                size as i64,
                &sha256,
            )
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
