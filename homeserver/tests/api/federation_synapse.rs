//! Interoperability with Synapse: a Lattice server and a real Synapse (see
//! common/synapse.rs) share rooms over federation, both ways round, and
//! their users talk, invite, kick and see each other's typing.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::common::{
    Backend, Session, TestServer,
    federation::{TestCa, federation_thumbnail, server},
    synapse::Synapse,
    upload_media,
};

/// The timeline events of a joined room in a sync response.
fn timeline<'a>(sync: &'a Value, room_id: &str) -> impl Iterator<Item = &'a Value> {
    sync["rooms"]["join"][room_id]["timeline"]["events"].as_array().into_iter().flatten()
}

pub(crate) fn timeline_bodies(sync: &Value, room_id: &str) -> Vec<String> {
    TestServer::bodies(&sync["rooms"]["join"][room_id]["timeline"]["events"])
}

/// A Lattice server and a Synapse that trust the same CA (None when no
/// Synapse is installed and none is required).
async fn servers(backend: Backend) -> Option<(TestCa, Synapse, TestServer)> {
    let ca = TestCa::new();
    let synapse = Synapse::start(&ca).await?;
    let lattice = server(backend, &ca).await;
    Some((ca, synapse, lattice))
}

/// Both servers, with alice on Lattice and bob on Synapse.
pub(crate) struct Pair {
    pub _ca: TestCa,
    pub synapse: Synapse,
    pub lattice: TestServer,
    pub alice: Session,
    pub bob: Session,
}

pub(crate) async fn pair(backend: Backend) -> Option<Pair> {
    let (_ca, synapse, lattice) = servers(backend).await?;
    let alice = lattice.register("alice", "correct horse").await;
    let bob = synapse.register("bob").await;
    Some(Pair { _ca, synapse, lattice, alice, bob })
}

pub(crate) fn encode(room: &str) -> String {
    serde_urlencoded::to_string([("", room)]).expect("encode")[1..].to_owned()
}

async fn synapse_sends(synapse: &Synapse, session: &Session, room_id: &str, text: &str) -> String {
    let txn = format!("t{}", rand_suffix());
    let path = format!("/_matrix/client/v3/rooms/{}/send/m.room.message/{txn}", encode(room_id));
    let sent = synapse.put(&path, &session.token, json!({"msgtype": "m.text", "body": text})).await;
    sent.ok()["event_id"].as_str().expect("event id").to_owned()
}

fn rand_suffix() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    NEXT.fetch_add(1, Ordering::SeqCst)
}

