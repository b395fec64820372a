//! Simplified sliding sync (MSC4186) over HTTP: room lists sorted by
//! recency, incremental answers, long polls, unread counts, positions that
//! survive a restart, M_UNKNOWN_POS, filters, required_state and the
//! extensions. matrix-rust-sdk itself is tested in the `element-x` crate.

use serde_json::{Value, json};

use crate::{
    backend_tests,
    common::{Answer, Backend, Session, TestServer},
};

backend_tests!(
    lists_sort_by_recency_and_send_only_news,
    long_poll_wakes_and_counts_unread,
    positions_survive_a_restart_and_unknown_ones_are_refused,
    a_retried_position_sends_again_what_was_lost,
    invites_and_leaves_reach_the_list,
    filters_pick_rooms,
    required_state_follows_the_request,
    extensions_carry_keys_messages_and_ephemera,
    versions_advertise_it,
);

const PATH: &str = "/_matrix/client/unstable/org.matrix.simplified_msc3575/sync";

/// One sliding sync request.
async fn slide(
    s: &TestServer,
    who: &Session,
    pos: Option<&str>,
    timeout: u64,
    body: Value,
) -> Answer {
    let mut path = format!("{PATH}?timeout={timeout}");
    if let Some(pos) = pos {
        path.push_str(&format!("&pos={pos}"));
    }
    s.post(&path, Some(&who.token), body).await
}

/// A list over all rooms with these ranges and the usual room details.
fn list(ranges: Value) -> Value {
    json!({"conn_id": "room-list", "lists": {"all": {
        "ranges": ranges,
        "timeline_limit": 1,
        "required_state": [["m.room.name", ""], ["m.room.member", "$LAZY"], ["m.room.member", "$ME"]],
    }}})
}

fn pos(answer: &Value) -> String {
    answer["pos"].as_str().expect("pos").to_owned()
}

fn bodies(room: &Value) -> Vec<String> {
    TestServer::bodies(&room["timeline"])
}

fn room_ids(answer: &Value) -> Vec<String> {
    answer["rooms"].as_object().map(|rooms| rooms.keys().cloned().collect()).unwrap_or_default()
}

async fn lists_sort_by_recency_and_send_only_news(backend: Backend) {
    let s = TestServer::new(backend).await;
    let alice = s.register("alice", "pw").await;
    let mut rooms = Vec::new();
    for name in ["one", "two", "three"] {
        let room = s.create_room(&alice.token, json!({"name": name})).await;
        s.send_text(&alice.token, &room, &format!("hello {name}")).await;
        rooms.push(room);
    }
    let first = slide(&s, &alice, None, 0, list(json!([[0, 1]]))).await.ok();
    assert_eq!(first["lists"]["all"]["count"], 3, "{first}");
    // The two most recent: the last created and the one before.
    let mut sent = room_ids(&first);
    sent.sort();
    let mut newest = vec![rooms[2].clone(), rooms[1].clone()];
    newest.sort();
    assert_eq!(sent, newest);
    let three = &first["rooms"][&rooms[2]];
    assert_eq!(three["initial"], true);
    assert_eq!(three["name"], "three");
    assert_eq!(bodies(three), ["hello three"]);
    assert_eq!(three["limited"], true, "more events than the timeline limit");
    assert!(three["prev_batch"].is_string());
    assert_eq!(three["joined_count"], 1);
    let states: Vec<&str> = three["required_state"]
        .as_array()
        .expect("required_state")
        .iter()
        .map(|e| e["type"].as_str().unwrap_or_default())
        .collect();
    assert!(states.contains(&"m.room.name") && states.contains(&"m.room.member"), "{states:?}");
    assert!(
        first["rooms"][&rooms[2]]["bump_stamp"].as_u64()
            > first["rooms"][&rooms[1]]["bump_stamp"].as_u64()
    );

    // Nothing new: the same position comes back at once (timeout 0).
    let again = slide(&s, &alice, Some(&pos(&first)), 0, list(json!([[0, 1]]))).await.ok();
    assert!(room_ids(&again).is_empty(), "{again}");
    assert_eq!(again["pos"], first["pos"]);

    // A message in the oldest room moves it to the top: it comes whole
    // (never sent before), and only it.
    s.send_text(&alice.token, &rooms[0], "bump").await;
    let moved = slide(&s, &alice, Some(&pos(&again)), 0, list(json!([[0, 1]]))).await.ok();
    assert_eq!(room_ids(&moved), [rooms[0].clone()], "{moved}");
    assert_eq!(moved["rooms"][&rooms[0]]["initial"], true);
    assert_eq!(bodies(&moved["rooms"][&rooms[0]]), ["bump"]);

    // A room sent before gets only what is new, not its state again.
    s.send_text(&alice.token, &rooms[2], "news").await;
    let news = slide(&s, &alice, Some(&pos(&moved)), 0, list(json!([[0, 2]]))).await.ok();
    let three = &news["rooms"][&rooms[2]];
    assert_eq!(bodies(three), ["news"]);
    assert!(three.get("initial").is_none(), "{three}");
    assert!(three.get("limited").is_none_or(|limited| limited == false), "{three}");
    assert_eq!(three["num_live"], 1);
    assert!(three.get("required_state").is_none_or(|s| s.as_array().is_some_and(|s| s.is_empty())));
    // Room two, back in the widened range, was sent before and has no news.
    assert!(news["rooms"].get(&rooms[1]).is_none(), "{news}");
    assert_eq!(news["lists"]["all"]["count"], 3);
}

