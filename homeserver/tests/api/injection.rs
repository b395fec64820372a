//! SQL injection: hostile text in every field that reaches a query is
//! stored or refused as text, and changes nothing else.

use serde_json::json;

use crate::{
    backend_tests,
    common::{Backend, TestServer},
};

backend_tests!(hostile_text_is_only_ever_text);

const PAYLOADS: [&str; 6] = [
    "'; DROP TABLE users; --",
    "\" OR 1=1 --",
    "x'); DELETE FROM events; --",
    "1; UPDATE users SET is_admin = 1",
    "%' OR '%'='",
    "\\'; SELECT pg_sleep(5); --",
];

async fn hostile_text_is_only_ever_text(backend: Backend) {
    let s = TestServer::new(backend).await;
    let alice = s.register("alice", "pw").await;
    let room = s.create_room(&alice.token, json!({"preset": "public_chat"})).await;
    let t = Some(alice.token.as_str());
    for (i, payload) in PAYLOADS.iter().enumerate() {
        // Login and registration: refused as unknown / invalid, nothing more.
        s.login(payload, payload, None).await.err(403, "M_FORBIDDEN");
        let register =
            json!({"username": payload, "password": payload, "auth": {"type": "m.login.dummy"}});
        s.post("/_matrix/client/v3/register", None, register).await.err(400, "M_INVALID_USERNAME");
        // Stored as given, read back as given.
        s.put(
            "/_matrix/client/v3/profile/@alice:localhost/displayname",
            t,
            json!({"displayname": payload}),
        )
        .await
        .ok();
        let name =
            s.get("/_matrix/client/v3/profile/@alice:localhost/displayname", None).await.ok();
        assert_eq!(name["displayname"], *payload);
        s.put(
            &format!("/_matrix/client/v3/rooms/{room}/state/m.room.name"),
            t,
            json!({"name": payload}),
        )
        .await
        .ok();
        let sent = s.send_text(&alice.token, &room, payload).await;
        let event = s.get(&format!("/_matrix/client/v3/rooms/{room}/event/{sent}"), t).await.ok();
        assert_eq!(event["content"]["body"], *payload);
        let data_type = format!("org.example.{i}");
        s.put(
            &format!("/_matrix/client/v3/user/{}/account_data/{data_type}", alice.user_id),
            t,
            json!({"value": payload}),
        )
        .await
        .ok();
        let search = json!({"search_categories": {"room_events": {"search_term": payload}}});
        s.post("/_matrix/client/v3/search", t, search).await.ok();
        let encoded: String = payload.bytes().map(|b| format!("%{b:02X}")).collect();
        s.get(&format!("/_matrix/client/v3/user/{}/filter/{encoded}", alice.user_id), t)
            .await
            .err(404, "M_NOT_FOUND");
        s.get(&format!("/_matrix/client/v3/directory/room/%23{encoded}:localhost"), None).await;
        s.post(
            "/_matrix/client/v3/publicRooms",
            t,
            json!({"filter": {"generic_search_term": payload}}),
        )
        .await
        .ok();
    }
    // Everything is still there, and nobody became an admin of anything.
    s.login("alice", "pw", None).await.ok();
    let page =
        s.get(&format!("/_matrix/client/v3/rooms/{room}/messages?dir=b&limit=50"), t).await.ok();
    assert_eq!(TestServer::bodies(&page["chunk"]).len(), PAYLOADS.len());
    let me = s.get("/_matrix/client/v3/account/whoami", t).await.ok();
    assert_eq!(me["user_id"], "@alice:localhost");
}
