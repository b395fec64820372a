//! The `lattice` binary as an operator meets it: version, generated config,
//! config errors, and a zero-config start.

use std::{
    io::{BufRead, BufReader},
    path::Path,
    process::{Child, Command, Stdio},
    sync::mpsc,
    time::Duration,
};

fn lattice(dir: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_lattice"));
    command.current_dir(dir).env_remove("RUST_LOG");
    for (key, _) in std::env::vars() {
        if key.starts_with("LATTICE_") {
            command.env_remove(key);
        }
    }
    command
}

/// Kills the server when the test ends, however it ends.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts the server and waits for the line that tells its address.
fn start(mut command: Command) -> (Running, String) {
    let mut child = command.stdout(Stdio::piped()).spawn().expect("lattice starts");
    let stdout = child.stdout.take().expect("stdout");
    let running = Running(child);
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Some(at) = line.find("listening on http://") {
                let url =
                    line[at + "listening on ".len()..].split_whitespace().next().map(str::to_owned);
                let _ = tx.send(url);
            }
        }
    });
    let url = rx
        .recv_timeout(Duration::from_secs(30))
        .expect("server announced its address")
        .expect("address in the line");
    (running, url)
}

/// A port nothing listens on now, for a listener that cannot report a
/// port 0 choice (metrics) or must be known before the server starts.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port()
}

fn get_json(url: &str) -> serde_json::Value {
    let runtime =
        tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    runtime.block_on(async {
        http_client().get(url).send().await.expect("request").json().await.expect("json body")
    })
}

#[test]
fn version_is_printed() {
    let dir = tempfile::tempdir().expect("temp dir");
    let out = lattice(dir.path()).arg("--version").output().expect("runs");
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains(env!("CARGO_PKG_VERSION")));
}

/// `lattice health` (the image's HEALTHCHECK) finds the server where its
/// configuration binds it, or at `--url`, and fails when nothing answers.
#[test]
fn health_asks_the_configured_address() {
    let dir = tempfile::tempdir().expect("temp dir");
    let port = free_port();
    let bind = format!("0.0.0.0:{port}");
    let health = |args: &[&str]| {
        let out = lattice(dir.path())
            .arg("health")
            .args(args)
            .env("LATTICE_SERVER__BIND", &bind)
            .output()
            .expect("runs");
        (out.status.success(), String::from_utf8_lossy(&out.stderr).into_owned())
    };
    let (up, said) = health(&[]);
    assert!(!up && said.contains(&format!("http://127.0.0.1:{port}/health")), "{said}");

    let mut command = lattice(dir.path());
    command.env("LATTICE_SERVER__BIND", &bind);
    let (_server, url) = start(command);
    assert_eq!(health(&[]), (true, String::new()));
    assert!(health(&["--url", &url]).0);
    // Something that is not Lattice's /health: a 404.
    assert!(!health(&["--url", &format!("{url}/nothing")]).0);
}

#[test]
fn shells_get_completions_for_every_command() {
    for shell in ["bash", "zsh", "fish"] {
        let output = lattice(Path::new(".")).args(["completions", shell]).output().expect("runs");
        assert!(output.status.success(), "{shell}");
        let script = String::from_utf8_lossy(&output.stdout);
        for command in ["backup", "restore", "rotate-key", "create-user"] {
            assert!(script.contains(command), "{shell} completes {command}");
        }
    }
    let refused = lattice(Path::new(".")).args(["completions", "cmd.exe"]).output().expect("runs");
    assert!(!refused.status.success(), "an unknown shell is refused");
}

#[test]
fn generated_config_is_valid_toml_with_every_section() {
    let dir = tempfile::tempdir().expect("temp dir");
    let out = lattice(dir.path()).arg("generate-config").output().expect("runs");
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).expect("utf-8");
    let parsed: toml::Table = toml::from_str(&text).expect("valid TOML");
    for section in ["server", "database", "logging", "registration", "auth", "limits"] {
        assert!(parsed.contains_key(section), "missing [{section}]");
    }
    // And the server accepts it as its config file.
    let file = dir.path().join("lattice.toml");
    let out = lattice(dir.path())
        .args(["generate-config", "--output"])
        .arg(&file)
        .output()
        .expect("runs");
    assert!(out.status.success());
    let mut command = lattice(dir.path());
    command.arg("--config").arg(&file).env("LATTICE_SERVER__BIND", "127.0.0.1:0");
    let (_server, url) = start(command);
    assert!(get_json(&format!("{url}/_matrix/client/versions"))["versions"].is_array());
}