/// A room made on Lattice: a Synapse user joins it by alias, both talk,
/// both see the same members, Synapse's typing reaches Lattice.
async fn synapse_user_joins_lattice_room(backend: Backend) {
    let Some(Pair { _ca, synapse, lattice, alice, bob }) = pair(backend).await else { return };
    assert!(bob.user_id.ends_with(synapse.name()), "{} is not on Synapse", bob.user_id);

    let room_id = lattice
        .create_room(&alice.token, json!({"preset": "public_chat", "room_alias_name": "interop"}))
        .await;
    let before =
        lattice.sync(&alice.token, None, 0).await["next_batch"].as_str().map(str::to_owned);
    let alias = format!("#interop:{}", lattice.name());
    let join = format!("/_matrix/client/v3/join/{}", encode(&alias));
    let joined = synapse.post(&join, &bob.token, json!({})).await;
    assert_eq!(joined.status, StatusCode::OK, "{}", joined.body);
    assert_eq!(joined.body["room_id"], room_id.as_str());
    // Sharing a room with bob now, alice's client is told to fetch his keys.
    crate::common::sync_from(
        before,
        |since| {
            let (server, token) = (&lattice, &alice.token);
            async move { server.sync(token, since.as_deref(), 5_000).await }
        },
        |sync| {
            sync["device_lists"]["changed"]
                .as_array()
                .is_some_and(|users| users.iter().any(|u| u == bob.user_id.as_str()))
        },
    )
    .await;

    let bobs = synapse_sends(&synapse, &bob, &room_id, "hello from synapse").await;
    lattice
        .sync_until(&alice, |sync| {
            timeline_bodies(sync, &room_id).contains(&"hello from synapse".to_owned())
        })
        .await;

    let alices = lattice.send_text(&alice.token, &room_id, "hello from lattice").await;
    synapse
        .sync_until(&bob, |sync| {
            timeline_bodies(sync, &room_id).contains(&"hello from lattice".to_owned())
        })
        .await;

    // Redactions cross both ways and leave no body behind.
    let redact = |event_id: &str| {
        format!(
            "/_matrix/client/v3/rooms/{}/redact/{}/r-{}",
            encode(&room_id),
            encode(event_id),
            rand_suffix()
        )
    };
    synapse.put(&redact(&bobs), &bob.token, json!({"reason": "typo"})).await.ok();
    lattice.put(&redact(&alices), Some(&alice.token), json!({})).await.ok();
    let redaction_of = |sync: &Value, target: &str| {
        timeline(sync, &room_id).any(|e| {
            e["type"] == "m.room.redaction"
                && (e["redacts"] == target || e["content"]["redacts"] == target)
        })
    };
    lattice.sync_until(&alice, |sync| redaction_of(sync, &bobs)).await;
    synapse.sync_until(&bob, |sync| redaction_of(sync, &alices)).await;
    let event =
        |id: &str| format!("/_matrix/client/v3/rooms/{}/event/{}", encode(&room_id), encode(id));
    let on_lattice = lattice.get(&event(&bobs), Some(&alice.token)).await.ok();
    let on_synapse = synapse.get(&event(&alices), &bob.token).await.ok();
    for seen in [on_lattice, on_synapse] {
        assert_eq!(seen["content"], json!({}), "the body is gone: {seen}");
    }

    // A second, non-ASCII alias resolves from Synapse too.
    let unicode = format!("#café-ünïcode:{}", lattice.name());
    let directory = format!("/_matrix/client/v3/directory/room/{}", encode(&unicode));
    lattice.put(&directory, Some(&alice.token), json!({"room_id": room_id})).await.ok();
    let resolved = synapse.get(&directory, &bob.token).await.ok();
    assert_eq!(resolved["room_id"], room_id.as_str());

    // Both servers agree on who is in the room.
    let members_path = format!("/_matrix/client/v3/rooms/{}/joined_members", encode(&room_id));
    let on_lattice = lattice.get(&members_path, Some(&alice.token)).await.ok();
    let on_synapse = synapse.get(&members_path, &bob.token).await.ok();
    let names = |body: &Value| {
        let mut users: Vec<String> =
            body["joined"].as_object().expect("joined").keys().cloned().collect();
        users.sort();
        users
    };
    let mut expected = vec![alice.user_id.clone(), bob.user_id.clone()];
    expected.sort();
    assert_eq!(names(&on_lattice), expected);
    assert_eq!(names(&on_synapse), expected);

    // Power given on Lattice lets bob change the topic from Synapse.
    let power = format!("/_matrix/client/v3/rooms/{}/state/m.room.power_levels/", encode(&room_id));
    let mut levels = lattice.get(&power, Some(&alice.token)).await.ok();
    levels["users"][bob.user_id.as_str()] = json!(50);
    lattice.put(&power, Some(&alice.token), levels).await.ok();
    let topic = format!("/_matrix/client/v3/rooms/{}/state/m.room.topic/", encode(&room_id));
    synapse
        .sync_until(&bob, |sync| {
            timeline(sync, &room_id).any(|e| e["type"] == "m.room.power_levels")
        })
        .await;
    synapse.put(&topic, &bob.token, json!({"topic": "set from synapse"})).await.ok();
    lattice
        .sync_until(&alice, |sync| timeline(sync, &room_id).any(|e| e["type"] == "m.room.topic"))
        .await;
    assert_eq!(lattice.get(&topic, Some(&alice.token)).await.ok()["topic"], "set from synapse");

    // Typing on Synapse shows on Lattice.
    let typing = format!("/_matrix/client/v3/rooms/{}/typing/{}", encode(&room_id), bob.user_id);
    synapse.put(&typing, &bob.token, json!({"typing": true, "timeout": 10_000})).await.ok();
    lattice
        .sync_until(&alice, |sync| {
            sync["rooms"]["join"][room_id.as_str()]["ephemeral"]["events"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|e| {
                    e["type"] == "m.typing" && e["content"]["user_ids"][0] == bob.user_id.as_str()
                })
        })
        .await;
}

