//! Element's own SDK, matrix-js-sdk from npm, against a real server: the
//! flows Element Web runs (homeserver/tests/js/element_flows.mjs). Needs
//! Node.js and `npm ci` in homeserver/tests/js; without them the test
//! says it was skipped, unless LATTICE_REQUIRE_JS is set (as in CI).

use std::{path::PathBuf, process::Stdio, time::Duration};

use crate::common::{Backend, TestServer};

fn scripts() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/js")
}

/// Whether Node.js and the installed SDK are here (else why not).
fn ready() -> bool {
    let installed = scripts().join("node_modules/matrix-js-sdk").exists();
    let node = std::process::Command::new("node").arg("--version").output().is_ok();
    if installed && node {
        return true;
    }
    assert!(
        std::env::var_os("LATTICE_REQUIRE_JS").is_none(),
        "LATTICE_REQUIRE_JS is set but node or homeserver/tests/js/node_modules is missing"
    );
    eprintln!("skipped: run `npm ci` in homeserver/tests/js (needs Node.js 20+)");
    false
}

#[tokio::test]
async fn element_web_flows_work_through_matrix_js_sdk() {
    if !ready() {
        return;
    }
    let s = TestServer::new(Backend::Sqlite).await;
    let url = s.url().to_owned();
    // Node runs beside the server, which this runtime keeps serving.
    let run = tokio::task::spawn_blocking(move || {
        std::process::Command::new("node")
            .arg(scripts().join("element_flows.mjs"))
            .arg(url)
            .current_dir(scripts())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .output()
    });
    let output = tokio::time::timeout(Duration::from_secs(120), run)
        .await
        .expect("the SDK run finished in time")
        .expect("the run's thread")
        .expect("node runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    eprintln!("{stdout}");
    assert!(output.status.success(), "matrix-js-sdk run failed:\n{stdout}\n{stderr}");
    for check in [
        "ok tags are set",
        "ok sync carries the tags",
        "ok the pusher is listed",
        "ok the directory finds a room mate",
        "ok the hierarchy lists the space and its child",
        "ok the delayed event was sent",
        "ok the fallback page takes the password",
        "all done",
    ] {
        assert!(stdout.contains(check), "missing `{check}` in:\n{stdout}");
    }
}
