//! A bot that joins the rooms it is invited to and echoes what people say.
//!
//! ```sh
//! cargo run -p lattice-sdk --example echo_bot -- \
//!     --homeserver http://127.0.0.1:8008 --user echo --password '…'
//! ```

use clap::Parser;
use lattice_sdk::{
    Client, Room, SyncSettings,
    ruma::events::room::{
        member::StrippedRoomMemberEvent,
        message::{MessageType, OriginalSyncRoomMessageEvent},
    },
};

#[derive(Parser)]
struct Args {
    /// The homeserver's base URL.
    #[arg(long)]
    homeserver: String,
    /// The bot's user (localpart or full id).
    #[arg(long)]
    user: String,
    /// The bot's password.
    #[arg(long, env = "ECHO_BOT_PASSWORD")]
    password: String,
    /// Where the bot keeps its session and sync position.
    #[arg(long, default_value = "echo_bot.sqlite")]
    store: String,
}

#[tokio::main]
async fn main() -> lattice_sdk::Result<()> {
    let args = Args::parse();
    let client =
        Client::builder().homeserver_url(&args.homeserver).store_path(&args.store).build().await?;
    if !client.logged_in() {
        client.login_password(&args.user, &args.password, Some("echo bot")).await?;
    }
    let me = client.user_id().ok_or(lattice_sdk::Error::NotLoggedIn)?;

    // Accept every invite addressed to the bot.
    let bot = me.clone();
    client.add_event_handler(move |event: StrippedRoomMemberEvent, room: Room| {
        let bot = bot.clone();
        async move {
            if event.state_key == bot
                && let Err(error) = room.join().await
            {
                eprintln!("could not join {}: {error}", room.room_id());
            }
        }
    });
    // Catch up first, so that old messages are not echoed.
    client.sync_once(SyncSettings::new()).await?;
    client.add_event_handler(move |event: OriginalSyncRoomMessageEvent, room: Room| {
        let bot = me.clone();
        async move {
            let MessageType::Text(text) = &event.content.msgtype else { return };
            if event.sender == bot {
                return;
            }
            if let Err(error) = room.send_notice(&format!("echo: {}", text.body)).await {
                eprintln!("could not answer in {}: {error}", room.room_id());
            }
        }
    });
    println!("ready");
    client.sync(SyncSettings::new()).await
}
