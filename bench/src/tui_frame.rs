//! `tui_frame`: what lattice-chat itself spends per frame, without a
//! terminal, a server or other processes on the cores: a key typed and the
//! screen drawn, and a synced message applied and the screen drawn, with
//! the open room's timeline holding more and more messages. It separates
//! the client's own work from CPU contention in `scripts/tui_typing.sh`.
//!
//! ```sh
//! cargo build --release -p lattice-bench --bin tui_frame
//! target/release/tui_frame            # --sizes 100,1000,5000 --rounds 500
//! ```

use std::time::Instant;

use clap::Parser;
use lattice_sdk::ruma::{OwnedRoomId, UserId, events::AnySyncTimelineEvent, serde::Raw};
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
use serde_json::json;

#[derive(Parser)]
struct Args {
    /// Messages in the open room's timeline, one run each.
    #[arg(long, value_delimiter = ',', default_value = "100,1000,5000")]
    sizes: Vec<usize>,
    /// Frames measured per kind and size.
    #[arg(long, default_value_t = 500)]
    rounds: usize,
    /// Terminal size (columns x rows).
    #[arg(long, default_value_t = 160)]
    width: u16,
    #[arg(long, default_value_t = 48)]
    height: u16,
}

const START: u64 = 1_796_601_600_000;

/// Message `n` of the flood: formatted text, every tenth a reply.
fn message(n: usize) -> Raw<AnySyncTimelineEvent> {
    let sender = if n.is_multiple_of(3) { "@alice:x" } else { "@bob:x" };
    let mut content = json!({
        "msgtype": "m.text",
        "body": format!("message {n}: **bold** and `code` and a longer tail of words to wrap"),
        "format": "org.matrix.custom.html",
        "formatted_body": format!(
            "message {n}: <strong>bold</strong> and <code>code</code> and a longer tail of words to wrap"
        ),
    });
    if n % 10 == 9 {
        content["m.relates_to"] = json!({"m.in_reply_to": {"event_id": format!("$m{}", n - 1)}});
    }
    let event = json!({
        "event_id": format!("$m{n}"), "sender": sender, "type": "m.room.message",
        "origin_server_ts": START + n as u64 * 1000, "content": content,
    });
    Raw::from_json(serde_json::value::to_raw_value(&event).expect("json"))
}

fn update(room: &OwnedRoomId, events: Vec<Raw<AnySyncTimelineEvent>>) -> Outcome {
    Outcome::Synced(SyncUpdate {
        rooms: vec![RoomUpdate {
            room_id: room.clone(),
            name: "Flooded".to_owned(),
            invited: false,
            direct: false,
            encrypted: true,
            space: false,
            children: Vec::new(),
            alias: None,
            events,
            unread: Some((0, 0)),
            typing: None,
        }],
        left: Vec::new(),
        presence: Vec::new(),
    })
}

/// p50, p99 and max of `samples` (µs).
fn summary(samples: &mut [f64]) -> String {
    samples.sort_by(f64::total_cmp);
    let at = |q: f64| samples[((samples.len() - 1) as f64 * q).round() as usize];
    format!("p50 {:>7.1} µs  p99 {:>7.1} µs  max {:>7.1} µs", at(0.5), at(0.99), at(1.0))
}

fn main() {
    let args = Args::parse();
    let room = OwnedRoomId::try_from("!flooded:x").expect("room id");
    for &size in &args.sizes {
        let mut app = App::chat(UserId::parse("@alice:x").expect("user id"));
        app.on_outcome(update(&room, (0..size).map(message).collect()));
        let mut terminal =
            Terminal::new(TestBackend::new(args.width, args.height)).expect("terminal");
        let mut draw = |app: &mut App| {
            terminal.draw(|frame| ui::draw(frame, app)).expect("drawn");
        };
        draw(&mut app);

        let mut typing = Vec::with_capacity(args.rounds);
        for n in 0..args.rounds {
            let started = Instant::now();
            // Type a word, then clear it, so the composer stays one line.
            let key = if n % 8 == 7 { KeyCode::Backspace } else { KeyCode::Char('x') };
            app.on_key(KeyEvent::new(key, KeyModifiers::NONE));
            draw(&mut app);
            typing.push(started.elapsed().as_secs_f64() * 1e6);
            if n % 8 == 7 {
                app.composer.take();
            }
        }

        let mut arriving = Vec::with_capacity(args.rounds);
        for n in 0..args.rounds {
            let next = update(&room, vec![message(size + n)]);
            let started = Instant::now();
            app.on_outcome(next);
            draw(&mut app);
            arriving.push(started.elapsed().as_secs_f64() * 1e6);
        }
        println!("{size:>6} messages  key + draw:     {}", summary(&mut typing));
        println!("{size:>6} messages  message + draw: {}", summary(&mut arriving));
    }
}
