//! URL previews (GET /_matrix/client/v1/media/preview_url), off by default:
//! the server fetches a page a user links to and answers its OpenGraph
//! tags, with the page's image stored as media. Fetching for users is an
//! SSRF hazard; `guard` keeps every connection off private addresses, no
//! proxy is used, redirects are checked hop by hop, and size and time are
//! bounded.

mod guard;
mod html;

use std::{
    collections::HashMap,
    io::Cursor,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use reqwest::{Url, header, redirect};
use ruma::UserId;
use serde_json::{Map, Value};

use lattice_federation::address::{AddressPolicy, Denied, GuardedResolver};

use self::guard::check_url;
use super::Media;
use crate::{
    config::MediaConfig,
    error::{Error, Result},
};

const MAX_REDIRECTS: usize = 5;
/// Previews are kept this long: a link posted in a busy room is fetched once.
const CACHE_LIFETIME: Duration = Duration::from_secs(3600);
const CACHE_ENTRIES: usize = 1024;

type Cached = (Instant, Map<String, Value>);

pub struct Previewer {
    client: reqwest::Client,
    policy: AddressPolicy,
    max_bytes: u64,
    /// URL -> (fetched at, tags).
    cache: Mutex<HashMap<String, Cached>>,
}

/// A fetched resource.
struct Fetched {
    content_type: String,
    bytes: Vec<u8>,
}

impl Fetched {
    fn is_image(&self) -> bool {
        self.content_type.starts_with("image/")
    }

    fn is_html(&self) -> bool {
        self.content_type.starts_with("text/html")
            || self.content_type.starts_with("application/xhtml")
    }
}

impl Previewer {
    pub fn new(config: &MediaConfig) -> Result<Self> {
        let policy = AddressPolicy::new(&config.url_preview_allowed_ranges);
        let for_redirects = policy.clone();
        let client = crate::services::http::client_builder()
            .no_proxy()
            .dns_resolver(Arc::new(GuardedResolver(policy.clone())))
            .redirect(redirect::Policy::custom(move |attempt| {
                if attempt.previous().len() >= MAX_REDIRECTS {
                    return attempt.error(Denied("too many redirects".into()));
                }
                match check_url(attempt.url(), &for_redirects) {
                    Ok(()) => attempt.follow(),
                    Err(blocked) => attempt.error(blocked),
                }
            }))
            .connect_timeout(Duration::from_secs(config.url_preview_timeout.clamp(1, 5)))
            .timeout(Duration::from_secs(config.url_preview_timeout.max(1)))
            .build()
            .map_err(Error::internal)?;
        Ok(Self {
            client,
            policy,
            max_bytes: config.url_preview_max_bytes,
            cache: Mutex::new(HashMap::new()),
        })
    }

    fn cached(&self, url: &str) -> Option<Map<String, Value>> {
        let cache = self.cache.lock().ok()?;
        cache.get(url).filter(|(at, _)| at.elapsed() < CACHE_LIFETIME).map(|(_, tags)| tags.clone())
    }

    fn remember(&self, url: &str, tags: &Map<String, Value>) {
        if let Ok(mut cache) = self.cache.lock() {
            if cache.len() >= CACHE_ENTRIES {
                cache.retain(|_, (at, _)| at.elapsed() < CACHE_LIFETIME);
                if cache.len() >= CACHE_ENTRIES {
                    cache.clear();
                }
            }
            cache.insert(url.to_owned(), (Instant::now(), tags.clone()));
        }
    }

    /// Downloads `url` within the size limit.
    async fn fetch(&self, url: &Url) -> Result<Fetched> {
        check_url(url, &self.policy).map_err(|denied| refused(&denied))?;
        let mut response = self.client.get(url.clone()).send().await.map_err(fetch_error)?;
        if !response.status().is_success() {
            return Err(Error::Upstream(format!("the page answered {}", response.status())));
        }
        if response.content_length().is_some_and(|len| len > self.max_bytes) {
            return Err(Error::TooLarge);
        }
        let content_type = response
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("application/octet-stream")
            .to_ascii_lowercase();
        let mut bytes = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(fetch_error)? {
            if (bytes.len() + chunk.len()) as u64 > self.max_bytes {
                return Err(Error::TooLarge);
            }
            bytes.extend_from_slice(&chunk);
        }
        Ok(Fetched { content_type, bytes })
    }
}

fn refused(denied: &Denied) -> Error {
    Error::forbidden(format!("this URL cannot be previewed: {denied}"))
}

/// A refusal by the address policy anywhere in the error's chain is
/// M_FORBIDDEN; anything else is the remote side's failure.
fn fetch_error(error: reqwest::Error) -> Error {
    if let Some(denied) = AddressPolicy::denied_in(&error) {
        return refused(denied);
    }
    if error.is_timeout() {
        return Error::Upstream("the page took too long".into());
    }
    Error::Upstream("the page could not be fetched".into())
}

impl Media {
    /// The preview of `url` for `requester`: OpenGraph tags, with the
    /// page's image (or the URL itself, if it is an image) stored as media.
    pub async fn preview_url(&self, requester: &UserId, url: &str) -> Result<Value> {
        let previewer = self.previews.as_ref().ok_or(Error::Unrecognized)?;
        if let Some(tags) = previewer.cached(url) {
            return Ok(Value::Object(tags));
        }
        let page_url =
            Url::parse(url).map_err(|e| Error::invalid_param(format!("not a URL: {e}")))?;
        let page = previewer.fetch(&page_url).await?;
        let (mut tags, image) = if page.is_image() {
            (Map::new(), Some(page))
        } else if page.is_html() {
            let tags = html::og_tags(&String::from_utf8_lossy(&page.bytes));
            let image = match tags.get("og:image").and_then(Value::as_str) {
                Some(src) => match page_url.join(src) {
                    // A page's broken image still leaves a preview.
                    Ok(src) => previewer.fetch(&src).await.ok().filter(Fetched::is_image),
                    Err(_) => None,
                },
                None => None,
            };
            (tags, image)
        } else {
            (Map::new(), None)
        };
        tags.remove("og:image");
        if let Some(image) = image
            && let Ok(mxc) = self.store_bytes(requester, &image.content_type, &image.bytes).await
        {
            tags.insert("og:image".into(), Value::String(mxc.to_string()));
            tags.insert("matrix:image:size".into(), Value::from(image.bytes.len()));
            let dimensions = image::ImageReader::new(Cursor::new(&image.bytes))
                .with_guessed_format()
                .ok()
                .and_then(|reader| reader.into_dimensions().ok());
            if let Some((width, height)) = dimensions {
                tags.insert("og:image:width".into(), Value::from(width));
                tags.insert("og:image:height".into(), Value::from(height));
            }
        }
        previewer.remember(url, &tags);
        Ok(Value::Object(tags))
    }
}
