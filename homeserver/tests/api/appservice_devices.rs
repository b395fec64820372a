//! Encrypted bridges (`org.matrix.msc3202: true`): the to-device messages
//! for their users' devices, the device-list changes of people their users
//! share rooms with, and those devices' key counts reach them in their
//! transactions (MSC3202, MSC4203), and the messages leave the queue then.

use serde_json::json;

use crate::{
    appservice_api::{AS_TOKEN, bridged_room, next, registration, server_with, service},
    backend_tests,
    common::{Backend, session_from},
    keys::{Signer, device_keys, one_time_key},
};

backend_tests!(encrypted_bridges_get_their_devices_messages_and_keys);

async fn encrypted_bridges_get_their_devices_messages_and_keys(backend: Backend) {
    let (mock, mut received, _down) = service(0).await;
    let managing = format!("{}org.matrix.msc3202: true\n", registration(&mock.uri()));
    let (s, _dir) = server_with(backend, &managing).await;
    let (alice, _room) = bridged_room(&s).await;
    // The bridge logs its user in: a device of the bridge's, with keys.
    let login = json!({"type": "m.login.application_service",
        "identifier": {"type": "m.id.user", "user": "bridge_bob"}});
    let bob = session_from(&s.post("/_matrix/client/v3/login", Some(AS_TOKEN), login).await.ok());
    let signer = Signer::new(Some(&bob.device_id));
    let keys = json!({
        "device_keys": device_keys(&bob, &signer),
        "one_time_keys": {
            "signed_curve25519:AAAAAQ": one_time_key(&bob, &signer, 1, false),
            "signed_curve25519:AAAAAg": one_time_key(&bob, &signer, 2, false),
        },
        "fallback_keys": {"signed_curve25519:AAAAAw": one_time_key(&bob, &signer, 3, true)},
    });
    s.post("/_matrix/client/v3/keys/upload", Some(&bob.token), keys).await.ok();

    // Alice claims one of its keys and sends the device a message.
    let claim = json!({"one_time_keys": {&bob.user_id: {&bob.device_id: "signed_curve25519"}}});
    s.post("/_matrix/client/v3/keys/claim", Some(&alice.token), claim).await.ok();
    let message = json!({"messages": {&bob.user_id: {&bob.device_id: {"ciphertext": "secret"}}}});
    let path = "/_matrix/client/v3/sendToDevice/m.room.encrypted/txn-1";
    s.put(path, Some(&alice.token), message).await.ok();

    let (mut message_seen, mut alice_changed) = (false, false);
    while !(message_seen && alice_changed) {
        let got = next(&mut received).await;
        let body = &got.body;
        if let Some(sent) = body["de.sorunome.msc2409.to_device"].as_array().and_then(|m| m.first())
        {
            assert_eq!(sent["type"], "m.room.encrypted", "{body}");
            assert_eq!(sent["sender"], alice.user_id.as_str());
            assert_eq!(sent["to_user_id"], bob.user_id.as_str());
            assert_eq!(sent["to_device_id"], bob.device_id.as_str());
            assert_eq!(sent["content"]["ciphertext"], "secret");
            // The device's keys as they stand after the claim.
            let counts = &body["org.matrix.msc3202.device_one_time_keys_count"];
            assert_eq!(counts[&bob.user_id][&bob.device_id]["signed_curve25519"], 1, "{body}");
            let unused = &body["org.matrix.msc3202.device_unused_fallback_key_types"];
            assert_eq!(unused[&bob.user_id][&bob.device_id], json!(["signed_curve25519"]));
            message_seen = true;
        }
        let changed = &body["org.matrix.msc3202.device_lists"]["changed"];
        if changed.as_array().is_some_and(|users| users.contains(&json!(alice.user_id))) {
            alice_changed = true;
        }
        if !alice_changed && message_seen {
            // Alice, who shares a room with the bridge's user, gets a new device.
            let login = json!({"type": "m.login.password",
                "identifier": {"type": "m.id.user", "user": "alice"}, "password": "pw"});
            let phone = session_from(&s.post("/_matrix/client/v3/login", None, login).await.ok());
            let phone_signer = Signer::new(Some(&phone.device_id));
            let keys = json!({"device_keys": device_keys(&phone, &phone_signer)});
            s.post("/_matrix/client/v3/keys/upload", Some(&phone.token), keys).await.ok();
        }
    }
    // The message went to the bridge: it is no longer waiting for the device.
    let synced = s.get("/_matrix/client/v3/sync", Some(&bob.token)).await.ok();
    let events = synced["to_device"]["events"].as_array().cloned().unwrap_or_default();
    assert!(events.is_empty(), "{synced}");
}
