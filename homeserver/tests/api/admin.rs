//! The admin API (Synapse's paths): refused to everyone but server admins.

use serde_json::json;

use crate::{
    backend_tests,
    common::{Backend, TestServer},
};

backend_tests!(
    admin_routes_refuse_non_admins,
    admins_manage_users,
    reports_reach_admins,
    admins_inspect_and_shut_down_rooms,
    admins_purge_old_history,
    admins_take_over_rooms,
    registration_tokens_admit_registrations,
    admins_quarantine_and_delete_media,
    admins_send_server_notices,
    shadow_banned_users_talk_to_nobody,
    admins_list_and_end_sessions,
);

async fn reports_reach_admins(backend: Backend) {
    let s = TestServer::new(backend).await;
    let root = s.admin().await;
    let alice = s.register("alice", "pw").await;
    let bob = s.register("bob", "pw").await;
    let room = s.create_room(&alice.token, json!({"preset": "public_chat"})).await;
    s.join(&bob.token, &room).await.ok();
    let rude = s.send_text(&alice.token, &room, "rude words").await;
    s.post(
        &format!("/_matrix/client/v3/rooms/{room}/report/{rude}"),
        Some(&bob.token),
        json!({"reason": "rude"}),
    )
    .await
    .ok();
    s.post(
        &format!("/_matrix/client/v3/rooms/{room}/report"),
        Some(&bob.token),
        json!({"reason": "whole room"}),
    )
    .await
    .ok();
    // Someone who cannot see the event cannot report it.
    let eve = s.register("eve", "pw").await;
    s.post(
        &format!("/_matrix/client/v3/rooms/{room}/report/{rude}"),
        Some(&eve.token),
        json!({"reason": "x"}),
    )
    .await
    .err(404, "M_NOT_FOUND");
    let reports = s.get("/_synapse/admin/v1/event_reports", Some(&root.token)).await.ok();
    assert_eq!(reports["total"], 2);
    let list = reports["event_reports"].as_array().expect("reports");
    assert!(list.iter().any(|r| r["event_id"] == rude.as_str()
        && r["reason"] == "rude"
        && r["user_id"] == bob.user_id.as_str()));
    s.get("/_synapse/admin/v1/event_reports", Some(&bob.token)).await.err(403, "M_FORBIDDEN");
}

const ROUTES: [(&str, &str); 38] = [
    ("GET", "/_synapse/admin/v2/users/@alice:localhost/devices"),
    ("DELETE", "/_synapse/admin/v2/users/@alice:localhost/devices/PHONE"),
    ("GET", "/_lattice/admin/v1/audit_log"),
    ("GET", "/_lattice/admin/v1/appservices"),
    ("GET", "/_lattice/admin/v1/retention"),
    ("POST", "/_lattice/admin/v1/retention/run"),
    ("GET", "/_synapse/admin/v1/registration_tokens/abc"),
    ("PUT", "/_synapse/admin/v2/users/@alice:localhost"),
    ("POST", "/_synapse/admin/v1/users/@alice:localhost/shadow_ban"),
    ("DELETE", "/_synapse/admin/v1/users/@alice:localhost/shadow_ban"),
    ("POST", "/_synapse/admin/v1/send_server_notice"),
    ("GET", "/_synapse/admin/v1/users/@alice:localhost/override_ratelimit"),
    ("POST", "/_synapse/admin/v1/users/@alice:localhost/override_ratelimit"),
    ("DELETE", "/_synapse/admin/v1/users/@alice:localhost/override_ratelimit"),
    ("GET", "/_synapse/admin/v1/users/@alice:localhost/media"),
    ("POST", "/_synapse/admin/v1/media/quarantine/localhost/abc"),
    ("POST", "/_synapse/admin/v1/media/unquarantine/localhost/abc"),
    ("DELETE", "/_synapse/admin/v1/media/localhost/abc"),
    ("GET", "/_synapse/admin/v1/whois/@alice:localhost"),
    ("GET", "/_synapse/admin/v1/registration_tokens"),
    ("POST", "/_synapse/admin/v1/registration_tokens/new"),
    ("PUT", "/_synapse/admin/v1/registration_tokens/abc"),
    ("DELETE", "/_synapse/admin/v1/registration_tokens/abc"),
    ("GET", "/_synapse/admin/v1/server_version"),
    ("GET", "/_synapse/admin/v2/users"),
    ("GET", "/_synapse/admin/v2/users/@alice:localhost"),
    ("POST", "/_synapse/admin/v1/deactivate/@alice:localhost"),
    ("POST", "/_synapse/admin/v1/reset_password/@alice:localhost"),
    ("GET", "/_synapse/admin/v1/event_reports"),
    ("GET", "/_synapse/admin/v1/rooms"),
    ("GET", "/_synapse/admin/v1/rooms/!room:localhost"),
    ("GET", "/_synapse/admin/v1/rooms/!room:localhost/members"),
    ("GET", "/_synapse/admin/v1/rooms/!room:localhost/state"),
    ("DELETE", "/_synapse/admin/v1/rooms/!room:localhost"),
    ("POST", "/_synapse/admin/v1/purge_history/!room:localhost"),
    ("POST", "/_synapse/admin/v1/purge_history/!room:localhost/$event"),
    ("GET", "/_synapse/admin/v1/purge_history_status/abc"),
    ("POST", "/_synapse/admin/v1/rooms/!room:localhost/make_room_admin"),
];