async fn long_poll_wakes_and_counts_unread(backend: Backend) {
    let s = TestServer::new(backend).await;
    let alice = s.register("alice", "pw").await;
    let bob = s.register("bob", "pw").await;
    let room = s.create_room(&alice.token, json!({"preset": "public_chat"})).await;
    s.join(&bob.token, &room).await.ok();
    let first = slide(&s, &alice, None, 0, list(json!([[0, 9]]))).await.ok();
    assert_eq!(first["rooms"][&room]["notification_count"], 0);

    let first_pos = pos(&first);
    let waiting = slide(&s, &alice, Some(&first_pos), 20_000, list(json!([[0, 9]])));
    let sending = async {
        tokio::task::yield_now().await;
        s.send_text(&bob.token, &room, "wake up").await
    };
    let (woken, event_id) = tokio::join!(waiting, sending);
    let woken = woken.ok();
    let update = &woken["rooms"][&room];
    assert_eq!(bodies(update), ["wake up"], "{woken}");
    assert_eq!(update["notification_count"], 1);
    assert_eq!(update["highlight_count"], 0);

    // Reading it sends the room again with its count back to zero.
    let receipt = format!("/_matrix/client/v3/rooms/{room}/receipt/m.read/{event_id}");
    s.post(&receipt, Some(&alice.token), json!({})).await.ok();
    let read = slide(&s, &alice, Some(&pos(&woken)), 0, list(json!([[0, 9]]))).await.ok();
    assert_eq!(read["rooms"][&room]["notification_count"], 0, "{read}");
    assert!(read["rooms"][&room].get("timeline").is_none());
}

async fn positions_survive_a_restart_and_unknown_ones_are_refused(backend: Backend) {
    let mut s = TestServer::new(backend).await;
    let alice = s.register("alice", "pw").await;
    let room = s.create_room(&alice.token, json!({})).await;
    let first = slide(&s, &alice, None, 0, list(json!([[0, 9]]))).await.ok();
    s.restart().await;
    s.send_text(&alice.token, &room, "after the restart").await;
    let next = slide(&s, &alice, Some(&pos(&first)), 0, list(json!([[0, 9]]))).await.ok();
    let update = &next["rooms"][&room];
    assert_eq!(bodies(update), ["after the restart"]);
    assert!(update.get("initial").is_none(), "the restart did not forget what was sent: {update}");

    for bad in ["nonsense", "999999", "-1"] {
        slide(&s, &alice, Some(bad), 0, list(json!([[0, 9]]))).await.err(400, "M_UNKNOWN_POS");
    }
    // A position belongs to its connection, and to its user.
    let mut other = list(json!([[0, 9]]));
    other["conn_id"] = json!("encryption");
    slide(&s, &alice, Some(&pos(&next)), 0, other).await.err(400, "M_UNKNOWN_POS");
    let bob = s.register("bob", "pw").await;
    slide(&s, &bob, Some(&pos(&next)), 0, list(json!([[0, 9]]))).await.err(400, "M_UNKNOWN_POS");
    // Logging out forgets the device's connections.
    s.post("/_matrix/client/v3/logout", Some(&alice.token), json!({})).await.ok();
    let again = s.login("alice", "pw", Some(&alice.device_id)).await.ok();
    let alice = crate::common::session_from(&again);
    slide(&s, &alice, Some(&pos(&next)), 0, list(json!([[0, 9]]))).await.err(400, "M_UNKNOWN_POS");
}

