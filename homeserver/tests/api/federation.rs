//! Federation between real servers: each test starts two or three Lattice
//! servers named `localhost:<port>`, serving federation over TLS with
//! certificates from a CA made for the test, and drives them through their
//! client APIs as users on each would.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::common::{
    Backend, Session, TestServer,
    federation::{TestCa, federation_thumbnail, server, server_with},
    upload_media,
};

fn timeline_bodies(sync: &Value, room_id: &str) -> Vec<String> {
    TestServer::bodies(&sync["rooms"]["join"][room_id]["timeline"]["events"])
}

/// Two servers with a user each: alice on A, bob on B (and their CA).
async fn alice_and_bob(backend: Backend) -> (TestCa, TestServer, TestServer, Session, Session) {
    let ca = TestCa::new();
    let a = server(backend, &ca).await;
    let b = server(backend, &ca).await;
    let alice = a.register("alice", "correct horse").await;
    let bob = b.register("bob", "battery staple").await;
    (ca, a, b, alice, bob)
}

/// alice on A makes a public room with an alias; bob on B joins it by alias.
async fn shared_room(a: &TestServer, b: &TestServer) -> (Session, Session, String) {
    let alice = a.register("alice", "correct horse").await;
    let bob = b.register("bob", "battery staple").await;
    let room_id = a
        .create_room(&alice.token, json!({"preset": "public_chat", "room_alias_name": "fed"}))
        .await;
    let alias = format!("#fed:{}", a.name());
    let joined = b.join(&bob.token, &alias).await.ok();
    assert_eq!(joined["room_id"], room_id.as_str());
    (alice, bob, room_id)
}

async fn users_on_three_servers_talk(backend: Backend) {
    let ca = TestCa::new();
    let a = server(backend, &ca).await;
    let b = server(backend, &ca).await;
    let c = server(backend, &ca).await;
    let (alice, bob, room_id) = shared_room(&a, &b).await;
    let carol = c.register("carol", "carol's password").await;
    let joined = c.join(&carol.token, &format!("#fed:{}", a.name())).await.ok();
    assert_eq!(joined["room_id"], room_id.as_str());

    // Every server sees every member (B learns of carol through A).
    for (server, session) in [(&a, &alice), (&b, &bob), (&c, &carol)] {
        let path = format!("/_matrix/client/v3/rooms/{room_id}/joined_members");
        let deadline = Instant::now() + Duration::from_secs(30);
        let mut since = None;
        loop {
            let members = server.get(&path, Some(&session.token)).await.ok();
            let all =
                [&alice, &bob, &carol].iter().all(|u| members["joined"].get(&u.user_id).is_some());
            if all {
                break;
            }
            assert!(Instant::now() < deadline, "{} sees only {members}", server.name());
            // Wait for news (a membership event) before looking again.
            let sync = server.sync(&session.token, since.as_deref(), 2_000).await;
            since = sync["next_batch"].as_str().map(str::to_owned);
        }
    }
    let rules = c
        .get(
            &format!("/_matrix/client/v3/rooms/{room_id}/state/m.room.join_rules/"),
            Some(&carol.token),
        )
        .await
        .ok();
    assert_eq!(rules["join_rule"], "public");

    // A's public room directory can be browsed from C.
    let path = format!("/_matrix/client/v3/directory/list/room/{room_id}");
    a.put(&path, Some(&alice.token), json!({"visibility": "public"})).await.ok();
    let path = format!("/_matrix/client/v3/publicRooms?server={}", a.name());
    let listed = c.get(&path, Some(&carol.token)).await.ok();
    let ids: Vec<&str> = listed["chunk"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|r| r["room_id"].as_str())
        .collect();
    assert_eq!(ids, [room_id.as_str()], "{listed}");

    // Each one's message reaches the two others.
    let talk =
        [(&a, &alice, "hello from A"), (&b, &bob, "hello from B"), (&c, &carol, "hello from C")];
    for (server, session, text) in talk {
        server.send_text(&session.token, &room_id, text).await;
    }
    for (server, session) in [(&a, &alice), (&b, &bob), (&c, &carol)] {
        let mut seen = Vec::new();
        server
            .sync_until(session, |s| {
                seen.extend(timeline_bodies(s, &room_id));
                talk.iter().all(|(_, _, text)| seen.contains(&(*text).to_owned()))
            })
            .await;
    }

    // Typing crosses over as an EDU.
    let path = format!("/_matrix/client/v3/rooms/{room_id}/typing/{}", bob.user_id);
    b.put(&path, Some(&bob.token), json!({"typing": true, "timeout": 20000})).await.ok();
    a.sync_until(&alice, |s| {
        s["rooms"]["join"][&room_id]["ephemeral"]["events"].as_array().is_some_and(|events| {
            events.iter().any(|e| {
                e["type"] == "m.typing" && e["content"]["user_ids"][0] == bob.user_id.as_str()
            })
        })
    })
    .await;

    // And presence, with its status message.
    let path = format!("/_matrix/client/v3/presence/{}/status", bob.user_id);
    b.put(&path, Some(&bob.token), json!({"presence": "online", "status_msg": "on the train"}))
        .await
        .ok();
    a.sync_until(&alice, |s| {
        s["presence"]["events"].as_array().is_some_and(|events| {
            events.iter().any(|e| {
                e["sender"] == bob.user_id.as_str() && e["content"]["status_msg"] == "on the train"
            })
        })
    })
    .await;
    let status = a.get(&path, Some(&alice.token)).await.ok();
    assert_eq!(status["presence"], "online");

    // And so does a read receipt.
    let last = a.send_text(&alice.token, &room_id, "read me").await;
    b.sync_until(&bob, |s| timeline_bodies(s, &room_id).contains(&"read me".to_owned())).await;
    let path = format!("/_matrix/client/v3/rooms/{room_id}/receipt/m.read/{last}");
    b.post(&path, Some(&bob.token), json!({})).await.ok();
    a.sync_until(&alice, |s| {
        s["rooms"]["join"][&room_id]["ephemeral"]["events"].as_array().is_some_and(|events| {
            events.iter().any(|e| {
                e["type"] == "m.receipt"
                    && e["content"][&last]["m.read"].get(&bob.user_id).is_some()
            })
        })
    })
    .await;
}