/// A room made on Synapse (its default room version): a Lattice user is
/// invited, joins, talks, and is then kicked by the Synapse room's owner.
async fn lattice_user_invited_to_synapse_room(backend: Backend) {
    let Some(Pair { _ca, synapse, lattice, alice, bob }) = pair(backend).await else { return };

    let created = synapse
        .post("/_matrix/client/v3/createRoom", &bob.token, json!({"preset": "private_chat"}))
        .await
        .ok();
    let room_id = created["room_id"].as_str().expect("room id").to_owned();
    let invite = format!("/_matrix/client/v3/rooms/{}/invite", encode(&room_id));
    let invited = synapse.post(&invite, &bob.token, json!({"user_id": alice.user_id})).await;
    assert_eq!(invited.status, StatusCode::OK, "{}", invited.body);

    lattice.sync_until(&alice, |sync| !sync["rooms"]["invite"][room_id.as_str()].is_null()).await;
    let joined = lattice.join(&alice.token, &room_id).await;
    assert_eq!(joined.status, StatusCode::OK, "{}", joined.body);

    lattice.send_text(&alice.token, &room_id, "lattice in a synapse room").await;
    synapse
        .sync_until(&bob, |sync| {
            timeline_bodies(sync, &room_id).contains(&"lattice in a synapse room".to_owned())
        })
        .await;
    synapse_sends(&synapse, &bob, &room_id, "welcome").await;
    lattice
        .sync_until(&alice, |sync| timeline_bodies(sync, &room_id).contains(&"welcome".to_owned()))
        .await;

    // The owner on Synapse kicks the Lattice user: Lattice applies it.
    let kick = format!("/_matrix/client/v3/rooms/{}/kick", encode(&room_id));
    synapse.post(&kick, &bob.token, json!({"user_id": alice.user_id, "reason": "bye"})).await.ok();
    lattice.sync_until(&alice, |sync| !sync["rooms"]["leave"][room_id.as_str()].is_null()).await;
    let refused = lattice
        .put(
            &format!(
                "/_matrix/client/v3/rooms/{}/send/m.room.message/after-kick",
                encode(&room_id)
            ),
            Some(&alice.token),
            json!({"msgtype": "m.text", "body": "still here?"}),
        )
        .await;
    refused.err(403, "M_FORBIDDEN");
}

/// History from before a join: each side backfills from the other, and
/// read receipts cross both ways.
async fn history_and_receipts_cross(backend: Backend) {
    let Some(Pair { _ca, synapse, lattice, alice, bob }) = pair(backend).await else { return };

    // A Lattice room with history, joined from Synapse.
    let room_id = lattice.create_room(&alice.token, json!({"preset": "public_chat"})).await;
    for n in 0..30 {
        lattice.send_text(&alice.token, &room_id, &format!("old {n}")).await;
    }
    let join =
        format!("/_matrix/client/v3/join/{}?server_name={}", encode(&room_id), lattice.name());
    synapse.post(&join, &bob.token, json!({})).await.ok();
    let (on_synapse, token) = (&synapse, &bob.token);
    let seen = history(|path| async move { on_synapse.get(&path, token).await }, &room_id).await;
    for n in 0..30 {
        assert!(seen.contains(&format!("old {n}")), "Synapse lacks old {n}: {seen:?}");
    }

    // Receipts both ways.
    let last = synapse_sends(&synapse, &bob, &room_id, "read this").await;
    let receipt = format!("/_matrix/client/v3/rooms/{}/receipt/m.read/", encode(&room_id));
    synapse.post(&format!("{receipt}{}", encode(&last)), &bob.token, json!({})).await.ok();
    lattice.sync_until(&alice, |sync| receipt_by(sync, &room_id, &last, &bob.user_id)).await;
    let mine = lattice.send_text(&alice.token, &room_id, "and this").await;
    lattice.post(&format!("{receipt}{}", encode(&mine)), Some(&alice.token), json!({})).await.ok();
    synapse.sync_until(&bob, |sync| receipt_by(sync, &room_id, &mine, &alice.user_id)).await;

    // A Synapse room with history, joined from Lattice by its alias there.
    let created = synapse
        .post(
            "/_matrix/client/v3/createRoom",
            &bob.token,
            json!({"preset": "public_chat", "room_alias_name": "elsewhere"}),
        )
        .await
        .ok();
    let synapse_room = created["room_id"].as_str().expect("room id").to_owned();
    for n in 0..30 {
        synapse_sends(&synapse, &bob, &synapse_room, &format!("before {n}")).await;
    }
    let alias = format!("#elsewhere:{}", synapse.name());
    let joined = lattice.join(&alice.token, &alias).await.ok();
    assert_eq!(joined["room_id"], synapse_room.as_str());
    let (on_lattice, token) = (&lattice, &alice.token);
    let seen =
        history(|path| async move { on_lattice.get(&path, Some(token)).await }, &synapse_room)
            .await;
    for n in 0..30 {
        assert!(seen.contains(&format!("before {n}")), "Lattice lacks before {n}: {seen:?}");
    }
}

