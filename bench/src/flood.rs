//! `flood`: one client floods the server far past its rate limit while a
//! few ordinary users go on chatting; reports the ordinary users' send
//! latency without and with the flood, and what the flood got.
//!
//! ```sh
//! cargo build --release -p lattice-homeserver -p lattice-bench
//! target/release/flood --server target/release/lattice
//! ```

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use clap::Parser;
use lattice_bench::{
    client::{self, Client},
    server::ServerProcess,
};
use serde_json::json;

#[derive(Parser)]
struct Args {
    #[arg(long, default_value = "target/release/lattice")]
    server: String,
    /// Ordinary users, each sending a message every 100 ms.
    #[arg(long, default_value_t = 5)]
    users: usize,
    /// Concurrent connections of the flooding client.
    #[arg(long, default_value_t = 32)]
    flood: usize,
    /// Seconds of each phase (calm, then flood).
    #[arg(long, default_value_t = 10)]
    seconds: u64,
}

/// Ordinary users chat for `seconds`; returns every send's latency (ms)
/// and how many sends failed.
async fn chat(users: &[Client], room: &str, seconds: u64) -> (Vec<f64>, usize) {
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let mut tasks = Vec::new();
    for user in users {
        let (user, room) = (user.clone(), room.to_owned());
        tasks.push(tokio::spawn(async move {
            let (mut latencies, mut failures) = (Vec::new(), 0);
            let mut tick = tokio::time::interval(Duration::from_millis(100));
            while Instant::now() < deadline {
                tick.tick().await;
                let started = Instant::now();
                match user.send_text(&room, "hello").await {
                    Ok(_) => latencies.push(started.elapsed().as_secs_f64() * 1000.0),
                    Err(_) => failures += 1,
                }
            }
            (latencies, failures)
        }));
    }
    let (mut all, mut failed) = (Vec::new(), 0);
    for task in tasks {
        if let Ok((latencies, failures)) = task.await {
            all.extend(latencies);
            failed += failures;
        }
    }
    all.sort_by(f64::total_cmp);
    (all, failed)
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted.get(((sorted.len() as f64 - 1.0) * p) as usize).copied().unwrap_or(0.0)
}

#[tokio::main]
async fn main() -> Result<(), client::Error> {
    let args = Args::parse();
    let server = ServerProcess::start_limited(&args.server).await?;
    println!("server: {} (rate limits on, defaults)", server.url);
    let _ = rustls::crypto::ring::default_provider().install_default();
    let http = reqwest::Client::builder().pool_max_idle_per_host(256).build()?;
    let owner = Client::register(&http, &server.url, "owner").await?;
    let room = owner.create_room(json!({"preset": "public_chat"})).await?;
    let mut users = Vec::new();
    for i in 0..args.users {
        let user = Client::register(&http, &server.url, &format!("user{i}")).await?;
        user.join(&room).await?;
        users.push(user);
    }
    let flooder = Client::register(&http, &server.url, "flooder").await?;
    flooder.join(&room).await?;

    let (calm, calm_failed) = chat(&users, &room, args.seconds).await;

    let stop = Arc::new(AtomicBool::new(false));
    let (accepted, refused) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let mut flood = Vec::new();
    for _ in 0..args.flood {
        let (flooder, room, stop) = (flooder.clone(), room.clone(), stop.clone());
        let (accepted, refused) = (accepted.clone(), refused.clone());
        flood.push(tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                match flooder.send_text(&room, "spam").await {
                    Ok(_) => accepted.fetch_add(1, Ordering::Relaxed),
                    Err(_) => refused.fetch_add(1, Ordering::Relaxed),
                };
            }
        }));
    }
    let (stormy, stormy_failed) = chat(&users, &room, args.seconds).await;
    stop.store(true, Ordering::Relaxed);
    for task in flood {
        let _ = task.await;
    }

    let line = |name: &str, sorted: &[f64], failed: usize| {
        println!(
            "{name}: {} sends, p50 {:.1} ms, p99 {:.1} ms, {failed} failed",
            sorted.len(),
            percentile(sorted, 0.5),
            percentile(sorted, 0.99)
        );
    };
    line("ordinary users, calm ", &calm, calm_failed);
    line("ordinary users, flood", &stormy, stormy_failed);
    let (ok, no) = (accepted.load(Ordering::Relaxed), refused.load(Ordering::Relaxed));
    println!(
        "flooder: {} requests in {} s, {ok} accepted, {no} refused (429)",
        ok + no,
        args.seconds
    );
    server.stop();
    Ok(())
}