#[test]
fn bad_config_names_the_key_and_exits_non_zero() {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("bad.toml");
    std::fs::write(&file, "[server]\nbind = \"not an address\"\n").expect("write");
    let out = lattice(dir.path()).arg("--config").arg(&file).output().expect("runs");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("server.bind"), "{stderr}");

    let out =
        lattice(dir.path()).env("LATTICE_LIMITS__REQUEST_TIMEOUT", "soon").output().expect("runs");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("limits.request_timeout"), "{stderr}");

    std::fs::write(&file, "[server]\nsever_name = \"typo.example\"\n").expect("write");
    let out = lattice(dir.path()).arg("--config").arg(&file).output().expect("runs");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("sever_name"));

    let out = lattice(dir.path()).args(["--config", "missing.toml"]).output().expect("runs");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("missing.toml"));
}

#[test]
fn zero_config_start_serves_from_lattice_data() {
    let dir = tempfile::tempdir().expect("temp dir");
    // Only the port is changed, so that tests can run side by side.
    let mut command = lattice(dir.path());
    command.env("LATTICE_SERVER__BIND", "127.0.0.1:0");
    let (_server, url) = start(command);
    let versions = get_json(&format!("{url}/_matrix/client/versions"));
    assert!(versions["versions"].as_array().expect("versions").iter().any(|v| v == "v1.12"));
    assert!(dir.path().join("lattice-data/lattice.db").exists());
}

#[test]
fn environment_overrides_the_file() {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("lattice.toml");
    std::fs::write(&file, "[server]\nserver_name = \"file.example\"\nbind = \"127.0.0.1:1\"\n")
        .expect("write");
    let mut command = lattice(dir.path());
    command
        .arg("--config")
        .arg(&file)
        .env("LATTICE_SERVER__BIND", "127.0.0.1:0")
        .env("LATTICE_SERVER__PUBLIC_BASEURL", "https://chat.file.example");
    let (_server, url) = start(command);
    let well_known = get_json(&format!("{url}/.well-known/matrix/client"));
    assert_eq!(well_known["m.homeserver"]["base_url"], "https://chat.file.example");
    // The file's server name is still in force.
    let runtime =
        tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    let registered: serde_json::Value = runtime.block_on(async {
        http_client()
            .post(format!("{url}/_matrix/client/v3/register"))
            .json(&serde_json::json!({"username": "op", "password": "pw", "auth": {"type": "m.login.dummy"}}))
            .send()
            .await
            .expect("request")
            .json()
            .await
            .expect("json")
    });
    assert_eq!(registered["user_id"], "@op:file.example");
}

#[test]
fn metrics_are_served_on_their_own_listener() {
    let dir = tempfile::tempdir().expect("temp dir");
    let port = free_port();
    let mut command = lattice(dir.path());
    command
        .env("LATTICE_SERVER__BIND", "127.0.0.1:0")
        .env("LATTICE_METRICS__BIND", format!("127.0.0.1:{port}"));
    let (_server, url) = start(command);
    let runtime =
        tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    let text = runtime.block_on(async {
        let http = http_client();
        http.post(format!("{url}/_matrix/client/v3/register"))
            .json(&serde_json::json!({"username": "m", "password": "pw", "auth": {"type": "m.login.dummy"}}))
            .send()
            .await
            .expect("register");
        let wrong = serde_json::json!({"type": "m.login.password",
            "identifier": {"type": "m.id.user", "user": "m"}, "password": "nope"});
        http.post(format!("{url}/_matrix/client/v3/login")).json(&wrong).send().await.expect("login");
        // The client API does not serve metrics.
        let on_api = http.get(format!("{url}/metrics")).send().await.expect("get");
        assert_eq!(on_api.status(), 404);
        http.get(format!("http://127.0.0.1:{port}/metrics"))
            .send()
            .await
            .expect("metrics")
            .text()
            .await
            .expect("text")
    });
    // Prometheus text format: comments, or `name{labels} value`.
    for line in text.lines().filter(|l| !l.is_empty() && !l.starts_with('#')) {
        let value = line.rsplit(' ').next().expect("value");
        assert!(value.parse::<f64>().is_ok(), "not a sample: {line}");
    }
    assert!(text.contains("lattice_login_failures_total 1"), "{text}");
    // Durations are histograms with buckets (the dashboard and alerts take
    // quantiles over them), not summaries.
    assert!(
        text.lines().any(|l| l.starts_with("lattice_http_request_duration_seconds_bucket{")
            && l.contains("route=\"/_matrix/client/v3/login\"")
            && l.contains("le=\"0.25\"")),
        "{text}"
    );
    assert!(!text.contains("quantile="), "{text}");
    assert!(
        text.lines().any(|l| l.starts_with("lattice_http_requests_total{")
            && l.contains("route=\"/_matrix/client/v3/register\"")
            && l.contains("status=\"200\"")),
        "{text}"
    );
}