/// The bodies of a room's messages, paging back from now.
async fn history<F, Fut>(get: F, room_id: &str) -> Vec<String>
where
    F: Fn(String) -> Fut,
    Fut: std::future::Future<Output = crate::common::Answer>,
{
    let mut bodies = Vec::new();
    let mut from = String::new();
    for _ in 0..10 {
        let mut path =
            format!("/_matrix/client/v3/rooms/{}/messages?dir=b&limit=50", encode(room_id));
        if !from.is_empty() {
            path.push_str(&format!("&from={}", encode(&from)));
        }
        let page = get(path).await.ok();
        bodies.extend(TestServer::bodies(&page["chunk"]));
        match page["end"].as_str() {
            Some(end) if page["chunk"].as_array().is_some_and(|c| !c.is_empty()) => {
                from = end.to_owned()
            }
            _ => break,
        }
    }
    bodies
}

fn receipt_by(sync: &Value, room_id: &str, event_id: &str, user_id: &str) -> bool {
    sync["rooms"]["join"][room_id]["ephemeral"]["events"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|e| e["type"] == "m.receipt" && !e["content"][event_id]["m.read"][user_id].is_null())
}

/// End-to-end encryption across: our SDK as the client on both servers
/// (vodozemac), device keys queried and one-time keys claimed over
/// federation, room keys sent as to-device messages — both ways round.
async fn encrypted_chat_with_synapse(backend: Backend) {
    let Some((_ca, synapse, lattice)) = servers(backend).await else { return };
    crate::federation_e2ee::encrypted_chat(lattice.url(), synapse.url()).await;
    crate::federation_e2ee::encrypted_chat(synapse.url(), lattice.url()).await;
}

/// Media uploaded on either server is downloaded through the other.
async fn media_crosses(backend: Backend) {
    let Some(Pair { _ca, synapse, lattice, alice, bob }) = pair(backend).await else { return };
    let http = lattice.http();
    let picture: Vec<u8> = (0..40_000u32).map(|i| (i % 253) as u8).collect();
    for (from, from_token, to, to_token) in [
        (lattice.url(), &alice.token, synapse.url(), &bob.token),
        (synapse.url(), &bob.token, lattice.url(), &alice.token),
    ] {
        let mxc =
            upload_media(http, from, from_token, "application/octet-stream", picture.clone()).await;
        let path = mxc.strip_prefix("mxc://").expect("mxc");
        let fetched = http
            .get(format!("{to}/_matrix/client/v1/media/download/{path}"))
            .bearer_auth(to_token)
            .send()
            .await
            .expect("download");
        assert_eq!(fetched.status(), 200, "{mxc} through {to}");
        assert_eq!(fetched.bytes().await.expect("bytes").as_ref(), picture.as_slice());
    }

    // Pictures: Synapse thumbnails ours (from the original it fetched),
    // and Synapse's federation thumbnail endpoint answers Lattice.
    let png = crate::media::thumbnails::picture(image::ImageFormat::Png);
    let mut ids = Vec::new();
    for (url, token) in [(lattice.url(), &alice.token), (synapse.url(), &bob.token)] {
        let mxc = upload_media(http, url, token, "image/png", png.clone()).await;
        ids.push(mxc.rsplit('/').next().expect("id").to_owned());
    }
    let thumb = http
        .get(format!(
            "{}/_matrix/client/v1/media/thumbnail/{}/{}?width=96&height=96&method=crop",
            synapse.url(),
            lattice.name(),
            ids[0]
        ))
        .bearer_auth(&bob.token)
        .send()
        .await
        .expect("thumbnail");
    assert_eq!(thumb.status(), 200);
    let image = image::load_from_memory(&thumb.bytes().await.expect("bytes")).expect("an image");
    assert_eq!((image.width(), image.height()), (96, 96));
    let theirs = federation_thumbnail(&lattice, synapse.name(), &ids[1], (32, 32)).await;
    assert_eq!((theirs.width(), theirs.height()), (32, 32));
}

