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
        api::client::room::create_room,
        events::{
            AnySyncMessageLikeEvent, AnySyncTimelineEvent, SyncMessageLikeEvent,
            room::{
                MediaSource,
                message::{MessageType, Relation},
            },
        },
        presence::PresenceState,
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
    let mut command = format!(
        "env LANG=C.UTF-8 {binary} --data-dir {} --config {}",
        data.display(),
        data.join("config.toml").display()
    );
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

/// lattice-chat signed in as alice (password "correct horse").
async fn signed_in(server: &TestServer, data: &Path) -> Pane {
    let pane = Pane::start(&chat_command(server, data, true));
    pane.wait_for("Sign in to").await;
    pane.type_text("correct horse");
    let screen = pane.screen();
    assert!(!screen.contains("correct horse"), "the password is on screen:\n{screen}");
    pane.press(&["Enter"]);
    pane.wait_for("online").await;
    pane
}

/// `/create`s an encrypted room, invites bob, and has him join.
async fn room_with_bob(pane: &Pane, bob: &Client, name: &str) -> OwnedRoomId {
    pane.type_text(&format!("/create {name}"));
    pane.press(&["Enter"]);
    pane.wait_for(&format!("# {name}")).await;
    pane.wait_for("turned on end-to-end encryption").await;
    pane.type_text("/invite @bob:localhost");
    pane.press(&["Enter"]);
    pane.wait_for("invited @bob:localhost").await;
    bob.sync_once(SyncSettings::new().timeout(Duration::from_secs(2))).await.expect("sync");
    let invited = bob.invited_rooms().await.expect("invites");
    let room_id = invited.first().expect("bob was invited").room_id().to_owned();
    bob.join_room_by_id_or_alias(room_id.as_str()).await.expect("bob joins");
    pane.wait_for("bob joined").await;
    room_id
}

/// Syncs `client` until `done` holds; fails after 20 s.
async fn sync_until<F, Fut>(client: &Client, what: &str, mut done: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = Instant::now() + Duration::from_secs(20);
    while !done().await {
        assert!(Instant::now() < deadline, "{what} never happened");
        client.sync_once(SyncSettings::new().timeout(Duration::from_secs(1))).await.expect("sync");
    }
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
    // The thread key moved in the configuration.
    std::fs::write(data.path().join("config.toml"), "[keys]\nthread = \"alt+o\"\n")
        .expect("config");

    // Sign in: the user name is filled in from --user; the password is
    // typed and never shown.
    let pane = signed_in(&server, data.path()).await;
    pane.wait_for("No rooms yet").await;
    let room_id = room_with_bob(&pane, &bob, "Book club").await;

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
    let root = bob
        .room(room_id.clone())
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

    // A thread on bob's message, opened beside the timeline and answered
    // there; bob's client sees the answer in the thread, and his answer
    // shows in the pane.
    pane.press(&["C-Up", "M-o"]);
    pane.wait_for("Thread (Esc closes)").await;
    pane.type_text("me *too*");
    pane.press(&["Enter"]);
    pane.wait_for("alice: me too").await;
    pane.wait_for("🧵 1 reply in the thread").await;
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        bob.sync_once(SyncSettings::new().timeout(Duration::from_millis(500))).await.expect("sync");
        let events = bob.room(room_id.clone()).latest_events().await.expect("events");
        let in_thread = events.iter().filter_map(|raw| raw.deserialize().ok()).any(|event| {
            matches!(event, AnySyncTimelineEvent::MessageLike(AnySyncMessageLikeEvent::RoomMessage(
                SyncMessageLikeEvent::Original(message),
            )) if message.content.body() == "me *too*"
                && matches!(&message.content.relates_to, Some(Relation::Thread(t)) if t.event_id == root))
        });
        if in_thread {
            break;
        }
        assert!(Instant::now() < deadline, "bob never saw alice's answer in the thread");
    }
    bob.room(room_id.clone()).send_thread_reply(&root, "see you Thursday").await.expect("sent");
    pane.wait_for("bob: see you Thursday").await;
    pane.wait_for("🧵 2 replies in the thread").await;

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

    // Away, as bob sees it, and back.
    pane.type_text("/away lunch");
    pane.press(&["Enter"]);
    pane.wait_for("away (lunch)").await;
    // The notice comes once the server has it.
    pane.wait_for("you are away").await;
    let alice_id = alice.user_id().expect("alice");
    let seen = bob.presence(&alice_id).await.expect("presence");
    assert_eq!(seen, (PresenceState::Unavailable, Some("lunch".to_owned())));
    pane.type_text("/back");
    pane.press(&["Enter"]);
    pane.wait_for("│ back").await;
    assert_eq!(bob.presence(&alice_id).await.expect("presence").0, PresenceState::Online);

    // Quit, start again without --user or --homeserver: the session and
    // the room are there, no sign-in asked.
    pane.press(&["C-c"]);
    pane.stop();
    let again = Pane::start(&chat_command(&server, data.path(), false));
    let screen = again.wait_for("# Book club").await;
    assert!(!screen.contains("Sign in to"), "{screen}");
    again.wait_for("bob: finally, I have been waiting").await;

    // Bob's space with a room in it: once alice joins both, the room shows
    // under the space's name, and `#` Tab completes its address.
    let space = bob.create_space("Readers", true).await.expect("space");
    let mut request = create_room::v3::Request::new();
    request.name = Some("Sci-fi".into());
    request.room_alias_name = Some("scifi".into());
    request.preset = Some(create_room::v3::RoomPreset::PublicChat);
    let scifi = bob.create_room(request).await.expect("room");
    space.add_space_child(scifi.room_id()).await.expect("child");
    again.type_text(&format!("/join {}", space.room_id()));
    again.press(&["Enter"]);
    again.wait_for("◆ Readers").await;
    again.type_text("/join #scifi:localhost");
    again.press(&["Enter"]);
    let screen = again.wait_for("# Sci-fi").await;
    let row = |what: &str| screen.lines().position(|line| line.contains(what));
    assert!(row("# Book club") < row("◆ Readers"), "{screen}");
    assert_eq!(row("# Sci-fi"), row("◆ Readers").map(|r| r + 1), "{screen}");
    again.type_text("see #sc");
    again.press(&["Tab"]);
    again.type_text("!");
    again.press(&["Enter"]);
    again.wait_for("alice: see #scifi:localhost !").await;
    again.press(&["C-c"]);
}

