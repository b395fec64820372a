//! The media repository: upload files, download them and their thumbnails
//! (on the authenticated media endpoints).

use ruma::{
    MxcUri, OwnedMxcUri, UInt,
    api::client::{
        authenticated_media::{get_content, get_content_thumbnail},
        media::create_content,
    },
};

use crate::{client::Client, error::Result};

/// Media calls of a client; see [`Client::media`].
#[derive(Clone, Debug)]
pub struct Media {
    client: Client,
}

impl Client {
    /// The media repository of this client's homeserver.
    pub fn media(&self) -> Media {
        Media { client: self.clone() }
    }
}

impl Media {
    /// Uploads bytes and returns their mxc:// URI.
    pub async fn upload(
        &self,
        content_type: &str,
        filename: Option<&str>,
        bytes: Vec<u8>,
    ) -> Result<OwnedMxcUri> {
        let mut request = create_content::v3::Request::new(bytes);
        request.content_type = Some(content_type.to_owned());
        request.filename = filename.map(str::to_owned);
        Ok(self.client.send(request).await?.content_uri)
    }

    /// Downloads the content behind an mxc:// URI.
    pub async fn download(&self, uri: &MxcUri) -> Result<Vec<u8>> {
        let request = get_content::v1::Request::from_uri(uri)?;
        Ok(self.client.send(request).await?.file)
    }

    /// Downloads a thumbnail of at least `width` by `height` (scaled).
    pub async fn thumbnail(&self, uri: &MxcUri, width: u32, height: u32) -> Result<Vec<u8>> {
        let request = get_content_thumbnail::v1::Request::from_uri(
            uri,
            UInt::from(width),
            UInt::from(height),
        )?;
        Ok(self.client.send(request).await?.file)
    }
}
