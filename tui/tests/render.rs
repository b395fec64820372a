//! The screen as ratatui's test backend draws it, from sync news built as
//! a server would send it: what a user sees, cell for cell.

use lattice_sdk::{
    SasCode,
    ruma::{MilliSecondsSinceUnixEpoch, OwnedRoomId, UserId, serde::Raw},
};
use lattice_tui::{
    app::{App, images::Pictures, overlay::Hit},
    commands::Command,
    matrix::{Action, Answer, Outcome, RoomUpdate, SyncUpdate, VerifyStage},
    ui,
};
use ratatui::{
    Terminal,
    backend::TestBackend,
    crossterm::event::{KeyCode, KeyEvent, KeyModifiers},
};
use ratatui_image::picker::Picker;
use serde_json::{Value, json};

fn event(
    id: &str,
    sender: &str,
    ts: u64,
    kind: &str,
    content: Value,
    state_key: Option<&str>,
) -> Raw<lattice_sdk::ruma::events::AnySyncTimelineEvent> {
    let mut event = json!({
        "event_id": id, "sender": sender, "origin_server_ts": ts, "type": kind, "content": content,
    });
    if let Some(key) = state_key {
        event["state_key"] = json!(key);
    }
    Raw::from_json(serde_json::value::to_raw_value(&event).expect("json"))
}

fn room(
    id: &str,
    name: &str,
    direct: bool,
    events: Vec<Raw<lattice_sdk::ruma::events::AnySyncTimelineEvent>>,
    unread: (u64, u64),
) -> RoomUpdate {
    RoomUpdate {
        room_id: OwnedRoomId::try_from(id).expect("room id"),
        name: name.to_owned(),
        invited: false,
        direct,
        encrypted: true,
        space: false,
        children: Vec::new(),
        alias: None,
        events,
        unread: Some(unread),
        typing: None,
    }
}

fn screen(app: &mut App, width: u16, height: u16) -> String {
    let mut terminal = Terminal::new(TestBackend::new(width, height)).expect("terminal");
    terminal.draw(|frame| ui::draw(frame, app)).expect("drawn");
    let buffer = terminal.backend().buffer().clone();
    let mut text = String::new();
    for y in 0..buffer.area.height {
        let mut line = String::new();
        for x in 0..buffer.area.width {
            line.push_str(buffer[(x, y)].symbol());
        }
        text.push_str(line.trim_end());
        text.push('\n');
    }
    text
}

const DAY: u64 = 1_796_601_600_000; // 2026-12-07 00:00 UTC

fn book_club() -> Vec<Raw<lattice_sdk::ruma::events::AnySyncTimelineEvent>> {
    vec![
        event(
            "$c",
            "@alice:x",
            DAY + 1000,
            "m.room.create",
            json!({"room_version": "12"}),
            Some(""),
        ),
        event(
            "$j1",
            "@alice:x",
            DAY + 2000,
            "m.room.member",
            json!({"membership": "join", "displayname": "Alice"}),
            Some("@alice:x"),
        ),
        event(
            "$j2",
            "@bob:x",
            DAY + 3000,
            "m.room.member",
            json!({"membership": "join", "displayname": "Bob"}),
            Some("@bob:x"),
        ),
        event(
            "$m1",
            "@bob:x",
            DAY + 9 * 3_600_000,
            "m.room.message",
            json!({
                "msgtype": "m.text", "body": "**Dune** is next",
                "format": "org.matrix.custom.html", "formatted_body": "<strong>Dune</strong> is next",
            }),
            None,
        ),
        event(
            "$m2",
            "@alice:x",
            DAY + 9 * 3_600_000 + 60_000,
            "m.room.message",
            json!({
                "msgtype": "m.text", "body": "great choice",
                "m.relates_to": {"m.in_reply_to": {"event_id": "$m1"}},
            }),
            None,
        ),
        event(
            "$e1",
            "@alice:x",
            DAY + 9 * 3_600_000 + 90_000,
            "m.room.message",
            json!({
                "msgtype": "m.text", "body": "* great choice!",
                "m.new_content": {"msgtype": "m.text", "body": "great choice!"},
                "m.relates_to": {"rel_type": "m.replace", "event_id": "$m2"},
            }),
            None,
        ),
        event(
            "$r1",
            "@bob:x",
            DAY + 9 * 3_600_000 + 100_000,
            "m.reaction",
            json!({
                "m.relates_to": {"rel_type": "m.annotation", "event_id": "$m2", "key": "👍"},
            }),
            None,
        ),
        event(
            "$m3",
            "@bob:x",
            DAY + 9 * 3_600_000 + 120_000,
            "m.room.encrypted",
            json!({
                "algorithm": "m.megolm.v1.aes-sha2", "ciphertext": "x", "session_id": "s", "sender_key": "k", "device_id": "D",
            }),
            None,
        ),
        event(
            "$f1",
            "@bob:x",
            DAY + 9 * 3_600_000 + 130_000,
            "m.room.message",
            json!({
                "msgtype": "m.file", "body": "notes.pdf", "url": "mxc://x/abc", "info": {"size": 12800},
            }),
            None,
        ),
    ]
}