/// Files both ways through an encrypted room, search (the server's for
/// plain rooms, the client's own for encrypted ones), and emoji
/// verification with another of alice's devices, both ways round.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_search_and_verification_in_the_terminal() {
    if !tmux_available() {
        return;
    }
    let server = TestServer::start(Backend::Sqlite, |_| {}).await;
    // Alice's phone: the SDK, a device of her own account.
    let phone = Client::builder().homeserver_url(server.url()).build().await.expect("client");
    phone.register("alice", "correct horse").await.expect("alice registered");
    let alice = phone.user_id().expect("alice");
    let bob = Client::builder().homeserver_url(server.url()).build().await.expect("client");
    bob.register("bob", "battery staple").await.expect("bob registered");

    // A plain room where an old message sits far back, past what the
    // terminal loads: only the server's search can find it.
    let mut request = create_room::v3::Request::new();
    request.name = Some("Archive".to_owned());
    let archive = phone.create_room(request).await.expect("archive room");
    archive.send_text("a needle in the archive").await.expect("sent");
    for n in 0..120 {
        archive.send_text(&format!("hay {n}")).await.expect("sent");
    }

    let data = tempfile::tempdir().expect("temp dir");
    std::fs::write(data.path().join("config.toml"), "pictures = \"blocks\"\n").expect("config");
    let pane = signed_in(&server, data.path()).await;
    let room_id = room_with_bob(&pane, &bob, "Files").await;

    // Upload: bob gets the file, decrypted, byte for byte.
    let notes = data.path().join("notes.txt");
    std::fs::write(&notes, "chapter one: the desert planet\n").expect("file written");
    pane.type_text(&format!("/upload {}", notes.display()));
    pane.press(&["Enter"]);
    pane.wait_for("sent notes.txt").await;
    pane.wait_for("📎 file notes.txt (31 B)").await;
    let deadline = Instant::now() + Duration::from_secs(20);
    let received = loop {
        bob.sync_once(SyncSettings::new().timeout(Duration::from_secs(1))).await.expect("sync");
        let events = bob.room(room_id.clone()).latest_events().await.expect("events");
        let file =
            events.iter().filter_map(|raw| raw.deserialize().ok()).find_map(|event| match event {
                AnySyncTimelineEvent::MessageLike(AnySyncMessageLikeEvent::RoomMessage(
                    SyncMessageLikeEvent::Original(message),
                )) => match message.content.msgtype {
                    MessageType::File(file) => Some(file),
                    _ => None,
                },
                _ => None,
            });
        if let Some(file) = file {
            break file;
        }
        assert!(Instant::now() < deadline, "bob never received the file");
    };
    assert_eq!(received.body, "notes.txt");
    assert!(
        matches!(received.source, MediaSource::Encrypted(_)),
        "a file in an encrypted room is encrypted"
    );
    let bytes = bob.media().download_source(&received.source).await.expect("download");
    assert_eq!(bytes, b"chapter one: the desert planet\n");

    // Download: bob's file lands in the folder named, as sent.
    bob.room(room_id.clone()).send_text("the needle is in the files room too").await.expect("sent");
    bob.room(room_id.clone())
        .send_file("report.csv", "text/csv", b"month,pages\njan,412\n".to_vec())
        .await
        .expect("file sent");
    pane.wait_for("report.csv").await;
    let downloads = data.path().join("downloads");
    std::fs::create_dir(&downloads).expect("folder");
    pane.type_text(&format!("/download {}", downloads.display()));
    pane.press(&["Enter"]);
    pane.wait_for("saved").await;
    let saved = std::fs::read(downloads.join("report.csv")).expect("the file was saved");
    assert_eq!(saved, b"month,pages\njan,412\n");

    // A picture: fetched, decrypted and drawn in half blocks (the
    // configuration's `pictures`) under its file line.
    let cover = image::RgbImage::from_fn(320, 160, |x, y| {
        image::Rgb([(x * 4 % 256) as u8, (y % 256) as u8, 200])
    });
    let mut png = std::io::Cursor::new(Vec::new());
    cover.write_to(&mut png, image::ImageFormat::Png).expect("png");
    bob.room(room_id.clone())
        .send_image("cover.png", "image/png", png.into_inner())
        .await
        .expect("image sent");
    pane.wait_for("📎 image cover.png").await;
    let screen = pane.wait_for("▄▄▄▄").await;
    let lines: Vec<&str> = screen.lines().collect();
    let file_line = lines.iter().position(|l| l.contains("cover.png")).expect("file line");
    let drawn = |l: &&str| l.contains('▀') || l.contains('▄');
    assert!(lines[file_line + 1..file_line + 4].iter().all(drawn), "{screen}");

    // Search: the archive's old message from the server, bob's encrypted
    // one from what this client decrypted.
    pane.type_text("/search needle");
    pane.press(&["Enter"]);
    pane.wait_for("Search: needle").await;
    pane.wait_for("alice: a needle in the archive").await;
    let screen = pane.wait_for("bob: the needle is in the files room too").await;
    assert!(screen.contains("Archive"), "the hit names its room:\n{screen}");
    pane.press(&["Escape"]);

    // Verification asked from the terminal: the same emoji on both
    // screens, confirmed on both; the phone is then cross-signed (the
    // terminal set up cross-signing at sign-in).
    phone.sync_once(SyncSettings::new().timeout(Duration::ZERO)).await.expect("sync");
    pane.type_text("/verify");
    pane.press(&["Enter"]);
    pane.wait_for("Waiting for your device").await;
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut requests = loop {
        phone.sync_once(SyncSettings::new().timeout(Duration::from_secs(1))).await.expect("sync");
        let requests = phone.verification_requests().await.expect("requests");
        if !requests.is_empty() {
            break requests;
        }
        assert!(Instant::now() < deadline, "the request never reached the phone");
    };
    let asked = requests.remove(0);
    asked.accept().await.expect("ready");
    sync_until(&phone, "the keys exchanged", || {
        let asked = asked.clone();
        async move { asked.sas().await.expect("sas").is_some() }
    })
    .await;
    let code = asked.sas().await.expect("sas").expect("code");
    let names: String =
        code.emoji().iter().map(|(_, name)| format!("{name:<11}")).collect::<String>();
    pane.wait_for(names.trim_end()).await;
    pane.press(&["y"]);
    asked.confirm().await.expect("phone confirms");
    sync_until(&phone, "the phone verifying the terminal", || {
        let asked = asked.clone();
        async move { asked.is_verified().await.expect("state") }
    })
    .await;
    pane.wait_for("✓ Verified your device").await;
    pane.press(&["Enter"]);
    let phone_device = phone.device_id().expect("device");
    assert!(bob.is_cross_signed(&alice, &phone_device).await.expect("keys"));
    pane.type_text("/devices");
    pane.press(&["Enter"]);
    let screen = pane.wait_for("this device").await;
    let row = screen.lines().find(|line| line.contains(phone_device.as_str())).expect("phone row");
    assert!(row.contains("verified"), "{screen}");
    pane.press(&["Escape"]);

    // Verification asked by the phone, and the emoji said not to match:
    // the phone is told so.
    let terminal_device = phone
        .user_devices(&alice)
        .await
        .expect("devices")
        .into_iter()
        .find(|d| d.device_id != phone_device)
        .expect("the terminal's device")
        .device_id;
    let again = phone.request_verification(&alice, &terminal_device).await.expect("requested");
    pane.wait_for("asks to verify this device").await;
    pane.press(&["y"]);
    sync_until(&phone, "the keys exchanged again", || {
        let again = again.clone();
        async move { again.sas().await.expect("sas").is_some() }
    })
    .await;
    pane.wait_for("Do these emoji show").await;
    pane.press(&["n"]);
    sync_until(&phone, "the phone hearing of the mismatch", || {
        let again = again.clone();
        async move { again.cancelled().await.expect("state").is_some() }
    })
    .await;
    assert_eq!(again.cancelled().await.expect("state").as_deref(), Some("m.mismatched_sas"));
    pane.press(&["C-c"]);
}