/// spec/admin-api.json lists exactly the routes above.
#[test]
fn admin_routes_are_documented() {
    let spec: serde_json::Value = serde_json::from_str(include_str!(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../spec/admin-api.json"
    )))
    .expect("the spec is JSON");
    let matches = |template: &str, path: &str| {
        let (a, b): (Vec<&str>, Vec<&str>) =
            (template.split('/').collect(), path.split('/').collect());
        a.len() == b.len() && a.iter().zip(&b).all(|(t, p)| t == p || t.starts_with('{'))
    };
    let documented: Vec<(String, String)> = spec["paths"]
        .as_object()
        .expect("paths")
        .iter()
        .flat_map(|(path, ops)| {
            ops.as_object()
                .expect("operations")
                .keys()
                .map(move |m| (m.to_uppercase(), path.clone()))
        })
        .collect();
    for (method, path) in ROUTES {
        // A concrete segment wins over a template one (".../new" vs ".../{token}").
        let found = documented.iter().any(|(m, t)| m == method && matches(t, path));
        assert!(found, "{method} {path} is not in spec/admin-api.json");
    }
    for (method, template) in &documented {
        let tested = ROUTES.iter().any(|(m, p)| m == method && matches(template, p));
        assert!(tested, "{method} {template} is documented but not checked against non-admins");
    }
}

async fn admin_routes_refuse_non_admins(backend: Backend) {
    let s = TestServer::new(backend).await;
    let alice = s.register("alice", "pw").await;
    for (method, path) in ROUTES {
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        s.call(method.clone(), path, None, Some(json!({"new_password": "x"})))
            .await
            .err(401, "M_MISSING_TOKEN");
        s.call(method, path, Some(&alice.token), Some(json!({"new_password": "x"})))
            .await
            .err(403, "M_FORBIDDEN");
    }
    s.put(
        "/_synapse/admin/v2/users/@mallory:localhost",
        Some(&alice.token),
        json!({"admin": true}),
    )
    .await
    .err(403, "M_FORBIDDEN");
    // Nothing happened to alice.
    s.login("alice", "pw", None).await.ok();
}

