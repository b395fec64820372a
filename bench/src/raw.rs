//! A bare keep-alive HTTP/1.1 connection for the measured loops. The load
//! generator shares the machine's two cores with the server, so whatever
//! it spends per request (reqwest's URL parsing, header maps, pool lookups,
//! `serde_json::Value` trees) is CPU the server under test does not get.

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{
    Method, Request,
    client::conn::http1::{SendRequest, handshake},
    header::{AUTHORIZATION, CONTENT_TYPE, HOST, HeaderValue},
};
use hyper_util::rt::TokioIo;
use serde::Deserialize;

use crate::client::Error;

/// One connection, authenticated as one user, used by one task at a time.
pub struct Connection {
    sender: SendRequest<Full<Bytes>>,
    host: HeaderValue,
    auth: HeaderValue,
}

impl Connection {
    /// Connects to `url` (`http://host:port`) as the holder of `token`.
    pub async fn open(url: &str, token: &str) -> Result<Self, Error> {
        let authority = url.strip_prefix("http://").ok_or("only http:// URLs")?;
        let stream = tokio::net::TcpStream::connect(authority).await?;
        stream.set_nodelay(true)?;
        let (sender, connection) = handshake(TokioIo::new(stream)).await?;
        tokio::spawn(connection);
        Ok(Self {
            sender,
            host: HeaderValue::from_str(authority)?,
            auth: HeaderValue::from_str(&format!("Bearer {token}"))?,
        })
    }

    /// Sends a request and returns the body of a 2xx answer.
    pub async fn call(&mut self, method: Method, path: &str, body: Bytes) -> Result<Bytes, Error> {
        let mut request = Request::new(Full::new(body));
        *request.method_mut() = method;
        *request.uri_mut() = path.parse()?;
        let headers = request.headers_mut();
        headers.insert(HOST, self.host.clone());
        headers.insert(AUTHORIZATION, self.auth.clone());
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        self.sender.ready().await?;
        let response = self.sender.send_request(request).await?;
        let status = response.status();
        let body = response.into_body().collect().await?.to_bytes();
        if !status.is_success() {
            return Err(format!("{status}: {}", String::from_utf8_lossy(&body)).into());
        }
        Ok(body)
    }
}

/// The answer to a send.
#[derive(Deserialize)]
pub struct Sent {
    pub event_id: String,
}

/// The parts of a sync response the latency watcher reads; the rest of the
/// body is skipped without being built.
#[derive(Deserialize)]
pub struct SyncBody {
    pub next_batch: String,
    #[serde(default)]
    pub rooms: SyncRooms,
}

#[derive(Deserialize, Default)]
pub struct SyncRooms {
    #[serde(default)]
    pub join: std::collections::HashMap<String, JoinedRoom>,
}

#[derive(Deserialize)]
pub struct JoinedRoom {
    #[serde(default)]
    pub timeline: Timeline,
}

#[derive(Deserialize, Default)]
pub struct Timeline {
    #[serde(default)]
    pub events: Vec<TimelineEvent>,
}

#[derive(Deserialize)]
pub struct TimelineEvent {
    #[serde(rename = "type")]
    pub kind: String,
    pub event_id: String,
}