async fn a_server_that_was_down_catches_up(backend: Backend) {
    let ca = TestCa::new();
    let a = server(backend, &ca).await;
    let mut b = server(backend, &ca).await;
    let (alice, bob, room_id) = shared_room(&a, &b).await;
    a.send_text(&alice.token, &room_id, "before").await;
    b.sync_until(&bob, |s| timeline_bodies(s, &room_id).contains(&"before".to_owned())).await;

    b.stop().await;
    for text in ["while down 1", "while down 2", "while down 3"] {
        a.send_text(&alice.token, &room_id, text).await;
    }
    b.start_again().await;
    let mut seen = Vec::new();
    b.sync_until(&bob, |s| {
        seen.extend(timeline_bodies(s, &room_id));
        ["while down 1", "while down 2", "while down 3"]
            .iter()
            .all(|t| seen.contains(&(*t).to_owned()))
    })
    .await;
    let order: Vec<&String> = seen.iter().filter(|t| t.starts_with("while down")).collect();
    assert_eq!(order, ["while down 1", "while down 2", "while down 3"]);
}

async fn keys_are_published_and_signed(backend: Backend) {
    let ca = TestCa::new();
    let a = server(backend, &ca).await;
    let http = ca.client();
    let keys: Value = http
        .get(format!("{}/_matrix/key/v2/server", a.federation_url()))
        .send()
        .await
        .expect("key request")
        .json()
        .await
        .expect("JSON");
    assert_eq!(keys["server_name"], a.name());
    let raw = ruma::serde::Raw::from_json_string(keys.to_string()).expect("raw");
    let name = ruma::ServerName::parse(a.name()).expect("name");
    lattice_federation::keys::check_key_document(&name, &raw).expect("self-signed key document");
    let version: Value = http
        .get(format!("{}/_matrix/federation/v1/version", a.federation_url()))
        .send()
        .await
        .expect("version request")
        .json()
        .await
        .expect("JSON");
    assert_eq!(version["server"]["name"], "Lattice");

    // As a notary, A passes on another server's keys with its own
    // signature beside that server's.
    let b = server(backend, &ca).await;
    let notary: Value = http
        .get(format!("{}/_matrix/key/v2/query/{}", a.federation_url(), b.name()))
        .send()
        .await
        .expect("notary request")
        .json()
        .await
        .expect("JSON");
    let document = &notary["server_keys"][0];
    assert_eq!(document["server_name"], b.name());
    assert!(document["signatures"].get(b.name()).is_some(), "{document}");
    assert!(document["signatures"].get(a.name()).is_some(), "{document}");
    let raw = ruma::serde::Raw::from_json_string(document.to_string()).expect("raw");
    let b_name = ruma::ServerName::parse(b.name()).expect("name");
    lattice_federation::keys::check_key_document(&b_name, &raw).expect("still B's own document");

    // An OpenID token proves to a third party who its holder is.
    let alice = a.register("alice", "correct horse").await;
    let path = format!("/_matrix/client/v3/user/{}/openid/request_token", alice.user_id);
    let token = a.post(&path, Some(&alice.token), json!({})).await.ok();
    assert_eq!(token["matrix_server_name"], a.name());
    let userinfo = |token: &str| {
        http.get(format!(
            "{}/_matrix/federation/v1/openid/userinfo?access_token={token}",
            a.federation_url()
        ))
        .send()
    };
    let access_token = token["access_token"].as_str().expect("token");
    let who: Value = userinfo(access_token).await.expect("userinfo").json().await.expect("JSON");
    assert_eq!(who["sub"], alice.user_id.as_str());
    let unknown = userinfo("lat_oi_nonsense").await.expect("userinfo");
    assert_eq!(unknown.status(), 401);
    let bob = a.register("bob", "battery staple").await;
    a.post(&path, Some(&bob.token), json!({})).await.err(403, "M_FORBIDDEN");
}

