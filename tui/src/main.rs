//! `lattice-chat`: a terminal Matrix client.

use std::{path::PathBuf, process::ExitCode};

use clap::Parser;
use lattice_sdk::Client;
use lattice_tui::{
    account::{Account, AccountDir, default_data_dir},
    app::{App, images::Pictures},
    config::{self, Config, Notify, PictureMode},
    matrix::{Outcome, Worker},
    ui,
};
use ratatui::crossterm::event::{
    self, Event, KeyCode, KeyEvent, KeyModifiers, MouseButton, MouseEventKind,
};
use ratatui_image::picker::Picker;
use tokio::sync::mpsc;

#[derive(Parser)]
#[command(name = "lattice-chat", version, about = "A terminal client for Matrix")]
struct Cli {
    /// The homeserver: a URL (https://matrix.example.org) or a server name
    /// found through .well-known. Remembered after the first sign-in.
    #[arg(long, env = "LATTICE_CHAT_HOMESERVER")]
    homeserver: Option<String>,
    /// Who to sign in as: a user name or @user:server.
    #[arg(long, env = "LATTICE_CHAT_USER")]
    user: Option<String>,
    /// The account to use; each keeps its own session and store.
    #[arg(long, default_value = "default")]
    account: String,
    /// Where accounts are kept (default: $XDG_DATA_HOME/lattice-chat or
    /// ~/.local/share/lattice-chat).
    #[arg(long, env = "LATTICE_CHAT_DATA")]
    data_dir: Option<PathBuf>,
    /// Where /download saves files (default: ~/Downloads when it exists,
    /// else the current folder).
    #[arg(long, env = "LATTICE_CHAT_DOWNLOADS")]
    download_dir: Option<PathBuf>,
    /// How mentions, direct messages and verification requests are told
    /// (default: the config file's `notify`, else the bell): osc777 and
    /// osc9 ask the terminal for a desktop notification.
    #[arg(long, env = "LATTICE_CHAT_NOTIFY", value_enum)]
    notify: Option<Notify>,
    /// How image messages show their picture (default: the config file's
    /// `pictures`, else auto).
    #[arg(long, env = "LATTICE_CHAT_PICTURES", value_enum)]
    pictures: Option<PictureMode>,
    /// The settings file (default: ~/.config/lattice-chat/config.toml).
    #[arg(long, env = "LATTICE_CHAT_CONFIG")]
    config: Option<PathBuf>,
}

