//! The bridge end to end: a real IRC server (ngircd, from Debian's
//! packages), a real Lattice server, the bridge between them, an IRC user
//! on a plain connection and a Matrix user on lattice-sdk.

use std::{path::Path, process::Stdio, time::Duration};

use irc_proto::{Command, Message};
use lattice_appservice::{
    lattice_sdk::{Client, Room, SyncSettings},
    ruma::{
        OwnedRoomId,
        events::{AnySyncMessageLikeEvent, AnySyncStateEvent, AnySyncTimelineEvent},
    },
};
use lattice_homeserver::{
    backend_tests,
    testing::{Backend, TestServer},
};
use lattice_irc_bridge::{Bridge, Config, IrcClient, IrcConfig, MatrixConfig};
use tokio::{
    io::{AsyncBufReadExt, BufReader},
    net::TcpListener,
    process::{Child, Command as Process},
    sync::mpsc::{UnboundedReceiver, unbounded_channel},
};

backend_tests!(irc_and_matrix_talk_through_the_bridge);

const NGIRCD: &str = "/usr/sbin/ngircd";
const WAIT: Duration = Duration::from_secs(30);

/// An IRC server of its own, on a free port; stopped when dropped.
struct Ircd {
    _process: Child,
    address: String,
    _dir: tempfile::TempDir,
}

/// Starts ngircd, or None (with a note) where it is not installed and
/// LATTICE_REQUIRE_IRC is unset.
async fn ircd() -> Option<Ircd> {
    if !Path::new(NGIRCD).exists() {
        assert!(
            std::env::var_os("LATTICE_REQUIRE_IRC").is_none(),
            "LATTICE_REQUIRE_IRC is set and {NGIRCD} is missing (apt-get install ngircd)"
        );
        eprintln!("skipped: {NGIRCD} is not installed (apt-get install ngircd)");
        return None;
    }
    let port = TcpListener::bind("127.0.0.1:0").await.ok()?.local_addr().ok()?.port();
    let dir = tempfile::tempdir().expect("folder");
    let includes = dir.path().join("conf.d");
    std::fs::create_dir(&includes).expect("folder");
    // No flood penalties (the test talks fast), nicks long enough for
    // `name[m]`, no lookups that would wait on the network.
    let config = format!(
        "[Global]\nName = irc.test\nInfo = test\nListen = 127.0.0.1\nPorts = {port}\n\
         MotdPhrase = test\nAdminInfo1 = test\nAdminInfo2 = test\nAdminEMail = test@example.invalid\n\
         [Limits]\nMaxConnectionsIP = 0\nMaxJoins = 0\nMaxNickLength = 30\nMaxPenaltyTime = 0\n\
         [Options]\nPAM = no\nIdent = no\nDNS = no\nRequireAuthPing = no\nIncludeDir = {}\n",
        includes.display()
    );
    let file = dir.path().join("ngircd.conf");
    std::fs::write(&file, config).expect("config");
    let mut process = Process::new(NGIRCD)
        .arg("-n")
        .arg("-f")
        .arg(&file)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("ngircd starts");
    let mut log = BufReader::new(process.stdout.take().expect("stdout")).lines();
    let ready = async {
        while let Some(line) = log.next_line().await.expect("ngircd's log") {
            if line.contains("ready.") {
                return;
            }
        }
        panic!("ngircd stopped before it was ready");
    };
    tokio::time::timeout(WAIT, ready).await.expect("ngircd ready in time");
    // Its log keeps flowing; nobody needs to read it.
    tokio::spawn(async move { while let Ok(Some(_)) = log.next_line().await {} });
    Some(Ircd { _process: process, address: format!("127.0.0.1:{port}"), _dir: dir })
}

/// What the IRC user hears: waits for the first message that `wanted` picks.
async fn hear<T>(
    heard: &mut UnboundedReceiver<Message>,
    mut wanted: impl FnMut(&Message) -> Option<T>,
) -> T {
    let wait = async {
        loop {
            let message = heard.recv().await.expect("the IRC connection is open");
            if let Some(found) = wanted(&message) {
                return found;
            }
        }
    };
    tokio::time::timeout(WAIT, wait).await.expect("heard on IRC in time")
}

/// What the Matrix user sees, as (room, sender, what): a message's body
/// (`* body` for an emote) or a membership.
type Seen = (OwnedRoomId, String, String);

fn watch(client: &Client) -> UnboundedReceiver<Seen> {
    let (seen, seeing) = unbounded_channel();
    client.add_event_handler(move |event: AnySyncTimelineEvent, room: Room| {
        let seen = seen.clone();
        async move {
            let what = match &event {
                AnySyncTimelineEvent::MessageLike(AnySyncMessageLikeEvent::RoomMessage(m)) => {
                    let Some(m) = m.as_original() else { return };
                    match m.content.msgtype() {
                        "m.emote" => format!("* {}", m.content.body()),
                        _ => m.content.body().to_owned(),
                    }
                }
                AnySyncTimelineEvent::State(AnySyncStateEvent::RoomMember(m)) => {
                    format!("{} {}", m.membership(), m.state_key())
                }
                _ => return,
            };
            let _ = seen.send((room.room_id().to_owned(), event.sender().to_string(), what));
        }
    });
    seeing
}

