//! Encryption at rest: with a key configured, no message, uploaded byte or
//! secret is on disk as it was sent (SQLite's database and WAL are
//! encrypted page by page; media files are sealed; the signing key and
//! TOTP secrets are sealed in the database, PostgreSQL's too); what was
//! stored before is encrypted too and still works; a server started with
//! another key, or none, refuses and changes nothing; a key rotation moves
//! everything to the new key, after which the old one is refused.

use std::path::Path;

use serde_json::json;

use crate::{
    backend_tests,
    common::{Backend, Session, TestServer, upload_media},
};

backend_tests!(
    media_and_secrets_are_sealed_and_a_wrong_key_stops_the_server,
    a_rotation_moves_everything_to_the_new_key,
    passkeys_are_sealed_and_still_sign_in,
);

/// Whether any file under `dir` holds `needle`.
fn found_under(dir: &Path, needle: &[u8]) -> bool {
    let Ok(entries) = std::fs::read_dir(dir) else { return false };
    entries.flatten().any(|entry| {
        let path = entry.path();
        match path.is_dir() {
            true => found_under(&path, needle),
            false => std::fs::read(&path)
                .is_ok_and(|bytes| bytes.windows(needle.len()).any(|w| w == needle)),
        }
    })
}

async fn download(s: &TestServer, who: &Session, mxc: &str) -> Vec<u8> {
    let path = format!("/_matrix/client/v1/media/download/{}", mxc.trim_start_matches("mxc://"));
    let answer = s.http().get(format!("{}{path}", s.url())).bearer_auth(&who.token).send().await;
    let answer = answer.expect("answered");
    assert_eq!(answer.status(), 200);
    answer.bytes().await.expect("body").to_vec()
}

fn key_file(dir: &Path, name: &str, hex_digit: char) -> std::path::PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, format!("{}\n", hex_digit.to_string().repeat(64))).expect("key written");
    path
}

/// The SHA-256 of every file under `dir` (to see that nothing changed).
fn fingerprint(dir: &Path) -> Vec<(std::path::PathBuf, Vec<u8>)> {
    use sha2::Digest;
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).expect("listed").flatten() {
        let path = entry.path();
        match path.is_dir() {
            true => files.extend(fingerprint(&path)),
            false => {
                let bytes = std::fs::read(&path).expect("read");
                files.push((path, sha2::Sha256::digest(bytes).to_vec()));
            }
        }
    }
    files.sort();
    files
}