/// F3 on the sign-in form: the server's web page in a browser (where
/// single sign-on and passkeys live), and back with a login token.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signing_in_through_the_browser() {
    if !tmux_available() {
        return;
    }
    let server = TestServer::start(Backend::Sqlite, |_| {}).await;
    let alice = Client::builder().homeserver_url(server.url()).build().await.expect("client");
    alice.register("alice", "correct horse").await.expect("alice registered");
    let data = tempfile::tempdir().expect("temp dir");
    // The "browser": a script that writes the address it is asked to open
    // into a pipe the test reads (waking when it comes).
    let opened = data.path().join("opened.fifo");
    let made = Command::new("mkfifo").arg(&opened).status().expect("mkfifo runs");
    assert!(made.success(), "mkfifo");
    let browser = data.path().join("browser.sh");
    std::fs::write(&browser, format!("#!/bin/sh\necho \"$1\" > {}\n", opened.display()))
        .expect("script");
    std::fs::set_permissions(&browser, std::os::unix::fs::PermissionsExt::from_mode(0o755))
        .expect("executable");
    // Where and who come from the configuration's account.
    let config =
        format!("[accounts.default]\nhomeserver = \"{}\"\nuser = \"alice\"\n", server.url());
    std::fs::write(data.path().join("config.toml"), config).expect("config");
    let command =
        format!("env BROWSER={} {}", browser.display(), chat_command(&server, data.path(), false));
    let pane = Pane::start(&command);
    pane.wait_for("Sign in to").await;
    pane.press(&["F3"]);
    pane.wait_for("Finish signing in on the page in your browser").await;
    let pipe = opened.clone();
    let reading = tokio::task::spawn_blocking(move || std::fs::read_to_string(pipe));
    let url = match tokio::time::timeout(Duration::from_secs(20), reading).await {
        Ok(read) => read.expect("reader").expect("the address").trim().to_owned(),
        Err(_) => {
            // Let the blocked reader go before failing.
            let _ = std::fs::write(&opened, "");
            panic!("the browser was never opened");
        }
    };
    let page = format!("{}/_matrix/client/v3/login/sso/redirect?redirectUrl=", server.url());
    assert!(url.starts_with(&page), "{url}");
    let redirect = url::Url::parse(&url)
        .expect("url")
        .query_pairs()
        .find(|(key, _)| key == "redirectUrl")
        .map(|(_, value)| value.into_owned())
        .expect("redirectUrl");
    assert!(redirect.starts_with("http://127.0.0.1:"), "{redirect}");

    // What a person does on the page: the password step, then the page
    // sends the browser back to the client.
    let http = lattice_homeserver::services::http::client_builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("http");
    let shown = http.get(&url).send().await.expect("page");
    assert_eq!(shown.status(), 200);
    let form = serde_urlencoded::to_string([
        ("redirect_url", redirect.as_str()),
        ("username", "alice"),
        ("password", "correct horse"),
    ])
    .expect("form");
    let answer = http
        .post(format!("{}/_lattice/sso/password", server.url()))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form)
        .send()
        .await
        .expect("password step");
    assert_eq!(answer.status(), 303);
    let location = answer.headers()["location"].to_str().expect("location").to_owned();
    assert!(location.starts_with(&redirect), "{location}");
    // A visit elsewhere on the client's port brings no sign-in.
    let port_root = redirect.split('/').take(3).collect::<Vec<_>>().join("/");
    let stray = http.get(format!("{port_root}/?loginToken=forged")).send().await.expect("stray");
    assert_eq!(stray.status(), 404);
    let back = http.get(&location).send().await.expect("back to the client");
    assert_eq!(back.status(), 200);
    assert!(back.text().await.expect("body").contains("go back to the terminal"));
    pane.wait_for("online").await;
    pane.wait_for("@alice:localhost").await;

    // The session is kept like a password one.
    pane.press(&["C-c"]);
    pane.stop();
    let again = Pane::start(&chat_command(&server, data.path(), false));
    let screen = again.wait_for("online").await;
    assert!(!screen.contains("Sign in to"), "{screen}");
    again.press(&["C-c"]);
}