async fn admins_manage_users(backend: Backend) {
    let s = TestServer::new(backend).await;
    let root = s.admin().await;
    let t = Some(root.token.as_str());
    let version = s.get("/_synapse/admin/v1/server_version", t).await.ok();
    assert!(version["server_version"].is_string());

    let created = s
        .call(
            reqwest::Method::PUT,
            "/_synapse/admin/v2/users/@carol:localhost",
            t,
            Some(json!({"password": "carol-pw", "displayname": "Carol", "admin": false})),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.body);
    assert_eq!(created.body["name"], "@carol:localhost");
    assert_eq!(created.body["displayname"], "Carol");
    s.login("carol", "carol-pw", None).await.ok();

    let listed = s.get("/_synapse/admin/v2/users?limit=1", t).await.ok();
    assert_eq!(listed["users"].as_array().expect("users").len(), 1);
    assert_eq!(listed["total"], 2);
    let next = listed["next_token"].as_str().expect("next_token");
    let rest = s.get(&format!("/_synapse/admin/v2/users?from={next}"), t).await.ok();
    assert_eq!(rest["users"].as_array().expect("users").len(), 1);
    let found = s.get("/_synapse/admin/v2/users?name=caro", t).await.ok();
    assert_eq!(found["users"][0]["name"], "@carol:localhost");

    s.post(
        "/_synapse/admin/v1/reset_password/@carol:localhost",
        t,
        json!({"new_password": "new-pw"}),
    )
    .await
    .ok();
    s.login("carol", "carol-pw", None).await.err(403, "M_FORBIDDEN");
    s.login("carol", "new-pw", None).await.ok();
    s.post("/_synapse/admin/v1/deactivate/@carol:localhost", t, json!({"erase": true})).await.ok();
    s.login("carol", "new-pw", None).await.err(403, "M_USER_DEACTIVATED");
    let carol = s.get("/_synapse/admin/v2/users/@carol:localhost", t).await.ok();
    assert_eq!(carol["deactivated"], json!(true));
    s.get("/_synapse/admin/v2/users/@nobody:localhost", t).await.err(404, "M_NOT_FOUND");
    s.post(
        "/_synapse/admin/v1/reset_password/@root:localhost",
        t,
        json!({"password": "wrong field"}),
    )
    .await
    .err(400, "M_BAD_JSON");
}

async fn admins_inspect_and_shut_down_rooms(backend: Backend) {
    let s = TestServer::new(backend).await;
    let root = s.admin().await;
    let alice = s.register("alice", "pw").await;
    let bob = s.register("bob", "pw").await;
    let token = Some(root.token.as_str());
    let spam = s
        .create_room(
            &alice.token,
            json!({"preset": "public_chat", "name": "Spam", "room_alias_name": "spam", "visibility": "public"}),
        )
        .await;
    s.join(&bob.token, &spam).await.ok();
    let quiet = s.create_room(&bob.token, json!({"name": "Quiet"})).await;

    let listed = s.get("/_synapse/admin/v1/rooms?limit=1", token).await.ok();
    assert_eq!(listed["total_rooms"], 2);
    assert_eq!(listed["rooms"].as_array().map(Vec::len), Some(1));
    assert_eq!(listed["next_batch"], 1);
    let all = s.get("/_synapse/admin/v1/rooms", token).await.ok();
    let spam_row = all["rooms"]
        .as_array()
        .expect("rooms")
        .iter()
        .find(|room| room["room_id"] == spam.as_str())
        .expect("listed")
        .clone();
    assert_eq!(spam_row["name"], "Spam");
    assert_eq!(spam_row["joined_members"], 2);
    assert_eq!(spam_row["joined_local_members"], 2);
    assert_eq!(spam_row["creator"], alice.user_id);
    assert_eq!(spam_row["join_rules"], "public");
    assert_eq!(spam_row["canonical_alias"], "#spam:localhost");
    let details = s.get(&format!("/_synapse/admin/v1/rooms/{quiet}"), token).await.ok();
    assert_eq!(
        (details["name"].as_str(), details["joined_members"].as_i64()),
        (Some("Quiet"), Some(1))
    );
    let members = s.get(&format!("/_synapse/admin/v1/rooms/{spam}/members"), token).await.ok();
    assert_eq!(members["total"], 2);
    let state = s.get(&format!("/_synapse/admin/v1/rooms/{spam}/state"), token).await.ok();
    assert!(state["state"].as_array().expect("state").iter().any(|e| e["type"] == "m.room.create"));
    s.get("/_synapse/admin/v1/rooms/!nothing:localhost", token).await.err(404, "M_NOT_FOUND");

    // Shut the spam room down: everyone leaves, the alias goes, and nobody
    // can come back.
    let done = s
        .delete(
            &format!("/_synapse/admin/v1/rooms/{spam}"),
            token,
            Some(json!({"block": true, "purge": false})),
        )
        .await
        .ok();
    let mut kicked: Vec<String> =
        serde_json::from_value(done["kicked_users"].clone()).expect("list");
    kicked.sort();
    assert_eq!(kicked, [alice.user_id.clone(), bob.user_id.clone()]);
    assert_eq!(done["local_aliases"], json!(["#spam:localhost"]));
    let after = s.get(&format!("/_synapse/admin/v1/rooms/{spam}"), token).await.ok();
    assert_eq!(
        (after["joined_members"].as_i64(), after["blocked"].as_bool()),
        (Some(0), Some(true))
    );
    s.join(&bob.token, &spam).await.err(403, "M_FORBIDDEN");
    s.get("/_matrix/client/v3/directory/room/%23spam:localhost", None)
        .await
        .err(404, "M_NOT_FOUND");
    // Other rooms are untouched.
    s.send_text(&bob.token, &quiet, "still here").await;

    // Deleting with the default purge forgets the room entirely.
    s.delete(&format!("/_synapse/admin/v1/rooms/{spam}"), token, Some(json!({"block": true})))
        .await
        .ok();
    s.get(&format!("/_synapse/admin/v1/rooms/{spam}"), token).await.err(404, "M_NOT_FOUND");
    let path = format!("/_matrix/client/v3/rooms/{spam}/messages?dir=b");
    assert!(s.get(&path, Some(&alice.token)).await.status.is_client_error());
    s.join(&bob.token, &spam).await.err(403, "M_FORBIDDEN");
    let listed = s.get("/_synapse/admin/v1/rooms", token).await.ok();
    assert_eq!(listed["total_rooms"], 1);
}

