//! SQLite to PostgreSQL (`lattice migrate`): a server used for a while on
//! SQLite (rooms, history, media, end-to-end keys, a second factor) is
//! copied into an empty PostgreSQL database, and started on it: the same
//! users, tokens, history, keys and media, and new writes carry on.

use serde_json::json;

use crate::{
    common::{Backend, TestServer, upload_media},
    keys::{Signer, device_keys, one_time_key},
};

#[tokio::test]
async fn a_sqlite_server_moves_to_postgres_whole() {
    if !lattice_homeserver::testing::postgres_available() {
        eprintln!("skipped: TEST_POSTGRES_URL is not set");
        return;
    }
    let mut old = TestServer::new(Backend::Sqlite).await;
    let alice = old.register("alice", "pw").await;
    let bob = old.register("bob", "pw").await;
    let room =
        old.create_room(&alice.token, json!({"preset": "public_chat", "name": "Moving"})).await;
    old.join(&bob.token, &room).await.ok();
    for text in ["one", "two", "three"] {
        old.send_text(&alice.token, &room, text).await;
    }
    let signer = Signer::new(Some(&alice.device_id));
    let keys = json!({"device_keys": device_keys(&alice, &signer),
        "one_time_keys": {"signed_curve25519:AAAAAQ": one_time_key(&alice, &signer, 1, false)}});
    old.post("/_matrix/client/v3/keys/upload", Some(&alice.token), keys).await.ok();
    old.enrol_totp(&bob, "pw").await;
    let mxc =
        upload_media(old.http(), old.url(), &alice.token, "text/plain", b"moved".to_vec()).await;
    let since =
        old.sync(&alice.token, None, 0).await["next_batch"].as_str().expect("token").to_owned();
    old.stop().await;

    // The copy, as `lattice migrate --to` makes it.
    let target = lattice_homeserver::testing::fresh_postgres_database().await;
    let from = lattice_homeserver::store::Store::open(&old.config().database_url(), 2)
        .await
        .expect("sqlite");
    let into = lattice_homeserver::store::Store::open(&target, 2).await.expect("postgres");
    let mut tables = Vec::new();
    let report = from
        .copy_into(&into, |table, rows| tables.push((table.to_owned(), rows)))
        .await
        .expect("copied");
    assert!(tables.iter().any(|(table, rows)| table == "events" && *rows > 0), "{tables:?}");
    assert_eq!(report.tables.len(), tables.len());
    // A second copy into a database with data is refused.
    assert!(from.copy_into(&into, |_, _| {}).await.is_err(), "copied over existing data");

    let data_dir = old.config().server.data_dir.clone();
    let new = TestServer::start(Backend::Postgres, |config| {
        config.database.url = target;
        config.server.data_dir = data_dir;
    })
    .await;
    let me = new.get("/_matrix/client/v3/account/whoami", Some(&alice.token)).await.ok();
    assert_eq!(me["user_id"], alice.user_id.as_str(), "the same tokens");
    let history = new
        .get(&format!("/_matrix/client/v3/rooms/{room}/messages?dir=b&limit=10"), Some(&bob.token))
        .await
        .ok();
    let mut bodies = TestServer::bodies(&history["chunk"]);
    bodies.reverse();
    assert_eq!(bodies, ["one", "two", "three"]);
    let path = format!("/_matrix/client/v3/sync?since={since}&timeout=0");
    new.get(&path, Some(&alice.token)).await.ok();
    let query = json!({"device_keys": {&alice.user_id: []}});
    let found = new.post("/_matrix/client/v3/keys/query", Some(&bob.token), query).await.ok();
    assert!(found["device_keys"][&alice.user_id][&alice.device_id].is_object(), "{found}");
    let media = mxc.trim_start_matches("mxc://");
    let file = new
        .http()
        .get(format!("{}/_matrix/client/v1/media/download/{media}", new.url()))
        .bearer_auth(&alice.token)
        .send()
        .await
        .expect("download");
    assert_eq!(file.bytes().await.expect("bytes").as_ref(), b"moved");
    // Bob's second factor came along: a password alone no longer logs him in.
    let login = new.login("bob", "pw", None).await;
    assert_eq!(login.status, 401, "{:?}", login.body);
    // New writes carry on past the copied rows (identity counters moved).
    new.send_text(&alice.token, &room, "four").await;
    let other = new.create_room(&bob.token, json!({})).await;
    new.send_text(&bob.token, &other, "fresh").await;
}
