//! Logs in, sends one message to a room, and logs out.
//!
//! ```sh
//! cargo run -p lattice-sdk --example login_and_send -- \
//!     --homeserver http://127.0.0.1:8008 --user alice --password '…' \
//!     --room '#general:localhost' --message 'Hello from Rust'
//! ```

use clap::Parser;
use lattice_sdk::Client;

#[derive(Parser)]
struct Args {
    /// The homeserver's base URL.
    #[arg(long)]
    homeserver: String,
    /// Localpart or full user id.
    #[arg(long)]
    user: String,
    #[arg(long, env = "MATRIX_PASSWORD")]
    password: String,
    /// Room id or alias; joined first if need be.
    #[arg(long)]
    room: String,
    #[arg(long)]
    message: String,
}

#[tokio::main]
async fn main() -> lattice_sdk::Result<()> {
    let args = Args::parse();
    let client = Client::builder().homeserver_url(&args.homeserver).build().await?;
    client.login_password(&args.user, &args.password, Some("login_and_send example")).await?;
    let room = client.join_room_by_id_or_alias(&args.room).await?;
    let event_id = room.send_text(&args.message).await?;
    println!("sent {event_id} to {}", room.room_id());
    client.logout().await
}