async fn unsigned_and_forged_requests_are_refused(backend: Backend) {
    use lattice_federation::federation::authentication::{XMatrix, XMatrixSigningInput};
    let ca = TestCa::new();
    let webhook = wiremock::MockServer::start().await;
    let (alerted, mut alerts) = tokio::sync::mpsc::unbounded_channel();
    wiremock::Mock::given(wiremock::matchers::method("POST"))
        .and(wiremock::matchers::body_partial_json(json!({"kind": "federation_intrusion"})))
        .respond_with(crate::security::Announce(alerted))
        .mount(&webhook)
        .await;
    let a = server_with(backend, &ca, "localhost", |config| {
        config.security.alert_webhooks = vec![webhook.uri()];
        config.security.federation_rejections_alert_threshold = 3;
    })
    .await;
    let b = server(backend, &ca).await;
    let alice = a.register("alice", "correct horse").await;
    let http = ca.client();
    let url = format!(
        "{}/_matrix/federation/v1/query/profile?user_id={}",
        a.federation_url(),
        alice.user_id
    );

    let unsigned = http.get(&url).send().await.expect("request");
    assert_eq!(unsigned.status(), 401);
    let body: Value = unsigned.json().await.expect("JSON");
    assert_eq!(body["errcode"], "M_UNAUTHORIZED");

    // Signed with a key B never published, in B's name.
    let document = ruma::signatures::Ed25519KeyPair::generate();
    let forged =
        ruma::signatures::Ed25519KeyPair::from_der(&document, "forged".into()).expect("key");
    let request = http::Request::get(url.as_str()).body(Vec::<u8>::new()).expect("request");
    let origin = ruma::ServerName::parse(b.name()).expect("name");
    let destination = ruma::ServerName::parse(a.name()).expect("name");
    let header = XMatrix::sign_http_request(
        &request,
        XMatrixSigningInput::new(origin, destination, &forged),
    )
    .expect("signed");
    let header = http::HeaderValue::from(&header);
    // A burst of forgeries from "B" is one intrusion alert.
    for _ in 0..5 {
        let answer =
            http.get(&url).header("authorization", header.clone()).send().await.expect("request");
        assert_eq!(answer.status(), 401);
    }
    tokio::time::timeout(Duration::from_secs(10), alerts.recv())
        .await
        .expect("the alert arrives")
        .expect("webhook mock alive");
    tokio::task::yield_now().await;
    assert_eq!(webhook.received_requests().await.map_or(0, |r| r.len()), 1, "one alert");

    // B's real signature passes.
    let profile = b
        .services()
        .federation
        .send(
            &ruma::ServerName::parse(a.name()).expect("name"),
            lattice_federation::federation::query::get_profile_information::v1::Request::new(
                ruma::UserId::parse(&alice.user_id).expect("user id"),
            ),
        )
        .await;
    assert!(profile.is_ok(), "a signed request is answered: {:?}", profile.err());
}