/// Rooms of every version Synapse makes: a Lattice user joins each and
/// both sides see each other's messages.
async fn synapse_rooms_of_every_version(backend: Backend) {
    let Some(Pair { _ca, synapse, lattice, alice, bob }) = pair(backend).await else { return };
    for version in ["1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "11", "12"] {
        let created = synapse
            .post(
                "/_matrix/client/v3/createRoom",
                &bob.token,
                json!({"preset": "public_chat", "room_version": version}),
            )
            .await
            .ok();
        let room_id = created["room_id"].as_str().expect("room id").to_owned();
        let join = format!("{room_id}?server_name={}", synapse.name());
        let joined = lattice.join(&alice.token, &join).await;
        assert_eq!(joined.status, StatusCode::OK, "v{version}: {}", joined.body);
        let text = format!("hello v{version}");
        lattice.send_text(&alice.token, &room_id, &text).await;
        synapse.sync_until(&bob, |sync| timeline_bodies(sync, &room_id).contains(&text)).await;
        let reply = format!("reply v{version}");
        synapse_sends(&synapse, &bob, &room_id, &reply).await;
        lattice.sync_until(&alice, |sync| timeline_bodies(sync, &room_id).contains(&reply)).await;
    }
}

/// Rooms of older versions made on Lattice (1 and 2 with sender-chosen
/// event ids and hash-pair references): Synapse accepts our events.
async fn lattice_rooms_of_older_versions_take_synapse_users(backend: Backend) {
    let Some(Pair { _ca, synapse, lattice, alice, bob }) = pair(backend).await else { return };
    for version in ["1", "2", "4", "10"] {
        let room_id = lattice
            .create_room(&alice.token, json!({"preset": "public_chat", "room_version": version}))
            .await;
        lattice.send_text(&alice.token, &room_id, &format!("before v{version}")).await;
        let join =
            format!("/_matrix/client/v3/join/{}?server_name={}", encode(&room_id), lattice.name());
        let joined = synapse.post(&join, &bob.token, json!({})).await;
        assert_eq!(joined.status, StatusCode::OK, "v{version}: {}", joined.body);
        let reply = format!("from synapse v{version}");
        synapse_sends(&synapse, &bob, &room_id, &reply).await;
        lattice.sync_until(&alice, |sync| timeline_bodies(sync, &room_id).contains(&reply)).await;
        let text = format!("from lattice v{version}");
        lattice.send_text(&alice.token, &room_id, &text).await;
        synapse.sync_until(&bob, |sync| timeline_bodies(sync, &room_id).contains(&text)).await;
    }
}

