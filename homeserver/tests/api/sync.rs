//! /sync: initial, incremental, long-polling, invites, leaves, restarts.

use serde_json::{Value, json};

use crate::{
    backend_tests,
    common::{Backend, TestServer},
};

backend_tests!(
    initial_then_incremental_sync,
    long_poll_wakes_on_a_new_message,
    timeline_is_limited_with_prev_batch,
    invites_and_leaves_appear,
    account_data_syncs,
    tokens_survive_a_restart,
    summary_of_an_unnamed_room,
    answers_carry_every_container,
);

/// The containers a sync answer has even when empty, as clients written
/// against Synapse require (matrix-nio checks them against a schema).
async fn answers_carry_every_container(backend: Backend) {
    let s = TestServer::new(backend).await;
    let alice = s.register("alice", "pw").await;
    let bob = s.register("bob", "pw").await;
    let room = s.create_room(&alice.token, json!({})).await;
    let invited = s.create_room(&bob.token, json!({})).await;
    s.invite(&bob.token, &invited, &alice.user_id).await.ok();
    let first = s.sync(&alice.token, None, 0).await;
    let since = first["next_batch"].as_str().expect("next_batch").to_owned();
    for sync in [&first, &s.sync(&alice.token, Some(&since), 0).await] {
        for path in [
            "/account_data/events",
            "/presence/events",
            "/to_device/events",
            "/device_lists/changed",
            "/device_lists/left",
        ] {
            assert!(sync.pointer(path).is_some_and(Value::is_array), "{path} in {sync}");
        }
        for kind in ["join", "invite", "leave", "knock"] {
            assert!(sync["rooms"][kind].is_object(), "rooms.{kind} in {sync}");
        }
        assert!(sync["device_one_time_keys_count"].is_object());
    }
    assert!(first["rooms"]["invite"][&invited]["invite_state"]["events"].is_array());

    // A room whose only news is its account data still has every part.
    let tags = format!("/_matrix/client/v3/user/{}/rooms/{room}/tags/m.favourite", alice.user_id);
    s.put(&tags, Some(&alice.token), json!({})).await.ok();
    let sync = s.sync(&alice.token, Some(&since), 0).await;
    let joined = &sync["rooms"]["join"][&room];
    for part in ["timeline", "state", "ephemeral", "account_data"] {
        assert!(joined[part]["events"].is_array(), "{part} in {joined}");
    }
    assert_eq!(joined["timeline"]["limited"], false);
    let prev_batch = joined["timeline"]["prev_batch"].as_str().expect("prev_batch");
    let messages =
        format!("/_matrix/client/v3/rooms/{room}/messages?dir=b&limit=1&from={prev_batch}");
    let page = s.get(&messages, Some(&alice.token)).await.ok();
    assert_eq!(page["chunk"].as_array().map(Vec::len), Some(1), "prev_batch paginates back");
    assert!(joined["unread_notifications"].is_object());
}

