//! lattice-chat driven as a person would: the real binary in a tmux pane
//! (keys sent with send-keys, the screen read with capture-pane) against a
//! real Lattice on 127.0.0.1, with another user on the SDK answering.
//!
//! Needs tmux; without it the test says it was skipped (CI installs it and
//! sets LATTICE_REQUIRE_TMUX=1, which turns the skip into a failure).

use std::{
    path::Path,
    process::Command,
    time::{Duration, Instant},
};

use lattice_homeserver::testing::{Backend, TestServer};
use lattice_sdk::{
    Client, SyncSettings,
    ruma::{
        OwnedRoomId,
        events::{
            AnySyncMessageLikeEvent, AnySyncTimelineEvent, SyncMessageLikeEvent,
            room::message::MessageType,
        },
    },
};

/// One tmux server of this test's own (its own socket), one pane.
struct Pane {
    socket: String,
}

impl Pane {
    fn start(command: &str) -> Self {
        // A socket per pane: a tmux server still going away must not meet
        // the next one.
        static PANES: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = PANES.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let socket = format!("lattice-chat-test-{}-{n}", std::process::id());
        let pane = Self { socket };
        let status = pane
            .tmux()
            .args(["-u", "new-session", "-d", "-s", "chat", "-x", "100", "-y", "26", command])
            .status()
            .expect("tmux runs");
        assert!(status.success(), "tmux new-session");
        pane
    }

    fn tmux(&self) -> Command {
        let mut command = Command::new("tmux");
        command.args(["-L", &self.socket]);
        command
    }

    /// Types text as it is.
    fn type_text(&self, text: &str) {
        let status =
            self.tmux().args(["send-keys", "-t", "chat", "-l", text]).status().expect("tmux");
        assert!(status.success());
    }

    /// Presses keys by tmux's names: Enter, C-Up, C-t, …
    fn press(&self, keys: &[&str]) {
        let status =
            self.tmux().args(["send-keys", "-t", "chat"]).args(keys).status().expect("tmux");
        assert!(status.success());
    }