#[test]
fn the_chat_screen_shows_rooms_and_a_formatted_timeline() {
    let mut app = App::chat(UserId::parse("@alice:x").expect("user id"));
    let update = SyncUpdate {
        rooms: vec![
            room("!book:x", "Book club", false, book_club(), (0, 0)),
            room("!dm:x", "Carol", true, Vec::new(), (0, 0)),
            room("!quiet:x", "Quiet corner", false, Vec::new(), (2, 0)),
            room("!loud:x", "Loud", false, Vec::new(), (4, 2)),
        ],
        left: Vec::new(),
        presence: Vec::new(),
    };
    app.on_outcome(Outcome::Synced(update));
    // The first room of the list opened by itself; the user opens another,
    // which is marked read.
    let actions = app.open_room(OwnedRoomId::try_from("!book:x").expect("room id"));
    assert!(
        actions.iter().any(|a| matches!(a, lattice_tui::matrix::Action::Read { .. })),
        "{actions:?}"
    );
    let text = screen(&mut app, 100, 30);
    for expected in [
        "People",
        "@ Carol",
        "# Quiet corner 2",
        "# Loud @2",
        "── Mon 7 Dec 2026 ──",
        "— alice created the room",
        "— Bob joined",
        "09:00 Bob: Dune is next",
        "↳ Bob: Dune is next",
        "09:01 Alice: great choice! (edited)",
        "👍",
        " 1]",
        "could not decrypt: the sender's device",
        "file notes.pdf (12.5 KiB)",
    ] {
        assert!(text.contains(expected), "{expected:?} not on screen:\n{text}");
    }
    assert!(text.contains("Book club"), "{text}");
}

/// Alice's client after a sync with the book club in it.
fn in_book_club() -> App {
    let mut app = App::chat(UserId::parse("@alice:x").expect("user id"));
    app.on_outcome(Outcome::Synced(SyncUpdate {
        rooms: vec![room("!book:x", "Book club", false, book_club(), (0, 0))],
        left: Vec::new(),
        presence: Vec::new(),
    }));
    app
}

#[test]
fn typing_a_message_sends_markdown_as_html() {
    let mut app = in_book_club();
    for c in "**bold** move".chars() {
        app.on_key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE));
    }
    let actions = app.on_key(KeyEvent::new(KeyCode::Enter, KeyModifiers::NONE));
    let sent = actions.iter().find_map(|a| match a {
        lattice_tui::matrix::Action::Send { plain, html, .. } => {
            Some((plain.clone(), html.clone()))
        }
        _ => None,
    });
    assert_eq!(
        sent,
        Some(("**bold** move".to_owned(), Some("<p><strong>bold</strong> move</p>".to_owned())))
    );
    // A command goes to the worker, not to the room.
    for c in "/join #rust:x".chars() {
        app.on_key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE));
    }
    let actions = app.on_key(KeyEvent::new(KeyCode::Enter, KeyModifiers::NONE));
    assert!(matches!(actions.as_slice(), [lattice_tui::matrix::Action::Run { .. }]), "{actions:?}");
}