async fn a_user_on_another_server_is_invited(backend: Backend) {
    let (_ca, a, b, alice, bob) = alice_and_bob(backend).await;
    let room_id = a
        .create_room(&alice.token, json!({"preset": "private_chat", "name": "Secret plans"}))
        .await;
    a.invite(&alice.token, &room_id, &bob.user_id).await.ok();

    // Bob's server shows the invite with the room's name, before any join.
    let sync = b.sync_until(&bob, |s| s["rooms"]["invite"].get(&room_id).is_some()).await;
    let shown = &sync["rooms"]["invite"][&room_id]["invite_state"]["events"];
    let name = shown.as_array().into_iter().flatten().find(|e| e["type"] == "m.room.name");
    assert_eq!(name.map(|e| e["content"]["name"].clone()), Some(json!("Secret plans")), "{shown}");
    let invite = shown
        .as_array()
        .into_iter()
        .flatten()
        .find(|e| e["type"] == "m.room.member" && e["state_key"] == bob.user_id.as_str());
    assert_eq!(invite.map(|e| e["content"]["membership"].clone()), Some(json!("invite")));

    // A user of a third party who was not invited cannot get in.
    let eve = b.register("eve", "eavesdrop").await;
    b.join(&eve.token, &room_id).await.err(403, "M_FORBIDDEN");

    // Dan, also invited, declines: the leave goes back through A.
    let dan = b.register("dan", "dan's password").await;
    a.invite(&alice.token, &room_id, &dan.user_id).await.ok();
    b.sync_until(&dan, |s| s["rooms"]["invite"].get(&room_id).is_some()).await;
    b.post(&format!("/_matrix/client/v3/rooms/{room_id}/leave"), Some(&dan.token), json!({}))
        .await
        .ok();
    let path = format!("/_matrix/client/v3/rooms/{room_id}/state/m.room.member/{}", dan.user_id);
    assert_eq!(a.get(&path, Some(&alice.token)).await.ok()["membership"], "leave");

    // Profiles of users elsewhere are asked of their server.
    let profile = a
        .get(&format!("/_matrix/client/v3/profile/{}", bob.user_id), Some(&alice.token))
        .await
        .ok();
    assert_eq!(profile["displayname"], "bob", "{profile}");

    // Bob accepts by room id alone: the invite says where to go.
    b.join(&bob.token, &room_id).await.ok();
    a.send_text(&alice.token, &room_id, "welcome bob").await;
    b.sync_until(&bob, |s| timeline_bodies(s, &room_id).contains(&"welcome bob".to_owned())).await;
    b.send_text(&bob.token, &room_id, "thanks").await;
    a.sync_until(&alice, |s| timeline_bodies(s, &room_id).contains(&"thanks".to_owned())).await;
}

async fn media_of_one_server_is_served_by_another(backend: Backend) {
    let ca = TestCa::new();
    let mut a = server(backend, &ca).await;
    let c = server(backend, &ca).await;
    let alice = a.register("alice", "correct horse").await;
    let carol = c.register("carol", "carol's password").await;
    // Large enough to arrive in many chunks, which C stores as they come.
    let picture: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
    let mxc =
        upload_media(a.http(), a.url(), &alice.token, "application/octet-stream", picture.clone())
            .await;
    let path = mxc.strip_prefix("mxc://").expect("mxc");
    let download = |server: &TestServer| {
        server
            .http()
            .get(format!("{}/_matrix/client/v1/media/download/{path}", server.url()))
            .bearer_auth(&carol.token)
            .send()
    };
    let fetched = download(&c).await.expect("download");
    assert_eq!(fetched.status(), 200);
    assert_eq!(fetched.bytes().await.expect("bytes").as_ref(), picture.as_slice());

    // C asks A for a thumbnail of A's picture over federation.
    let png = crate::media::thumbnails::picture(image::ImageFormat::Png);
    let png_mxc = upload_media(a.http(), a.url(), &alice.token, "image/png", png).await;
    let png_id = png_mxc.rsplit('/').next().expect("id");
    let thumb = federation_thumbnail(&c, &a.name(), png_id, (32, 32)).await;
    assert_eq!((thumb.width(), thumb.height()), (32, 32));

    // Media A never had is a clean 404 on C.
    let missing = c
        .get(
            &format!("/_matrix/client/v1/media/download/{}/nothing-here", a.name()),
            Some(&carol.token),
        )
        .await;
    assert_eq!(missing.status.as_u16(), 404, "{}", missing.body);

    // C kept a copy: it serves the file with A gone.
    a.stop().await;
    let kept = download(&c).await.expect("download");
    assert_eq!(kept.status(), 200);
    assert_eq!(kept.bytes().await.expect("bytes").as_ref(), picture.as_slice());
}