async fn admins_take_over_rooms(backend: Backend) {
    let s = TestServer::new(backend).await;
    let root = s.admin().await;
    let alice = s.register("alice", "pw").await;
    let token = Some(root.token.as_str());
    let room =
        s.create_room(&alice.token, json!({"preset": "private_chat", "name": "Abandoned"})).await;
    // The room is private: the admin is invited and given alice's power.
    let path = format!("/_synapse/admin/v1/rooms/{room}/make_room_admin");
    s.post(&path, token, json!({})).await.ok();
    s.join(&root.token, &room).await.ok();
    let levels = s
        .get(
            &format!("/_matrix/client/v3/rooms/{room}/state/m.room.power_levels/"),
            Some(&root.token),
        )
        .await
        .ok();
    assert_eq!(levels["users"][&root.user_id], 100);
    let rename = format!("/_matrix/client/v3/rooms/{room}/state/m.room.name/");
    s.put(&rename, Some(&root.token), json!({"name": "Moderated"})).await.ok();
    // Remote users and unknown rooms are refused.
    s.post(&path, token, json!({"user_id": "@bob:elsewhere.example"}))
        .await
        .err(400, "M_INVALID_PARAM");
    s.post("/_synapse/admin/v1/rooms/!nothing:localhost/make_room_admin", token, json!({}))
        .await
        .err(404, "M_NOT_FOUND");
}

async fn admins_purge_old_history(backend: Backend) {
    let s = TestServer::new(backend).await;
    let root = s.admin().await;
    let alice = s.register("alice", "pw").await;
    let token = Some(root.token.as_str());
    let room = s.create_room(&alice.token, json!({"name": "Chatty"})).await;
    let mut said = Vec::new();
    for i in 0..10 {
        said.push(s.send_text(&alice.token, &room, &format!("message {i}")).await);
    }
    let path = format!("/_synapse/admin/v1/purge_history/{room}");
    // Only this server's users' messages here: nothing goes without delete_local_events.
    let kept = s.post(&path, token, json!({"purge_up_to_event_id": said[6]})).await.ok();
    let status = format!(
        "/_synapse/admin/v1/purge_history_status/{}",
        kept["purge_id"].as_str().expect("id")
    );
    assert_eq!(s.get(&status, token).await.ok()["status"], "complete");
    let messages = format!("/_matrix/client/v3/rooms/{room}/messages?dir=b&limit=50");
    assert_eq!(
        TestServer::bodies(&s.get(&messages, Some(&alice.token)).await.ok()["chunk"]).len(),
        10
    );

    let body = json!({"purge_up_to_event_id": said[6], "delete_local_events": true});
    s.post(&path, token, body).await.ok();
    let left = TestServer::bodies(&s.get(&messages, Some(&alice.token)).await.ok()["chunk"]);
    assert_eq!(left, ["message 9", "message 8", "message 7", "message 6"]);
    // The room's state is intact: its name, and alice can still talk.
    let name = s
        .get(&format!("/_matrix/client/v3/rooms/{room}/state/m.room.name/"), Some(&alice.token))
        .await
        .ok();
    assert_eq!(name["name"], "Chatty");
    s.send_text(&alice.token, &room, "after the purge").await;
    // Bad requests change nothing.
    s.post(&path, token, json!({})).await.err(400, "M_MISSING_PARAM");
    s.post(&path, token, json!({"purge_up_to_event_id": "$nothing"})).await.err(404, "M_NOT_FOUND");
    s.get("/_synapse/admin/v1/purge_history_status/nope", token).await.err(404, "M_NOT_FOUND");
    s.post(&path, Some(&alice.token), json!({"purge_up_to_ts": 0})).await.err(403, "M_FORBIDDEN");
}