#[test]
fn the_login_form_masks_the_password_and_asks_for_a_code() {
    let mut app = App::login("https://matrix.example.org".into(), "alice".into());
    for c in "hunter2".chars() {
        app.on_key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE));
    }
    let text = screen(&mut app, 80, 20);
    assert!(text.contains("Sign in to https://matrix.example.org"), "{text}");
    assert!(text.contains("User:     alice") && text.contains("Password: •••••••"), "{text}");
    assert!(!text.contains("hunter2"), "{text}");
    let actions = app.on_key(KeyEvent::new(KeyCode::Enter, KeyModifiers::NONE));
    assert!(matches!(actions.as_slice(), [lattice_tui::matrix::Action::Login { .. }]));
    app.on_outcome(Outcome::SecondFactorNeeded {
        session: "s".into(),
        stages: vec!["org.lattice.login.totp".into(), "org.lattice.login.recovery_code".into()],
    });
    let text = screen(&mut app, 80, 20);
    assert!(text.contains("Code from your authenticator app:"), "{text}");
}

#[test]
fn a_narrow_terminal_still_draws() {
    let mut app = in_book_club();
    for (width, height) in [(30, 8), (20, 5), (200, 60)] {
        let text = screen(&mut app, width, height);
        assert!(!text.is_empty());
    }
}

fn press(app: &mut App, code: KeyCode, modifiers: KeyModifiers) -> Vec<Action> {
    app.on_key(KeyEvent::new(code, modifiers))
}

fn type_line(app: &mut App, text: &str) -> Vec<Action> {
    for c in text.chars() {
        press(app, KeyCode::Char(c), KeyModifiers::NONE);
    }
    press(app, KeyCode::Enter, KeyModifiers::NONE)
}

#[test]
fn a_verification_shows_the_emoji_and_takes_the_answer() {
    let mut app = in_book_club();
    let code = SasCode { emoji_indices: [0, 1, 2, 29, 36, 47, 63], decimals: (1234, 2345, 3456) };
    let bob = UserId::parse("@bob:x").expect("user id");
    let stage = VerifyStage::Compare(code);
    app.on_outcome(Outcome::Verification {
        transaction: "t1".into(),
        user: bob.clone(),
        device: "PHONE".into(),
        stage,
    });
    let text = screen(&mut app, 100, 30);
    for expected in [
        "Do these emoji show on @bob:x's device PHONE, in this order?",
        "Dog        Cat        Lion       Heart      Thumbs Up  Key        Pin",
        "1234 2345 3456",
        "y: they match, n: they do not",
    ] {
        assert!(text.contains(expected), "{expected:?} not on screen:\n{text}");
    }
    // Other keys do nothing; y says they match.
    assert!(press(&mut app, KeyCode::Char('x'), KeyModifiers::NONE).is_empty());
    let actions = press(&mut app, KeyCode::Char('y'), KeyModifiers::NONE);
    assert!(
        matches!(actions.as_slice(), [Action::Verify { answer: Answer::Match, .. }]),
        "{actions:?}"
    );
    assert!(screen(&mut app, 100, 30).contains("Waiting for @bob:x's device PHONE to confirm"));
    app.on_outcome(Outcome::Verification {
        transaction: "t1".into(),
        user: bob,
        device: "PHONE".into(),
        stage: VerifyStage::Verified,
    });
    assert!(screen(&mut app, 100, 30).contains("✓ Verified @bob:x's device PHONE."));
    press(&mut app, KeyCode::Enter, KeyModifiers::NONE);
    assert!(app.overlay.is_none());
}