async fn rooms_of_older_versions_federate(backend: Backend) {
    let (_ca, a, b, alice, bob) = alice_and_bob(backend).await;
    for version in ["1", "2", "3", "5", "7", "9", "10", "11"] {
        let room_id = a
            .create_room(&alice.token, json!({"preset": "public_chat", "room_version": version}))
            .await;
        // By room id, with the server to go through.
        let path = format!("/_matrix/client/v3/join/{room_id}?via={}", a.name());
        b.post(&path, Some(&bob.token), json!({})).await.ok();
        let text = format!("hello in v{version}");
        b.send_text(&bob.token, &room_id, &text).await;
        a.sync_until(&alice, |s| timeline_bodies(s, &room_id).contains(&text)).await;
    }
}

async fn a_knock_from_another_server_is_let_in(backend: Backend) {
    let (_ca, a, b, alice, bob) = alice_and_bob(backend).await;
    let knock_rule =
        json!({"type": "m.room.join_rules", "state_key": "", "content": {"join_rule": "knock"}});
    let room_id = a
        .create_room(&alice.token, json!({"preset": "private_chat", "name": "Members only", "initial_state": [knock_rule]}))
        .await;
    let path = format!("/_matrix/client/v3/knock/{room_id}?via={}", a.name());
    b.post(&path, Some(&bob.token), json!({"reason": "let me in"})).await.ok();
    let member = format!("/_matrix/client/v3/rooms/{room_id}/state/m.room.member/{}", bob.user_id);
    let knock = a.get(&member, Some(&alice.token)).await.ok();
    assert_eq!(knock["membership"], "knock");
    assert_eq!(knock["reason"], "let me in");
    // Bob's server shows the knock with the room's name.
    let sync = b.sync_until(&bob, |s| s["rooms"]["knock"].get(&room_id).is_some()).await;
    let shown = &sync["rooms"]["knock"][&room_id]["knock_state"]["events"];
    assert!(
        shown.as_array().into_iter().flatten().any(|e| e["content"]["name"] == "Members only"),
        "{shown}"
    );

    a.invite(&alice.token, &room_id, &bob.user_id).await.ok();
    b.join(&bob.token, &room_id).await.ok();
    b.send_text(&bob.token, &room_id, "thanks for letting me in").await;
    a.sync_until(&alice, |s| {
        timeline_bodies(s, &room_id).contains(&"thanks for letting me in".to_owned())
    })
    .await;
}

