//! `loadgen`: starts a `lattice` server in a temporary folder and measures it
//! through the public client API only: send throughput with concurrent
//! senders, delivery latency to long-polling syncs, initial sync of a user in
//! 100 rooms, /messages over 1,000 events, and the server's RSS and CPU.

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use clap::Parser;
use serde_json::json;

use lattice_bench::{
    client::{self, Client},
    server::{self, ServerProcess},
};

#[derive(Parser, Debug)]
#[command(about = "Measure a Lattice server through its HTTP API")]
struct Args {
    /// The server binary to start (build it with --release first).
    #[arg(long, default_value = "target/release/lattice")]
    server: String,
    /// Concurrent senders.
    #[arg(long, default_value_t = 20)]
    senders: usize,
    /// Messages each sender sends.
    #[arg(long, default_value_t = 500)]
    messages: usize,
    /// Idle members who join the senders' room first: a large room, where
    /// every send is routed to and wakes all of them.
    #[arg(long, default_value_t = 0)]
    members: usize,
    /// Rooms for the initial sync measurement.
    #[arg(long, default_value_t = 100)]
    rooms: usize,
    /// Events for the /messages measurement.
    #[arg(long, default_value_t = 1000)]
    history: usize,
    /// Size in MB of the file that 10 clients download at once (0 skips it).
    #[arg(long, default_value_t = 200)]
    media_mb: usize,
    /// Run the server on PostgreSQL at this URL (an empty database).
    #[arg(long)]
    postgres: Option<String>,
    /// Start the server with an at-rest key (SQLite encrypted page by page,
    /// media and secrets sealed), to measure what encryption costs.
    #[arg(long)]
    encrypted: bool,
    /// Measure a server that is already running here instead of starting one.
    #[arg(long, requires = "pid")]
    url: Option<String>,
    /// The process id of the server given with --url.
    #[arg(long)]
    pid: Option<u32>,
}

/// Registers `count` users who join `room` and then stay silent, a few
/// at a time (registration hashes a password).
async fn join_idle_members(
    http: &reqwest::Client,
    url: &str,
    room: &str,
    count: usize,
) -> Result<(), client::Error> {
    let started = Instant::now();
    for chunk in (0..count).collect::<Vec<_>>().chunks(8) {
        let mut joins = Vec::new();
        for &i in chunk {
            let (http, url, room) = (http.clone(), url.to_owned(), room.to_owned());
            joins.push(tokio::spawn(async move {
                let member = Client::register(&http, &url, &format!("member{i}")).await?;
                member.join(&room).await
            }));
        }
        for join in joins {
            join.await?.map_err(|e| e.to_string())?;
        }
    }
    if count > 0 {
        println!("room: {count} idle members joined in {:.1}s", started.elapsed().as_secs_f64());
    }
    Ok(())
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index.min(sorted.len() - 1)]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