async fn initial_then_incremental_sync(backend: Backend) {
    let s = TestServer::new(backend).await;
    let alice = s.register("alice", "pw").await;
    let bob = s.register("bob", "pw").await;
    let room = s.create_room(&alice.token, json!({"preset": "public_chat", "name": "Sync"})).await;
    s.join(&bob.token, &room).await.ok();
    s.send_text(&alice.token, &room, "first").await;

    let initial = s.sync(&bob.token, None, 0).await;
    let joined = &initial["rooms"]["join"][&room];
    assert_eq!(TestServer::bodies(&joined["timeline"]["events"]), vec!["first"]);
    assert_eq!(joined["summary"]["m.joined_member_count"], 2);
    let state_types: Vec<&str> = joined["state"]["events"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .chain(joined["timeline"]["events"].as_array().map(Vec::as_slice).unwrap_or_default())
        .filter_map(|e| e["type"].as_str())
        .collect();
    for needed in ["m.room.create", "m.room.name", "m.room.power_levels", "m.room.member"] {
        assert!(state_types.contains(&needed), "{needed} missing");
    }
    let since = initial["next_batch"].as_str().expect("next_batch").to_owned();

    let quiet = s.sync(&bob.token, Some(&since), 0).await;
    assert!(quiet["rooms"]["join"].get(&room).is_none(), "nothing new: {quiet}");

    s.send_text(&alice.token, &room, "second").await;
    let next = s.sync(&bob.token, Some(&since), 0).await;
    let timeline = &next["rooms"]["join"][&room]["timeline"];
    assert_eq!(TestServer::bodies(&timeline["events"]), vec!["second"]);
    assert_ne!(timeline["limited"], json!(true));
    s.get("/_matrix/client/v3/sync?since=bogus", Some(&bob.token))
        .await
        .err(400, "M_INVALID_PARAM");
}

/// A room without a name is named by its heroes: the first five other
/// members (joined or invited) by user id, whatever the room's size.
async fn summary_of_an_unnamed_room(backend: Backend) {
    let s = TestServer::new(backend).await;
    let alice = s.register("alice", "pw").await;
    let room = s.create_room(&alice.token, json!({"preset": "public_chat"})).await;
    let mut others = Vec::new();
    // Registered out of order, so that the heroes are sorted, not the first in.
    for name in ["hero7", "hero3", "hero6", "hero1", "hero5", "hero2"] {
        let user = s.register(name, "pw").await;
        s.join(&user.token, &room).await.ok();
        others.push(user.user_id);
    }
    let invited = s.register("hero4", "pw").await;
    s.invite(&alice.token, &room, &invited.user_id).await.ok();
    others.push(invited.user_id);
    others.sort();

    let sync = s.sync(&alice.token, None, 0).await;
    let summary = &sync["rooms"]["join"][&room]["summary"];
    assert_eq!(summary["m.joined_member_count"], 7);
    assert_eq!(summary["m.invited_member_count"], 1);
    assert_eq!(summary["m.heroes"], json!(others[..5]), "{summary}");
}

async fn long_poll_wakes_on_a_new_message(backend: Backend) {
    let s = TestServer::new(backend).await;
    let alice = s.register("alice", "pw").await;
    let bob = s.register("bob", "pw").await;
    let room = s.create_room(&alice.token, json!({"preset": "public_chat"})).await;
    s.join(&bob.token, &room).await.ok();
    let since = s.sync(&bob.token, None, 0).await["next_batch"].as_str().expect("token").to_owned();

    // A long poll of a minute returns as soon as alice's message lands.
    let waiting = s.sync(&bob.token, Some(&since), 60_000);
    let sending = async {
        tokio::task::yield_now().await;
        s.send_text(&alice.token, &room, "wake up").await
    };
    let (woken, _) = tokio::join!(waiting, sending);
    let events = &woken["rooms"]["join"][&room]["timeline"]["events"];
    assert_eq!(TestServer::bodies(events), vec!["wake up"]);
}

async fn timeline_is_limited_with_prev_batch(backend: Backend) {
    let s = TestServer::new(backend).await;
    let alice = s.register("alice", "pw").await;
    let room = s.create_room(&alice.token, json!({})).await;
    let since =
        s.sync(&alice.token, None, 0).await["next_batch"].as_str().expect("token").to_owned();
    for i in 0..15 {
        s.send_text(&alice.token, &room, &format!("n{i}")).await;
    }
    let filter = r#"{"room":{"timeline":{"limit":5}}}"#;
    let path = format!("/_matrix/client/v3/sync?since={since}&filter={}", urlencode(filter));
    let synced = s.get(&path, Some(&alice.token)).await.ok();
    let timeline = &synced["rooms"]["join"][&room]["timeline"];
    assert_eq!(timeline["limited"], json!(true));
    assert_eq!(TestServer::bodies(&timeline["events"]), vec!["n10", "n11", "n12", "n13", "n14"]);
    // prev_batch continues backwards from the gap.
    let back = async |timeline: &Value, limit: u32| {
        let prev = timeline["prev_batch"].as_str().expect("prev_batch");
        let path =
            format!("/_matrix/client/v3/rooms/{room}/messages?dir=b&limit={limit}&from={prev}");
        TestServer::bodies(&s.get(&path, Some(&alice.token)).await.ok()["chunk"])
    };
    assert_eq!(back(timeline, 3).await, vec!["n9", "n8", "n7"]);

    // An initial sync limits each room on its own to its newest five: the
    // busy room's messages, the quiet room's message after its state.
    let quiet = s.create_room(&alice.token, json!({})).await;
    s.send_text(&alice.token, &quiet, "q0").await;
    s.send_text(&alice.token, &room, "n15").await;
    let path = format!("/_matrix/client/v3/sync?filter={}", urlencode(filter));
    let synced = s.get(&path, Some(&alice.token)).await.ok();
    let timeline = &synced["rooms"]["join"][&room]["timeline"];
    assert_eq!(timeline["limited"], json!(true));
    assert_eq!(TestServer::bodies(&timeline["events"]), vec!["n11", "n12", "n13", "n14", "n15"]);
    let quiet_timeline = &synced["rooms"]["join"][&quiet]["timeline"];
    let quiet_events = quiet_timeline["events"].as_array().expect("events");
    assert_eq!(quiet_events.len(), 5, "{quiet_timeline}");
    assert_eq!(quiet_events[4]["content"]["body"], "q0", "{quiet_timeline}");
    assert_eq!(TestServer::bodies(&quiet_timeline["events"]), vec!["q0"]);
    assert_eq!(back(timeline, 2).await, vec!["n10", "n9"]);
}

fn urlencode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            other => format!("%{other:02X}"),
        })
        .collect()
}

