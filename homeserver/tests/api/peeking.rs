//! Peeking: reading a world-readable room without joining it, as Element
//! previews one (initialSync, then /events long-polls for what is next).

use serde_json::json;

use crate::{
    backend_tests,
    common::{Backend, TestServer},
};

backend_tests!(a_world_readable_room_can_be_previewed_and_followed, private_rooms_stay_closed);

async fn a_world_readable_room_can_be_previewed_and_followed(backend: Backend) {
    let s = TestServer::new(backend).await;
    let alice = s.register("alice", "pw").await;
    let bob = s.register("bob", "pw").await;
    let room = s
        .create_room(
            &alice.token,
            json!({"preset": "public_chat", "visibility": "public", "name": "Lobby",
                "initial_state": [{"type": "m.room.history_visibility", "state_key": "",
                    "content": {"history_visibility": "world_readable"}}]}),
        )
        .await;
    for text in ["one", "two", "three"] {
        s.send_text(&alice.token, &room, text).await;
    }

    let path = format!("/_matrix/client/v3/rooms/{room}/initialSync");
    let snapshot = s.get(&path, Some(&bob.token)).await.ok();
    assert_eq!(snapshot["room_id"], room.as_str());
    assert!(snapshot.get("membership").is_none(), "bob is not in the room");
    assert_eq!(snapshot["visibility"], "public");
    let names: Vec<&str> = snapshot["state"]
        .as_array()
        .expect("state")
        .iter()
        .filter(|e| e["type"] == "m.room.name")
        .filter_map(|e| e["content"]["name"].as_str())
        .collect();
    assert_eq!(names, ["Lobby"]);
    let messages = &snapshot["messages"];
    assert_eq!(TestServer::bodies(&messages["chunk"]), ["one", "two", "three"], "oldest first");
    let end = messages["end"].as_str().expect("end").to_owned();

    // Nothing new yet.
    let events = |from: &str, timeout: u64| {
        format!("/_matrix/client/v3/events?room_id={room}&from={from}&timeout={timeout}")
    };
    let idle = s.get(&events(&end, 0), Some(&bob.token)).await.ok();
    assert!(idle.get("chunk").is_none_or(|c| c == &json!([])));
    assert_eq!(idle["end"], end.as_str());

    // A long poll is woken by the next message.
    let waiting = events(&end, 10_000);
    let poll = s.get(&waiting, Some(&bob.token));
    let send = async {
        s.send_text(&alice.token, &room, "later").await;
    };
    let (next, ()) = tokio::join!(poll, send);
    let next = next.ok();
    assert_eq!(TestServer::bodies(&next["chunk"]), ["later"]);
    let after = next["end"].as_str().expect("end");
    assert_ne!(after, end);
    let idle = s.get(&events(after, 0), Some(&bob.token)).await.ok();
    assert!(idle.get("chunk").is_none_or(|c| c == &json!([])), "nothing twice");

    // A member sees their membership and their room account data.
    let tag = format!("/_matrix/client/v3/user/{}/rooms/{room}/tags/m.favourite", alice.user_id);
    s.put(&tag, Some(&alice.token), json!({"order": 0.5})).await.ok();
    let mine = s.get(&path, Some(&alice.token)).await.ok();
    assert_eq!(mine["membership"], "join");
    assert!(mine["account_data"].to_string().contains("m.favourite"), "{mine}");
}

async fn private_rooms_stay_closed(backend: Backend) {
    let s = TestServer::new(backend).await;
    let alice = s.register("alice", "pw").await;
    let bob = s.register("bob", "pw").await;
    let room = s.create_room(&alice.token, json!({"preset": "public_chat"})).await;
    s.send_text(&alice.token, &room, "members only").await;
    let path = format!("/_matrix/client/v3/rooms/{room}/initialSync");
    s.get(&path, Some(&bob.token)).await.err(403, "M_FORBIDDEN");
    let events = format!("/_matrix/client/v3/events?room_id={room}&timeout=0");
    s.get(&events, Some(&bob.token)).await.err(403, "M_FORBIDDEN");
    s.get(&path, None).await.err(401, "M_MISSING_TOKEN");
}
