//! A real S3 API for the object storage tests: moto's server mode (PyPI),
//! started on a free port with a fresh bucket. Needs LATTICE_MOTO (a
//! python with moto[server]); without it the tests say they were skipped,
//! unless LATTICE_REQUIRE_S3 is set (as in CI).

use std::{
    io::{BufRead, BufReader},
    process::{Child, ChildStdin},
    time::Duration,
};

use lattice_homeserver::Config;

use super::federation::free_port;

/// Serves the S3 API, says READY once it listens, runs until stdin closes.
const SERVER: &str = r#"
import sys
from moto.server import ThreadedMotoServer
server = ThreadedMotoServer(ip_address="127.0.0.1", port=int(sys.argv[1]), verbose=False)
server.start()
print("READY", flush=True)
sys.stdin.read()
server.stop()
"#;

pub struct S3Server {
    child: Child,
    /// Held open: the server stops when it closes.
    _stdin: ChildStdin,
    pub endpoint: String,
    pub bucket: String,
    http: reqwest::Client,
}

impl S3Server {
    /// moto on a free port, with an empty bucket.
    pub async fn start() -> Option<Self> {
        let python = super::peer_python("LATTICE_MOTO", "LATTICE_REQUIRE_S3", "moto[server]")?;
        let port = free_port();
        let (child, stdin, stdout) = super::run_python_script(python, SERVER, port);
        let (ready, started) = tokio::sync::oneshot::channel();
        std::thread::spawn(move || {
            let mut ready = Some(ready);
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if line == "READY" {
                    ready.take().map(|ready| ready.send(()));
                }
            }
        });
        tokio::time::timeout(Duration::from_secs(60), started)
            .await
            .expect("moto started in time")
            .expect("moto started");
        let http = lattice_homeserver::services::http::client_builder().build().expect("http");
        let endpoint = format!("http://127.0.0.1:{port}");
        let bucket = "lattice-media".to_owned();
        // moto takes unsigned requests.
        let made = http.put(format!("{endpoint}/{bucket}")).send().await.expect("create bucket");
        assert!(made.status().is_success(), "bucket created: {}", made.status());
        Some(Self { child, _stdin: stdin, endpoint, bucket, http })
    }

    /// Points a server's media at this bucket, under `prefix`, with a local
    /// cache of `cache_bytes`.
    pub fn configure(&self, config: &mut Config, prefix: &str, cache_bytes: u64) {
        let s3 = &mut config.media.s3;
        s3.endpoint = self.endpoint.clone();
        s3.bucket = self.bucket.clone();
        s3.access_key_id = "test".into();
        s3.secret_access_key = "test".into();
        s3.prefix = prefix.into();
        s3.cache_bytes = cache_bytes;
    }

    /// The size of an object in the bucket, if it is there.
    pub async fn object_size(&self, key: &str) -> Option<u64> {
        let url = format!("{}/{}/{key}", self.endpoint, self.bucket);
        let answer = self.http.head(url).send().await.expect("HEAD");
        // HEAD has no body: the header tells the object's size.
        let length = answer.headers().get(reqwest::header::CONTENT_LENGTH);
        let size = length.and_then(|v| v.to_str().ok()).and_then(|v| v.parse().ok());
        answer.status().is_success().then_some(size).flatten()
    }

    /// The names of every object in the bucket.
    pub async fn keys(&self) -> Vec<String> {
        let url = format!("{}/{}?list-type=2", self.endpoint, self.bucket);
        let listing = self.http.get(url).send().await.expect("list").text().await.expect("text");
        listing
            .split("<Key>")
            .skip(1)
            .filter_map(|part| part.split_once("</Key>").map(|(key, _)| key.to_owned()))
            .collect()
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