async fn invites_and_leaves_appear(backend: Backend) {
    let s = TestServer::new(backend).await;
    let alice = s.register("alice", "pw").await;
    let bob = s.register("bob", "pw").await;
    let since = s.sync(&bob.token, None, 0).await["next_batch"].as_str().expect("token").to_owned();
    let room =
        s.create_room(&alice.token, json!({"name": "Secret club", "invite": [bob.user_id]})).await;

    let synced = s.sync(&bob.token, Some(&since), 0).await;
    let invite = &synced["rooms"]["invite"][&room]["invite_state"]["events"];
    let events = invite.as_array().expect("invite state");
    assert!(
        events.iter().any(|e| e["type"] == "m.room.name" && e["content"]["name"] == "Secret club")
    );
    assert!(
        events
            .iter()
            .any(|e| e["type"] == "m.room.member" && e["content"]["membership"] == "invite")
    );
    let since = synced["next_batch"].as_str().expect("token").to_owned();

    // Rejecting the invite puts the room in the leave section.
    s.post(&format!("/_matrix/client/v3/rooms/{room}/leave"), Some(&bob.token), json!({}))
        .await
        .ok();
    let synced = s.sync(&bob.token, Some(&since), 0).await;
    assert!(synced["rooms"]["leave"].get(&room).is_some(), "{synced}");
    assert!(synced["rooms"]["invite"].get(&room).is_none());
}

async fn account_data_syncs(backend: Backend) {
    let s = TestServer::new(backend).await;
    let alice = s.register("alice", "pw").await;
    let since =
        s.sync(&alice.token, None, 0).await["next_batch"].as_str().expect("token").to_owned();
    let path = format!("/_matrix/client/v3/user/{}/account_data/m.direct", alice.user_id);
    let waiting = s.sync(&alice.token, Some(&since), 60_000);
    let writing = async {
        tokio::task::yield_now().await;
        s.put(&path, Some(&alice.token), json!({"@bob:localhost": ["!r:localhost"]})).await.ok()
    };
    let (synced, _) = tokio::join!(waiting, writing);
    let events = synced["account_data"]["events"].as_array().expect("account data");
    assert!(events.iter().any(|e| e["type"] == "m.direct"));
}