async fn media_and_secrets_are_sealed_and_a_wrong_key_stops_the_server(backend: Backend) {
    let keys = tempfile::tempdir().expect("folder");
    let mut s = TestServer::new(backend).await;
    let alice = s.register("alice", "pw").await;
    let before = b"uploaded before encryption was switched on".to_vec();
    let old = upload_media(s.http(), s.url(), &alice.token, "text/plain", before.clone()).await;
    let alice_totp = s.enrol_totp(&alice, "pw").await;
    let room = s.create_room(&alice.token, json!({})).await;
    s.send_text(&alice.token, &room, "A-MESSAGE-FROM-BEFORE").await;
    let data_dir = s.config().server.data_dir.clone();
    if backend == Backend::Sqlite {
        assert!(found_under(&data_dir, b"A-MESSAGE-FROM-BEFORE"), "in clear without a key");
    }

    s.stop().await;
    s.config_mut().encryption.key_file = Some(key_file(keys.path(), "right.key", 'a'));
    s.start_again().await;
    // The start encrypted the database; the media pass runs in the
    // background (waited for here).
    s.services().finish_key_rotation().await.expect("media encrypted");
    s.send_text(&alice.token, &room, "A-MESSAGE-FROM-AFTER").await;
    // Big enough for several chunks, with a marker at both ends.
    let mut secret = b"THE-SECRET-START ".to_vec();
    secret.extend(std::iter::repeat_n(b'x', 200_000));
    secret.extend(b" THE-SECRET-END");
    let new = upload_media(s.http(), s.url(), &alice.token, "text/plain", secret.clone()).await;
    let media_dir = s.config().server.data_dir.join("media");
    assert!(!found_under(&media_dir, b"THE-SECRET-START"), "the upload is not stored in clear");
    assert!(!found_under(&media_dir, b"THE-SECRET-END"));
    assert!(!found_under(&media_dir, b"switched on"), "older files are encrypted too");
    assert_eq!(download(&s, &alice, &new).await, secret);
    assert_eq!(download(&s, &alice, &old).await, before);
    let messages = format!("/_matrix/client/v3/rooms/{room}/messages?dir=b&limit=10");
    let page = s.get(&messages, Some(&alice.token)).await.ok();
    let bodies = TestServer::bodies(&page["chunk"]);
    assert!(bodies.contains(&"A-MESSAGE-FROM-BEFORE".to_owned()), "{bodies:?}");
    assert!(bodies.contains(&"A-MESSAGE-FROM-AFTER".to_owned()), "{bodies:?}");

    // Secrets in the database are sealed: those from before at the start,
    // new ones as they are made; logins with them still work.
    let store = &s.services().store;
    let (_, signing) = store.signing_key().await.expect("read").expect("a key");
    assert!(signing.starts_with("enc1:"), "the signing key is sealed");
    let sealed = |user: String| async move {
        let (stored, _, _) = store.totp(&user).await.expect("read").expect("enrolled");
        stored.starts_with("enc1:")
    };
    assert!(sealed(alice.user_id.clone()).await, "a TOTP secret from before is sealed");
    let bob = s.register("bob", "pw").await;
    let bob_totp = s.enrol_totp(&bob, "pw").await;
    assert!(sealed(bob.user_id.clone()).await);
    let base32 = lattice_homeserver::services::auth::totp::base32(&bob_totp);
    assert!(!found_under(&data_dir, base32.as_bytes()), "not in clear on disk");
    // SQLite's files (database, WAL) hold no message in clear, old or new:
    // the data folder holds them all (PostgreSQL's are its own).
    for text in ["A-MESSAGE-FROM-BEFORE", "A-MESSAGE-FROM-AFTER", "@alice:"] {
        assert!(!found_under(&data_dir, text.as_bytes()), "{text} is not on disk in clear");
    }
    // A step later (a code works once), both log in with their codes.
    s.services().auth.clock().advance(std::time::Duration::from_secs(31));
    for (name, totp) in [("alice", &alice_totp), ("bob", &bob_totp)] {
        let first = s.password_step(name, "pw").await;
        let step = json!({"type": "org.lattice.login.totp", "session": first["session"],
            "code": s.totp_now(totp)});
        s.post("/_matrix/client/v3/login", None, step).await.ok();
    }
    // Thumbnails are made from, and stored as, encrypted files too.
    let png = {
        let mut bytes = Vec::new();
        let image = image::RgbImage::from_pixel(64, 64, image::Rgb([200, 10, 10]));
        image
            .write_to(&mut std::io::Cursor::new(&mut bytes), image::ImageFormat::Png)
            .expect("png");
        bytes
    };
    let picture = upload_media(s.http(), s.url(), &alice.token, "image/png", png).await;
    let thumbnail = format!(
        "/_matrix/client/v1/media/thumbnail/{}?width=32&height=32&method=scale",
        picture.trim_start_matches("mxc://")
    );
    let answer = s.http().get(format!("{}{thumbnail}", s.url())).bearer_auth(&alice.token).send();
    let answer = answer.await.expect("answered");
    assert_eq!(answer.status(), 200);
    assert!(answer.bytes().await.expect("body").starts_with(b"\x89PNG"), "a PNG thumbnail");

    // Another key, or none: the server does not start, and nothing changed.
    s.stop().await;
    let right = s.config().encryption.key_file.clone();
    let untouched = fingerprint(&data_dir);
    for wrong in [Some(key_file(keys.path(), "wrong.key", 'b')), None] {
        let mut config = s.config().clone();
        config.encryption.key_file = wrong;
        let refused = lattice_homeserver::Server::new(config).await.err().expect("refused");
        assert!(refused.to_string().contains("key"), "{refused}");
    }
    assert!(fingerprint(&data_dir) == untouched, "the refused starts changed nothing");
    s.config_mut().encryption.key_file = right;
    s.start_again().await;
    assert_eq!(download(&s, &alice, &new).await, secret, "the right key still reads it");
    // Closed before the test process may exit (see `Server::close`).
    s.stop().await;
}

