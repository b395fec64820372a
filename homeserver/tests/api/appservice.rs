//! Application-service registrations: the files bridges ship are read at
//! start, and a bad one stops the server with a line naming the file and
//! the field.

use std::path::{Path, PathBuf};

use lattice_homeserver::{Server, testing};
use serde_json::json;

use crate::common::{Backend, TestServer};

/// A registration as mautrix bridges write it.
const BRIDGE: &str = r#"
id: irc
url: http://127.0.0.1:29333
as_token: as-secret-irc
hs_token: hs-secret-irc
sender_localpart: ircbot
rate_limited: false
protocols: ["irc"]
de.sorunome.msc2409.push_ephemeral: true
org.matrix.msc3202: true
io.element.msc4190: true
namespaces:
  users:
    - exclusive: true
      regex: '@irc_.*:localhost'
  aliases:
    - exclusive: true
      regex: '#irc_.*:localhost'
  rooms: []
"#;

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).expect("write registration");
    path
}

#[tokio::test]
async fn registrations_are_read_at_start() {
    let dir = tempfile::tempdir().expect("temporary folder");
    let file = write(dir.path(), "irc.yaml", BRIDGE);
    let quiet = write(
        dir.path(),
        "quiet.yaml",
        &BRIDGE
            .replace("id: irc", "id: quiet")
            .replace("url: http://127.0.0.1:29333", "url: null")
            .replace("as-secret-irc", "as-quiet")
            .replace("hs-secret-irc", "hs-quiet"),
    );
    let s = TestServer::start(Backend::Sqlite, |config| {
        config.appservice.registration_files = vec![file.clone(), quiet.clone()];
    })
    .await;
    let registrations: Vec<_> = s.services().appservices.iter().cloned().collect();
    assert_eq!(registrations.len(), 2);
    let irc = &registrations[0];
    assert_eq!(irc.id, "irc");
    assert_eq!(irc.sender, "@ircbot:localhost");
    assert_eq!(irc.url.as_ref().map(|u| u.as_str()), Some("http://127.0.0.1:29333/"));
    assert!(!irc.rate_limited && irc.receive_ephemeral && irc.device_management);
    assert_eq!(irc.protocols, ["irc"]);
    let users = &irc.namespaces.users[0];
    assert!(users.exclusive);
    assert!(users.regex.is_match("@irc_alice:localhost"));
    assert!(!users.regex.is_match("@alice:localhost"));
    assert!(!users.regex.is_match("@x@irc_y:localhost"), "matched from the start of the id");
    assert!(registrations[1].url.is_none(), "`url: null` means no pushes");

    // Exclusive namespaces are the service's alone: ordinary registration
    // and alias creation are refused there, allowed elsewhere.
    let register = json!({"username": "irc_alice", "password": "a long password",
        "auth": {"type": "m.login.dummy"}});
    s.post("/_matrix/client/v3/register", None, register).await.err(400, "M_EXCLUSIVE");
    let available = s.get("/_matrix/client/v3/register/available?username=irc_bob", None).await;
    available.err(400, "M_EXCLUSIVE");
    let alice = s.register("alice", "pw").await;
    let room = s.create_room(&alice.token, json!({})).await;
    let alias = |name: &str| format!("/_matrix/client/v3/directory/room/%23{name}:localhost");
    s.put(&alias("irc_chat"), Some(&alice.token), json!({"room_id": room}))
        .await
        .err(400, "M_EXCLUSIVE");
    s.put(&alias("chat"), Some(&alice.token), json!({"room_id": room})).await.ok();
}

/// Starting with these files fails; the message it fails with.
async fn start_error(files: &[(&str, String)]) -> String {
    let dir = tempfile::tempdir().expect("temporary folder");
    let mut config = testing::config(&dir.path().join("data"));
    config.appservice.registration_files =
        files.iter().map(|(name, text)| write(dir.path(), name, text)).collect();
    match Server::new(config).await {
        Ok(_) => panic!("the server started with {files:?}"),
        Err(error) => error.to_string(),
    }
}

#[tokio::test]
async fn bad_registrations_stop_the_start() {
    let missing = start_error(&[("a.yaml", BRIDGE.replace("as_token: as-secret-irc\n", ""))]).await;
    assert!(missing.contains("a.yaml") && missing.contains("as_token"), "{missing}");

    let regex = BRIDGE.replace("'@irc_.*:localhost'", "'@irc_(:localhost'");
    let regex = start_error(&[("b.yaml", regex)]).await;
    assert!(regex.contains("b.yaml") && regex.contains("namespaces.users[0].regex"), "{regex}");

    let other = BRIDGE.replace("id: irc", "id: other").replace("hs-secret-irc", "hs-other");
    let twice = start_error(&[("c.yaml", BRIDGE.to_owned()), ("d.yaml", other)]).await;
    assert!(twice.contains("d.yaml") && twice.contains("as_token") && twice.contains("c.yaml"));

    let same = BRIDGE.replace("hs-secret-irc", "as-secret-irc");
    let same = start_error(&[("e.yaml", same)]).await;
    assert!(same.contains("must differ"), "{same}");

    let url = start_error(&[("f.yaml", BRIDGE.replace("http://127.0.0.1:29333", "ftp://x"))]).await;
    assert!(url.contains("f.yaml") && url.contains("`url`"), "{url}");

    let sender = BRIDGE.replace("sender_localpart: ircbot", "sender_localpart: 'irc bot'");
    let sender = start_error(&[("g.yaml", sender)]).await;
    assert!(sender.contains("sender_localpart"), "{sender}");

    let gone = start_error(&[("h.yaml", "not: [valid".to_owned())]).await;
    assert!(gone.contains("h.yaml"), "{gone}");
}