async fn a_retried_position_sends_again_what_was_lost(backend: Backend) {
    let s = TestServer::new(backend).await;
    let alice = s.register("alice", "pw").await;
    let room = s.create_room(&alice.token, json!({})).await;
    let first = slide(&s, &alice, None, 0, list(json!([[0, 9]]))).await.ok();
    s.send_text(&alice.token, &room, "lost on the way").await;
    let lost = slide(&s, &alice, Some(&pos(&first)), 0, list(json!([[0, 9]]))).await.ok();
    assert_eq!(bodies(&lost["rooms"][&room]), ["lost on the way"]);
    // The client never got `lost` and asks from `first` again.
    let retried = slide(&s, &alice, Some(&pos(&first)), 0, list(json!([[0, 9]]))).await.ok();
    assert_eq!(bodies(&retried["rooms"][&room]), ["lost on the way"]);
    // The abandoned position is gone.
    slide(&s, &alice, Some(&pos(&lost)), 0, list(json!([[0, 9]]))).await.err(400, "M_UNKNOWN_POS");
}

async fn invites_and_leaves_reach_the_list(backend: Backend) {
    let s = TestServer::new(backend).await;
    let alice = s.register("alice", "pw").await;
    let bob = s.register("bob", "pw").await;
    let room = s.create_room(&bob.token, json!({"name": "Bob's"})).await;
    let first = slide(&s, &alice, None, 0, list(json!([[0, 9]]))).await.ok();
    assert_eq!(first["lists"]["all"]["count"], 0);

    s.invite(&bob.token, &room, &alice.user_id).await.ok();
    let invited = slide(&s, &alice, Some(&pos(&first)), 0, list(json!([[0, 9]]))).await.ok();
    assert_eq!(invited["lists"]["all"]["count"], 1);
    let state = invited["rooms"][&room]["invite_state"].as_array().expect("invite_state");
    assert!(state.iter().any(|e| e["type"] == "m.room.name" && e["content"]["name"] == "Bob's"));
    assert!(state.iter().any(|e| e["type"] == "m.room.member" && e["state_key"] == alice.user_id));

    s.join(&alice.token, &room).await.ok();
    let joined = slide(&s, &alice, Some(&pos(&invited)), 0, list(json!([[0, 9]]))).await.ok();
    let update = &joined["rooms"][&room];
    assert_eq!(update["initial"], true, "joining sends the room whole: {update}");
    assert!(update.get("invite_state").is_none());
    assert_eq!(update["joined_count"], 2);

    let leave = format!("/_matrix/client/v3/rooms/{room}/leave");
    s.post(&leave, Some(&alice.token), json!({})).await.ok();
    let left = slide(&s, &alice, Some(&pos(&joined)), 0, list(json!([[0, 9]]))).await.ok();
    assert_eq!(left["lists"]["all"]["count"], 0);
    let me = left["rooms"][&room]["required_state"]
        .as_array()
        .and_then(|state| state.iter().find(|e| e["state_key"] == alice.user_id))
        .unwrap_or_else(|| panic!("the leave is in required_state: {left}"));
    assert_eq!(me["content"]["membership"], "leave");
    // Told once.
    let after = slide(&s, &alice, Some(&pos(&left)), 0, list(json!([[0, 9]]))).await.ok();
    assert!(room_ids(&after).is_empty(), "{after}");
}

async fn filters_pick_rooms(backend: Backend) {
    let s = TestServer::new(backend).await;
    let alice = s.register("alice", "pw").await;
    let bob = s.register("bob", "pw").await;
    let plain = s.create_room(&alice.token, json!({})).await;
    let encrypted = s
        .create_room(
            &alice.token,
            json!({"initial_state": [{"type": "m.room.encryption", "state_key": "",
                "content": {"algorithm": "m.megolm.v1.aes-sha2"}}]}),
        )
        .await;
    let space = s.create_room(&alice.token, json!({"creation_content": {"type": "m.space"}})).await;
    let child = format!("/_matrix/client/v3/rooms/{space}/state/m.space.child/{plain}");
    s.put(&child, Some(&alice.token), json!({"via": ["localhost"]})).await.ok();
    let dm = s.create_room(&alice.token, json!({"is_direct": true, "invite": [bob.user_id]})).await;
    let direct = format!("/_matrix/client/v3/user/{}/account_data/m.direct", alice.user_id);
    s.put(&direct, Some(&alice.token), json!({&bob.user_id: [dm]})).await.ok();
    let invite = s.create_room(&bob.token, json!({})).await;
    s.invite(&bob.token, &invite, &alice.user_id).await.ok();

    let filtered = |filters: Value| json!({"lists": {"l": {"ranges": [[0, 20]], "timeline_limit": 0, "filters": filters}}});
    let cases = [
        (json!({"is_encrypted": true}), vec![&encrypted]),
        (json!({"is_dm": true}), vec![&dm]),
        (json!({"is_invite": true}), vec![&invite]),
        (json!({"room_types": ["m.space"]}), vec![&space]),
        (json!({"spaces": [space]}), vec![&plain]),
        (
            json!({"not_room_types": ["m.space"], "is_invite": false, "is_dm": false, "is_encrypted": false}),
            vec![&plain],
        ),
    ];
    for (filters, expected) in cases {
        let answer = slide(&s, &alice, None, 0, filtered(filters.clone())).await.ok();
        let mut got = room_ids(&answer);
        got.sort();
        let mut expected: Vec<String> = expected.into_iter().cloned().collect();
        expected.sort();
        assert_eq!(got, expected, "filters {filters}");
        assert_eq!(answer["lists"]["l"]["count"], expected.len(), "filters {filters}");
    }
}

