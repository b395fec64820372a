//! A minimal Matrix client over reqwest: just what the scenarios need.

use std::{
    collections::HashMap,
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use bytes::Bytes;
use hyper::Method;
use serde_json::{Value, json};

use crate::raw::{Connection, Sent, SyncBody};

pub type Error = Box<dyn std::error::Error + Send + Sync>;

static TXN: AtomicU64 = AtomicU64::new(0);

#[derive(Clone)]
pub struct Client {
    http: reqwest::Client,
    base: String,
    token: String,
}

impl Client {
    pub async fn register(http: &reqwest::Client, url: &str, name: &str) -> Result<Self, Error> {
        let body: Value = http
            .post(format!("{url}/_matrix/client/v3/register"))
            .json(&json!({"username": name, "password": "bench-password", "auth": {"type": "m.login.dummy"}}))
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        let token = body["access_token"].as_str().ok_or("no access token")?.to_owned();
        Ok(Self { http: http.clone(), base: format!("{url}/_matrix/client/v3"), token })
    }

    async fn call(&self, request: reqwest::RequestBuilder) -> Result<Value, Error> {
        let response = request.bearer_auth(&self.token).send().await?;
        let status = response.status();
        let body: Value = response.json().await?;
        if !status.is_success() {
            return Err(format!("{status}: {body}").into());
        }
        Ok(body)
    }

    pub async fn create_room(&self, body: Value) -> Result<String, Error> {
        let created =
            self.call(self.http.post(format!("{}/createRoom", self.base)).json(&body)).await?;
        Ok(created["room_id"].as_str().ok_or("no room id")?.to_owned())
    }

    pub async fn join(&self, room: &str) -> Result<(), Error> {
        self.call(self.http.post(format!("{}/join/{room}", self.base)).json(&json!({}))).await?;
        Ok(())
    }

    pub async fn send_text(&self, room: &str, text: &str) -> Result<String, Error> {
        let txn = TXN.fetch_add(1, Ordering::Relaxed);
        let url = format!("{}/rooms/{room}/send/m.room.message/b{txn}", self.base);
        let sent =
            self.call(self.http.put(url).json(&json!({"msgtype": "m.text", "body": text}))).await?;
        Ok(sent["event_id"].as_str().ok_or("no event id")?.to_owned())
    }

    /// A bare connection for the measured loops, authenticated as this user.
    pub async fn connection(&self) -> Result<Connection, Error> {
        let url = self.base.trim_end_matches("/_matrix/client/v3");
        Connection::open(url, &self.token).await
    }

    /// Sends `count` text messages one after another on one bare connection,
    /// handing each event id to `sent` as soon as its send is answered.
    pub async fn send_texts(
        &self,
        room: &str,
        count: usize,
        mut sent: impl FnMut(String),
    ) -> Result<(), Error> {
        let mut connection = self.connection().await?;
        let prefix = format!("/_matrix/client/v3/rooms/{room}/send/m.room.message/");
        for n in 0..count {
            let txn = TXN.fetch_add(1, Ordering::Relaxed);
            let body = format!(r#"{{"msgtype":"m.text","body":"message {n}"}}"#);
            let answer =
                connection.call(Method::PUT, &format!("{prefix}b{txn}"), body.into()).await?;
            sent(serde_json::from_slice::<Sent>(&answer)?.event_id);
        }
        Ok(())
    }

    /// Each (client, room) sends `count` messages at once with the others,
    /// noting when each send was answered in `sent_at`; the time it took.
    pub async fn send_all(
        senders: Vec<(Client, String)>,
        count: usize,
        sent_at: Arc<Mutex<HashMap<String, Instant>>>,
    ) -> Result<Duration, Error> {
        let started = Instant::now();
        let mut tasks = Vec::new();
        for (sender, room) in senders {
            let sent_at = sent_at.clone();
            tasks.push(tokio::spawn(async move {
                sender
                    .send_texts(&room, count, |event_id| {
                        let mut sent_at = sent_at.lock().unwrap_or_else(|e| e.into_inner());
                        sent_at.insert(event_id, Instant::now());
                    })
                    .await
            }));
        }
        for task in tasks {
            task.await?.map_err(|e| e.to_string())?;
        }
        Ok(started.elapsed())
    }

    pub async fn sync(&self, since: Option<&str>, timeout_ms: u64) -> Result<Value, Error> {
        let mut url = format!("{}/sync?timeout={timeout_ms}", self.base);
        if let Some(since) = since {
            url.push_str(&format!("&since={since}"));
        }
        self.call(self.http.get(url)).await
    }

    /// One simplified sliding sync request (MSC4186), from `pos` if given.
    pub async fn sliding(
        &self,
        body: &Value,
        pos: Option<&str>,
        timeout_ms: u64,
    ) -> Result<Value, Error> {
        let base = self.base.replace("/v3", "/unstable/org.matrix.simplified_msc3575");
        let mut url = format!("{base}/sync?timeout={timeout_ms}");
        if let Some(pos) = pos {
            url.push_str(&format!("&pos={pos}"));
        }
        self.call(self.http.post(url).json(body)).await
    }

    /// Long-polls until `expected` messages arrived; returns for each the
    /// time from its send being answered to its arrival here.
    /// Stops once `expected` arrived, or when `done` is set and a sync
    /// brings nothing new (a limited timeline may skip some events).
    pub async fn watch_latencies(
        &self,
        mut since: String,
        expected: usize,
        sent_at: Arc<Mutex<HashMap<String, Instant>>>,
        done: Arc<std::sync::atomic::AtomicBool>,
    ) -> Result<Vec<Duration>, Error> {
        let mut seen: HashMap<String, Instant> = HashMap::new();
        let deadline = Instant::now() + Duration::from_secs(600);
        let filter = "%7B%22room%22%3A%7B%22timeline%22%3A%7B%22limit%22%3A100%7D%7D%7D";
        let mut connection = self.connection().await?;
        while seen.len() < expected && Instant::now() < deadline {
            let path =
                format!("/_matrix/client/v3/sync?timeout=2000&filter={filter}&since={since}");
            let body = connection.call(Method::GET, &path, Bytes::new()).await?;
            let before = seen.len();
            let arrived = Instant::now();
            let body: SyncBody = serde_json::from_slice(&body)?;
            since = body.next_batch;
            for room in body.rooms.join.into_values() {
                for event in room.timeline.events {
                    if event.kind == "m.room.message" {
                        seen.insert(event.event_id, arrived);
                    }
                }
            }
            if seen.len() == before && done.load(Ordering::Acquire) {
                break;
            }
        }
        let sent = sent_at.lock().unwrap_or_else(|e| e.into_inner());
        // A sync may beat the sender's own bookkeeping: count that as zero.
        Ok(seen
            .iter()
            .filter_map(|(id, arrived)| sent.get(id).map(|s| arrived.saturating_duration_since(*s)))
            .collect())
    }

    /// Uploads bytes; returns the mxc:// URI.
    pub async fn upload(&self, bytes: Vec<u8>) -> Result<String, Error> {
        let url = self.base.replace("/_matrix/client/v3", "/_matrix/media/v3/upload");
        let request =
            self.http.post(url).header("content-type", "application/octet-stream").body(bytes);
        let body = self.call(request).await?;
        Ok(body["content_uri"].as_str().ok_or("no content_uri")?.to_owned())
    }

    /// Downloads media as a stream, counting bytes without keeping them.
    pub async fn download_count(&self, mxc: &str) -> Result<u64, Error> {
        let path = mxc.strip_prefix("mxc://").ok_or("not an mxc uri")?;
        let url = self
            .base
            .replace("/_matrix/client/v3", &format!("/_matrix/client/v1/media/download/{path}"));
        let mut response =
            self.http.get(url).bearer_auth(&self.token).send().await?.error_for_status()?;
        let mut total = 0;
        while let Some(chunk) = response.chunk().await? {
            total += chunk.len() as u64;
        }
        Ok(total)
    }

    /// Pages backwards through a room; returns how many events came back.
    pub async fn paginate_all(&self, room: &str, page: usize) -> Result<usize, Error> {
        let mut from: Option<String> = None;
        let mut total = 0;
        loop {
            let mut url = format!("{}/rooms/{room}/messages?dir=b&limit={page}", self.base);
            if let Some(from) = &from {
                url.push_str(&format!("&from={from}"));
            }
            let body = self.call(self.http.get(url)).await?;
            total += body["chunk"].as_array().map_or(0, Vec::len);
            match body["end"].as_str() {
                Some(end) => from = Some(end.to_owned()),
                None => return Ok(total),
            }
        }
    }
}