async fn history_from_before_a_join_is_backfilled(backend: Backend) {
    let (_ca, a, b, alice, bob) = alice_and_bob(backend).await;
    let room_id = a
        .create_room(&alice.token, json!({"preset": "public_chat", "room_alias_name": "old"}))
        .await;
    let said: Vec<String> = (0..70).map(|i| format!("earlier {i}")).collect();
    let mut ids = Vec::new();
    for text in &said {
        ids.push(a.send_text(&alice.token, &room_id, text).await);
    }
    b.join(&bob.token, &format!("#old:{}", a.name())).await.ok();

    // No other server was in the room, so A kept these unsigned; they are
    // signed on their way out, and B's check of A's signature passes.
    let stored = a.services().store.event(&ids[0]).await.expect("read").expect("stored");
    assert!(!stored.pdu.contains("\"signatures\""), "{}", stored.pdu);
    let a_name = ruma::ServerName::parse(a.name()).expect("name");
    let event_id = ruma::EventId::parse(&ids[0]).expect("event id");
    let request = lattice_federation::federation::event::get_event::v1::Request::new(event_id);
    let answer = b.services().federation.send(&a_name, request).await.expect("event from A");
    let json = serde_json::from_str(answer.pdu.get()).expect("JSON");
    let version = ruma::RoomVersionId::V12;
    let checked = b.services().federation.check_pdu(json, &version).await.expect("signed by A");
    assert_eq!(checked.event_id.as_str(), ids[0]);
    let since = b.sync(&bob.token, None, 0).await["next_batch"].as_str().map(str::to_owned);

    // Paging back from B fetches what came before the join, in order.
    let mut seen = Vec::new();
    let mut from: Option<String> = None;
    for _ in 0..10 {
        let mut path = format!("/_matrix/client/v3/rooms/{room_id}/messages?dir=b&limit=30");
        if let Some(from) = &from {
            path.push_str(&format!("&from={from}"));
        }
        let page = b.get(&path, Some(&bob.token)).await.ok();
        seen.extend(TestServer::bodies(&page["chunk"]));
        match page["end"].as_str() {
            Some(end) => from = Some(end.to_owned()),
            None => break,
        }
    }
    seen.reverse();
    assert_eq!(seen, said, "all history, oldest first");

    // Old history is not news: an incremental sync does not show it.
    let sync = b.sync(&bob.token, since.as_deref(), 0).await;
    assert!(timeline_bodies(&sync, &room_id).is_empty(), "{sync}");
}

/// A is away while C says 150 things, and all but the last are lost on
/// the way. A cannot fetch that many missing events (a few rounds of 20),
/// so it takes the state before what it got from C and goes on.
async fn a_gap_in_history_is_bridged_with_remote_state(backend: Backend) {
    let ca = TestCa::new();
    let mut a = server(backend, &ca).await;
    let c = server(backend, &ca).await;
    let alice = a.register("alice", "correct horse").await;
    let carol = c.register("carol", "carol's password").await;
    let room_id = a
        .create_room(&alice.token, json!({"preset": "public_chat", "room_alias_name": "gap"}))
        .await;
    c.join(&carol.token, &format!("#gap:{}", a.name())).await.ok();

    a.stop().await;
    for i in 0..150 {
        c.send_text(&carol.token, &room_id, &format!("while away {i}")).await;
    }
    let store = &c.services().store;
    let queued = store.outbox(&a.name(), 1000).await.expect("queue");
    assert_eq!(queued.len(), 150);
    let lost: Vec<i64> = queued[..149].iter().map(|item| item.id).collect();
    store.ack_outbox(&a.name(), &lost).await.expect("lose them");
    a.start_again().await;

    a.sync_until(&alice, |s| timeline_bodies(s, &room_id).contains(&"while away 149".to_owned()))
        .await;
    // The gap is real: the earliest messages never reached A.
    let path = format!("/_matrix/client/v3/rooms/{room_id}/messages?dir=b&limit=500");
    let history = TestServer::bodies(&a.get(&path, Some(&alice.token)).await.ok()["chunk"]);
    assert!(!history.contains(&"while away 0".to_owned()), "{history:?}");
    a.send_text(&alice.token, &room_id, "welcome back").await;
    c.sync_until(&carol, |s| timeline_bodies(s, &room_id).contains(&"welcome back".to_owned()))
        .await;
}

/// The membership of `user` and the power of `whom` as `server` sees them.
async fn view(
    server: &TestServer,
    session: &Session,
    room_id: &str,
    user: &str,
    whom: &str,
) -> (String, i64) {
    let member = server
        .get(
            &format!("/_matrix/client/v3/rooms/{room_id}/state/m.room.member/{user}"),
            Some(&session.token),
        )
        .await
        .ok();
    let levels = server
        .get(
            &format!("/_matrix/client/v3/rooms/{room_id}/state/m.room.power_levels/"),
            Some(&session.token),
        )
        .await
        .ok();
    let power = levels["users"][whom].as_i64().unwrap_or(0);
    (member["membership"].as_str().unwrap_or("").to_owned(), power)
}