async fn required_state_follows_the_request(backend: Backend) {
    let s = TestServer::new(backend).await;
    let alice = s.register("alice", "pw").await;
    let bob = s.register("bob", "pw").await;
    let carol = s.register("carol", "pw").await;
    let room = s.create_room(&alice.token, json!({"preset": "public_chat", "topic": "t"})).await;
    s.join(&bob.token, &room).await.ok();
    s.join(&carol.token, &room).await.ok();
    s.send_text(&bob.token, &room, "from bob").await;
    let subscribe = |required_state: Value| json!({"room_subscriptions": {&room: {"timeline_limit": 1, "required_state": required_state}}});
    let kinds = |answer: &Value| -> Vec<(String, String)> {
        let mut kinds: Vec<(String, String)> = answer["rooms"][&room]["required_state"]
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or_default()
            .iter()
            .map(|e| {
                (
                    e["type"].as_str().unwrap_or("").into(),
                    e["state_key"].as_str().unwrap_or("").into(),
                )
            })
            .collect();
        kinds.sort();
        kinds
    };
    // $LAZY: the senders of the timeline; $ME: the user.
    let lazy = slide(
        &s,
        &alice,
        None,
        0,
        subscribe(json!([["m.room.member", "$LAZY"], ["m.room.member", "$ME"]])),
    )
    .await
    .ok();
    let member = |user: &Session| ("m.room.member".to_owned(), user.user_id.clone());
    let mut expected = vec![member(&alice), member(&bob)];
    expected.sort();
    assert_eq!(kinds(&lazy), expected);
    // "*": every state key of a type; ["*", "*"]: all state.
    let all_members =
        slide(&s, &alice, None, 0, subscribe(json!([["m.room.member", "*"]]))).await.ok();
    assert_eq!(kinds(&all_members).len(), 3);
    let everything = slide(&s, &alice, None, 0, subscribe(json!([["*", "*"]]))).await.ok();
    let everything = kinds(&everything);
    for kind in ["m.room.create", "m.room.power_levels", "m.room.topic", "m.room.join_rules"] {
        assert!(everything.iter().any(|(k, _)| k == kind), "{kind} in {everything:?}");
    }

    // A state change the client asked for comes in required_state; one
    // it did not ask for does not.
    let asked = subscribe(json!([["m.room.topic", ""]]));
    let first = slide(&s, &alice, None, 0, asked.clone()).await.ok();
    let topic = format!("/_matrix/client/v3/rooms/{room}/state/m.room.topic");
    s.put(&topic, Some(&alice.token), json!({"topic": "new"})).await.ok();
    let name = format!("/_matrix/client/v3/rooms/{room}/state/m.room.name");
    s.put(&name, Some(&alice.token), json!({"name": "named"})).await.ok();
    let changed = slide(&s, &alice, Some(&pos(&first)), 0, asked).await.ok();
    assert_eq!(kinds(&changed), [("m.room.topic".to_owned(), String::new())], "{changed}");
    // Asking for more sends what was not sent before.
    let wider = subscribe(json!([["m.room.topic", ""], ["m.room.name", ""]]));
    let widened = slide(&s, &alice, Some(&pos(&changed)), 0, wider).await.ok();
    assert!(kinds(&widened).contains(&("m.room.name".to_owned(), String::new())), "{widened}");
    // Rooms the user is not in are not theirs to subscribe to.
    let other = s.create_room(&bob.token, json!({})).await;
    let peek = json!({"room_subscriptions": {&other: {"timeline_limit": 5}}});
    let answer = slide(&s, &alice, None, 0, peek).await.ok();
    assert!(room_ids(&answer).is_empty(), "{answer}");
}

