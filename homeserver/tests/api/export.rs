//! A user's data export (GDPR): everything held about them, as files.

use serde_json::{Value, json};

use crate::{
    backend_tests,
    common::{Backend, TestServer, upload_media},
};

backend_tests!(a_users_export_holds_their_data);

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
