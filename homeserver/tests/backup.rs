//! Backups as an operator takes them: `lattice backup` while the server
//! runs, `lattice verify`, and `lattice restore` into an empty place. A
//! restored server has the same key, answers the same sync tokens and
//! access tokens, and serves the same media; a damaged archive is refused
//! and restores nothing. A PostgreSQL server's archive is taken while it
//! runs too, and restores into PostgreSQL or SQLite. An encrypted server's
//! archive is encrypted, and restores with its key; `lattice rotate-key`
//! moves it to a new one.

mod binary;

use std::path::Path;

use binary::{create_room, http, lattice, register, start, start_command, upload};
use serde_json::{Value, json};
use tokio::process::Command;

/// Runs a `lattice` subcommand on `data_dir`; (success, stdout, stderr).
async fn run(data_dir: &Path, args: &[&str]) -> (bool, String, String) {
    run_command(lattice(data_dir, None), args).await
}

async fn run_command(mut command: Command, args: &[&str]) -> (bool, String, String) {
    let output = command.args(args).output().await.expect("lattice runs");
    let text = |bytes: &[u8]| String::from_utf8_lossy(bytes).into_owned();
    (output.status.success(), text(&output.stdout), text(&output.stderr))
}

async fn get(http: &reqwest::Client, url: String, token: &str) -> (u16, Vec<u8>) {
    let answer = http.get(url).bearer_auth(token).send().await.expect("answer");
    (answer.status().as_u16(), answer.bytes().await.expect("body").to_vec())
}

fn json_of(bytes: &[u8]) -> Value {
    serde_json::from_slice(bytes).expect("json")
}

