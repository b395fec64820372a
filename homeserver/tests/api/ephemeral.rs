//! Typing, receipts, read markers and presence, through sync.

use serde_json::{Value, json};

use crate::{
    backend_tests,
    common::{Backend, TestServer},
};

backend_tests!(
    typing_reaches_members_only,
    receipts_and_read_markers,
    presence_is_shared_with_room_peers
);

fn ephemeral<'a>(sync: &'a Value, room: &str, kind: &str) -> Option<&'a Value> {
    sync["rooms"]["join"][room]["ephemeral"]["events"]
        .as_array()?
        .iter()
        .find(|e| e["type"] == kind)
}

async fn typing_reaches_members_only(backend: Backend) {
    let s = TestServer::new(backend).await;
    let alice = s.register("alice", "pw").await;
    let bob = s.register("bob", "pw").await;
    let eve = s.register("eve", "pw").await;
    let room = s.create_room(&alice.token, json!({"preset": "public_chat"})).await;
    let other = s.create_room(&eve.token, json!({"preset": "public_chat"})).await;
    s.join(&bob.token, &room).await.ok();
    s.join(&alice.token, &other).await.ok();
    let bob_since =
        s.sync(&bob.token, None, 0).await["next_batch"].as_str().expect("token").to_owned();
    let eve_since =
        s.sync(&eve.token, None, 0).await["next_batch"].as_str().expect("token").to_owned();

    let typing = format!("/_matrix/client/v3/rooms/{room}/typing/{}", alice.user_id);
    let waiting = s.sync(&bob.token, Some(&bob_since), 60_000);
    let start = async {
        tokio::task::yield_now().await;
        s.put(&typing, Some(&alice.token), json!({"typing": true, "timeout": 30000})).await.ok()
    };
    let (synced, _) = tokio::join!(waiting, start);
    let notice = ephemeral(&synced, &room, "m.typing").expect("typing notice");
    assert_eq!(notice["content"]["user_ids"], json!([alice.user_id]));

    // Eve shares another room with alice, but not this one.
    let eve_sync = s.sync(&eve.token, Some(&eve_since), 0).await;
    assert!(ephemeral(&eve_sync, &room, "m.typing").is_none());
    s.put(&typing, Some(&eve.token), json!({"typing": true, "timeout": 1000}))
        .await
        .err(403, "M_FORBIDDEN");

    let since = synced["next_batch"].as_str().expect("token").to_owned();
    s.put(&typing, Some(&alice.token), json!({"typing": false})).await.ok();
    let stopped = s.sync(&bob.token, Some(&since), 0).await;
    assert_eq!(
        ephemeral(&stopped, &room, "m.typing").expect("typing")["content"]["user_ids"],
        json!([])
    );
}

async fn receipts_and_read_markers(backend: Backend) {
    let s = TestServer::new(backend).await;
    let alice = s.register("alice", "pw").await;
    let bob = s.register("bob", "pw").await;
    let room = s.create_room(&alice.token, json!({"preset": "public_chat"})).await;
    s.join(&bob.token, &room).await.ok();
    let event = s.send_text(&alice.token, &room, "read me").await;
    let alice_since =
        s.sync(&alice.token, None, 0).await["next_batch"].as_str().expect("token").to_owned();

    s.post(
        &format!("/_matrix/client/v3/rooms/{room}/receipt/m.read/{event}"),
        Some(&bob.token),
        json!({}),
    )
    .await
    .ok();
    s.post(
        &format!("/_matrix/client/v3/rooms/{room}/read_markers"),
        Some(&bob.token),
        json!({"m.fully_read": event, "m.read.private": event}),
    )
    .await
    .ok();
    let synced = s.sync(&alice.token, Some(&alice_since), 0).await;
    let receipt = ephemeral(&synced, &room, "m.receipt").expect("receipt");
    assert!(receipt["content"][&event]["m.read"][&bob.user_id]["ts"].is_number(), "{receipt}");
    // Bob's private receipt stays his.
    assert!(receipt["content"][&event].get("m.read.private").is_none(), "{receipt}");

    let bob_sync = s.sync(&bob.token, None, 0).await;
    let own = ephemeral(&bob_sync, &room, "m.receipt").expect("own receipts");
    assert!(own["content"][&event]["m.read.private"][&bob.user_id].is_object(), "{own}");
    let fully_read = s
        .get(
            &format!(
                "/_matrix/client/v3/user/{}/rooms/{room}/account_data/m.fully_read",
                bob.user_id
            ),
            Some(&bob.token),
        )
        .await
        .ok();
    assert_eq!(fully_read["event_id"], event.as_str());

    // Threaded receipts and bad input.
    s.post(
        &format!("/_matrix/client/v3/rooms/{room}/receipt/m.read/{event}"),
        Some(&bob.token),
        json!({"thread_id": "main"}),
    )
    .await
    .ok();
    s.post(
        &format!("/_matrix/client/v3/rooms/{room}/receipt/m.read/$nope"),
        Some(&bob.token),
        json!({}),
    )
    .await
    .err(404, "M_NOT_FOUND");
    let carol = s.register("carol", "pw").await;
    s.post(
        &format!("/_matrix/client/v3/rooms/{room}/receipt/m.read/{event}"),
        Some(&carol.token),
        json!({}),
    )
    .await
    .err(403, "M_FORBIDDEN");
}

async fn presence_is_shared_with_room_peers(backend: Backend) {
    let s = TestServer::new(backend).await;
    let alice = s.register("alice", "pw").await;
    let bob = s.register("bob", "pw").await;
    let stranger = s.register("stranger", "pw").await;
    let room = s.create_room(&alice.token, json!({"preset": "public_chat"})).await;
    s.join(&bob.token, &room).await.ok();
    let since = s.sync(&bob.token, None, 0).await["next_batch"].as_str().expect("token").to_owned();

    let status = format!("/_matrix/client/v3/presence/{}/status", alice.user_id);
    s.put(&status, Some(&alice.token), json!({"presence": "unavailable", "status_msg": "lunch"}))
        .await
        .ok();
    let seen = s.get(&status, Some(&bob.token)).await.ok();
    assert_eq!(seen["presence"], "unavailable");
    assert_eq!(seen["status_msg"], "lunch");
    s.get(&status, Some(&stranger.token)).await.err(403, "M_FORBIDDEN");
    s.put(&status, Some(&bob.token), json!({"presence": "online"})).await.err(403, "M_FORBIDDEN");

    let synced = s.sync(&bob.token, Some(&since), 0).await;
    let events = synced["presence"]["events"].as_array().expect("presence events");
    let alices =
        events.iter().find(|e| e["sender"] == alice.user_id.as_str()).expect("alice's presence");
    assert_eq!(alices["content"]["presence"], "unavailable");
    assert_eq!(alices["content"]["status_msg"], "lunch");
}