async fn tokens_survive_a_restart(backend: Backend) {
    let mut s = TestServer::new(backend).await;
    let alice = s.register("alice", "pw").await;
    let room = s.create_room(&alice.token, json!({})).await;
    s.send_text(&alice.token, &room, "before restart").await;
    let since =
        s.sync(&alice.token, None, 0).await["next_batch"].as_str().expect("token").to_owned();
    s.restart().await;
    s.send_text(&alice.token, &room, "after restart").await;
    let synced = s.sync(&alice.token, Some(&since), 0).await;
    assert_eq!(
        TestServer::bodies(&synced["rooms"]["join"][&room]["timeline"]["events"]),
        vec!["after restart"]
    );
    let page = s
        .get(
            &format!("/_matrix/client/v3/rooms/{room}/messages?dir=b&limit=10"),
            Some(&alice.token),
        )
        .await
        .ok();
    assert_eq!(TestServer::bodies(&page["chunk"]), vec!["after restart", "before restart"]);
}

mod filters {
    use serde_json::json;

    use crate::{
        backend_tests,
        common::{Backend, TestServer},
    };

    backend_tests!(sync_filters_rooms_types_and_members);

    use super::urlencode as encode;

    async fn sync_filters_rooms_types_and_members(backend: Backend) {
        let s = TestServer::new(backend).await;
        let alice = s.register("alice", "pw").await;
        let bob = s.register("bob", "pw").await;
        let carol = s.register("carol", "pw").await;
        let wanted = s.create_room(&alice.token, json!({"preset": "public_chat"})).await;
        let unwanted = s.create_room(&alice.token, json!({"preset": "public_chat"})).await;
        s.join(&bob.token, &wanted).await.ok();
        s.join(&carol.token, &wanted).await.ok();
        s.send_text(&bob.token, &wanted, "from bob").await;
        s.put(
            &format!("/_matrix/client/v3/rooms/{wanted}/send/m.reaction/r1"),
            Some(&alice.token),
            json!({"m.relates_to": {"rel_type": "m.annotation", "event_id": "$x", "key": "k"}}),
        )
        .await
        .ok();

        // A stored filter: one room, messages only, lazy-loaded members.
        let filter = json!({"room": {"rooms": [wanted], "timeline": {"types": ["m.room.message"], "limit": 5},
                                     "state": {"lazy_load_members": true}}});
        let id = s
            .post(
                &format!("/_matrix/client/v3/user/{}/filter", alice.user_id),
                Some(&alice.token),
                filter,
            )
            .await
            .ok()["filter_id"]
            .as_str()
            .expect("filter id")
            .to_owned();
        let synced =
            s.get(&format!("/_matrix/client/v3/sync?filter={id}"), Some(&alice.token)).await.ok();
        let join = synced["rooms"]["join"].as_object().expect("join");
        assert!(join.contains_key(&wanted) && !join.contains_key(&unwanted), "{synced}");
        let room = &synced["rooms"]["join"][&wanted];
        let types: Vec<&str> = room["timeline"]["events"]
            .as_array()
            .expect("timeline")
            .iter()
            .filter_map(|e| e["type"].as_str())
            .collect();
        assert_eq!(types, vec!["m.room.message"]);
        let members: Vec<&str> = room["state"]["events"]
            .as_array()
            .expect("state")
            .iter()
            .filter(|e| e["type"] == "m.room.member")
            .filter_map(|e| e["state_key"].as_str())
            .collect();
        assert!(
            members.contains(&bob.user_id.as_str()) && members.contains(&alice.user_id.as_str())
        );
        assert!(!members.contains(&carol.user_id.as_str()), "carol said nothing: {members:?}");

        // The same as an inline filter, excluding a room instead.
        let inline = encode(&json!({"room": {"not_rooms": [wanted]}}).to_string());
        let synced = s
            .get(&format!("/_matrix/client/v3/sync?filter={inline}"), Some(&alice.token))
            .await
            .ok();
        let join = synced["rooms"]["join"].as_object().expect("join");
        assert!(!join.contains_key(&wanted) && join.contains_key(&unwanted));
    }
}

