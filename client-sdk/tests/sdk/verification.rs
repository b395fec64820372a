//! Cross-signing and interactive verification between two devices of one
//! user: emoji compared, MACs checked, the new device cross-signed.

use std::time::Duration;

use lattice_homeserver::testing::{Backend, TestServer};
use lattice_sdk::{Client, SyncSettings};

use crate::{backend_tests, common::registered};

backend_tests!(devices_verify_each_other_by_emoji);

/// Syncs `client` until `done` holds (each sync long-polls for news).
async fn sync_until<F, Fut>(client: &Client, mut done: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let wait = async {
        while !done().await {
            client
                .sync_once(SyncSettings::new().timeout(Duration::from_secs(2)))
                .await
                .expect("sync");
        }
    };
    tokio::time::timeout(Duration::from_secs(30), wait).await.expect("the verification moved on");
}

async fn devices_verify_each_other_by_emoji(backend: Backend) {
    let server = TestServer::start(backend, |_| {}).await;
    let laptop = registered(&server, "alice").await;
    let alice = laptop.user_id().expect("id");
    laptop.bootstrap_cross_signing(Some("correct horse")).await.expect("cross-signing");
    assert!(
        laptop.is_cross_signed(&alice, &laptop.device_id().expect("device")).await.expect("query")
    );

    let phone = Client::builder().homeserver_url(server.url()).build().await.expect("client");
    phone.login_password("alice", "correct horse", Some("phone")).await.expect("login");
    let phone_device = phone.device_id().expect("device");
    let laptop_device = laptop.device_id().expect("device");
    assert!(!laptop.is_cross_signed(&alice, &phone_device).await.expect("query"));
    for client in [&laptop, &phone] {
        client.sync_once(SyncSettings::new().timeout(Duration::ZERO)).await.expect("sync");
    }

    let asked = laptop.request_verification(&alice, &phone_device).await.expect("requested");
    sync_until(&phone, || {
        let phone = phone.clone();
        async move { !phone.verification_requests().await.expect("requests").is_empty() }
    })
    .await;
    let incoming = phone.verification_requests().await.expect("requests").remove(0);
    incoming.accept().await.expect("ready");
    // ready -> start -> accept -> key -> key: each side answers on its sync.
    for _ in 0..3 {
        laptop.sync_once(SyncSettings::new().timeout(Duration::from_secs(2))).await.expect("sync");
        phone.sync_once(SyncSettings::new().timeout(Duration::from_secs(2))).await.expect("sync");
    }
    sync_until(&laptop, || {
        let asked = asked.clone();
        async move { asked.sas().await.expect("sas").is_some() }
    })
    .await;
    let ours = asked.sas().await.expect("sas").expect("laptop code");
    let theirs = incoming.sas().await.expect("sas").expect("phone code");
    assert_eq!(ours, theirs, "both devices show the same emoji");

    asked.confirm().await.expect("laptop confirms");
    incoming.confirm().await.expect("phone confirms");
    sync_until(&laptop, || {
        let asked = asked.clone();
        async move { asked.is_verified().await.expect("state") }
    })
    .await;
    sync_until(&phone, || {
        let incoming = incoming.clone();
        async move { incoming.is_verified().await.expect("state") }
    })
    .await;
    assert!(laptop.is_verified(&alice, &phone_device).await.expect("state"));
    assert!(phone.is_verified(&alice, &laptop_device).await.expect("state"));
    // The laptop holds the self-signing key: the phone is now cross-signed,
    // for everyone who looks (here, Bob).
    let bob = registered(&server, "bob").await;
    assert!(bob.is_cross_signed(&alice, &phone_device).await.expect("query"));

    // The device list says the same, from one keys query.
    let devices = laptop.user_devices(&alice).await.expect("devices");
    assert_eq!(devices.len(), 2, "{devices:?}");
    let listed = devices.iter().find(|d| d.device_id == phone_device).expect("the phone");
    assert!(listed.verified_here && listed.cross_signed && !listed.is_this_device);
    assert_eq!(listed.display_name.as_deref(), Some("phone"));
    assert!(devices.iter().any(|d| d.device_id == laptop_device && d.is_this_device));
    let seen_by_bob = bob.user_devices(&alice).await.expect("devices");
    assert!(seen_by_bob.iter().all(|d| d.cross_signed && !d.verified_here && d.is_trusted()));

    // A second round where the phone says the emoji differ: the laptop is
    // told, and nothing new is trusted.
    let asked = laptop.request_verification(&alice, &phone_device).await.expect("requested");
    sync_until(&phone, || {
        let (phone, txn) = (phone.clone(), asked.transaction_id.clone());
        async move {
            phone
                .verification_requests()
                .await
                .expect("requests")
                .iter()
                .any(|r| r.transaction_id == txn)
        }
    })
    .await;
    let incoming = phone
        .verification_requests()
        .await
        .expect("requests")
        .into_iter()
        .find(|r| r.transaction_id == asked.transaction_id)
        .expect("the request");
    let (who, which) = incoming.other_device().await.expect("the other side");
    assert_eq!((who, which), (alice.clone(), laptop_device.clone()));
    incoming.accept().await.expect("ready");
    for _ in 0..3 {
        laptop.sync_once(SyncSettings::new().timeout(Duration::from_secs(2))).await.expect("sync");
        phone.sync_once(SyncSettings::new().timeout(Duration::from_secs(2))).await.expect("sync");
    }
    sync_until(&phone, || {
        let incoming = incoming.clone();
        async move { incoming.sas().await.expect("sas").is_some() }
    })
    .await;
    incoming.mismatch().await.expect("mismatch sent");
    sync_until(&laptop, || {
        let asked = asked.clone();
        async move { asked.cancelled().await.expect("state").is_some() }
    })
    .await;
    assert_eq!(asked.cancelled().await.expect("state").as_deref(), Some("m.mismatched_sas"));
    assert!(!asked.is_verified().await.expect("state"));
}