/// Rings the bell or asks the terminal for a desktop notification. The
/// text comes from other people: control characters are dropped so it
/// cannot end the escape sequence and write its own.
fn notify(how: Notify, text: &str) {
    use std::io::Write;
    let text: String = text.chars().filter(|c| !c.is_control()).take(200).collect();
    let sequence = match how {
        Notify::Bell => "\x07".to_owned(),
        Notify::Osc777 => format!("\x1b]777;notify;lattice-chat;{text}\x1b\\"),
        Notify::Osc9 => format!("\x1b]9;{text}\x1b\\"),
        Notify::Off => return,
    };
    let mut out = std::io::stdout();
    let _ = out.write_all(sequence.as_bytes());
    let _ = out.flush();
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("lattice-chat: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("lattice-chat: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> Result<(), String> {
    let config = Config::load(&cli.config.unwrap_or_else(config::default_path))?;
    let data_dir = cli.data_dir.unwrap_or_else(default_data_dir);
    let dir = AccountDir::open(&data_dir, &cli.account).map_err(|e| e.to_string())?;
    // The command line, else the last sign-in, else the config file.
    let saved = dir.saved().unwrap_or_default();
    let named = config.accounts.get(&cli.account);
    let non_empty = |text: String| (!text.is_empty()).then_some(text);
    let account = Account {
        homeserver: cli
            .homeserver
            .or(non_empty(saved.homeserver))
            .or(named.map(|a| a.homeserver.clone()))
            .unwrap_or_default(),
        user: cli
            .user
            .or(non_empty(saved.user))
            .or(named.and_then(|a| a.user.clone()))
            .unwrap_or_default(),
    };
    if account.homeserver.is_empty() {
        return Err(format!(
            "which homeserver? Give --homeserver the first time, or [accounts.{}] in {}",
            cli.account,
            config::default_path().display()
        ));
    }
    let client = build_client(&account.homeserver, &dir).await?;
    let downloads = cli.download_dir.or(config.download_dir).unwrap_or_else(default_download_dir);
    let how_to_notify = cli.notify.or(config.notify).unwrap_or(Notify::Bell);

    let (outcomes_tx, mut outcomes) = mpsc::unbounded_channel();
    let worker = Worker::new(client.clone(), outcomes_tx.clone(), downloads);
    let mut app = match client.user_id() {
        Some(me) => {
            start_syncing(&worker, &outcomes_tx);
            App::chat(me)
        }
        None => App::login(client.homeserver().to_owned(), account.user.clone()),
    };
    app.keys = config.keys;
    app.theme = config.theme;

    let mut terminal = ratatui::init();
    app.pictures = match cli.pictures.or(config.pictures).unwrap_or(PictureMode::Auto) {
        // Inside tmux the question goes through a passthrough that is off
        // by default (and detached, nobody answers): the query's reader
        // would go on waiting on stdin and eat the user's first keys.
        PictureMode::Auto if std::env::var_os("TMUX").is_some() => {
            Pictures::new(Picker::halfblocks())
        }
        // The terminal is asked what it can draw before our reader takes
        // its input (the answers come in on stdin). The query leaves raw
        // mode when it is done: it is turned back on.
        PictureMode::Auto => {
            let picker = Picker::from_query_stdio().unwrap_or_else(|_| Picker::halfblocks());
            let _ = ratatui::crossterm::terminal::enable_raw_mode();
            Pictures::new(picker)
        }
        PictureMode::Blocks => Pictures::new(Picker::halfblocks()),
        PictureMode::Off => Pictures::default(),
    };
    let mut keys = read_terminal_events();
    let _ = ratatui::crossterm::execute!(std::io::stdout(), event::EnableMouseCapture);
    let mut logged_out = false;
    let result = loop {
        if let Err(e) = terminal.draw(|frame| ui::draw(frame, &mut app)) {
            break Err(e.to_string());
        }
        if let Some(text) = app.alert.take() {
            notify(how_to_notify, &text);
        }
        let actions = tokio::select! {
            Some(event) = keys.recv() => match event {
                Event::Key(key) if key.kind != event::KeyEventKind::Release => app.on_key(key),
                Event::Mouse(mouse) => match mouse.kind {
                    MouseEventKind::ScrollUp => app.on_key(KeyEvent::new(KeyCode::PageUp, KeyModifiers::NONE)),
                    MouseEventKind::ScrollDown => app.on_key(KeyEvent::new(KeyCode::PageDown, KeyModifiers::NONE)),
                    MouseEventKind::Down(MouseButton::Left) => app.on_click(mouse.column, mouse.row),
                    _ => Vec::new(),
                },
                Event::Paste(text) => {
                    app.composer.insert_str(&text);
                    Vec::new()
                }
                _ => Vec::new(),
            },
            Some(outcome) = outcomes.recv() => {
                match &outcome {
                    Outcome::LoggedIn { user_id } => {
                        let _ = dir.save(&Account {
                            homeserver: client.homeserver().to_owned(),
                            user: user_id.to_string(),
                        });
                        start_syncing(&worker, &outcomes_tx);
                    }
                    Outcome::LoggedOut => logged_out = true,
                    _ => {}
                }
                app.on_outcome(outcome)
            }
            else => break Ok(()),
        };
        for action in actions {
            worker.spawn(action);
        }
        if app.quit {
            break Ok(());
        }
    };
    let _ = ratatui::crossterm::execute!(std::io::stdout(), event::DisableMouseCapture);
    ratatui::restore();
    if logged_out {
        dir.forget().map_err(|e| format!("signed out, but the session's files stay: {e}"))?;
        println!("Signed out; this device's session and keys are deleted.");
    }
    result
}

/// ~/Downloads when there is one, else the current folder.
fn default_download_dir() -> PathBuf {
    std::env::var_os("HOME")
        .map(|home| PathBuf::from(home).join("Downloads"))
        .filter(|dir| dir.is_dir())
        .unwrap_or_else(|| PathBuf::from("."))
}

/// A client on the account's store: a session kept there resumes.
async fn build_client(homeserver: &str, dir: &AccountDir) -> Result<Client, String> {
    let key = dir.store_key().map_err(|e| format!("the store's key: {e}"))?;
    let builder = Client::builder().store_path(dir.store_path()).store_passphrase(key);
    let builder = if homeserver.starts_with("http://") || homeserver.starts_with("https://") {
        builder.homeserver_url(homeserver)
    } else {
        let name = lattice_sdk::ruma::ServerName::parse(homeserver)
            .map_err(|e| format!("{homeserver} is neither a URL nor a server name: {e}"))?;
        builder.server_name(&name)
    };
    builder.build().await.map_err(|e| format!("cannot reach {homeserver}: {e}"))
}

/// The rooms from the store at once, then syncing until the session ends.
fn start_syncing(worker: &Worker, outcomes: &mpsc::UnboundedSender<Outcome>) {
    let worker = worker.clone();
    let outcomes = outcomes.clone();
    tokio::spawn(async move {
        let _ = outcomes.send(Outcome::Synced(worker.from_store().await));
        worker.sync_forever().await;
    });
}

/// The terminal's keys, mouse and resizes, read on a thread of their own
/// (crossterm's read blocks) and handed over as they come. The thread ends
/// with the process.
fn read_terminal_events() -> mpsc::UnboundedReceiver<Event> {
    let (tx, rx) = mpsc::unbounded_channel();
    std::thread::spawn(move || {
        while let Ok(event) = event::read() {
            if tx.send(event).is_err() {
                return;
            }
        }
    });
    rx
}
