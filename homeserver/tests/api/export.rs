//! A user's data export (GDPR): everything held about them, as files.

use serde_json::{Value, json};

use crate::{
    backend_tests,
    common::{Backend, TestServer, password_auth, upload_media},
};

backend_tests!(a_users_export_holds_their_data, users_download_their_own_export);

fn read(dir: &std::path::Path, name: &str) -> Value {
    serde_json::from_slice(&std::fs::read(dir.join(name)).expect(name)).expect("json")
}

async fn a_users_export_holds_their_data(backend: Backend) {
    let s = TestServer::new(backend).await;
    let alice = s.register("alice", "pw").await;
    let bob = s.register("bob", "pw").await;
    let displayname = format!("/_matrix/client/v3/profile/{}/displayname", alice.user_id);
    s.put(&displayname, Some(&alice.token), json!({"displayname": "Alice A."})).await.ok();
    let room = s.create_room(&alice.token, json!({"preset": "public_chat"})).await;
    s.join(&bob.token, &room).await.ok();
    s.send_text(&alice.token, &room, "mine").await;
    s.send_text(&bob.token, &room, "not mine").await;
    let data =
        format!("/_matrix/client/v3/user/{}/account_data/org.example.settings", alice.user_id);
    s.put(&data, Some(&alice.token), json!({"theme": "dark"})).await.ok();
    let mxc =
        upload_media(s.http(), s.url(), &alice.token, "text/plain", b"my file".to_vec()).await;

    let dir = tempfile::tempdir().expect("folder");
    let user = ruma::UserId::parse(&alice.user_id).expect("id");
    let summary = s.services().admin.export_user(&user, dir.path()).await.expect("exported");
    assert_eq!((summary.rooms, summary.devices, summary.media), (1, 1, 1), "{summary:?}");

    assert_eq!(read(dir.path(), "profile.json")["profile"]["displayname"], "Alice A.");
    assert_eq!(read(dir.path(), "devices.json")[0]["device_id"], alice.device_id.as_str());
    let settings = read(dir.path(), "account_data.json");
    let found = settings.as_array().expect("list").iter().any(|d| d["content"]["theme"] == "dark");
    assert!(found, "{settings}");
    assert_eq!(read(dir.path(), "rooms.json")[0]["room_id"], room.as_str());
    let events = std::fs::read_to_string(dir.path().join("events.jsonl")).expect("events");
    let events: Vec<Value> =
        events.lines().map(|l| serde_json::from_str(l).expect("json")).collect();
    assert_eq!(events.len(), summary.events);
    assert!(events.iter().all(|e| e["sender"] == alice.user_id.as_str()), "only her events");
    assert!(events.iter().any(|e| e["content"]["body"] == "mine"));
    let media_id = mxc.rsplit('/').next().expect("media id");
    assert_eq!(read(dir.path(), "media.json")[0]["media_id"], media_id);
    assert_eq!(std::fs::read(dir.path().join("media").join(media_id)).expect("file"), b"my file");
}

/// The self-service export: the same files, as a tar archive, once the
/// user entered their password again.
async fn users_download_their_own_export(backend: Backend) {
    let s = TestServer::new(backend).await;
    let alice = s.register("alice", "pw").await;
    let room = s.create_room(&alice.token, json!({})).await;
    s.send_text(&alice.token, &room, "mine").await;
    let mxc =
        upload_media(s.http(), s.url(), &alice.token, "text/plain", b"my file".to_vec()).await;
    let path = "/_lattice/client/v1/account/export";

    // Asked to prove it is her: the password, as for deactivation.
    let challenge = s.post(path, Some(&alice.token), json!({})).await;
    assert_eq!(challenge.status, 401, "{}", challenge.body);
    let session = challenge.body["session"].as_str().expect("a UIA session").to_owned();
    let mut wrong = password_auth("alice", "not it");
    wrong["session"] = json!(session);
    let refused = s.post(path, Some(&alice.token), json!({"auth": wrong})).await;
    assert_eq!(
        (refused.status.as_u16(), refused.errcode()),
        (401, "M_FORBIDDEN"),
        "{}",
        refused.body
    );
    s.post(path, None, json!({})).await.err(401, "M_MISSING_TOKEN");

    let mut auth = password_auth("alice", "pw");
    auth["session"] = json!(session);
    let answer = s
        .http()
        .post(format!("{}{path}", s.url()))
        .bearer_auth(&alice.token)
        .json(&json!({"auth": auth}))
        .send()
        .await
        .expect("export");
    assert_eq!(answer.status(), 200);
    assert_eq!(answer.headers()["content-type"], "application/x-tar");
    let disposition = answer.headers()["content-disposition"].to_str().expect("text").to_owned();
    assert_eq!(disposition, "attachment; filename=\"alice-export.tar\"");
    let bytes = answer.bytes().await.expect("the archive");

    let mut files = std::collections::HashMap::new();
    let mut archive = tar::Archive::new(&bytes[..]);
    for entry in archive.entries().expect("a tar archive") {
        let mut entry = entry.expect("an entry");
        let name = entry.path().expect("a name").to_string_lossy().into_owned();
        let mut content = Vec::new();
        std::io::Read::read_to_end(&mut entry, &mut content).expect("read");
        files.insert(name, content);
    }
    let profile: Value = serde_json::from_slice(&files["alice-export/profile.json"]).expect("json");
    assert_eq!(profile["user_id"], alice.user_id.as_str());
    let events = String::from_utf8(files["alice-export/events.jsonl"].clone()).expect("text");
    assert!(events.lines().any(|l| l.contains("\"mine\"")), "{events}");
    let media_id = mxc.rsplit('/').next().expect("media id");
    assert_eq!(files[&format!("alice-export/media/{media_id}")], b"my file");
}
