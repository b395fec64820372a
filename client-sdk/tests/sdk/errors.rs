//! A server's refusal reaches the caller with its status and Matrix code.

use std::time::Duration;

use lattice_homeserver::testing::{Backend, TestServer};
use lattice_sdk::{
    Client, Error, SyncReport, SyncSettings,
    ruma::api::{client::room::create_room, error::ErrorKind},
};

use crate::{backend_tests, common::registered};

backend_tests!(refusals_keep_their_matrix_codes, syncing_reports_outages_and_stops_when_told);

async fn refusals_keep_their_matrix_codes(backend: Backend) {
    let server = TestServer::start(backend, |_| {}).await;
    let alice = registered(&server, "alice").await;
    let mallory = registered(&server, "mallory").await;
    let room = alice.create_room(create_room::v3::Request::new()).await.expect("room");

    // Mallory is not in Alice's private room.
    let intruder = mallory.room(room.room_id().to_owned());
    let refused = intruder.send_text("let me in").await.expect_err("refused");
    assert_eq!(refused.status(), Some(403));
    assert_eq!(refused.errcode().as_deref(), Some("M_FORBIDDEN"));
    assert!(matches!(refused.kind(), Some(ErrorKind::Forbidden)));
    assert!(intruder.join().await.is_err());

    let stranger = Client::builder().homeserver_url(server.url()).build().await.expect("client");
    let wrong = stranger.login_password("alice", "wrong", None).await.expect_err("refused");
    assert_eq!(wrong.errcode().as_deref(), Some("M_FORBIDDEN"));
    assert!(!stranger.logged_in());
    let taken = stranger.register("alice", "whatever pw").await.expect_err("taken");
    assert_eq!(taken.errcode().as_deref(), Some("M_USER_IN_USE"));
    assert!(matches!(stranger.whoami().await, Err(Error::NotLoggedIn)));
    assert!(matches!(
        stranger.join_room_by_id_or_alias("not a room").await,
        Err(Error::Invalid(_))
    ));
}

/// `sync_with` says when the server answered and when it is away (and
/// keeps trying, waiting longer each time), and stops when told.
async fn syncing_reports_outages_and_stops_when_told(backend: Backend) {
    let mut server = TestServer::start(backend, |_| {}).await;
    let alice = registered(&server, "alice").await;
    let quick = || SyncSettings::new().timeout(Duration::ZERO);
    let mut synced = 0;
    alice
        .sync_with(quick, |report| {
            if matches!(report, SyncReport::Synced(_)) {
                synced += 1;
            }
            std::future::ready(synced < 2)
        })
        .await
        .expect("stopped when told");
    assert_eq!(synced, 2);

    server.stop().await;
    let mut outages = Vec::new();
    alice
        .sync_with(quick, |report| {
            if let SyncReport::Retrying { wait, .. } = report {
                outages.push(wait);
            }
            std::future::ready(outages.len() < 2)
        })
        .await
        .expect("stopped when told");
    assert_eq!(outages, [Duration::from_secs(1), Duration::from_secs(2)], "the pause doubles");
}
