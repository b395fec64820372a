//! `lattice-irc-bridge --config irc-bridge.toml [generate-registration]`

use std::path::PathBuf;

use clap::{Parser, Subcommand};
use lattice_irc_bridge::{Bridge, Config, Error, registration};

#[derive(Parser)]
#[command(about = "Bridges IRC channels into Matrix rooms")]
struct Args {
    /// The bridge's configuration file.
    #[arg(long, default_value = "irc-bridge.toml")]
    config: PathBuf,
    #[command(subcommand)]
    command: Option<Action>,
}

#[derive(Subcommand)]
enum Action {
    /// Writes the registration file the homeserver needs (new tokens), and prints it.
    GenerateRegistration,
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let args = Args::parse();
    let config = Config::load(&args.config)?;
    match args.command {
        Some(Action::GenerateRegistration) => {
            let registration = registration(&config)?;
            let yaml = lattice_appservice::registration::to_yaml(&registration)?;
            std::fs::write(&config.matrix.registration, &yaml)?;
            print!("{yaml}");
        }
        None => {
            let registration = lattice_appservice::registration::load(&config.matrix.registration)?;
            let listener = tokio::net::TcpListener::bind(config.matrix.listen).await?;
            let _bridge = Bridge::start(&config, registration, listener).await?;
            tracing::info!(listen = %config.matrix.listen, irc = %config.irc.server, "bridge running");
            tokio::signal::ctrl_c().await?;
        }
    }
    Ok(())
}
