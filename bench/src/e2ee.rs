//! What end-to-end encryption costs a client, measured through the SDK
//! against a real server: encrypting and sending a message, decrypting it
//! on arrival, and sharing a room key with 100 devices.
//!
//! ```sh
//! cargo build --release -p lattice-homeserver -p lattice-bench
//! target/release/e2ee --server target/release/lattice
//! ```

use std::time::{Duration, Instant};

use clap::Parser;
use lattice_bench::{client, server::ServerProcess};
use lattice_sdk::{
    Client, Room, SyncSettings,
    ruma::{api::client::room::create_room, serde::Raw},
};

#[derive(Parser)]
struct Args {
    /// The server binary to start (build it with --release first).
    #[arg(long, default_value = "target/release/lattice")]
    server: String,
    /// Devices of the receiving user the room key is shared with.
    #[arg(long, default_value_t = 100)]
    devices: usize,
    /// Messages sent in each room.
    #[arg(long, default_value_t = 200)]
    messages: usize,
}

async fn user(url: &str, name: &str) -> Result<Client, client::Error> {
    let client = Client::builder().homeserver_url(url).build().await?;
    client.register(name, "benchmark password").await?;
    Ok(client)
}

async fn room(owner: &Client, guest: &Client, encrypted: bool) -> Result<Room, client::Error> {
    let mut request = create_room::v3::Request::new();
    request.invite = vec![guest.user_id().ok_or("no user")?];
    if encrypted {
        let state = serde_json::json!({
            "type": "m.room.encryption", "state_key": "",
            "content": {"algorithm": "m.megolm.v1.aes-sha2"},
        });
        request.initial_state = vec![Raw::new(&state)?.cast_unchecked()];
    }
    let room = owner.create_room(request).await?;
    guest.join_room_by_id_or_alias(room.room_id().as_str()).await?;
    Ok(room)
}

/// Sends `n` messages one after another; returns the time per message.
async fn send(room: &Room, n: usize) -> Result<Duration, client::Error> {
    let started = Instant::now();
    for i in 0..n {
        room.send_text(&format!("message {i}")).await?;
    }
    Ok(started.elapsed() / n as u32)
}

/// One sync that brings `n` new messages; returns the time per message.
async fn receive(client: &Client, n: usize) -> Result<Duration, client::Error> {
    let started = Instant::now();
    client.sync_once(SyncSettings::new().timeout(Duration::ZERO)).await?;
    Ok(started.elapsed() / n as u32)
}

#[tokio::main]
async fn main() -> Result<(), client::Error> {
    let args = Args::parse();
    let server = ServerProcess::start(&args.server, None).await?;
    println!("server: {}", server.url);
    let alice = user(&server.url, "alice").await?;
    let bob = user(&server.url, "bob").await?;
    let mut others = Vec::new();
    for _ in 1..args.devices {
        let device = Client::builder().homeserver_url(&server.url).build().await?;
        device.login_password("bob", "benchmark password", None).await?;
        others.push(device);
    }
    let plain = room(&alice, &bob, false).await?;
    let secret = room(&alice, &bob, true).await?;
    bob.sync_once(SyncSettings::new().timeout(Duration::ZERO)).await?;

    let started = Instant::now();
    secret.send_text("first message: shares the room key").await?;
    let share = started.elapsed();
    let plain_send = send(&plain, args.messages).await?;
    let plain_receive = receive(&bob, args.messages).await?;
    let secret_send = send(&secret, args.messages).await?;
    let secret_receive = receive(&bob, args.messages).await?;

    println!("sharing a room key with {} devices: {share:.2?}", args.devices);
    println!("send, unencrypted room:   {plain_send:.2?} per message");
    println!("send, encrypted room:     {secret_send:.2?} per message");
    println!(
        "receive, unencrypted:     {plain_receive:.2?} per message (one sync of {})",
        args.messages
    );
    println!("receive, encrypted:       {secret_receive:.2?} per message");
    println!(
        "encryption adds {:.2?} per sent message and {:.2?} per received message",
        secret_send.saturating_sub(plain_send),
        secret_receive.saturating_sub(plain_receive)
    );
    server.stop();
    Ok(())
}
