//! The media repository: upload files, download them and their thumbnails
//! (on the authenticated media endpoints).

use ruma::{
    MxcUri, OwnedMxcUri, UInt,
    api::client::{
        authenticated_media::{get_content, get_content_thumbnail},
        media::create_content,
    },
    events::room::{EncryptedFile, MediaSource},
};

use crate::{client::Client, crypto::attachment, error::Result};

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

    /// Encrypts bytes with a fresh key and uploads the ciphertext; the
    /// returned description (URL, key, IV, hash) goes into an event.
    pub async fn upload_encrypted(&self, bytes: Vec<u8>) -> Result<EncryptedFile> {
        let mut bytes = bytes;
        let (key, iv) = attachment::encrypt(&mut bytes)?;
        let hash_input = bytes.clone();
        let url = self.upload("application/octet-stream", None, bytes).await?;
        Ok(attachment::describe(url, key, iv, &hash_input))
    }

    /// Downloads an encrypted attachment, checks its hash and decrypts it.
    pub async fn download_encrypted(&self, file: &EncryptedFile) -> Result<Vec<u8>> {
        let mut bytes = self.download(&file.url).await?;
        attachment::decrypt(file, &mut bytes)?;
        Ok(bytes)
    }

    /// Downloads what a media source points to: plain or encrypted.
    pub async fn download_source(&self, source: &MediaSource) -> Result<Vec<u8>> {
        match source {
            MediaSource::Plain(url) => self.download(url).await,
            MediaSource::Encrypted(file) => self.download_encrypted(file).await,
        }
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