async fn a_rotation_moves_everything_to_the_new_key(backend: Backend) {
    let keys = tempfile::tempdir().expect("folder");
    let old_key = key_file(keys.path(), "old.key", 'a');
    let new_key = key_file(keys.path(), "new.key", 'c');
    let mut s = TestServer::start(backend, |c| c.encryption.key_file = Some(old_key.clone())).await;
    let alice = s.register("alice", "pw").await;
    let totp = s.enrol_totp(&alice, "pw").await;
    let content = b"a file under the old key".repeat(5_000);
    let mxc = upload_media(s.http(), s.url(), &alice.token, "text/plain", content.clone()).await;
    let room = s.create_room(&alice.token, json!({})).await;
    s.send_text(&alice.token, &room, "under the old key").await;

    // The new key, the old one still readable: everything is moved.
    s.stop().await;
    s.config_mut().encryption.key_file = Some(new_key.clone());
    s.config_mut().encryption.previous_key_files = vec![old_key.clone()];
    s.start_again().await;
    // The start moved the database and secrets and began on the media in
    // the background; this waits for that pass and makes sure of it.
    let report = s.services().finish_key_rotation().await.expect("rotated");
    assert_eq!(report.media.files, 1, "{report:?}");
    assert_eq!(download(&s, &alice, &mxc).await, content);
    let again = s.services().finish_key_rotation().await.expect("nothing left");
    assert_eq!(again.media.rewritten, 0, "a second pass finds everything moved");

    // The new key alone reads all of it; the old one alone is refused.
    s.stop().await;
    s.config_mut().encryption.previous_key_files.clear();
    let mut old_only = s.config().clone();
    old_only.encryption.key_file = Some(old_key);
    let refused = lattice_homeserver::Server::new(old_only).await.err().expect("refused");
    assert!(refused.to_string().contains("key"), "{refused}");
    s.start_again().await;
    assert_eq!(download(&s, &alice, &mxc).await, content);
    let page = s
        .get(&format!("/_matrix/client/v3/rooms/{room}/messages?dir=b"), Some(&alice.token))
        .await
        .ok();
    assert!(TestServer::bodies(&page["chunk"]).contains(&"under the old key".to_owned()));
    s.services().auth.clock().advance(std::time::Duration::from_secs(31));
    let first = s.password_step("alice", "pw").await;
    let step = json!({"type": "org.lattice.login.totp", "session": first["session"],
        "code": s.totp_now(&totp)});
    s.post("/_matrix/client/v3/login", None, step).await.ok();
    let (_, signing) = s.services().store.signing_key().await.expect("read").expect("a key");
    assert!(signing.starts_with(&format!("enc1:{}:", report.key_id)), "resealed: {signing}");
    s.stop().await;
}

async fn passkeys_are_sealed_and_still_sign_in(backend: Backend) {
    use crate::webauthn::{ORIGIN, WEBAUTHN, answer, enrol, enrol_as};
    let keys = tempfile::tempdir().expect("folder");
    let mut s = crate::webauthn::server(backend).await;
    let alice = s.register("alice", "pw").await;
    let mut before = webauthn_authenticator_rs::softpasskey::SoftPasskey::new(true);
    enrol(&s, &alice.token, &mut before, ORIGIN).await.ok();

    s.stop().await;
    s.config_mut().encryption.key_file = Some(key_file(keys.path(), "at-rest.key", 'e'));
    s.start_again().await;
    // Bob enrols after the switch; alice's passkey from before is sealed now.
    let bob = s.register("bob", "pw").await;
    let mut after = webauthn_authenticator_rs::softpasskey::SoftPasskey::new(true);
    enrol_as(&s, "bob", &bob.token, &mut after, ORIGIN).await.ok();
    let store = &s.services().store;
    let sealed = |user: &'static str| async move {
        let rows = store.webauthn_credentials(user).await.expect("read");
        assert_eq!(rows.len(), 1, "{user}");
        rows[0].passkey.starts_with("enc1:")
    };
    assert!(sealed("@alice:localhost").await && sealed("@bob:localhost").await);
    // Both sign in (each counter saved, sealed again).
    for (name, key) in [("alice", &mut before), ("bob", &mut after)] {
        let first = s.password_step(name, "pw").await;
        let step = json!({"type": WEBAUTHN, "session": first["session"],
            "credential": answer(key, &first, ORIGIN)});
        s.post("/_matrix/client/v3/login", None, step).await.ok();
    }
    assert!(sealed("@alice:localhost").await && sealed("@bob:localhost").await);
    s.stop().await;
}