async fn registration_tokens_admit_registrations(backend: Backend) {
    let s = TestServer::start(backend, |c| c.registration.token_required = true).await;
    let root_id = ruma::UserId::parse("@root:localhost").expect("user id");
    let root = s.admin().await;
    let token = Some(root.token.as_str());
    let tokens = "/_synapse/admin/v1/registration_tokens";

    let created = s
        .post(&format!("{tokens}/new"), token, json!({"token": "invite-1", "uses_allowed": 1}))
        .await
        .ok();
    assert_eq!(
        (created["token"].as_str(), created["completed"].as_i64()),
        (Some("invite-1"), Some(0))
    );
    let random = s.post(&format!("{tokens}/new"), token, json!({"length": 20})).await.ok();
    assert_eq!(random["token"].as_str().map(str::len), Some(20));
    s.post(&format!("{tokens}/new"), token, json!({"token": "invite-1"}))
        .await
        .err(400, "M_INVALID_PARAM");
    s.post(&format!("{tokens}/new"), token, json!({"token": "no spaces"}))
        .await
        .err(400, "M_INVALID_PARAM");
    s.post(&format!("{tokens}/new"), token, json!({"expiry_time": 1}))
        .await
        .err(400, "M_INVALID_PARAM");

    let validity = "/_matrix/client/v1/register/m.login.registration_token/validity?token=invite-1";
    assert_eq!(s.get(validity, None).await.ok()["valid"], true);
    let register = |name: &str| {
        let name = name.to_owned();
        let s = &s;
        async move {
            let first = s
                .post(
                    "/_matrix/client/v3/register",
                    None,
                    json!({"username": name, "password": "pw"}),
                )
                .await;
            let session = first.body["session"].as_str().expect("session").to_owned();
            let auth = json!({"type": "m.login.registration_token", "token": "invite-1", "session": session});
            s.post(
                "/_matrix/client/v3/register",
                None,
                json!({"username": name, "password": "pw", "auth": auth}),
            )
            .await
        }
    };
    assert_eq!(register("carol").await.ok()["user_id"], "@carol:localhost");
    // One use allowed: the second registration is refused.
    let second = register("dave").await;
    assert_eq!(second.status, 401);
    assert_eq!(second.errcode(), "M_FORBIDDEN");
    let used = s.get(&format!("{tokens}/invite-1"), token).await.ok();
    assert_eq!(used["completed"], 1);
    let invalid = s.get(&format!("{tokens}?valid=false"), token).await.ok();
    assert_eq!(invalid["registration_tokens"][0]["token"], "invite-1");
    // Lifting the limit makes it usable again.
    let lifted =
        s.put(&format!("{tokens}/invite-1"), token, json!({"uses_allowed": null})).await.ok();
    assert_eq!(lifted["uses_allowed"], serde_json::Value::Null);
    assert_eq!(register("dave").await.ok()["user_id"], "@dave:localhost");
    s.delete(&format!("{tokens}/invite-1"), token, None).await.ok();
    s.get(&format!("{tokens}/invite-1"), token).await.err(404, "M_NOT_FOUND");
    assert_eq!(s.get(validity, None).await.ok()["valid"], false);

    // whois shows the admin's own device.
    let whois = s.get(&format!("/_synapse/admin/v1/whois/{root_id}"), token).await.ok();
    assert!(whois["devices"][&root.device_id].is_object(), "{whois}");
}

