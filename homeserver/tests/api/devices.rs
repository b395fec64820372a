//! Device management, with user-interactive auth for deletion.

use serde_json::json;

use crate::{
    backend_tests,
    common::{Backend, TestServer, session_from},
};

backend_tests!(list_get_and_rename_devices, deleting_devices_needs_the_password);

async fn list_get_and_rename_devices(backend: Backend) {
    let s = TestServer::new(backend).await;
    let alice = s.register("alice", "pw").await;
    let path = format!("/_matrix/client/v3/devices/{}", alice.device_id);
    let device = s.get(&path, Some(&alice.token)).await.ok();
    assert_eq!(device["device_id"], alice.device_id.as_str());

    s.put(&path, Some(&alice.token), json!({"display_name": "Work laptop"})).await.ok();
    let device = s.get(&path, Some(&alice.token)).await.ok();
    assert_eq!(device["display_name"], "Work laptop");

    s.get("/_matrix/client/v3/devices/NOPE", Some(&alice.token)).await.err(404, "M_NOT_FOUND");
    s.put("/_matrix/client/v3/devices/NOPE", Some(&alice.token), json!({"display_name": "x"}))
        .await
        .err(404, "M_NOT_FOUND");

    // Another user's device is invisible.
    let bob = s.register("bob", "pw").await;
    s.get(&path, Some(&bob.token)).await.err(404, "M_NOT_FOUND");
    let bobs = s.get("/_matrix/client/v3/devices", Some(&bob.token)).await.ok();
    assert_eq!(bobs["devices"].as_array().expect("devices").len(), 1);
}

async fn deleting_devices_needs_the_password(backend: Backend) {
    let s = TestServer::new(backend).await;
    let alice = s.register("alice", "pw").await;
    let phone = session_from(&s.login("alice", "pw", Some("PHONE")).await.ok());
    let path = "/_matrix/client/v3/devices/PHONE";

    let challenge = s.delete(path, Some(&alice.token), Some(json!({}))).await;
    assert_eq!(challenge.status, 401);
    assert_eq!(challenge.body["flows"], json!([{"stages": ["m.login.password"]}]));
    let session = challenge.body["session"].as_str().expect("session");

    let wrong = s
        .delete(
            path,
            Some(&alice.token),
            Some(json!({"auth": {"type": "m.login.password", "session": session,
                "identifier": {"type": "m.id.user", "user": "alice"}, "password": "nope"}})),
        )
        .await;
    assert_eq!(wrong.status, 401);
    assert_eq!(wrong.body["errcode"], "M_FORBIDDEN");
    s.get("/_matrix/client/v3/account/whoami", Some(&phone.token)).await.ok();

    // Someone else's password does not unlock alice's session.
    s.register("mallory", "mallory-pw").await;
    let impostor = s
        .delete(
            path,
            Some(&alice.token),
            Some(json!({"auth": {"type": "m.login.password", "session": session,
                "identifier": {"type": "m.id.user", "user": "mallory"}, "password": "mallory-pw"}})),
        )
        .await;
    assert_eq!(impostor.status, 401);

    s.delete(
        path,
        Some(&alice.token),
        Some(json!({"auth": {"type": "m.login.password", "session": session,
            "identifier": {"type": "m.id.user", "user": "@alice:localhost"}, "password": "pw"}})),
    )
    .await
    .ok();
    s.get("/_matrix/client/v3/account/whoami", Some(&phone.token))
        .await
        .err(401, "M_UNKNOWN_TOKEN");
    s.get(path, Some(&alice.token)).await.err(404, "M_NOT_FOUND");

    // Bulk deletion, with the password sent straight away.
    let a = session_from(&s.login("alice", "pw", Some("A")).await.ok());
    let b = session_from(&s.login("alice", "pw", Some("B")).await.ok());
    s.post(
        "/_matrix/client/v3/delete_devices",
        Some(&alice.token),
        json!({"devices": ["A", "B", "NOT-A-DEVICE"], "auth": {"type": "m.login.password",
            "identifier": {"type": "m.id.user", "user": "alice"}, "password": "pw"}}),
    )
    .await
    .ok();
    for gone in [&a, &b] {
        s.get("/_matrix/client/v3/account/whoami", Some(&gone.token))
            .await
            .err(401, "M_UNKNOWN_TOKEN");
    }
    let left = s.get("/_matrix/client/v3/devices", Some(&alice.token)).await.ok();
    assert_eq!(left["devices"].as_array().expect("devices").len(), 1);
}