#[test]
fn a_thread_opens_beside_the_timeline() {
    let mut app = in_book_club();
    let reply = event(
        "$t1",
        "@bob:x",
        DAY + 10 * 3_600_000,
        "m.room.message",
        json!({
            "msgtype": "m.text", "body": "chapter one is slow",
            "m.relates_to": {"rel_type": "m.thread", "event_id": "$m1"},
        }),
        None,
    );
    app.on_outcome(Outcome::Synced(SyncUpdate {
        rooms: vec![room("!book:x", "Book club", false, vec![reply], (0, 0))],
        left: Vec::new(),
        presence: Vec::new(),
    }));
    let text = screen(&mut app, 120, 30);
    assert!(text.contains("1 reply in the thread"), "{text}");
    assert!(!text.contains("chapter one is slow"), "thread replies stay in the thread:\n{text}");
    // Pick bob's first message (four messages up) and open its thread.
    for _ in 0..4 {
        press(&mut app, KeyCode::Up, KeyModifiers::CONTROL);
    }
    press(&mut app, KeyCode::Char('o'), KeyModifiers::CONTROL);
    let text = screen(&mut app, 120, 30);
    assert!(text.contains("Thread (Esc closes)"), "{text}");
    assert!(text.contains("Bob: chapter one is slow"), "{text}");
    let actions = type_line(&mut app, "it picks up");
    assert!(
        actions.iter().any(|a| matches!(a, Action::ThreadReply { root, .. } if root == "$m1")),
        "{actions:?}"
    );
    // Picking now walks the thread: its newest message first, reacted to;
    // then its first message, answered (the answer stays in the thread).
    press(&mut app, KeyCode::Up, KeyModifiers::CONTROL);
    press(&mut app, KeyCode::Char('t'), KeyModifiers::CONTROL);
    let actions = type_line(&mut app, "👍");
    assert!(
        actions.iter().any(|a| matches!(a, Action::React { target, .. } if target == "$t1")),
        "{actions:?}"
    );
    press(&mut app, KeyCode::Up, KeyModifiers::CONTROL);
    press(&mut app, KeyCode::Up, KeyModifiers::CONTROL);
    press(&mut app, KeyCode::Char('r'), KeyModifiers::CONTROL);
    let actions = type_line(&mut app, "agreed");
    assert!(
        actions.iter().any(|a| matches!(a, Action::ThreadReply { root, .. } if root == "$m1")),
        "{actions:?}"
    );
    press(&mut app, KeyCode::Esc, KeyModifiers::NONE);
    assert!(app.thread.is_none());
}

#[test]
fn search_shows_what_is_here_then_what_the_server_found() {
    let mut app = in_book_club();
    let actions = type_line(&mut app, "/search dune");
    assert!(
        matches!(actions.as_slice(), [Action::Run { command: Command::Search(term), .. }] if term == "dune"),
        "{actions:?}"
    );
    let text = screen(&mut app, 120, 30);
    assert!(text.contains("Search: dune"), "{text}");
    assert!(text.contains("Book club Bob: **Dune** is next"), "{text}");
    assert!(text.contains("asking the server"), "{text}");
    app.on_outcome(Outcome::SearchResults {
        term: "dune".into(),
        hits: vec![Hit {
            room_id: OwnedRoomId::try_from("!scifi:x").expect("room id"),
            event_id: "$old".try_into().expect("event id"),
            sender: UserId::parse("@carol:x").expect("user id"),
            ts: MilliSecondsSinceUnixEpoch((DAY / 2).try_into().expect("ts")),
            text: "Dune, the 1984 film".into(),
        }],
    });
    let text = screen(&mut app, 120, 30);
    assert!(text.contains("carol: Dune, the 1984 film"), "{text}");
    // Newest first: bob's message, then carol's; Down and Enter open hers.
    press(&mut app, KeyCode::Down, KeyModifiers::NONE);
    press(&mut app, KeyCode::Enter, KeyModifiers::NONE);
    assert!(app.overlay.is_none());
    assert_eq!(app.rooms.open.as_ref().map(|r| r.as_str()), Some("!scifi:x"));
}