async fn admins_quarantine_and_delete_media(backend: Backend) {
    let s = TestServer::new(backend).await;
    let root = s.admin().await;
    let token = Some(root.token.as_str());
    let alice = s.register("alice", "pw").await;
    let bob = s.register("bob", "pw").await;
    let upload = |who: &crate::common::Session, bytes: &'static [u8]| {
        let request = s
            .http()
            .post(format!("{}/_matrix/media/v3/upload", s.url()))
            .bearer_auth(&who.token)
            .header("content-type", "text/plain")
            .body(bytes);
        async move {
            let answer: serde_json::Value =
                request.send().await.expect("sent").json().await.expect("json");
            answer["content_uri"].as_str().expect("uri").trim_start_matches("mxc://").to_owned()
        }
    };
    let download = |path: &str| {
        let request = s
            .http()
            .get(format!("{}/_matrix/client/v1/media/download/{path}", s.url()))
            .bearer_auth(&alice.token);
        async move { request.send().await.expect("sent") }
    };
    let first = upload(&alice, b"first").await;
    let shared = upload(&alice, b"same bytes").await;
    let bobs = upload(&bob, b"same bytes").await;

    let listed =
        s.get(&format!("/_synapse/admin/v1/users/{}/media", alice.user_id), token).await.ok();
    assert_eq!(listed["total"], 2);
    let ids: Vec<&str> = listed["media"]
        .as_array()
        .expect("media")
        .iter()
        .filter_map(|m| m["media_id"].as_str())
        .collect();
    assert!(ids.contains(&first.split('/').nth(1).expect("id")));

    s.post(&format!("/_synapse/admin/v1/media/quarantine/{first}"), token, json!({})).await.ok();
    assert_eq!(download(&first).await.status(), 404);
    s.post(&format!("/_synapse/admin/v1/media/unquarantine/{first}"), token, json!({})).await.ok();
    assert_eq!(download(&first).await.status(), 200);

    // Deleting one of two uploads of the same bytes keeps the shared file.
    let deleted = s.delete(&format!("/_synapse/admin/v1/media/{shared}"), token, None).await.ok();
    assert_eq!(deleted["total"], 1);
    assert_eq!(download(&shared).await.status(), 404);
    let kept = download(&bobs).await;
    assert_eq!(kept.bytes().await.expect("body").as_ref(), b"same bytes");
    // Deleting the last one removes the file from disk too.
    let digest: String = {
        use sha2::Digest;
        sha2::Sha256::digest(b"same bytes").iter().map(|b| format!("{b:02x}")).collect()
    };
    let file = s
        .services()
        .config
        .server
        .data_dir
        .join("media")
        .join(&digest[..2])
        .join(&digest[2..4])
        .join(&digest);
    assert!(file.exists());
    s.delete(&format!("/_synapse/admin/v1/media/{bobs}"), token, None).await.ok();
    assert!(!file.exists(), "the blob went with its last media id");
    s.delete(&format!("/_synapse/admin/v1/media/{bobs}"), token, None)
        .await
        .err(404, "M_NOT_FOUND");
}

