//! `sliding`: what simplified sliding sync (MSC4186, Element X's sync)
//! costs. A user in `--rooms` rooms (default 500) opens Element X's
//! room-list connection: the first answer for its first page (20 rooms)
//! and for all rooms, median of 5 fresh connections each. Then another
//! user sends `--messages` messages one after another into one of those
//! rooms while the first long-polls: the time from each send being
//! answered to its arrival in a sliding sync answer.

use std::time::{Duration, Instant};

use clap::Parser;
use serde_json::{Value, json};

use lattice_bench::{
    client::{self, Client},
    server::ServerProcess,
};

#[derive(Parser, Debug)]
#[command(about = "Measure simplified sliding sync on a Lattice server")]
struct Args {
    /// The server binary to start (build it with --release first).
    #[arg(long, default_value = "target/release/lattice")]
    server: String,
    /// Rooms the syncing user is in.
    #[arg(long, default_value_t = 500)]
    rooms: usize,
    /// Messages sent for the delivery measurement.
    #[arg(long, default_value_t = 500)]
    messages: usize,
    /// Run the server on PostgreSQL at this URL (an empty database).
    #[arg(long)]
    postgres: Option<String>,
}

/// Element X's room-list request (matrix-sdk-ui's RoomListService): one
/// list over all rooms, the newest event of each, the state its room list
/// shows, and the account data, receipts and typing extensions.
fn room_list(last: usize) -> Value {
    let state = [
        ["m.room.name", ""],
        ["m.room.encryption", ""],
        ["m.room.member", "$LAZY"],
        ["m.room.member", "$ME"],
        ["m.room.topic", ""],
        ["m.room.avatar", ""],
        ["m.room.canonical_alias", ""],
        ["m.room.power_levels", ""],
        ["org.matrix.msc3401.call.member", "*"],
        ["m.room.join_rules", ""],
        ["m.room.tombstone", ""],
        ["m.room.create", ""],
        ["m.room.history_visibility", ""],
        ["io.element.functional_members", ""],
        ["m.space.parent", "*"],
        ["m.space.child", "*"],
    ];
    json!({
        "conn_id": "room-list",
        "lists": {"all_rooms": {
            "ranges": [[0, last]], "timeline_limit": 1, "required_state": state, "filters": {},
        }},
        "extensions": {
            "account_data": {"enabled": true},
            "receipts": {"enabled": true, "rooms": ["*"]},
            "typing": {"enabled": true},
        },
    })
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted.get(index).copied().unwrap_or_default()
}

/// The median and best of five first answers to `body` (fresh connections).
async fn first_answers(
    user: &Client,
    body: &Value,
    rooms: usize,
) -> Result<(f64, f64), client::Error> {
    let mut runs = Vec::new();
    for _ in 0..5 {
        let t = Instant::now();
        let answer = user.sliding(body, None, 0).await?;
        runs.push(t.elapsed());
        let sent = answer["rooms"].as_object().map_or(0, |r| r.len());
        assert_eq!(sent, rooms, "the first answer sends every room in range");
    }
    runs.sort();
    Ok((ms(runs[2]), ms(runs[0])))
}

#[tokio::main]
async fn main() -> Result<(), client::Error> {
    let args = Args::parse();
    let server = ServerProcess::start(&args.server, args.postgres.as_deref()).await?;
    println!("server: {} (pid {}), backend {}", server.url, server.pid, server.backend);
    let _ = rustls::crypto::ring::default_provider().install_default();
    let http = reqwest::Client::builder().pool_max_idle_per_host(64).build()?;

    let busy = Client::register(&http, &server.url, "busy").await?;
    let mut rooms = Vec::new();
    for i in 0..args.rooms {
        let room =
            busy.create_room(json!({"name": format!("room {i}"), "preset": "public_chat"})).await?;
        busy.send_text(&room, "hello").await?;
        rooms.push(room);
    }
    let page = args.rooms.min(20);
    let (median, best) = first_answers(&busy, &room_list(page - 1), page).await?;
    println!(
        "first sliding sync answer, first page of {page} of {} rooms: median {median:.1} ms (best {best:.1} ms)",
        args.rooms
    );
    let (median, best) = first_answers(&busy, &room_list(args.rooms - 1), args.rooms).await?;
    println!(
        "first sliding sync answer, all {} rooms: median {median:.1} ms (best {best:.1} ms)",
        args.rooms
    );

    // A request with nothing new (timeout 0): what every long poll costs
    // before it waits.
    let body = room_list(args.rooms - 1);
    let pos = busy.sliding(&body, None, 0).await?["pos"].as_str().unwrap_or_default().to_owned();
    let mut idle = Vec::new();
    for _ in 0..50 {
        let t = Instant::now();
        busy.sliding(&body, Some(&pos), 0).await?;
        idle.push(t.elapsed());
    }
    idle.sort();
    println!("a request with nothing new, {} rooms: median {:.1} ms", args.rooms, ms(idle[25]));

    // Delivery: a sender in one room, the busy user long-polling all rooms.
    let sender = Client::register(&http, &server.url, "sender").await?;
    let room = rooms[0].clone();
    sender.join(&room).await?;
    let body = room_list(args.rooms - 1);
    let mut pos =
        busy.sliding(&body, None, 0).await?["pos"].as_str().unwrap_or_default().to_owned();
    let mut latencies = Vec::new();
    for n in 0..args.messages {
        let watching = async {
            let answer = busy.sliding(&body, Some(&pos), 10_000).await;
            (answer, Instant::now())
        };
        let sending = async {
            let event_id = sender.send_text(&room, &format!("message {n}")).await?;
            Ok::<_, client::Error>((event_id, Instant::now()))
        };
        let ((answer, arrived), sent) = tokio::join!(watching, sending);
        // A sync may beat the sender's own bookkeeping: that counts as zero.
        let (answer, (event_id, sent_at)) = (answer?, sent?);
        pos = answer["pos"].as_str().unwrap_or_default().to_owned();
        let timeline = answer["rooms"][&room]["timeline"].as_array().cloned().unwrap_or_default();
        if timeline.iter().any(|event| event["event_id"] == event_id.as_str()) {
            latencies.push(arrived.saturating_duration_since(sent_at));
        } else {
            // Answered before the send (its own news, e.g. the join): the
            // next long poll brings the message.
            let answer = busy.sliding(&body, Some(&pos), 10_000).await?;
            latencies.push(Instant::now().saturating_duration_since(sent_at));
            pos = answer["pos"].as_str().unwrap_or_default().to_owned();
        }
    }
    latencies.sort();
    println!(
        "delivery (send answered -> seen by a long-polling sliding sync over {} rooms): p50 {:.2} ms, p99 {:.2} ms ({} samples)",
        args.rooms,
        ms(percentile(&latencies, 0.5)),
        ms(percentile(&latencies, 0.99)),
        latencies.len(),
    );
    println!(
        "server RSS: {:.1} MiB now, {:.1} MiB peak",
        server.rss_kib()? as f64 / 1024.0,
        server.peak_rss_kib()? as f64 / 1024.0
    );
    server.stop();
    Ok(())
}