/// Waits until `server` sees what `expected` says (state moves in the
/// background as transactions arrive; the deadline bounds a failing test).
async fn until_view(
    server: &TestServer,
    session: &Session,
    room_id: &str,
    user: &str,
    whom: &str,
    expected: (&str, i64),
) {
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut since =
        server.sync(&session.token, None, 0).await["next_batch"].as_str().map(str::to_owned);
    loop {
        let seen = view(server, session, room_id, user, whom).await;
        if (seen.0.as_str(), seen.1) == expected {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{} still sees {seen:?}, not {expected:?}",
            server.name()
        );
        // Wait for the server's next news for this user (a long poll).
        let sync = server.sync(&session.token, since.as_deref(), 2_000).await;
        since = sync["next_batch"].as_str().map(str::to_owned);
    }
}

/// Three servers; B and C are cut off from each other while bob (on B)
/// lowers carol's power and carol (on C) bans dave at the same time. Once
/// they meet again, all three servers hold the same state: the power
/// change stands and the ban, which it outranks, does not.
async fn a_state_fork_resolves_alike_everywhere(backend: Backend) {
    state_fork_resolves_alike(backend, "12").await;
}

/// The same in a room of version 1, whose state resolution is its own.
async fn a_state_fork_resolves_alike_in_a_version_1_room(backend: Backend) {
    state_fork_resolves_alike(backend, "1").await;
}

async fn state_fork_resolves_alike(backend: Backend, version: &str) {
    let ca = TestCa::new();
    let a = server(backend, &ca).await;
    let mut b = server(backend, &ca).await;
    let mut c = server(backend, &ca).await;
    let alice = a.register("alice", "correct horse").await;
    let dave = a.register("dave", "dave's password").await;
    let bob = b.register("bob", "battery staple").await;
    let carol = c.register("carol", "carol's password").await;
    let room_id = a
        .create_room(
            &alice.token,
            json!({"preset": "public_chat", "room_alias_name": "fork", "room_version": version}),
        )
        .await;
    let alias = format!("#fork:{}", a.name());
    a.join(&dave.token, &room_id).await.ok();
    b.join(&bob.token, &alias).await.ok();
    c.join(&carol.token, &alias).await.ok();
    let path = format!("/_matrix/client/v3/rooms/{room_id}/state/m.room.power_levels/");
    let mut levels = a.get(&path, Some(&alice.token)).await.ok();
    levels["users"][&bob.user_id] = json!(100);
    levels["users"][&carol.user_id] = json!(50);
    a.put(&path, Some(&alice.token), levels).await.ok();
    for (server, session) in [(&a, &alice), (&b, &bob), (&c, &carol)] {
        until_view(server, session, &room_id, &dave.user_id, &carol.user_id, ("join", 50)).await;
    }

    // C is away while bob lowers carol to 0.
    c.stop().await;
    let mut lowered = b.get(&path, Some(&bob.token)).await.ok();
    lowered["users"][&carol.user_id] = json!(0);
    b.put(&path, Some(&bob.token), lowered).await.ok();
    until_view(&a, &alice, &room_id, &dave.user_id, &carol.user_id, ("join", 0)).await;

    // B is away while carol, who has not heard of it, bans dave.
    b.stop().await;
    c.start_again().await;
    let ban = format!("/_matrix/client/v3/rooms/{room_id}/ban");
    c.post(&ban, Some(&carol.token), json!({"user_id": dave.user_id})).await.ok();
    assert_eq!(
        view(&c, &carol, &room_id, &dave.user_id, &carol.user_id).await,
        ("ban".to_owned(), 50)
    );

    // Everyone meets again.
    b.start_again().await;
    for (server, session) in [(&a, &alice), (&b, &bob), (&c, &carol)] {
        until_view(server, session, &room_id, &dave.user_id, &carol.user_id, ("join", 0)).await;
    }
}

crate::backend_tests!(
    a_gap_in_history_is_bridged_with_remote_state,
    history_from_before_a_join_is_backfilled,
    a_knock_from_another_server_is_let_in,
    rooms_of_older_versions_federate,
    media_of_one_server_is_served_by_another,
    a_user_on_another_server_is_invited,
    a_state_fork_resolves_alike_everywhere,
    a_state_fork_resolves_alike_in_a_version_1_room,
    users_on_three_servers_talk,
    a_server_that_was_down_catches_up,
    keys_are_published_and_signed,
    unsigned_and_forged_requests_are_refused,
);