async fn admins_send_server_notices(backend: Backend) {
    let s = TestServer::new(backend).await;
    let root = s.admin().await;
    let token = Some(root.token.as_str());
    let alice = s.register("alice", "pw").await;
    let notice = |body: &str| json!({"user_id": alice.user_id, "content": {"msgtype": "m.text", "body": body}});
    let sent = s
        .post("/_synapse/admin/v1/send_server_notice", token, notice("Maintenance at noon"))
        .await
        .ok();
    assert!(sent["event_id"].as_str().is_some_and(|id| id.starts_with('$')));

    let invited = s.sync(&alice.token, None, 0).await;
    let invites = invited["rooms"]["invite"].as_object().expect("invites").clone();
    assert_eq!(invites.len(), 1);
    let (room, invite) = invites.iter().next().expect("one");
    let names: Vec<&str> = invite["invite_state"]["events"]
        .as_array()
        .expect("state")
        .iter()
        .filter(|e| e["type"] == "m.room.name")
        .filter_map(|e| e["content"]["name"].as_str())
        .collect();
    assert_eq!(names, ["Server Notices"]);
    s.join(&alice.token, room).await.ok();
    s.post("/_synapse/admin/v1/send_server_notice", token, notice("Done")).await.ok();
    let joined = s.sync(&alice.token, None, 0).await;
    let bodies = TestServer::bodies(&joined["rooms"]["join"][room.as_str()]["timeline"]["events"]);
    assert!(
        bodies.contains(&"Maintenance at noon".to_owned()) && bodies.contains(&"Done".to_owned()),
        "{bodies:?}"
    );
    // Only the server writes there.
    let path = format!("/_matrix/client/v3/rooms/{room}/send/m.room.message/t1");
    s.put(&path, Some(&alice.token), json!({"msgtype": "m.text", "body": "hi"}))
        .await
        .err(403, "M_FORBIDDEN");
    let nobody =
        json!({"user_id": "@nobody:localhost", "content": {"msgtype": "m.text", "body": "x"}});
    s.post("/_synapse/admin/v1/send_server_notice", token, nobody).await.err(404, "M_NOT_FOUND");
}

async fn shadow_banned_users_talk_to_nobody(backend: Backend) {
    let mut s = TestServer::new(backend).await;
    let root = s.admin().await;
    let alice = s.register("alice", "pw").await;
    let mallory = s.register("mallory", "pw").await;
    let carol = s.register("carol", "pw").await;
    let room = s.create_room(&alice.token, json!({"preset": "public_chat"})).await;
    s.join(&mallory.token, &room).await.ok();
    let ban = format!("/_synapse/admin/v1/users/{}/shadow_ban", mallory.user_id);
    s.post(&ban, Some(&root.token), json!({})).await.ok();
    s.restart().await;

    // Mallory is told it worked...
    let spam = s.send_text(&mallory.token, &room, "buy now").await;
    assert!(spam.starts_with('$'));
    s.invite(&mallory.token, &room, &carol.user_id).await.ok();
    // ...but nobody sees anything, and the event does not exist.
    let seen = s.sync(&alice.token, None, 0).await;
    let bodies = TestServer::bodies(&seen["rooms"]["join"][room.as_str()]["timeline"]["events"]);
    assert!(!bodies.contains(&"buy now".to_owned()), "{bodies:?}");
    let carols = s.sync(&carol.token, None, 0).await;
    assert!(carols["rooms"]["invite"].as_object().is_none_or(|i| i.is_empty()));
    s.get(&format!("/_matrix/client/v3/rooms/{room}/event/{spam}"), Some(&alice.token))
        .await
        .err(404, "M_NOT_FOUND");

    let root = crate::common::session_from(&s.login("root", "pw", None).await.ok());
    s.delete(&ban, Some(&root.token), None).await.ok();
    s.send_text(&mallory.token, &room, "sorry").await;
    let seen = s.sync(&alice.token, None, 0).await;
    let bodies = TestServer::bodies(&seen["rooms"]["join"][room.as_str()]["timeline"]["events"]);
    assert!(bodies.contains(&"sorry".to_owned()), "{bodies:?}");
}

async fn admins_list_and_end_sessions(backend: Backend) {
    let s = TestServer::new(backend).await;
    let root = s.admin().await;
    let token = Some(root.token.as_str());
    s.register("alice", "pw").await;
    let phone = crate::common::session_from(&s.login("alice", "pw", Some("PHONE")).await.ok());
    let listed = s.get("/_synapse/admin/v2/users/@alice:localhost/devices", token).await.ok();
    assert_eq!(listed["total"], 2);
    s.get("/_matrix/client/v3/account/whoami", Some(&phone.token)).await.ok();
    s.delete("/_synapse/admin/v2/users/@alice:localhost/devices/PHONE", token, None).await.ok();
    s.get("/_matrix/client/v3/account/whoami", Some(&phone.token))
        .await
        .err(401, "M_UNKNOWN_TOKEN");
    let listed = s.get("/_synapse/admin/v2/users/@alice:localhost/devices", token).await.ok();
    assert_eq!(listed["total"], 1);
    s.delete("/_synapse/admin/v2/users/@alice:localhost/devices/PHONE", token, None)
        .await
        .err(404, "M_NOT_FOUND");
}