    fn screen(&self) -> String {
        let out = self.tmux().args(["capture-pane", "-p", "-t", "chat"]).output().expect("tmux");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Waits until the screen shows `text` (the client answers the keys and
    /// the server at its own pace); fails with the screen after 20 s.
    async fn wait_for(&self, text: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let screen = self.screen();
            if screen.contains(text) {
                return screen;
            }
            assert!(Instant::now() < deadline, "{text:?} never showed; the screen:\n{screen}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    fn stop(&self) {
        let _ = self.tmux().arg("kill-server").status();
    }
}

impl Drop for Pane {
    fn drop(&mut self) {
        self.stop();
    }
}

fn tmux_available() -> bool {
    let present = Command::new("tmux").arg("-V").output().is_ok_and(|o| o.status.success());
    if !present {
        assert!(
            std::env::var_os("LATTICE_REQUIRE_TMUX").is_none(),
            "tmux is required (LATTICE_REQUIRE_TMUX)"
        );
        eprintln!("skipped: tmux is not installed");
    }
    present
}

fn chat_command(server: &TestServer, data: &Path, first_time: bool) -> String {
    let binary = env!("CARGO_BIN_EXE_lattice-chat");
    let mut command = format!("env LANG=C.UTF-8 {binary} --data-dir {}", data.display());
    if first_time {
        command.push_str(&format!(" --homeserver {} --user alice", server.url()));
    }
    command
}

/// The message bodies bob's client has in a room (decrypted), oldest first.
async fn bodies(bob: &Client, room: &OwnedRoomId) -> Vec<(String, Option<String>)> {
    bob.sync_once(SyncSettings::new().timeout(Duration::from_millis(500))).await.expect("sync");
    let events = bob.room(room.clone()).latest_events().await.expect("events");
    events
        .iter()
        .filter_map(|raw| match raw.deserialize() {
            Ok(AnySyncTimelineEvent::MessageLike(AnySyncMessageLikeEvent::RoomMessage(
                SyncMessageLikeEvent::Original(message),
            ))) => match message.content.msgtype {
                MessageType::Text(text) => Some((text.body, text.formatted.map(|f| f.body))),
                _ => None,
            },
            _ => None,
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_conversation_in_the_terminal() {
    if !tmux_available() {
        return;
    }
    let server = TestServer::start(Backend::Sqlite, |_| {}).await;
    let alice = Client::builder().homeserver_url(server.url()).build().await.expect("client");
    alice.register("alice", "correct horse").await.expect("alice registered");
    let bob = Client::builder().homeserver_url(server.url()).build().await.expect("client");
    bob.register("bob", "battery staple").await.expect("bob registered");
    let data = tempfile::tempdir().expect("temp dir");

    // Sign in: the user name is filled in from --user; the password is
    // typed and never shown.
    let pane = Pane::start(&chat_command(&server, data.path(), true));
    pane.wait_for("Sign in to").await;
    pane.type_text("correct horse");
    let screen = pane.screen();
    assert!(!screen.contains("correct horse"), "the password is on screen:\n{screen}");
    pane.press(&["Enter"]);
    pane.wait_for("No rooms yet").await;
    pane.wait_for("online").await;

    // A room of one's own, with bob in it.
    pane.type_text("/create Book club");
    pane.press(&["Enter"]);
    pane.wait_for("# Book club").await;
    pane.wait_for("turned on end-to-end encryption").await;
    pane.type_text("/invite @bob:localhost");
    pane.press(&["Enter"]);
    pane.wait_for("invited @bob:localhost").await;
    bob.sync_once(SyncSettings::new().timeout(Duration::from_secs(2))).await.expect("sync");
    let invited = bob.invited_rooms().await.expect("invites");
    let room_id = invited.first().expect("bob was invited").room_id().to_owned();
    bob.join_room_by_id_or_alias(room_id.as_str()).await.expect("bob joins");
    pane.wait_for("bob joined").await;

    // Markdown goes out as HTML, encrypted, and bob's client reads it.
    pane.type_text("**Dune** is *next*");
    pane.press(&["Enter"]);
    pane.wait_for("alice: Dune is next").await;
    let deadline = Instant::now() + Duration::from_secs(20);
    let received = loop {
        let bodies = bodies(&bob, &room_id).await;
        if let Some(found) = bodies.into_iter().find(|(body, _)| body.contains("Dune")) {
            break found;
        }
        assert!(Instant::now() < deadline, "bob never read alice's message");
    };
    assert_eq!(
        received,
        (
            "**Dune** is *next*".to_owned(),
            Some("<p><strong>Dune</strong> is <em>next</em></p>".to_owned())
        )
    );

    // Bob answers (a reply); alice sees it under a quote of her message.
    let events = bob.room(room_id.clone()).latest_events().await.expect("events");
    let dune = events
        .iter()
        .filter_map(|raw| raw.deserialize().ok())
        .find(|event| {
            matches!(
                event,
                AnySyncTimelineEvent::MessageLike(AnySyncMessageLikeEvent::RoomMessage(_))
            )
        })
        .expect("alice's message");
    bob.room(room_id.clone())
        .reply(dune.event_id(), dune.sender(), "finally, I have been waiting")
        .await
        .expect("reply");
    pane.wait_for("bob: finally, I have been waiting").await;
    pane.wait_for("↳ alice: Dune is next").await;

    // React to bob's message, then edit her own.
    pane.press(&["C-Up"]);
    pane.press(&["C-t"]);
    pane.wait_for("React: type an emoji").await;
    pane.type_text("🎉");
    pane.press(&["Enter"]);
    pane.wait_for("🎉 1]").await;
    pane.press(&["C-Up", "C-Up", "C-e"]);
    pane.wait_for("Edit (Enter: save").await;
    pane.type_text(" (the 1965 one)");
    pane.press(&["Enter"]);
    pane.wait_for("(the 1965 one) (edited)").await;

    // The docs show this screen (LATTICE_SCREENSHOTS=docs/src/images).
    if let Some(dir) = std::env::var_os("LATTICE_SCREENSHOTS") {
        let screen = pane.screen();
        let trimmed: Vec<&str> = screen.lines().map(str::trim_end).collect();
        std::fs::write(
            Path::new(&dir).join("lattice-chat.txt"),
            trimmed.join("\n").trim_end().to_owned() + "\n",
        )
        .expect("screen saved");
    }

    // Quit, start again without --user or --homeserver: the session and
    // the room are there, no sign-in asked.
    pane.press(&["C-c"]);
    pane.stop();
    let again = Pane::start(&chat_command(&server, data.path(), false));
    let screen = again.wait_for("# Book club").await;
    assert!(!screen.contains("Sign in to"), "{screen}");
    again.wait_for("bob: finally, I have been waiting").await;
    again.press(&["C-c"]);
}
