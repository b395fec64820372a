//! Erasure: an account closed with `erase: true` loses its uploads, profile
//! and account data, leaves its rooms, and its messages are redacted for
//! everyone who was not in the room when they were sent.

use serde_json::{Value, json};

use crate::{
    backend_tests,
    common::{Backend, Session, TestServer, password_auth, upload_media},
};

backend_tests!(an_erased_users_messages_are_redacted_for_newcomers);

/// The event `id` in a /messages page of `room` as `who` reads it.
async fn as_read_by(s: &TestServer, who: &Session, room: &str, id: &str) -> Value {
    let page = format!("/_matrix/client/v3/rooms/{room}/messages?dir=b&limit=50");
    let chunk = s.get(&page, Some(&who.token)).await.ok()["chunk"].clone();
    let found = chunk.as_array().and_then(|c| c.iter().find(|e| e["event_id"] == id)).cloned();
    found.unwrap_or_else(|| panic!("{id} is in the page: {chunk}"))
}

async fn search_hits(s: &TestServer, who: &Session, term: &str) -> usize {
    let body = json!({"search_categories": {"room_events": {"search_term": term}}});
    let found = s.post("/_matrix/client/v3/search", Some(&who.token), body).await.ok();
    found["search_categories"]["room_events"]["results"].as_array().map_or(0, Vec::len)
}

async fn an_erased_users_messages_are_redacted_for_newcomers(backend: Backend) {
    let mut s = TestServer::new(backend).await;
    let alice = s.register("alice", "pw").await;
    let bob = s.register("bob", "pw").await;
    let room = s.create_room(&alice.token, json!({"preset": "public_chat"})).await;
    s.join(&bob.token, &room).await.ok();
    let secret = s.send_text(&alice.token, &room, "a very private thought").await;
    let mxc = upload_media(s.http(), s.url(), &alice.token, "text/plain", b"hers".to_vec()).await;
    let data = format!("/_matrix/client/v3/user/{}/account_data/org.example.notes", alice.user_id);
    s.put(&data, Some(&alice.token), json!({"note": "kept"})).await.ok();

    let deactivate = json!({"erase": true, "auth": password_auth("alice", "pw")});
    s.post("/_matrix/client/v3/account/deactivate", Some(&alice.token), deactivate).await.ok();

    // Bob was in the room when she wrote: he still reads it, and finds it.
    let seen = as_read_by(&s, &bob, &room, &secret).await;
    assert_eq!(seen["content"]["body"], "a very private thought");
    assert_eq!(search_hits(&s, &bob, "private").await, 1);
    // She left the room on her way out.
    let members = format!("/_matrix/client/v3/rooms/{room}/joined_members");
    let joined = s.get(&members, Some(&bob.token)).await.ok()["joined"].clone();
    assert!(joined.get(&alice.user_id).is_none(), "{joined}");

    // Carol joins afterwards: the message is there, redacted, everywhere she looks.
    let carol = s.register("carol", "pw").await;
    s.join(&carol.token, &room).await.ok();
    for _ in 0..2 {
        let seen = as_read_by(&s, &carol, &room, &secret).await;
        assert_eq!(seen["content"], json!({}), "{seen}");
        assert_eq!(seen["sender"], alice.user_id.as_str());
        let single = format!("/_matrix/client/v3/rooms/{room}/event/{secret}");
        assert_eq!(s.get(&single, Some(&carol.token)).await.ok()["content"], json!({}));
        let context = format!("/_matrix/client/v3/rooms/{room}/context/{secret}");
        assert_eq!(s.get(&context, Some(&carol.token)).await.ok()["event"]["content"], json!({}));
        assert_eq!(search_hits(&s, &carol, "private").await, 0, "not found through search");
        let sync = s.sync(&carol.token, None, 0).await;
        let timeline = &sync["rooms"]["join"][&room]["timeline"]["events"];
        let in_sync = timeline.as_array().and_then(|t| t.iter().find(|e| e["event_id"] == secret));
        assert_eq!(in_sync.map(|e| e["content"].clone()), Some(json!({})), "{timeline}");
        // The erasure is kept: it holds after a restart.
        s.restart().await;
    }

    // Her upload, profile and account data are gone.
    let media_id = mxc.rsplit('/').next().expect("media id");
    let download = format!("/_matrix/client/v1/media/download/localhost/{media_id}");
    s.get(&download, Some(&bob.token)).await.err(404, "M_NOT_FOUND");
    let profile = format!("/_matrix/client/v3/profile/{}", alice.user_id);
    s.get(&profile, Some(&bob.token)).await.err(404, "M_NOT_FOUND");
    let user = ruma::UserId::parse(&alice.user_id).expect("id");
    let kept = s.services().store.account_data_since(user.as_str(), i64::MIN).await.expect("read");
    assert!(kept.is_empty(), "{kept:?}");
}
