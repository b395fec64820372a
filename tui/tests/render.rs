//! The screen as ratatui's test backend draws it, from sync news built as
//! a server would send it: what a user sees, cell for cell.

use lattice_sdk::ruma::{OwnedRoomId, UserId, serde::Raw};
use lattice_tui::{
    app::App,
    matrix::{Outcome, RoomUpdate, SyncUpdate},
    ui,
};
use ratatui::{
    Terminal,
    backend::TestBackend,
    crossterm::event::{KeyCode, KeyEvent, KeyModifiers},
};
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