#[test]
fn new_messages_start_below_the_marker() {
    let mut app = in_book_club();
    app.on_outcome(Outcome::Marker {
        room_id: OwnedRoomId::try_from("!book:x").expect("room id"),
        event: Some("$m2".try_into().expect("event id")),
    });
    let text = screen(&mut app, 100, 30);
    let marker = text.find("──── new ────").unwrap_or_else(|| panic!("no marker:\n{text}"));
    let read = text.find("great choice!").expect("alice's message");
    let unread = text.find("notes.pdf").expect("bob's file");
    assert!(read < marker && marker < unread, "{text}");
}

#[test]
fn a_click_in_the_room_list_opens_the_room() {
    let mut app = in_book_club();
    app.on_outcome(Outcome::Synced(SyncUpdate {
        rooms: vec![room("!quiet:x", "Quiet corner", false, Vec::new(), (0, 0))],
        left: Vec::new(),
        presence: Vec::new(),
    }));
    let text = screen(&mut app, 100, 30);
    let row = text.lines().position(|line| line.contains("# Quiet corner")).expect("listed");
    assert!(app.on_click(60, row as u16).is_empty(), "a click in the timeline opens nothing");
    app.on_click(3, row as u16);
    assert_eq!(app.rooms.open.as_ref().map(|r| r.as_str()), Some("!quiet:x"));
}

#[test]
fn a_space_heads_its_rooms_and_tab_completes_room_addresses() {
    let mut app = in_book_club();
    let scifi_id = OwnedRoomId::try_from("!scifi:x").expect("room id");
    let mut scifi = room("!scifi:x", "Sci-fi", false, Vec::new(), (0, 0));
    scifi.alias = Some("#sf:x".to_owned());
    let mut readers = room("!readers:x", "Readers", false, Vec::new(), (0, 0));
    readers.space = true;
    readers.children = vec![scifi_id];
    app.on_outcome(Outcome::Synced(SyncUpdate {
        rooms: vec![scifi, readers],
        left: Vec::new(),
        presence: Vec::new(),
    }));
    let text = screen(&mut app, 100, 30);
    let row = |what: &str| {
        text.lines()
            .position(|line| line.starts_with(what))
            .unwrap_or_else(|| panic!("{what}:\n{text}"))
    };
    // Rooms of no space first, then the space's heading, itself, its room.
    assert!(row("Rooms") < row("# Book club"), "{text}");
    assert!(row("# Book club") < row("Readers"), "{text}");
    assert_eq!(row("◆ Readers"), row("Readers") + 1, "{text}");
    assert_eq!(row("# Sci-fi"), row("◆ Readers") + 1, "{text}");

    // `#` and Tab: the room's address, found by address or by name.
    for typed in ["see #s", "see #Sci"] {
        for c in typed.chars() {
            press(&mut app, KeyCode::Char(c), KeyModifiers::NONE);
        }
        press(&mut app, KeyCode::Tab, KeyModifiers::NONE);
        assert_eq!(app.composer.text(), "see #sf:x ");
        app.composer.take();
    }
    // A room without an address is no candidate: nothing changes.
    for c in "#Book".chars() {
        press(&mut app, KeyCode::Char(c), KeyModifiers::NONE);
    }
    press(&mut app, KeyCode::Tab, KeyModifiers::NONE);
    assert_eq!(app.composer.text(), "#Book");
}