/// Syncs until the Matrix user sees what `wanted` picks.
async fn see(
    client: &Client,
    seeing: &mut UnboundedReceiver<Seen>,
    wanted: impl Fn(&Seen) -> bool,
) {
    let wait = async {
        loop {
            while let Ok(seen) = seeing.try_recv() {
                if wanted(&seen) {
                    return;
                }
            }
            let settings = SyncSettings::new().timeout(Duration::from_secs(5));
            client.sync_once(settings).await.expect("sync");
        }
    };
    tokio::time::timeout(WAIT, wait).await.expect("seen in Matrix in time");
}

fn privmsg<'a>(from: &'a str, channel: &'a str) -> impl FnMut(&Message) -> Option<String> + 'a {
    move |message| match &message.command {
        Command::PRIVMSG(target, text)
            if target == channel && message.source_nickname() == Some(from) =>
        {
            Some(text.clone())
        }
        _ => None,
    }
}

async fn irc_and_matrix_talk_through_the_bridge(backend: Backend) {
    // The bridge's log, shown when the test fails.
    let _ = tracing_subscriber::fmt().with_test_writer().with_env_filter("lattice=info").try_init();
    let Some(ircd) = ircd().await else { return };
    let dir = tempfile::tempdir().expect("folder");
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("listener");
    let mut config = Config {
        matrix: MatrixConfig {
            homeserver_url: String::new(),
            server_name: "localhost".into(),
            registration: dir.path().join("irc-registration.yaml"),
            listen: listener.local_addr().expect("address"),
            url: None,
        },
        irc: IrcConfig {
            server: ircd.address.clone(),
            nick: "matrixbridge".into(),
            channels: vec!["#lattice".into()],
        },
        store: dir.path().join("irc-bridge.sqlite"),
    };
    // As an operator would: generate the registration, install it, start.
    let registration = lattice_irc_bridge::registration(&config).expect("registration");
    let yaml = lattice_appservice::registration::to_yaml(&registration).expect("yaml");
    std::fs::write(&config.matrix.registration, yaml).expect("written");
    let file = config.matrix.registration.clone();
    let server = TestServer::start(backend, |c| c.appservice.registration_files = vec![file]).await;
    config.matrix.homeserver_url = server.url().to_owned();

    // Carol is on IRC before the bridge comes.
    let (to_carol, mut carol_hears) = unbounded_channel();
    let carol = IrcClient::connect(&ircd.address, "carol", Some(to_carol)).await.expect("carol");
    carol.join("#lattice");
    let _bridge = Bridge::start(&config, registration, listener).await.expect("bridge");

    // Alice joins the channel's portal; her IRC self joins the channel.
    let alice = Client::builder().homeserver_url(server.url()).build().await.expect("client");
    alice.register("alice", "correct horse").await.expect("alice");
    let mut alice_sees = watch(&alice);
    let portal = alice.join_room_by_id_or_alias("#irc_lattice:localhost").await.expect("portal");
    let someone_joined = |m: &Message| {
        let nick = m.source_nickname().filter(|nick| *nick != "carol")?;
        matches!(&m.command, Command::JOIN(c, ..) if c == "#lattice").then(|| nick.to_owned())
    };
    assert_eq!(hear(&mut carol_hears, someone_joined).await, "matrixbridge");
    assert_eq!(hear(&mut carol_hears, someone_joined).await, "alice[m]");
    // Carol, already there, is in the room as her ghost.
    let portal_id = portal.room_id().to_owned();
    see(&alice, &mut alice_sees, |(room, _, what)| {
        *room == portal_id && what == "join @irc_carol:localhost"
    })
    .await;

    // IRC → Matrix, said and done.
    carol.privmsg("#lattice", "hello from IRC");
    see(&alice, &mut alice_sees, |(room, sender, what)| {
        *room == portal_id && sender == "@irc_carol:localhost" && what == "hello from IRC"
    })
    .await;
    carol.action("#lattice", "waves");
    see(&alice, &mut alice_sees, |(_, sender, what)| {
        sender == "@irc_carol:localhost" && what == "* waves"
    })
    .await;

    // Matrix → IRC; a line break cannot smuggle in a command of its own.
    portal.send_text("hello from Matrix").await.expect("sent");
    assert_eq!(hear(&mut carol_hears, privmsg("alice[m]", "#lattice")).await, "hello from Matrix");
    portal.send_text("two lines\nQUIT :gone").await.expect("sent");
    assert_eq!(hear(&mut carol_hears, privmsg("alice[m]", "#lattice")).await, "two lines");
    assert_eq!(hear(&mut carol_hears, privmsg("alice[m]", "#lattice")).await, "QUIT :gone");

    // A channel without a portal gets one when a Matrix user asks for it.
    let other = alice.join_room_by_id_or_alias("#irc_other:localhost").await.expect("new portal");
    let other_id = other.room_id().to_owned();
    carol.join("#other");
    carol.privmsg("#other", "over here");
    see(&alice, &mut alice_sees, |(room, sender, what)| {
        *room == other_id && sender == "@irc_carol:localhost" && what == "over here"
    })
    .await;

    // Leaving crosses too, both ways.
    carol.part("#other");
    see(&alice, &mut alice_sees, |(room, _, what)| {
        *room == other_id && what == "leave @irc_carol:localhost"
    })
    .await;
    portal.leave().await.expect("left");
    let parted = |m: &Message| {
        matches!(&m.command, Command::PART(c, _) if c == "#lattice")
            .then(|| m.source_nickname().map(str::to_owned))
            .flatten()
    };
    assert_eq!(hear(&mut carol_hears, parted).await, "alice[m]");
}