#[test]
fn admin_commands_manage_accounts() {
    let dir = tempfile::tempdir().expect("temp dir");
    let run = |args: &[&str]| {
        let out = lattice(dir.path())
            .args(args)
            .env("LATTICE_LOGGING__LEVEL", "error")
            .output()
            .expect("runs");
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (ok, stdout, _) = run(&["admin", "create-user", "op", "--password", "first", "--admin"]);
    assert!(ok, "{stdout}");
    assert!(stdout.contains("created @op:localhost"));
    let (ok, _, _) = run(&["admin", "create-user", "op", "--password", "again"]);
    assert!(!ok, "a taken user id is refused");
    assert!(!run(&["admin", "create-user", "Not Valid", "--password", "x"]).0);
    assert!(run(&["admin", "make-admin", "@op:localhost", "--revoke"]).0);
    assert!(!run(&["admin", "make-admin", "@ghost:localhost"]).0);
    assert!(run(&["admin", "reset-password", "@op:localhost", "--password", "second"]).0);
    assert!(run(&["admin", "create-user", "gone", "--password", "pw"]).0);
    // Without --password, the password is read from standard input (a
    // terminal would be asked twice), never taken empty.
    let piped = |args: &[&str], input: &str| {
        use std::io::Write;
        let mut child = lattice(dir.path())
            .args(args)
            .env("LATTICE_LOGGING__LEVEL", "error")
            .env_remove("LATTICE_ADMIN_PASSWORD")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("runs");
        child.stdin.take().expect("stdin").write_all(input.as_bytes()).expect("written");
        let out = child.wait_with_output().expect("ends");
        let said = [out.stdout, out.stderr].concat();
        (out.status.success(), String::from_utf8_lossy(&said).into_owned())
    };
    let (ok, said) = piped(&["admin", "create-user", "piped"], "from stdin\n");
    assert!(ok, "{said}");
    let (ok, said) = piped(&["admin", "create-user", "empty"], "\n");
    assert!(!ok && said.contains("no password given"), "{said}");
    // Or from LATTICE_ADMIN_PASSWORD, which is no configuration option.
    let out = lattice(dir.path())
        .args(["admin", "create-user", "from-env"])
        .env("LATTICE_ADMIN_PASSWORD", "kept out of ps")
        .env("LATTICE_LOGGING__LEVEL", "error")
        .output()
        .expect("runs");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stdout));
    assert!(run(&["admin", "deactivate", "@gone:localhost", "--erase"]).0);

    let mut command = lattice(dir.path());
    command.env("LATTICE_SERVER__BIND", "127.0.0.1:0");
    let (_server, url) = start(command);
    let runtime =
        tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    let login = |user: &'static str, password: &'static str| {
        let url = url.clone();
        async move {
            let body = serde_json::json!({"type": "m.login.password",
                "identifier": {"type": "m.id.user", "user": user}, "password": password});
            let answer = http_client()
                .post(format!("{url}/_matrix/client/v3/login"))
                .json(&body)
                .send()
                .await
                .expect("login");
            let status = answer.status().as_u16();
            let body: serde_json::Value = answer.json().await.expect("json");
            (status, body["errcode"].as_str().unwrap_or_default().to_owned())
        }
    };
    runtime.block_on(async {
        assert_eq!(login("op", "second").await.0, 200);
        assert_eq!(login("op", "first").await, (403, "M_FORBIDDEN".to_owned()));
        assert_eq!(login("gone", "pw").await, (403, "M_USER_DEACTIVATED".to_owned()));
        assert_eq!(login("piped", "from stdin").await.0, 200);
        assert_eq!(login("from-env", "kept out of ps").await.0, 200);
        assert_eq!(login("empty", "").await.0, 403);
    });
}

/// reqwest needs its TLS provider installed first; the server's builder does that.
fn http_client() -> reqwest::Client {
    lattice_homeserver::services::http::client_builder().build().expect("http client")
}