#[test]
fn a_long_history_scrolls_to_its_top_before_asking_for_more() {
    let mut app = App::chat(UserId::parse("@alice:x").expect("user id"));
    // 200 notes, one every quarter of an hour: Monday to Wednesday.
    let notes = (0..200u64)
        .map(|n| {
            let body = json!({"msgtype": "m.text", "body": format!("note {n}")});
            event(&format!("$n{n}"), "@bob:x", DAY + n * 900_000, "m.room.message", body, None)
        })
        .collect();
    app.on_outcome(Outcome::Synced(SyncUpdate {
        rooms: vec![room("!long:x", "Long", false, notes, (0, 0))],
        left: Vec::new(),
        presence: Vec::new(),
    }));
    let text = screen(&mut app, 100, 30);
    assert!(text.contains("note 199") && !text.contains("note 150"), "{text}");
    // The newest day's separator sits right above its first note, though
    // only the bottom of the history was laid out.
    let lines: Vec<&str> = text.lines().collect();
    let first_of_day = lines.iter().position(|l| l.contains("note 192")).expect("note 192");
    assert!(lines[first_of_day - 1].contains("── Wed 9 Dec 2026 ──"), "{text}");

    // PageUp walks back without asking the server until the first note
    // is on screen.
    for page in 0.. {
        assert!(page < 100, "never reached the top");
        let actions = press(&mut app, KeyCode::PageUp, KeyModifiers::NONE);
        let text = screen(&mut app, 100, 30);
        if actions.iter().any(|a| matches!(a, Action::Paginate { .. })) {
            assert!(text.contains("note 0\n") || text.contains("note 0 "), "{text}");
            assert!(text.contains("── Mon 7 Dec 2026 ──"), "{text}");
            break;
        }
    }
}

#[test]
fn an_image_message_shows_its_picture_where_pictures_are_on() {
    let image_event = || {
        let content = json!({
            "msgtype": "m.image", "body": "cover.png", "url": "mxc://x/cover",
            "info": {"size": 2048, "mimetype": "image/png"},
        });
        vec![event("$img", "@bob:x", DAY + 10 * 3_600_000, "m.room.message", content, None)]
    };
    let synced = |app: &mut App| {
        app.on_outcome(Outcome::Synced(SyncUpdate {
            rooms: vec![room("!book:x", "Book club", false, image_event(), (0, 0))],
            left: Vec::new(),
            presence: Vec::new(),
        }))
    };

    // Pictures off: the message stays a file line; nothing is fetched.
    let mut app = in_book_club();
    let actions = synced(&mut app);
    assert!(!actions.iter().any(|a| matches!(a, Action::LoadPicture { .. })), "{actions:?}");

    // Half blocks: fetched once, drawn under the file line.
    let mut app = in_book_club();
    app.pictures = Pictures::new(Picker::halfblocks());
    let actions = synced(&mut app);
    let asked: Vec<_> = actions
        .iter()
        .filter_map(|a| match a {
            Action::LoadPicture { event, .. } => Some(event.to_string()),
            _ => None,
        })
        .collect();
    assert_eq!(asked, ["$img"]);
    assert!(!synced(&mut app).iter().any(|a| matches!(a, Action::LoadPicture { .. })));
    let text = screen(&mut app, 100, 30);
    assert!(!text.contains('▀'), "nothing to draw before it arrives:\n{text}");
    let picture = image::RgbImage::from_fn(320, 160, |x, y| {
        image::Rgb([(x * 4 % 256) as u8, (y % 256) as u8, 200])
    });
    app.on_outcome(Outcome::Picture {
        event: "$img".try_into().expect("event id"),
        picture: image::DynamicImage::ImageRgb8(picture),
    });
    let text = screen(&mut app, 100, 30);
    let lines: Vec<&str> = text.lines().collect();
    let file_line = lines.iter().position(|l| l.contains("image cover.png")).expect("file line");
    // 320×160 pixels in cells of 10×20: 32 columns by 8 rows.
    let drawn = |l: &&&str| l.contains('▀') || l.contains('▄');
    assert_eq!(lines[file_line + 1..].iter().filter(drawn).count(), 8, "{text}");
    assert!(lines[file_line + 1..file_line + 9].iter().all(|l| drawn(&l)), "{text}");
}
