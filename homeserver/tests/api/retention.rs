//! Message retention: rooms' `m.room.retention` lifetimes, bounded by the
//! config, enforced by the purge job (run here through the admin API, with
//! the server's clock moved forward instead of waiting).

use std::time::Duration;

use serde_json::{Value, json};

use crate::{
    backend_tests,
    common::{Backend, Session, TestServer, upload_media},
};

backend_tests!(expired_messages_and_their_files_are_purged);

const HOUR_MS: u64 = 3_600_000;

async fn room_with_lifetime(s: &TestServer, who: &Session, name: &str, ms: Option<u64>) -> String {
    let mut initial_state = vec![json!({"type": "m.room.name", "state_key": "",
        "content": {"name": name}})];
    if let Some(ms) = ms {
        initial_state.push(json!({"type": "m.room.retention", "state_key": "",
            "content": {"max_lifetime": ms}}));
    }
    s.create_room(&who.token, json!({"initial_state": initial_state})).await
}

async fn bodies(s: &TestServer, who: &Session, room: &str) -> Vec<String> {
    let page = format!("/_matrix/client/v3/rooms/{room}/messages?dir=f&limit=100");
    TestServer::bodies(&s.get(&page, Some(&who.token)).await.ok()["chunk"])
}

async fn purge(s: &TestServer, admin: &Session) -> Value {
    s.post("/_lattice/admin/v1/retention/run", Some(&admin.token), json!({})).await.ok()
}

async fn expired_messages_and_their_files_are_purged(backend: Backend) {
    let s = TestServer::start(backend, |config| {
        config.retention.enabled = true;
        config.retention.allowed_min_lifetime = Duration::ZERO;
        config.retention.allowed_max_lifetime = Duration::from_secs(86_400);
    })
    .await;
    let admin = s.admin().await;
    let alice = s.register("alice", "pw").await;
    let short = room_with_lifetime(&s, &alice, "Short", Some(12 * HOUR_MS)).await;
    // Thirty days asked, one day allowed.
    let long = room_with_lifetime(&s, &alice, "Long", Some(30 * 24 * HOUR_MS)).await;
    let forever = room_with_lifetime(&s, &alice, "Forever", None).await;
    for room in [&short, &long, &forever] {
        s.send_text(&alice.token, room, "one").await;
        s.send_text(&alice.token, room, "two").await;
    }
    let mxc =
        upload_media(s.http(), s.url(), &alice.token, "image/png", b"a picture".to_vec()).await;
    let image = format!("/_matrix/client/v3/rooms/{short}/send/m.room.message/pic");
    let body = json!({"msgtype": "m.image", "body": "pic.png", "url": mxc});
    s.put(&image, Some(&alice.token), body).await.ok();
    for room in [&short, &long, &forever] {
        s.send_text(&alice.token, room, "last").await;
    }

    // Six hours on, nothing has outlived its lifetime.
    let clock = s.services().auth.clock();
    clock.advance(Duration::from_secs(6 * 3600));
    assert_eq!(purge(&s, &admin).await["purged_events"], 0);
    assert_eq!(bodies(&s, &alice, &short).await, ["one", "two", "pic.png", "last"]);

    // Two days on, both rooms with a lifetime lose their messages; each
    // keeps its newest event (new ones are built on it) and its state.
    clock.advance(Duration::from_secs(48 * 3600));
    let run = purge(&s, &admin).await;
    assert_eq!((run["rooms"].as_u64(), run["purged_events"].as_u64()), (Some(2), Some(5)), "{run}");
    assert_eq!(run["purged_media"], 1);
    assert_eq!(bodies(&s, &alice, &short).await, ["last"]);
    assert_eq!(bodies(&s, &alice, &long).await, ["last"]);
    assert_eq!(bodies(&s, &alice, &forever).await, ["one", "two", "last"]);
    let name = format!("/_matrix/client/v3/rooms/{short}/state/m.room.name/");
    assert_eq!(s.get(&name, Some(&alice.token)).await.ok()["name"], "Short");
    let media_id = mxc.rsplit('/').next().expect("media id");
    let download = format!("/_matrix/client/v1/media/download/localhost/{media_id}");
    s.get(&download, Some(&alice.token)).await.err(404, "M_NOT_FOUND");
    // The room goes on; once a newer event is there, the old last one
    // goes at the next run, and a run after that finds nothing more.
    s.send_text(&alice.token, &short, "after").await;
    assert_eq!(bodies(&s, &alice, &short).await, ["last", "after"]);
    assert_eq!(purge(&s, &admin).await["purged_events"], 1);
    assert_eq!(bodies(&s, &alice, &short).await, ["after"]);
    assert_eq!(purge(&s, &admin).await["purged_events"], 0);

    // Admins see what went where, under which lifetime; others may not look.
    let report = s.get("/_lattice/admin/v1/retention", Some(&admin.token)).await.ok();
    assert_eq!(report["enabled"], true);
    let rooms = report["rooms"].as_array().expect("rooms");
    let row = |room: &str| rooms.iter().find(|r| r["room_id"] == room).cloned();
    let short_row = row(&short).expect("the short room is listed");
    assert_eq!(short_row["max_lifetime"], 12 * HOUR_MS);
    assert_eq!(
        (short_row["purged_events"].as_u64(), short_row["purged_media"].as_u64()),
        (Some(4), Some(1))
    );
    assert_eq!(row(&long).expect("listed")["max_lifetime"], 24 * HOUR_MS, "bounded by the config");
    assert!(row(&forever).is_none(), "{report}");
    s.get("/_lattice/admin/v1/retention", Some(&alice.token)).await.err(403, "M_FORBIDDEN");
    s.post("/_lattice/admin/v1/retention/run", Some(&alice.token), json!({}))
        .await
        .err(403, "M_FORBIDDEN");
}