/// A new device on either server reaches the other: the user shows in
/// the other side's `device_lists.changed` and its key query lists both
/// devices.
async fn new_devices_are_announced_across(backend: Backend) {
    let Some((_ca, synapse, lattice)) = servers(backend).await else { return };
    let (alice, bob, _room) =
        crate::federation_e2ee::encrypted_chat(lattice.url(), synapse.url()).await;
    let session = |client: &lattice_sdk::Client| {
        let s = client.session().expect("session");
        Session {
            user_id: s.user_id.to_string(),
            device_id: s.device_id.to_string(),
            token: s.access_token,
        }
    };
    let (alice, bob) = (session(&alice), session(&bob));

    for (home, other_url, user, watcher, watch) in [
        (lattice.url(), synapse.url(), &alice, &bob, Side::Synapse(&synapse)),
        (synapse.url(), lattice.url(), &bob, &alice, Side::Lattice(&lattice)),
    ] {
        let since =
            watch.sync(watcher, None).await["next_batch"].as_str().expect("since").to_owned();
        let second =
            lattice_sdk::Client::builder().homeserver_url(home).build().await.expect("client");
        let name = user.user_id.trim_start_matches('@').split(':').next().expect("localpart");
        second.login_password(name, "correct horse", Some("second")).await.expect("second device");
        let mut since = Some(since);
        loop {
            let sync = watch.sync(watcher, since.as_deref()).await;
            let changed = &sync["device_lists"]["changed"];
            if changed.as_array().is_some_and(|c| c.iter().any(|u| u == user.user_id.as_str())) {
                break;
            }
            since = sync["next_batch"].as_str().map(str::to_owned);
        }
        let query = json!({"device_keys": {user.user_id.as_str(): []}});
        let keys = watch.post("/_matrix/client/v3/keys/query", watcher, query).await;
        let devices = keys["device_keys"][user.user_id.as_str()].as_object().map_or(0, |d| d.len());
        assert_eq!(devices, 2, "{}'s devices seen through {other_url}: {keys}", user.user_id);
    }
}

/// Either server, behind one small interface for the test above.
enum Side<'a> {
    Lattice(&'a TestServer),
    Synapse(&'a Synapse),
}

impl Side<'_> {
    async fn sync(&self, session: &Session, since: Option<&str>) -> Value {
        match self {
            Side::Lattice(server) => server.sync(&session.token, since, 5_000).await,
            Side::Synapse(synapse) => synapse.sync(&session.token, since, 5_000).await,
        }
    }

    async fn post(&self, path: &str, session: &Session, body: Value) -> Value {
        match self {
            Side::Lattice(server) => server.post(path, Some(&session.token), body).await.ok(),
            Side::Synapse(synapse) => synapse.post(path, &session.token, body).await.ok(),
        }
    }
}

/// A Lattice user invites a Synapse user, who sees the inviter's name,
/// joins, and is banned; Synapse's room directory is read from Lattice.
async fn invite_profile_and_ban_across(backend: Backend) {
    let Some(Pair { _ca, synapse, lattice, alice, bob }) = pair(backend).await else { return };
    let name = format!("/_matrix/client/v3/profile/{}/displayname", alice.user_id);
    lattice.put(&name, Some(&alice.token), json!({"displayname": "Alice Lattice"})).await.ok();

    let room_id = lattice.create_room(&alice.token, json!({"preset": "private_chat"})).await;
    lattice.invite(&alice.token, &room_id, &bob.user_id).await.ok();
    synapse.sync_until(&bob, |sync| !sync["rooms"]["invite"][room_id.as_str()].is_null()).await;
    let profile_path = format!("/_matrix/client/v3/profile/{}", alice.user_id);
    let profile = synapse.get(&profile_path, &bob.token).await.ok();
    assert_eq!(profile["displayname"], "Alice Lattice");
    let join = format!("/_matrix/client/v3/rooms/{}/join", encode(&room_id));
    synapse.post(&join, &bob.token, json!({})).await.ok();
    synapse_sends(&synapse, &bob, &room_id, "thanks for the invite").await;
    lattice
        .sync_until(&alice, |sync| {
            timeline_bodies(sync, &room_id).contains(&"thanks for the invite".to_owned())
        })
        .await;

    let ban = format!("/_matrix/client/v3/rooms/{}/ban", encode(&room_id));
    lattice.post(&ban, Some(&alice.token), json!({"user_id": bob.user_id})).await.ok();
    synapse.sync_until(&bob, |sync| !sync["rooms"]["leave"][room_id.as_str()].is_null()).await;
    let member = format!(
        "/_matrix/client/v3/rooms/{}/state/m.room.member/{}",
        encode(&room_id),
        bob.user_id
    );
    assert_eq!(lattice.get(&member, Some(&alice.token)).await.ok()["membership"], "ban");
    let rejoin_path =
        format!("/_matrix/client/v3/join/{}?server_name={}", encode(&room_id), lattice.name());
    let rejoin = synapse.post(&rejoin_path, &bob.token, json!({})).await;
    assert_eq!(
        rejoin.status,
        StatusCode::FORBIDDEN,
        "a banned user cannot rejoin: {}",
        rejoin.body
    );
    // Unbanned and invited again, bob comes back.
    let unban = format!("/_matrix/client/v3/rooms/{}/unban", encode(&room_id));
    lattice.post(&unban, Some(&alice.token), json!({"user_id": bob.user_id})).await.ok();
    lattice.invite(&alice.token, &room_id, &bob.user_id).await.ok();
    synapse.sync_until(&bob, |sync| !sync["rooms"]["invite"][room_id.as_str()].is_null()).await;
    synapse.post(&join, &bob.token, json!({})).await.ok();
    assert_eq!(lattice.get(&member, Some(&alice.token)).await.ok()["membership"], "join");

    // Synapse's public rooms, listed from Lattice.
    synapse
        .post(
            "/_matrix/client/v3/createRoom",
            &bob.token,
            json!({"preset": "public_chat", "visibility": "public", "name": "Synapse lounge"}),
        )
        .await
        .ok();
    let listed = lattice
        .get(
            &format!("/_matrix/client/v3/publicRooms?server={}", synapse.name()),
            Some(&alice.token),
        )
        .await
        .ok();
    let names: Vec<&str> = listed["chunk"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|r| r["name"].as_str())
        .collect();
    assert!(names.contains(&"Synapse lounge"), "{listed}");
}