async fn extensions_carry_keys_messages_and_ephemera(backend: Backend) {
    let s = TestServer::new(backend).await;
    let alice = s.register("alice", "pw").await;
    let bob = s.register("bob", "pw").await;
    let room = s.create_room(&alice.token, json!({"preset": "public_chat"})).await;
    s.join(&bob.token, &room).await.ok();
    let tags = format!("/_matrix/client/v3/user/{}/rooms/{room}/tags/m.favourite", alice.user_id);
    s.put(&tags, Some(&alice.token), json!({})).await.ok();
    let event_id = s.send_text(&bob.token, &room, "read me").await;
    let receipt = format!("/_matrix/client/v3/rooms/{room}/receipt/m.read/{event_id}");
    s.post(&receipt, Some(&bob.token), json!({})).await.ok();
    let to_device = |since: Option<&str>| {
        let mut body = list(json!([[0, 9]]));
        body["extensions"] = json!({
            "to_device": {"enabled": true},
            "e2ee": {"enabled": true},
            "account_data": {"enabled": true},
            "receipts": {"enabled": true},
            "typing": {"enabled": true},
        });
        if let Some(since) = since {
            body["extensions"]["to_device"]["since"] = json!(since);
        }
        body
    };
    let first = slide(&s, &alice, None, 0, to_device(None)).await.ok();
    let extensions = &first["extensions"];
    assert_eq!(extensions["e2ee"]["device_one_time_keys_count"]["signed_curve25519"], 0, "{first}");
    assert!(extensions["e2ee"]["device_unused_fallback_key_types"].is_array());
    let next_batch = extensions["to_device"]["next_batch"].as_str().expect("next_batch").to_owned();
    let room_data =
        extensions["account_data"]["rooms"][&room].as_array().expect("room account data");
    assert!(room_data.iter().any(|e| e["type"] == "m.tag"));
    let receipts = &extensions["receipts"]["rooms"][&room]["content"][&event_id]["m.read"];
    assert!(
        receipts[&bob.user_id]["ts"].is_u64(),
        "bob's receipt on the timeline's event: {first}"
    );

    // A to-device message, bob typing and a key upload reach the next answer.
    let message = json!({"messages": {&alice.user_id: {&alice.device_id: {"secret": "s"}}}});
    s.put("/_matrix/client/v3/sendToDevice/m.test/1", Some(&bob.token), message).await.ok();
    let typing = format!("/_matrix/client/v3/rooms/{room}/typing/{}", bob.user_id);
    s.put(&typing, Some(&bob.token), json!({"typing": true, "timeout": 30000})).await.ok();
    let signer = crate::keys::Signer::new(Some(&alice.device_id));
    let keys = json!({
        "device_keys": crate::keys::device_keys(&alice, &signer),
        "one_time_keys": {"signed_curve25519:AAAAAQ": crate::keys::one_time_key(&alice, &signer, 1, false)},
    });
    s.post("/_matrix/client/v3/keys/upload", Some(&alice.token), keys).await.ok();
    let next = slide(&s, &alice, Some(&pos(&first)), 0, to_device(Some(&next_batch))).await.ok();
    let extensions = &next["extensions"];
    let messages = extensions["to_device"]["events"].as_array().expect("to-device events");
    assert_eq!(messages.len(), 1, "{next}");
    assert_eq!(messages[0]["content"]["secret"], "s");
    assert_eq!(messages[0]["sender"], bob.user_id);
    assert_eq!(extensions["typing"]["rooms"][&room]["content"]["user_ids"], json!([bob.user_id]));
    assert_eq!(extensions["e2ee"]["device_one_time_keys_count"]["signed_curve25519"], 1);
    assert_eq!(extensions["e2ee"]["device_lists"]["changed"], json!([alice.user_id]));
    // Acknowledged messages are not sent twice.
    let batch = extensions["to_device"]["next_batch"].as_str().expect("next_batch").to_owned();
    let last = slide(&s, &alice, Some(&pos(&next)), 0, to_device(Some(&batch))).await.ok();
    assert!(last["extensions"]["to_device"].get("events").is_none(), "{last}");
}

async fn versions_advertise_it(backend: Backend) {
    let s = TestServer::new(backend).await;
    let versions = s.get("/_matrix/client/versions", None).await.ok();
    assert_eq!(versions["unstable_features"]["org.matrix.simplified_msc3575"], true);
    // And it needs a login.
    s.post(PATH, None, json!({})).await.err(401, "M_MISSING_TOKEN");
}