mod unread {
    use serde_json::json;

    use crate::{
        backend_tests,
        common::{Backend, TestServer},
    };

    backend_tests!(unread_counts_follow_push_rules_and_receipts);

    async fn unread_counts_follow_push_rules_and_receipts(backend: Backend) {
        let s = TestServer::new(backend).await;
        let alice = s.register("alice", "pw").await;
        let bob = s.register("bob", "pw").await;
        let room = s.create_room(&alice.token, json!({"preset": "public_chat"})).await;
        s.join(&bob.token, &room).await.ok();
        s.send_text(&alice.token, &room, "my own message never counts").await;
        for i in 0..3 {
            s.send_text(&bob.token, &room, &format!("unread {i}")).await;
        }
        s.put(
                &format!("/_matrix/client/v3/rooms/{room}/send/m.room.message/mention"),
                Some(&bob.token),
                json!({"msgtype": "m.text", "body": "hey alice", "m.mentions": {"user_ids": [alice.user_id]}}),
            )
            .await
            .ok();
        let synced = s.sync(&alice.token, None, 0).await;
        let counts = &synced["rooms"]["join"][&room]["unread_notifications"];
        assert_eq!(counts["notification_count"], 4, "{counts}");
        assert_eq!(counts["highlight_count"], 1, "{counts}");
        let since = synced["next_batch"].as_str().expect("token").to_owned();

        // New events are counted from the incremental sync's timeline...
        s.send_text(&bob.token, &room, "one more").await;
        let mention = s
            .put(
                &format!("/_matrix/client/v3/rooms/{room}/send/m.room.message/again"),
                Some(&bob.token),
                json!({"msgtype": "m.text", "body": "alice?", "m.mentions": {"user_ids": [alice.user_id]}}),
            )
            .await
            .ok();
        let synced = s.sync(&alice.token, Some(&since), 0).await;
        let counts = &synced["rooms"]["join"][&room]["unread_notifications"];
        assert_eq!(counts["notification_count"], 6, "{counts}");
        assert_eq!(counts["highlight_count"], 2, "{counts}");
        let since = synced["next_batch"].as_str().expect("token").to_owned();

        // ...and from the store when the filtered timeline leaves them out.
        s.send_text(&bob.token, &room, "filtered out").await;
        let filter = super::urlencode(
            &json!({"room": {"timeline": {"not_types": ["m.room.message"]}}}).to_string(),
        );
        let synced = s
            .get(
                &format!("/_matrix/client/v3/sync?since={since}&timeout=0&filter={filter}"),
                Some(&alice.token),
            )
            .await
            .ok();
        let counts = &synced["rooms"]["join"][&room]["unread_notifications"];
        assert_eq!(counts["notification_count"], 7, "{synced}");
        assert_eq!(counts["highlight_count"], 2, "{synced}");
        let since = synced["next_batch"].as_str().expect("token").to_owned();

        let last = mention["event_id"].as_str().expect("event id");
        s.post(
            &format!("/_matrix/client/v3/rooms/{room}/receipt/m.read/{last}"),
            Some(&alice.token),
            json!({}),
        )
        .await
        .ok();
        let synced = s.sync(&alice.token, Some(&since), 0).await;
        let counts = &synced["rooms"]["join"][&room]["unread_notifications"];
        assert_eq!(counts["notification_count"], 1, "only what followed the receipt: {synced}");
        assert_eq!(counts["highlight_count"], 0);

        // Her own message marks everything before it as read.
        let since = synced["next_batch"].as_str().expect("token").to_owned();
        s.send_text(&alice.token, &room, "caught up").await;
        let synced = s.sync(&alice.token, Some(&since), 0).await;
        let counts = &synced["rooms"]["join"][&room]["unread_notifications"];
        assert_eq!(counts["notification_count"], 0, "{synced}");
    }
}
