//! The `lattice` binary run as an operator runs it, for the tests that
//! kill, back up and restore it.

use std::{path::Path, process::Stdio, time::Duration};

use serde_json::{Value, json};
use tokio::{
    io::{AsyncBufReadExt, BufReader},
    process::{Child, Command},
};

/// The binary with only the configuration a test gives it.
pub fn lattice(data_dir: &Path, database: Option<&str>) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_lattice"));
    for (key, _) in std::env::vars() {
        if key.starts_with("LATTICE_") {
            command.env_remove(key);
        }
    }
    command
        .env_remove("RUST_LOG")
        .env("LATTICE_SERVER__BIND", "127.0.0.1:0")
        .env("LATTICE_SERVER__DATA_DIR", data_dir)
        .env("LATTICE_RATE_LIMITS__ENABLED", "false")
        .kill_on_drop(true);
    if let Some(url) = database {
        command.env("LATTICE_DATABASE__URL", url);
    }
    command
}

/// reqwest needs its TLS provider installed first; the server's builder does that.
pub fn http() -> reqwest::Client {
    lattice_homeserver::services::http::client_builder().build().expect("http client")
}

/// Starts the binary on `data_dir` (and `database`), and waits for the
/// line that tells its address.
#[allow(dead_code)] // Not every test binary starts it unconfigured.
pub async fn start(data_dir: &Path, database: Option<&str>) -> (Child, String) {
    start_command(lattice(data_dir, database)).await
}

/// Starts `command` (the binary, configured) and waits for its address.
pub async fn start_command(mut command: Command) -> (Child, String) {
    command.stdout(Stdio::piped()).stderr(Stdio::null());
    let mut child = command.spawn().expect("lattice starts");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let announced = async {
        while let Some(line) = lines.next_line().await.expect("the server's log") {
            if let Some(at) = line.find("listening on http://") {
                let rest = &line[at + "listening on ".len()..];
                return rest.split_whitespace().next().map(str::to_owned);
            }
        }
        None
    };
    let url = tokio::time::timeout(Duration::from_secs(60), announced)
        .await
        .expect("the server announced its address in time")
        .expect("the server announced its address");
    // The log keeps flowing until the kill; nobody needs to read it.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    (child, url)
}

/// Registers a user (answering the dummy stage) and returns its token.
pub async fn register(http: &reqwest::Client, url: &str) -> String {
    let register = format!("{url}/_matrix/client/v3/register");
    let body = json!({"username": "alice", "password": "a long enough password"});
    let first: Value =
        http.post(&register).json(&body).send().await.expect("answer").json().await.expect("json");
    let mut body = body;
    body["auth"] = json!({"type": "m.login.dummy", "session": first["session"]});
    let done: Value =
        http.post(&register).json(&body).send().await.expect("answer").json().await.expect("json");
    done["access_token"].as_str().expect("a token").to_owned()
}

/// A request as `token`'s user, with an optional JSON body; the answer's JSON.
pub async fn call(
    http: &reqwest::Client,
    method: reqwest::Method,
    url: String,
    token: &str,
    body: Option<Value>,
) -> Value {
    let mut request = http.request(method, url).bearer_auth(token);
    if let Some(body) = body {
        request = request.json(&body);
    }
    request.send().await.expect("answer").json().await.expect("json")
}

/// Creates a room as `token`'s user; its id.
pub async fn create_room(http: &reqwest::Client, url: &str, token: &str) -> String {
    let path = format!("{url}/_matrix/client/v3/createRoom");
    let created = call(http, reqwest::Method::POST, path, token, Some(json!({}))).await;
    created["room_id"].as_str().expect("room id").to_owned()
}

/// Uploads `bytes` as a text file: its mxc:// URI.
#[allow(dead_code)] // Not every test binary uploads.
pub async fn upload(http: &reqwest::Client, url: &str, token: &str, bytes: Vec<u8>) -> String {
    let uploaded: Value = http
        .post(format!("{url}/_matrix/media/v3/upload?filename=notes.txt"))
        .bearer_auth(token)
        .header("content-type", "text/plain")
        .body(bytes)
        .send()
        .await
        .expect("uploaded")
        .json()
        .await
        .expect("json");
    uploaded["content_uri"].as_str().expect("mxc").to_owned()
}
