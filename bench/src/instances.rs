//! Several Lattice instances on one PostgreSQL database: send throughput,
//! delivery latency and server CPU per message with 1, 2 or 3 instances,
//! the load spread across them.
//!
//! Senders are spread over `--rooms` rooms; with `--spread rooms` (the
//! deployment the book recommends) a room's senders all use one instance
//! and the rooms are spread across instances; with `--spread senders`
//! each room's senders are spread across instances, so its writer moves
//! back and forth. A watcher on the last instance long-polls room 0: with
//! more than one instance its sends cross instances to reach it.
//!
//! ```text
//! cargo build --release -p lattice-homeserver -p lattice-bench
//! target/release/instances --instances 2 --postgres postgres://postgres@127.0.0.1/bench
//! ```

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use clap::{Parser, ValueEnum};
use lattice_bench::{
    client::{self, Client},
    server::ServerProcess,
};
use serde_json::json;

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Spread {
    /// Each room's senders on one instance; rooms spread across instances.
    Rooms,
    /// Each room's senders spread across instances.
    Senders,
}

#[derive(Parser)]
struct Args {
    /// The server binary (build it with --release first).
    #[arg(long, default_value = "target/release/lattice")]
    server: String,
    /// An empty PostgreSQL database every instance shares.
    #[arg(long)]
    postgres: String,
    /// How many instances to start.
    #[arg(long, default_value_t = 2)]
    instances: usize,
    /// Concurrent senders in all.
    #[arg(long, default_value_t = 20)]
    senders: usize,
    /// Messages each sender sends.
    #[arg(long, default_value_t = 500)]
    messages: usize,
    /// Rooms the senders are spread over.
    #[arg(long, default_value_t = 4)]
    rooms: usize,
    #[arg(long, value_enum, default_value_t = Spread::Rooms)]
    spread: Spread,
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index.min(sorted.len() - 1)].as_secs_f64() * 1000.0
}

/// Transactions the database has committed so far (from psql, when it is
/// installed): group commit's effect, whatever the machine's speed.
fn commits(url: &str) -> Option<i64> {
    let out = std::process::Command::new("psql")
        .args([
            url,
            "-tAc",
            "SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()",
        ])
        .output()
        .ok()?;
    String::from_utf8(out.stdout).ok()?.trim().parse().ok()
}

#[tokio::main]
async fn main() -> Result<(), client::Error> {
    let args = Args::parse();
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut servers = Vec::new();
    for n in 0..args.instances.max(1) {
        let name = format!("bench-{n}");
        servers.push(ServerProcess::start_instance(&args.server, &args.postgres, &name).await?);
    }
    let urls: Vec<String> = servers.iter().map(|s| s.url.clone()).collect();
    println!("{} instance(s): {}", urls.len(), urls.join(" "));
    let http = reqwest::Client::builder().pool_max_idle_per_host(256).build()?;

    let owner = Client::register(&http, &urls[0], "owner").await?;
    let mut rooms = Vec::new();
    for _ in 0..args.rooms.max(1) {
        rooms.push(owner.create_room(json!({"preset": "public_chat"})).await?);
    }
    let mut senders = Vec::new();
    for i in 0..args.senders {
        let room = i % rooms.len();
        let instance = match args.spread {
            Spread::Rooms => room % urls.len(),
            Spread::Senders => (i / rooms.len()) % urls.len(),
        };
        let sender = Client::register(&http, &urls[instance], &format!("sender{i}")).await?;
        sender.join(&rooms[room]).await?;
        senders.push((sender, rooms[room].clone()));
    }
    let watcher = Client::register(&http, urls.last().ok_or("no instance")?, "watcher").await?;
    watcher.join(&rooms[0]).await?;
    let since = watcher.sync(None, 0).await?["next_batch"].as_str().unwrap_or_default().to_owned();
    let watched = senders.iter().filter(|(_, room)| *room == rooms[0]).count() * args.messages;

    let sent_at: Arc<Mutex<HashMap<String, Instant>>> = Arc::default();
    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let watch = {
        let (sent_at, done, watcher) = (sent_at.clone(), done.clone(), watcher.clone());
        tokio::spawn(async move { watcher.watch_latencies(since, watched, sent_at, done).await })
    };
    let cpu_before: Vec<Duration> =
        servers.iter().map(|s| s.cpu_time()).collect::<Result<_, _>>()?;
    let commits_before = commits(&args.postgres);
    let elapsed = Client::send_all(senders, args.messages, sent_at.clone()).await?;
    let commits = commits(&args.postgres).zip(commits_before).map(|(after, before)| after - before);
    let cpu: Vec<Duration> = servers
        .iter()
        .zip(&cpu_before)
        .map(|(s, before)| s.cpu_time().map(|now| now - *before))
        .collect::<Result<_, _>>()?;
    done.store(true, std::sync::atomic::Ordering::Release);
    let mut latencies = watch.await?.map_err(|e| e.to_string())?;
    latencies.sort();

    let total = args.senders * args.messages;
    let cpu_ms: f64 = cpu.iter().map(Duration::as_secs_f64).sum::<f64>() * 1000.0;
    println!(
        "send: {total} messages from {} senders in {} rooms ({:?} spread) in {:.2}s = {:.0} messages/s",
        args.senders,
        rooms.len(),
        args.spread,
        elapsed.as_secs_f64(),
        total as f64 / elapsed.as_secs_f64()
    );
    println!(
        "server CPU: {:.3} ms/message in all; per instance {}",
        cpu_ms / total as f64,
        cpu.iter().map(|c| format!("{:.1} s", c.as_secs_f64())).collect::<Vec<_>>().join(", ")
    );
    if let Some(commits) = commits {
        println!(
            "PostgreSQL: {commits} writing transactions meanwhile, {:.1} messages per transaction",
            total as f64 / commits.max(1) as f64
        );
    }
    println!(
        "delivery to a watcher on the last instance (room 0): p50 {:.2} ms, p99 {:.2} ms ({} samples)",
        percentile(&latencies, 0.5),
        percentile(&latencies, 0.99),
        latencies.len()
    );
    for server in servers {
        server.stop();
    }
    Ok(())
}
