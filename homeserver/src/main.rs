//! `lattice`: run the homeserver, or write a commented config file.

use std::{path::PathBuf, process::ExitCode};

use clap::{CommandFactory, Parser, Subcommand};
use lattice_homeserver::{Config, Server, backup, config::TEMPLATE};

// mimalloc: a request allocates and frees many small JSON values and ids;
// glibc's allocator spent about a tenth of the server's CPU on them.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(name = "lattice", version, about = "A fast, light Matrix homeserver")]
struct Cli {
    /// Configuration file (TOML). Without one, defaults and LATTICE_* variables apply.
    #[arg(long, short, global = true)]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Print a commented configuration file with every option and its default.
    GenerateConfig {
        /// Write to this file instead of standard output.
        #[arg(long, short)]
        output: Option<PathBuf>,
    },
    /// Manage accounts directly in the database (the server may be running).
    #[command(subcommand)]
    Admin(AdminCommand),
    /// Write a backup archive (tar): a consistent copy of the database, with
    /// the signing key, every media file and the config file, and a manifest
    /// of their SHA-256 sums. The server may keep running.
    Backup {
        /// The archive to write.
        #[arg(long)]
        to: PathBuf,
        /// An earlier full archive: media files already in it are left
        /// out (an incremental archive, restored with `--base`).
        #[arg(long)]
        since: Option<PathBuf>,
        /// Print the manifest as JSON, for scripts.
        #[arg(long)]
        json: bool,
    },
    /// Ask a running server's `/health`, as the container image's
    /// HEALTHCHECK does: exit 0 when it answers, 1 when it does not.
    Health {
        /// The server's URL (http://lattice:8008); by default the
        /// configured `server.bind`, on loopback if it is every address.
        #[arg(long)]
        url: Option<String>,
    },
    /// Print a shell completion script, e.g.
    /// `lattice completions bash > /etc/bash_completion.d/lattice`.
    Completions { shell: clap_complete::Shell },
    /// Print a new random key for `[encryption]` (64 hex digits); keep it
    /// safe: without it, encrypted media cannot be read.
    GenerateKey,
    /// Finish moving everything to the current `[encryption]` key (the
    /// earlier one in `previous_key_files`): the database and the secrets,
    /// as a start does, then every media file; the earlier key is then no
    /// longer needed, nor accepted. Stop the server first.
    RotateKey,
    /// Copy the SQLite database into an empty PostgreSQL database (stop the
    /// server first); the SQLite file is left as it was.
    Migrate {
        /// The PostgreSQL database, e.g. postgres://lattice@db/lattice.
        #[arg(long)]
        to: String,
    },
    /// Check every part of an archive against its manifest, restoring nothing.
    Verify {
        archive: PathBuf,
        /// The full archive an incremental one builds on (checked too).
        #[arg(long)]
        base: Option<PathBuf>,
        #[arg(long)]
        json: bool,
    },
    /// Restore an archive into the configured data folder and database, which
    /// must be empty; the archive is checked whole first.
    Restore {
        archive: PathBuf,
        /// The full archive an incremental one builds on.
        #[arg(long)]
        base: Option<PathBuf>,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
enum AdminCommand {
    /// Create an account, even with registration closed.
    CreateUser {
        localpart: String,
        /// The password (or LATTICE_ADMIN_PASSWORD). Without either it is
        /// asked for on the terminal, or read as a line from standard input.
        #[arg(long, env = "LATTICE_ADMIN_PASSWORD")]
        password: Option<String>,
        /// Make the new account a server admin.
        #[arg(long)]
        admin: bool,
    },
    /// Make a user a server admin, or no longer one with --revoke.
    MakeAdmin {
        user_id: String,
        #[arg(long)]
        revoke: bool,
    },
    /// Set a new password and log out every session.
    ResetPassword {
        user_id: String,
        /// As for create-user.
        #[arg(long, env = "LATTICE_ADMIN_PASSWORD")]
        password: Option<String>,
    },
    /// Deactivate an account for good (--erase also asks for its data to be erased).
    Deactivate {
        user_id: String,
        #[arg(long)]
        erase: bool,
    },
    /// Export everything held about a user (GDPR): profile, devices,
    /// account data, rooms, every event they sent, their uploads.
    ExportUser {
        user_id: String,
        /// The folder to write into (created if need be).
        dir: PathBuf,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Some(Command::GenerateConfig { output }) = cli.command {
        return generate_config(output);
    }
    if let Some(Command::Completions { shell }) = cli.command {
        clap_complete::generate(shell, &mut Cli::command(), "lattice", &mut std::io::stdout());
        return ExitCode::SUCCESS;
    }
    if let Some(Command::GenerateKey) = cli.command {
        return match lattice_homeserver::services::encryption::AtRestKey::generate_hex() {
            Ok(key) => {
                println!("{key}");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("lattice: {e}");
                ExitCode::FAILURE
            }
        };
    }
    let config = match Config::load(cli.config.as_deref()) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("lattice: {e}");
            return ExitCode::FAILURE;
        }
    };
    if let Some(Command::Health { url }) = &cli.command {
        return health(&config, url.as_deref());
    }
    // The archive tools answer on the terminal, not in the log.
    let tool = matches!(
        cli.command,
        Some(
            Command::Backup { .. }
                | Command::Verify { .. }
                | Command::Restore { .. }
                | Command::Migrate { .. }
                | Command::RotateKey
        )
    );
    let _log_guard = match lattice_homeserver::logging::init(&config.logging, tool) {
        Ok(guard) => guard,
        Err(e) => {
            eprintln!("lattice: {e}");
            return ExitCode::FAILURE;
        }
    };
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("lattice: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let config_file = cli.config.as_deref();
    let outcome = match cli.command {
        Some(Command::Admin(command)) => runtime.block_on(admin(config, command)),
        Some(Command::Backup { to, since, json }) => runtime
            .block_on(backup::backup(&config, &to, config_file, since.as_deref()))
            .map(|manifest| report("written", &to, &manifest, json)),
        Some(Command::Migrate { to }) => runtime.block_on(migrate(&config, &to)),
        Some(Command::RotateKey) => runtime.block_on(rotate_key(config)),
        Some(Command::Verify { archive, base, json }) => {
            backup::verify_with_base(&archive, base.as_deref())
                .map(|manifest| report("sound", &archive, &manifest, json))
        }
        Some(Command::Restore { archive, base, json }) => runtime
            .block_on(backup::restore(&config, &archive, base.as_deref()))
            .map(|manifest| report("restored", &archive, &manifest, json)),
        _ => runtime.block_on(run(config)),
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if tool => {
            eprintln!("lattice: {e}");
            ExitCode::FAILURE
        }
        Err(e) => {
            tracing::error!("{e}");
            ExitCode::FAILURE
        }
    }
}

/// `lattice health`: one GET of `/health`, answered within four seconds.
fn health(config: &Config, url: Option<&str>) -> ExitCode {
    let url = url.map_or_else(
        || {
            let mut bind = config.server.bind;
            if bind.ip().is_unspecified() {
                let loopback: std::net::IpAddr = if bind.is_ipv4() {
                    std::net::Ipv4Addr::LOCALHOST.into()
                } else {
                    std::net::Ipv6Addr::LOCALHOST.into()
                };
                bind.set_ip(loopback);
            }
            format!("http://{bind}")
        },
        |url| url.trim_end_matches('/').to_owned(),
    );
    let asked = async {
        let client = lattice_homeserver::services::http::client_builder()
            .timeout(std::time::Duration::from_secs(4))
            .build()
            .map_err(|e| e.to_string())?;
        let answer = client.get(format!("{url}/health")).send().await.map_err(|e| e.to_string())?;
        match answer.status() {
            reqwest::StatusCode::OK => Ok(()),
            status => Err(format!("answered {status}")),
        }
    };
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build();
    match runtime.map_err(|e| e.to_string()).and_then(|runtime| runtime.block_on(asked)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("lattice: {url}/health: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Copies the SQLite database into PostgreSQL, table by table, checked.
async fn migrate(config: &Config, to: &str) -> Result<(), String> {
    use lattice_homeserver::store::Store;
    let from_url = config.database_url();
    if !from_url.starts_with("sqlite:") {
        return Err("the configured database is not SQLite: nothing to migrate".into());
    }
    if !(to.starts_with("postgres:") || to.starts_with("postgresql:")) {
        return Err(format!("{to}: not a postgres:// URL"));
    }
    let keys = lattice_homeserver::services::encryption::database_keys(&config.encryption)
        .await
        .map_err(|e| e.to_string())?;
    let from = Store::open_encrypted(&from_url, 2, &keys).await.map_err(|e| e.to_string())?;
    let into = Store::open(to, 4).await.map_err(|e| e.to_string())?;
    let report = from
        .copy_into(&into, |table, rows| println!("{table}: {rows} rows copied and checked"))
        .await;
    from.close().await;
    into.close().await;
    let report = report.map_err(|e| e.to_string())?;
    let rows: i64 = report.tables.iter().map(|(_, rows)| rows).sum();
    println!(
        "done: {} tables, {rows} rows; set database.url to the PostgreSQL URL and start Lattice",
        report.tables.len()
    );
    Ok(())
}

/// Moves everything still under an earlier key (or in clear) to the
/// current key, and forgets the earlier ones.
async fn rotate_key(config: Config) -> Result<(), String> {
    let server = Server::new(as_tool(config)).await.map_err(|e| e.to_string())?;
    let report = server.services().finish_key_rotation().await;
    server.close().await;
    let report = report.map_err(|e| e.to_string())?;
    // Part of the media may have been moved by the pass a start runs in the
    // background: what counts is that all of it is under the key now.
    println!(
        "done: everything is under key {} (the database, the secrets, {} media files); \
         previous_key_files can be removed from the configuration",
        report.key_id, report.media.files
    );
    Ok(())
}

/// Tells what an archive holds: the manifest as JSON, or a summary line.
fn report(done: &str, archive: &std::path::Path, manifest: &backup::Manifest, json: bool) {
    if json {
        println!("{}", serde_json::to_string_pretty(manifest).unwrap_or_default());
        return;
    }
    let bytes: u64 = manifest.parts.values().map(|part| part.size).sum();
    let counts: Vec<String> = manifest.counts.iter().map(|(t, n)| format!("{n} {t}")).collect();
    println!(
        "{}: {done} — {} parts, {bytes} bytes, {} (server {}, Lattice {})",
        archive.display(),
        manifest.parts.len(),
        counts.join(", "),
        manifest.server_name,
        manifest.lattice_version,
    );
    if let Some(base) = &manifest.base {
        println!(
            "  incremental: {} media files are in its base, {}",
            manifest.inherited.len(),
            base.file
        );
    }
}

async fn run(config: Config) -> Result<(), String> {
    if let Some(metrics) = config.metrics.bind {
        use metrics_exporter_prometheus::{Matcher, PrometheusBuilder};
        // Histograms with buckets (not the exporter's default summaries), so
        // that quantiles can be taken over routes and instances.
        let seconds = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0];
        let events = [1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0];
        PrometheusBuilder::new()
            .with_http_listener(metrics)
            .set_buckets_for_metric(
                Matcher::Full("lattice_http_request_duration_seconds".into()),
                &seconds,
            )
            .and_then(|b| {
                b.set_buckets_for_metric(
                    Matcher::Full("lattice_persist_batch_size".into()),
                    &events,
                )
            })
            .and_then(PrometheusBuilder::install)
            .map_err(|e| format!("cannot serve metrics on {metrics}: {e}"))?;
        tracing::info!("metrics on http://{metrics}/metrics");
    }
    let bind = config.server.bind;
    let server_name = config.server.server_name.clone();
    let server = Server::new(config).await.map_err(|e| e.to_string())?;
    let listener = tokio::net::TcpListener::bind(bind)
        .await
        .map_err(|e| format!("cannot listen on {bind}: {e}"))?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    tracing::info!(%server_name, "lattice {} listening on http://{addr}", env!("CARGO_PKG_VERSION"));
    server.serve(listener, shutdown_signal()).await.map_err(|e| e.to_string())?;
    tracing::info!("stopped");
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(term) => term,
                Err(_) => {
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {},
            _ = term.recv() => {},
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}

/// A password from the terminal (typed twice, not echoed) or, when standard
/// input is not one (a script, `kubectl exec -i`), its first line.
fn ask_password() -> Result<String, String> {
    use std::io::{BufRead, IsTerminal};
    let password = if std::io::stdin().is_terminal() {
        let first = rpassword::prompt_password("Password: ").map_err(|e| e.to_string())?;
        let again = rpassword::prompt_password("Again: ").map_err(|e| e.to_string())?;
        if first != again {
            return Err("the two passwords differ".to_owned());
        }
        first
    } else {
        let mut line = String::new();
        std::io::stdin().lock().read_line(&mut line).map_err(|e| e.to_string())?;
        line.trim_end_matches(['\r', '\n']).to_owned()
    };
    if password.is_empty() {
        return Err(
            "no password given (--password, LATTICE_ADMIN_PASSWORD, or standard input)".to_owned()
        );
    }
    Ok(password)
}

/// A command run beside a running server (`kubectl exec` into its pod,
/// say) joins the instances under a name of its own, not the server's.
fn as_tool(mut config: Config) -> Config {
    let name = config.cluster.instance_name();
    config.cluster.instance_name = format!("{name}-tool-{}", std::process::id());
    config
}

async fn admin(config: Config, mut command: AdminCommand) -> Result<(), String> {
    // Asked before the server starts, so that no log line cuts the prompt.
    if let AdminCommand::CreateUser { password, .. } | AdminCommand::ResetPassword { password, .. } =
        &mut command
        && password.is_none()
    {
        *password = Some(ask_password()?);
    }
    let server = Server::new(as_tool(config)).await.map_err(|e| e.to_string())?;
    let admin = &server.services().admin;
    let parse =
        |id: &str| ruma::UserId::parse(id).map_err(|e| format!("invalid user id {id}: {e}"));
    let done = match command {
        AdminCommand::CreateUser { localpart, password, admin: make_admin } => {
            let password = password.unwrap_or_default();
            let user_id = admin.create_user(&localpart, &password, make_admin).await;
            user_id.map(|id| format!("created {id}"))
        }
        AdminCommand::MakeAdmin { user_id, revoke } => {
            admin.set_admin(&parse(&user_id)?, !revoke).await.map(|()| format!("updated {user_id}"))
        }
        AdminCommand::ResetPassword { user_id, password } => admin
            .reset_password(&parse(&user_id)?, &password.unwrap_or_default())
            .await
            .map(|()| format!("password of {user_id} reset; its sessions are logged out")),
        AdminCommand::Deactivate { user_id, erase } => admin
            .deactivate(&parse(&user_id)?, erase)
            .await
            .map(|()| format!("deactivated {user_id}")),
        AdminCommand::ExportUser { user_id, dir } => {
            admin.export_user(&parse(&user_id)?, &dir).await.map(|done| {
                format!(
                    "exported {user_id} into {}: {} events, {} rooms, {} devices, {} files",
                    dir.display(),
                    done.events,
                    done.rooms,
                    done.devices,
                    done.media
                )
            })
        }
    };
    server.close().await;
    let message = done.map_err(|e| e.to_string())?;
    println!("{message}");
    Ok(())
}

fn generate_config(output: Option<PathBuf>) -> ExitCode {
    match output {
        Some(path) => match std::fs::write(&path, TEMPLATE) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("lattice: cannot write {}: {e}", path.display());
                ExitCode::FAILURE
            }
        },
        None => {
            print!("{TEMPLATE}");
            ExitCode::SUCCESS
        }
    }
}