/// Cross-signing keys made on either server reach the other: the user
/// shows as changed to the other side, whose key query returns the new
/// master key.
async fn cross_signing_keys_cross(backend: Backend) {
    use crate::keys::{Signer, cross_signing_key, device_keys};
    let Some(Pair { _ca, synapse, lattice, alice, bob }) = pair(backend).await else { return };
    let room_id = lattice.create_room(&alice.token, json!({"preset": "public_chat"})).await;
    let join =
        format!("/_matrix/client/v3/join/{}?server_name={}", encode(&room_id), lattice.name());
    synapse.post(&join, &bob.token, json!({})).await.ok();

    for (owner, home, watcher, watch) in [
        (&alice, Side::Lattice(&lattice), &bob, Side::Synapse(&synapse)),
        (&bob, Side::Synapse(&synapse), &alice, Side::Lattice(&lattice)),
    ] {
        // The watcher's server has looked at the owner's keys before.
        let query = json!({"device_keys": {owner.user_id.as_str(): []}});
        watch.post("/_matrix/client/v3/keys/query", watcher, query.clone()).await;
        let since = watch.sync(watcher, None).await["next_batch"].as_str().map(str::to_owned);

        let device = Signer::new(Some(&owner.device_id));
        home.post(
            "/_matrix/client/v3/keys/upload",
            owner,
            json!({"device_keys": device_keys(owner, &device)}),
        )
        .await;
        let master = Signer::new(None);
        let self_signing = Signer::new(None);
        let keys = json!({
            "master_key": cross_signing_key(owner, &master, "master"),
            "self_signing_key": master.sign(&owner.user_id, cross_signing_key(owner, &self_signing, "self_signing")),
        });
        home.post("/_matrix/client/v3/keys/device_signing/upload", owner, keys).await;

        crate::common::sync_from(
            since,
            |since| {
                let (watch, watcher) = (&watch, watcher);
                async move { watch.sync(watcher, since.as_deref()).await }
            },
            |sync| {
                sync["device_lists"]["changed"]
                    .as_array()
                    .is_some_and(|users| users.iter().any(|u| u == owner.user_id.as_str()))
            },
        )
        .await;
        let found = watch.post("/_matrix/client/v3/keys/query", watcher, query).await;
        let master_id = format!("ed25519:{}", master.public);
        assert_eq!(
            found["master_keys"][owner.user_id.as_str()]["keys"][&master_id],
            master.public,
            "{}'s master key as seen by {}: {found}",
            owner.user_id,
            watcher.user_id
        );
    }
}

crate::backend_tests!(
    cross_signing_keys_cross,
    new_devices_are_announced_across,
    invite_profile_and_ban_across,
    lattice_rooms_of_older_versions_take_synapse_users,
    synapse_user_joins_lattice_room,
    lattice_user_invited_to_synapse_room,
    history_and_receipts_cross,
    encrypted_chat_with_synapse,
    media_crosses,
    synapse_rooms_of_every_version,
);