#[tokio::main]
async fn main() -> Result<(), client::Error> {
    let args = Args::parse();
    let server = match (&args.url, args.pid) {
        (Some(url), Some(pid)) => ServerProcess::attach(url.clone(), pid),
        _ if args.encrypted => {
            ServerProcess::start_encrypted(&args.server, args.postgres.as_deref()).await?
        }
        _ => ServerProcess::start(&args.server, args.postgres.as_deref()).await?,
    };
    println!("server: {} (pid {}), backend {}", server.url, server.pid, server.backend);
    // reqwest is built without a bundled crypto provider (the workspace uses ring).
    let _ = rustls::crypto::ring::default_provider().install_default();
    let http = reqwest::Client::builder().pool_max_idle_per_host(256).build()?;

    // --- Throughput and delivery latency -------------------------------
    let owner = Client::register(&http, &server.url, "owner").await?;
    let room = owner.create_room(json!({"preset": "public_chat"})).await?;
    let mut senders = Vec::new();
    for i in 0..args.senders {
        let sender = Client::register(&http, &server.url, &format!("sender{i}")).await?;
        sender.join(&room).await?;
        senders.push(sender);
    }
    join_idle_members(&http, &server.url, &room, args.members).await?;
    let watcher = Client::register(&http, &server.url, "watcher").await?;
    watcher.join(&room).await?;
    let since = watcher.sync(None, 0).await?["next_batch"].as_str().unwrap_or_default().to_owned();

    let sent_at: Arc<std::sync::Mutex<std::collections::HashMap<String, Instant>>> = Arc::default();
    let total = args.senders * args.messages;
    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let watch = {
        let sent_at = sent_at.clone();
        let watcher = watcher.clone();
        let done = done.clone();
        tokio::spawn(async move { watcher.watch_latencies(since, total, sent_at, done).await })
    };

    let cpu_before = server.cpu_time()?;
    let own_cpu_before = server::cpu_time(std::process::id())?;
    let senders = senders.into_iter().map(|sender| (sender, room.clone())).collect();
    let elapsed = Client::send_all(senders, args.messages, sent_at.clone()).await?;
    let cpu = server.cpu_time()? - cpu_before;
    let own_cpu = server::cpu_time(std::process::id())? - own_cpu_before;
    done.store(true, std::sync::atomic::Ordering::Release);
    let mut latencies = watch.await?.map_err(|e| e.to_string())?;
    latencies.sort();
    println!(
        "send: {total} messages from {} senders in {:.2}s = {:.0} messages/s; server CPU {:.3} ms/message \
         (load generator {:.3} ms/message on the same cores)",
        args.senders,
        elapsed.as_secs_f64(),
        total as f64 / elapsed.as_secs_f64(),
        ms(cpu) / total as f64,
        ms(own_cpu) / total as f64,
    );
    println!(
        "delivery (send answered -> seen by a long-polling sync): p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms ({} samples)",
        ms(percentile(&latencies, 0.5)),
        ms(percentile(&latencies, 0.99)),
        ms(percentile(&latencies, 1.0)),
        latencies.len(),
    );

    // --- Initial sync in many rooms --------------------------------------
    let busy = Client::register(&http, &server.url, "busy").await?;
    for i in 0..args.rooms {
        let room = busy.create_room(json!({"name": format!("room {i}")})).await?;
        busy.send_text(&room, "hello").await?;
    }
    let mut runs = Vec::new();
    for _ in 0..5 {
        let t = Instant::now();
        let body = busy.sync(None, 0).await?;
        runs.push(t.elapsed());
        let joined = body["rooms"]["join"].as_object().map_or(0, |r| r.len());
        assert_eq!(joined, args.rooms, "initial sync returned every room");
    }
    runs.sort();
    println!(
        "initial sync, {} rooms: median {:.1} ms (best {:.1} ms)",
        args.rooms,
        ms(runs[2]),
        ms(runs[0])
    );

    // --- /messages over a long history -----------------------------------
    let historian = Client::register(&http, &server.url, "historian").await?;
    let long = historian.create_room(json!({})).await?;
    for n in 0..args.history {
        historian.send_text(&long, &format!("history {n}")).await?;
    }
    let t = Instant::now();
    let fetched = historian.paginate_all(&long, 100).await?;
    println!(
        "/messages: {fetched} events back in pages of 100 in {:.1} ms ({:.1} ms per page)",
        ms(t.elapsed()),
        ms(t.elapsed()) / (fetched as f64 / 100.0).ceil().max(1.0)
    );

    println!(
        "server RSS: {:.1} MiB now, {:.1} MiB peak",
        server.rss_kib()? as f64 / 1024.0,
        server.peak_rss_kib()? as f64 / 1024.0
    );

    // --- Streaming downloads --------------------------------------------
    if args.media_mb > 0 {
        let sharer = Client::register(&http, &server.url, "sharer").await?;
        let bytes: Vec<u8> = (0..args.media_mb * 1_000_000).map(|i| (i % 251) as u8).collect();
        let size = bytes.len() as u64;
        let mxc = sharer.upload(bytes).await?;
        let before = server.rss_kib()?;
        let t = Instant::now();
        let mut downloads = Vec::new();
        for _ in 0..10 {
            let client = sharer.clone();
            let mxc = mxc.clone();
            downloads.push(tokio::spawn(async move { client.download_count(&mxc).await }));
        }
        for download in downloads {
            let got = download.await?.map_err(|e| e.to_string())?;
            assert_eq!(got, size, "every download is complete");
        }
        println!(
            "media: 10 clients downloaded {} MB each in {:.1}s; server RSS {:.1} MiB before, {:.1} MiB peak",
            args.media_mb,
            t.elapsed().as_secs_f64(),
            before as f64 / 1024.0,
            server.peak_rss_kib()? as f64 / 1024.0
        );
    }
    server.stop();
    Ok(())
}