#[tokio::test]
async fn a_backup_taken_while_running_restores_the_whole_server() {
    let http = http();
    let original = tempfile::tempdir().expect("folder");
    let (mut server, url) = start(original.path(), None).await;
    let token = register(&http, &url).await;
    let key = json_of(&get(&http, format!("{url}/_matrix/key/v2/server"), &token).await.1);
    let room = create_room(&http, &url, &token).await;
    let before: Value =
        json_of(&get(&http, format!("{url}/_matrix/client/v3/sync"), &token).await.1);
    let since = before["next_batch"].as_str().expect("a sync token").to_owned();
    let send = format!("{url}/_matrix/client/v3/rooms/{room}/send/m.room.message/t1");
    http.put(send)
        .bearer_auth(&token)
        .json(&json!({"msgtype": "m.text", "body": "kept safe"}))
        .send()
        .await
        .expect("sent");
    let picture = b"not really a picture, but bytes all the same".to_vec();
    let mxc = upload(&http, &url, &token, picture.clone()).await;

    // Taken while the server runs.
    let archive = original.path().join("backup.tar");
    let archive_arg = archive.display().to_string();
    let (ok, out, err) = run(original.path(), &["backup", "--to", &archive_arg, "--json"]).await;
    assert!(ok, "backup failed: {out}{err}");
    let manifest: Value = serde_json::from_str(&out).expect("the manifest as JSON");
    assert_eq!(manifest["counts"]["users"], 1, "{manifest}");
    assert!(manifest["parts"]["database/lattice.db"]["sha256"].is_string(), "{manifest}");
    server.kill().await.expect("stopped");
    let (ok, out, err) = run(original.path(), &["verify", &archive_arg]).await;
    assert!(ok && out.contains("sound"), "{out}{err}");

    // A damaged copy is refused, and restores nothing.
    let mut bytes = std::fs::read(&archive).expect("archive");
    let middle = bytes.len() / 3;
    bytes[middle] ^= 0xff;
    let damaged = original.path().join("damaged.tar");
    std::fs::write(&damaged, bytes).expect("written");
    let damaged_arg = damaged.display().to_string();
    let (ok, out, err) = run(original.path(), &["verify", &damaged_arg]).await;
    assert!(!ok && err.contains("damaged"), "{ok} {out}{err}");
    let elsewhere = tempfile::tempdir().expect("folder");
    let (ok, _, err) = run(elsewhere.path(), &["restore", &damaged_arg]).await;
    assert!(!ok, "{err}");
    let left: Vec<_> = std::fs::read_dir(elsewhere.path()).expect("folder").collect();
    assert!(left.is_empty(), "a refused restore wrote {left:?}");
    // Nor does a restore write over a server's data.
    let (ok, _, err) = run(original.path(), &["restore", &archive_arg]).await;
    assert!(!ok && err.contains("refusing"), "{err}");

    // Restored elsewhere, the server is the same server.
    let restored = tempfile::tempdir().expect("folder");
    let (ok, out, err) = run(restored.path(), &["restore", &archive_arg]).await;
    assert!(ok, "restore failed: {out}{err}");
    let (_server, url) = start(restored.path(), None).await;
    let key_after = json_of(&get(&http, format!("{url}/_matrix/key/v2/server"), &token).await.1);
    assert_eq!(key_after["verify_keys"], key["verify_keys"], "the same signing key");
    let (status, body) =
        get(&http, format!("{url}/_matrix/client/v3/sync?since={since}&timeout=0"), &token).await;
    assert_eq!(status, 200, "the old token and sync token still work");
    let timeline = &json_of(&body)["rooms"]["join"][&room]["timeline"]["events"];
    let bodies: Vec<&str> = timeline
        .as_array()
        .map(|events| events.iter().filter_map(|e| e["content"]["body"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(bodies, ["kept safe"]);
    assert_eq!(download(&http, &url, &token, &mxc).await, (200, picture), "the same media");
}

async fn download(http: &reqwest::Client, url: &str, token: &str, mxc: &str) -> (u16, Vec<u8>) {
    let media = mxc.trim_start_matches("mxc://");
    get(http, format!("{url}/_matrix/client/v1/media/download/{media}"), token).await
}

/// The media parts of a manifest printed with --json, under `key`.
fn media_parts(manifest: &Value, key: &str) -> usize {
    manifest[key]
        .as_object()
        .map_or(0, |parts| parts.keys().filter(|k| k.starts_with("media/")).count())
}

#[tokio::test]
async fn an_incremental_backup_holds_only_new_media() {
    let http = http();
    let original = tempfile::tempdir().expect("folder");
    let (mut server, url) = start(original.path(), None).await;
    let token = register(&http, &url).await;
    let first = upload(&http, &url, &token, b"the first file".to_vec()).await;
    let full = original.path().join("full.tar").display().to_string();
    let (ok, out, err) = run(original.path(), &["backup", "--to", &full]).await;
    assert!(ok, "{out}{err}");
    let second = upload(&http, &url, &token, b"the second file".to_vec()).await;

    // Only what is new goes into the incremental archive.
    let incremental = original.path().join("incremental.tar").display().to_string();
    let args = ["backup", "--to", &incremental, "--since", &full, "--json"];
    let (ok, out, err) = run(original.path(), &args).await;
    assert!(ok, "{out}{err}");
    let manifest: Value = serde_json::from_str(&out).expect("the manifest as JSON");
    assert_eq!((media_parts(&manifest, "parts"), media_parts(&manifest, "inherited")), (1, 1));
    assert_eq!(manifest["base"]["file"], "full.tar", "{manifest}");
    // Incremental archives build on full ones only.
    let again = original.path().join("again.tar").display().to_string();
    let (ok, _, err) =
        run(original.path(), &["backup", "--to", &again, "--since", &incremental]).await;
    assert!(!ok && err.contains("full one"), "{err}");
    server.kill().await.expect("stopped");

    // It needs its base, to check and to restore.
    let (ok, _, err) = run(original.path(), &["verify", &incremental]).await;
    assert!(!ok && err.contains("--base"), "{err}");
    let (ok, out, err) = run(original.path(), &["verify", &incremental, "--base", &full]).await;
    assert!(ok && out.contains("incremental"), "{out}{err}");
    let restored = tempfile::tempdir().expect("folder");
    let (ok, _, err) = run(restored.path(), &["restore", &incremental]).await;
    assert!(!ok && err.contains("--base"), "{err}");
    let (ok, out, err) = run(restored.path(), &["restore", &incremental, "--base", &full]).await;
    assert!(ok, "{out}{err}");

    let (_server, url) = start(restored.path(), None).await;
    assert_eq!(download(&http, &url, &token, &first).await, (200, b"the first file".to_vec()));
    assert_eq!(download(&http, &url, &token, &second).await, (200, b"the second file".to_vec()));
}

/// The binary on `data_dir` with the at-rest key in `key` (and earlier ones).
fn encrypted(data_dir: &Path, key: &Path, previous: &[&Path]) -> Command {
    let mut command = lattice(data_dir, None);
    command.env("LATTICE_ENCRYPTION__KEY_FILE", key);
    if !previous.is_empty() {
        let files: Vec<String> = previous.iter().map(|p| p.display().to_string()).collect();
        command.env(
            "LATTICE_ENCRYPTION__PREVIOUS_KEY_FILES",
            serde_json::to_string(&files).expect("json"),
        );
    }
    command
}

/// Whether `needle` occurs in the file at `path`.
fn holds(path: &Path, needle: &[u8]) -> bool {
    std::fs::read(path).expect("read").windows(needle.len()).any(|w| w == needle)
}

#[tokio::test]
async fn an_encrypted_server_backs_up_restores_and_rotates_its_key() {
    let http = http();
    let keys = tempfile::tempdir().expect("folder");
    let (old_key, new_key) = (keys.path().join("old.key"), keys.path().join("new.key"));
    std::fs::write(&old_key, "ab".repeat(32)).expect("key");
    std::fs::write(&new_key, "cd".repeat(32)).expect("key");
    let original = tempfile::tempdir().expect("folder");
    let (mut server, url) = start_command(encrypted(original.path(), &old_key, &[])).await;
    let token = register(&http, &url).await;
    let room = create_room(&http, &url, &token).await;
    let send = format!("{url}/_matrix/client/v3/rooms/{room}/send/m.room.message/t1");
    let body = json!({"msgtype": "m.text", "body": "SECRET-PLANS-FOR-TUESDAY"});
    http.put(send).bearer_auth(&token).json(&body).send().await.expect("sent");
    let file = b"SECRET-ATTACHMENT-BYTES ".repeat(100);
    let mxc = upload(&http, &url, &token, file.clone()).await;

    // The archive holds the database and media as the disk does: encrypted.
    let archive = original.path().join("backup.tar");
    let archive_arg = archive.display().to_string();
    let command = encrypted(original.path(), &old_key, &[]);
    let (ok, out, err) = run_command(command, &["backup", "--to", &archive_arg]).await;
    assert!(ok, "{out}{err}");
    server.kill().await.expect("stopped");
    for text in ["SECRET-PLANS-FOR-TUESDAY", "SECRET-ATTACHMENT-BYTES", "@alice:"] {
        assert!(!holds(&archive, text.as_bytes()), "{text} is not in the archive in clear");
    }

    // Restored, it starts with its key only, and reads everything.
    let restored = tempfile::tempdir().expect("folder");
    let (ok, out, err) = run(restored.path(), &["restore", &archive_arg]).await;
    assert!(ok, "{out}{err}");
    let without_key = lattice(restored.path(), None).output().await.expect("runs");
    let refused = String::from_utf8_lossy(&without_key.stderr).into_owned()
        + &String::from_utf8_lossy(&without_key.stdout);
    assert!(!without_key.status.success() && refused.contains("encrypted"), "{refused}");

    // Rotation: the new key, the old one as previous; rotate-key finishes it.
    let rotate = encrypted(restored.path(), &new_key, &[&old_key]);
    let (ok, out, err) = run_command(rotate, &["rotate-key"]).await;
    assert!(
        ok && out.contains("everything is under key") && out.contains(" 1 media files"),
        "{out}{err}"
    );
    let old_only = encrypted(restored.path(), &old_key, &[]).output().await.expect("runs");
    assert!(!old_only.status.success(), "the old key alone no longer opens it");
    let (_server, url) = start_command(encrypted(restored.path(), &new_key, &[])).await;
    assert_eq!(download(&http, &url, &token, &mxc).await, (200, file));
    let messages = format!("{url}/_matrix/client/v3/rooms/{room}/messages?dir=b");
    let (status, page) = get(&http, messages, &token).await;
    assert_eq!(status, 200);
    assert!(String::from_utf8_lossy(&page).contains("SECRET-PLANS-FOR-TUESDAY"));
}

/// The bodies of a room's latest messages, as `token`'s user reads them.
async fn bodies(http: &reqwest::Client, url: &str, token: &str, room: &str) -> String {
    let messages = format!("{url}/_matrix/client/v3/rooms/{room}/messages?dir=b");
    let (status, page) = get(http, messages, token).await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&page));
    String::from_utf8_lossy(&page).into_owned()
}

/// How many messages a full-text search for `term` finds.
async fn found(http: &reqwest::Client, url: &str, token: &str, term: &str) -> u64 {
    let body = json!({"search_categories": {"room_events": {"search_term": term}}});
    let search = format!("{url}/_matrix/client/v3/search");
    let answer = binary::call(http, reqwest::Method::POST, search, token, Some(body)).await;
    answer["search_categories"]["room_events"]["count"].as_u64().unwrap_or(0)
}

#[tokio::test]
async fn a_postgres_server_backs_up_while_running_and_restores_anywhere() {
    if !lattice_homeserver::testing::postgres_available() {
        eprintln!("skipped: TEST_POSTGRES_URL is not set");
        return;
    }
    let http = http();
    let original = tempfile::tempdir().expect("folder");
    let database = lattice_homeserver::testing::fresh_postgres_database().await;
    let (mut server, url) = start(original.path(), Some(&database)).await;
    let token = register(&http, &url).await;
    let room = create_room(&http, &url, &token).await;
    let send = format!("{url}/_matrix/client/v3/rooms/{room}/send/m.room.message/t1");
    let body = json!({"msgtype": "m.text", "body": "kept in postgres"});
    http.put(send).bearer_auth(&token).json(&body).send().await.expect("sent");
    let file = b"a file beside a postgres database".to_vec();
    let mxc = upload(&http, &url, &token, file.clone()).await;

    let archive = original.path().join("backup.tar").display().to_string();
    let command = lattice(original.path(), Some(&database));
    let (ok, out, err) = run_command(command, &["backup", "--to", &archive, "--json"]).await;
    assert!(ok, "{out}{err}");
    let manifest: Value = serde_json::from_str(&out).expect("the manifest as JSON");
    assert_eq!(manifest["counts"]["users"], 1, "{manifest}");
    server.kill().await.expect("stopped");

    // Into another PostgreSQL database: the same tokens, messages and files.
    let restored = tempfile::tempdir().expect("folder");
    let other = lattice_homeserver::testing::fresh_postgres_database().await;
    let (ok, out, err) =
        run_command(lattice(restored.path(), Some(&other)), &["restore", &archive]).await;
    assert!(ok, "{out}{err}");
    let again = tempfile::tempdir().expect("folder");
    let (ok, _, err) =
        run_command(lattice(again.path(), Some(&other)), &["restore", &archive]).await;
    assert!(!ok && err.contains("has users"), "not over a database in use: {err}");
    let (mut server, url) = start(restored.path(), Some(&other)).await;
    assert!(bodies(&http, &url, &token, &room).await.contains("kept in postgres"));
    assert_eq!(download(&http, &url, &token, &mxc).await, (200, file.clone()));
    assert_eq!(found(&http, &url, &token, "postgres").await, 1);
    server.kill().await.expect("stopped");

    // Into SQLite: the same, full-text search included.
    let on_sqlite = tempfile::tempdir().expect("folder");
    let (ok, out, err) = run(on_sqlite.path(), &["restore", &archive]).await;
    assert!(ok, "{out}{err}");
    let (_server, url) = start(on_sqlite.path(), None).await;
    assert!(bodies(&http, &url, &token, &room).await.contains("kept in postgres"));
    assert_eq!(download(&http, &url, &token, &mxc).await, (200, file));
    assert_eq!(found(&http, &url, &token, "postgres").await, 1);
}
