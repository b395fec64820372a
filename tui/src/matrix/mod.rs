//! The Matrix side: everything that waits on the network or the store runs
//! here, in tasks of its own, and comes back to the screen as an
//! [`Outcome`]. The screen never waits on the server (typing stays quick
//! while a sync or a send is under way).

use std::{
    collections::{HashMap, HashSet},
    path::PathBuf,
    sync::Arc,
    time::Duration,
};

use lattice_sdk::{
    Client, Device, Error, Room, SasCode, SyncReport, SyncSettings, Timeline,
    ruma::{
        OwnedDeviceId, OwnedEventId, OwnedRoomId, OwnedUserId, UserId,
        api::client::sync::sync_events,
        events::{
            AnySyncEphemeralRoomEvent, AnySyncTimelineEvent,
            room::{MediaSource, member::MembershipState},
        },
        presence::PresenceState,
        serde::Raw,
    },
};
use tokio::sync::mpsc::UnboundedSender;

use crate::commands::Command;

mod browser_login;
mod commands;
mod files;
mod security;

/// What the screen asks for.
#[derive(Debug, Clone)]
pub enum Action {
    Login {
        user: String,
        password: String,
    },
    SecondFactor {
        session: String,
        code: String,
        recovery: bool,
    },
    /// Sign in on the server's web page, in a browser.
    BrowserLogin,
    Send {
        room: OwnedRoomId,
        plain: String,
        html: Option<String>,
        emote: bool,
    },
    Reply {
        room: OwnedRoomId,
        to: OwnedEventId,
        sender: OwnedUserId,
        plain: String,
        html: Option<String>,
    },
    /// A message in the thread whose first message is `root`.
    ThreadReply {
        room: OwnedRoomId,
        root: OwnedEventId,
        plain: String,
        html: Option<String>,
    },
    Edit {
        room: OwnedRoomId,
        target: OwnedEventId,
        plain: String,
        html: Option<String>,
    },
    React {
        room: OwnedRoomId,
        target: OwnedEventId,
        key: String,
    },
    Redact {
        room: OwnedRoomId,
        target: OwnedEventId,
    },
    Run {
        room: Option<OwnedRoomId>,
        command: Command,
    },
    Paginate {
        room: OwnedRoomId,
    },
    Members {
        room: OwnedRoomId,
    },
    /// Marks the room read up to `event`; on opening the room (`opening`),
    /// first reports where the user had stopped.
    Read {
        room: OwnedRoomId,
        event: OwnedEventId,
        opening: bool,
    },
    Typing {
        room: OwnedRoomId,
        typing: bool,
    },
    /// The user's answer in an emoji verification.
    Verify {
        transaction: String,
        answer: Answer,
    },
    /// Saves a file message's content in `dir` (the download folder when
    /// none is given).
    Download {
        source: MediaSource,
        name: String,
        dir: Option<PathBuf>,
    },
    /// Fetches an image message's picture to show in the timeline, made
    /// no larger than `fit` (width, height in pixels).
    LoadPicture {
        event: OwnedEventId,
        source: MediaSource,
        fit: (u32, u32),
    },
}

/// What the user says in a verification.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    /// Yes, let us verify (an incoming request).
    Accept,
    /// The emoji are the same on both screens.
    Match,
    /// They are not.
    Mismatch,
    /// No, or stop.
    Decline,
}

/// How far a verification has come.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VerifyStage {
    /// The other device asks; the user has not answered.
    Asked,
    /// Waiting for the other device.
    Waiting,
    /// The emoji (and numbers) both users compare.
    Compare(SasCode),
    /// This side said they match; waiting for the other side.
    Confirmed,
    Verified,
    /// Why it stopped.
    Cancelled(String),
}

/// What came back.
#[derive(Debug)]
pub enum Outcome {
    /// An image message's picture, fetched, decrypted and made small.
    Picture {
        event: OwnedEventId,
        picture: image::DynamicImage,
    },
    /// Signed in (or the stored session resumed): syncing starts.
    LoggedIn {
        user_id: OwnedUserId,
    },
    /// The password was right; the account has a second factor.
    SecondFactorNeeded {
        session: String,
        stages: Vec<String>,
    },
    LoginFailed(String),
    /// The web page to sign in on (opened in the browser if there is one).
    BrowserOpened(String),
    Synced(SyncUpdate),
    /// A page of older events, oldest first.
    History {
        room_id: OwnedRoomId,
        events: Vec<Raw<AnySyncTimelineEvent>>,
        at_start: bool,
    },
    /// A room's joined members with their names, sorted by name.
    Members {
        room_id: OwnedRoomId,
        members: Vec<(OwnedUserId, String)>,
    },
    /// A room to show (just joined, created or a new direct chat).
    Open(OwnedRoomId),
    Left(OwnedRoomId),
    Info(String),
    Failed(String),
    Connection(Connection),
    LoggedOut,
    /// A verification moved on (or another device asks for one).
    Verification {
        transaction: String,
        user: OwnedUserId,
        device: OwnedDeviceId,
        stage: VerifyStage,
    },
    /// What the server's search found.
    SearchResults {
        term: String,
        hits: Vec<crate::app::overlay::Hit>,
    },
    Devices {
        user: OwnedUserId,
        devices: Vec<Device>,
    },
    /// The key backup is on; the key to show once.
    RecoveryKey(String),
    /// Where the user had stopped reading a room (from any device).
    Marker {
        room_id: OwnedRoomId,
        event: Option<OwnedEventId>,
    },
    /// Keys came back from the backup: timelines are to be read again.
    KeysRestored(usize),
}

/// The state of the link to the server, for the status line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Connection {
    Connecting,
    Online,
    /// Unreachable or failing; retrying.
    Offline(String),
}

/// What one sync (or the store, at start) says about the rooms.
#[derive(Debug, Default)]
pub struct SyncUpdate {
    pub rooms: Vec<RoomUpdate>,
    pub left: Vec<OwnedRoomId>,
    /// Who changed presence (others in the user's rooms).
    pub presence: Vec<(OwnedUserId, PresenceState)>,
}

/// One room's news.
#[derive(Debug)]
pub struct RoomUpdate {
    pub room_id: OwnedRoomId,
    pub name: String,
    pub invited: bool,
    pub direct: bool,
    pub encrypted: bool,
    /// A space, and the rooms it lists.
    pub space: bool,
    pub children: Vec<OwnedRoomId>,
    /// Its `#name:server` address.
    pub alias: Option<String>,
    pub events: Vec<Raw<AnySyncTimelineEvent>>,
    /// Notification and highlight counts, when the server sent them.
    pub unread: Option<(u64, u64)>,
    /// Who is typing, when that changed.
    pub typing: Option<Vec<OwnedUserId>>,
}

/// Does what an action asks, reporting to `outcomes`.
#[derive(Clone)]
pub struct Worker {
    client: Client,
    outcomes: UnboundedSender<Outcome>,
    device_name: String,
    /// Each room's history paged back so far: the next page continues it.
    timelines: Arc<tokio::sync::Mutex<HashMap<OwnedRoomId, Timeline>>>,
    /// Verifications the screen follows, by transaction id.
    verifications: Arc<tokio::sync::Mutex<HashMap<String, security::Tracked>>>,
    /// Where downloads go unless the user names a folder.
    downloads: PathBuf,
    /// The user said /away: syncing must not say they are around.
    away: Arc<std::sync::atomic::AtomicBool>,
}

impl Worker {
    pub fn new(client: Client, outcomes: UnboundedSender<Outcome>, downloads: PathBuf) -> Self {
        Self {
            client,
            outcomes,
            device_name: "lattice-chat".to_owned(),
            timelines: Arc::default(),
            verifications: Arc::default(),
            downloads,
            away: Arc::default(),
        }
    }

    /// Starts an action in the background.
    pub fn spawn(&self, action: Action) {
        let worker = self.clone();
        tokio::spawn(async move {
            let outcome = worker.run(action).await;
            if let Some(outcome) = outcome {
                let _ = worker.outcomes.send(outcome);
            }
        });
    }

    /// The rooms as the store has them: the screen fills at once, before
    /// the first sync answers.
    pub async fn from_store(&self) -> SyncUpdate {
        let mut update = SyncUpdate::default();
        let direct = self.direct_rooms().await;
        let joined = self.client.joined_rooms().await.unwrap_or_default();
        let invited = self.client.invited_rooms().await.unwrap_or_default();
        for (room, invited) in
            joined.into_iter().map(|r| (r, false)).chain(invited.into_iter().map(|r| (r, true)))
        {
            let events = room.latest_events().await.unwrap_or_default();
            update.rooms.push(self.room_update(&room, invited, &direct, events, None, None).await);
        }
        update
    }

    /// Syncs until the session ends, reporting each response (the SDK
    /// backs off while the server is away).
    pub async fn sync_forever(&self) {
        let _ = self.outcomes.send(Outcome::Connection(Connection::Connecting));
        // The first sync catches up and answers at once (a resumed session
        // with nothing new would otherwise wait out a long poll, offline
        // as far as the screen knows); the next ones wait for news.
        let mut first = true;
        let settings = move || {
            let presence = match self.away.load(std::sync::atomic::Ordering::Relaxed) {
                true => PresenceState::Unavailable,
                false => PresenceState::Online,
            };
            let wait =
                if std::mem::take(&mut first) { Duration::ZERO } else { Duration::from_secs(30) };
            SyncSettings::new().timeout(wait).presence(presence)
        };
        let worker = self.clone();
        let report = move |report| {
            let worker = worker.clone();
            async move {
                match report {
                    SyncReport::Synced(response) => {
                        let update = worker.update_from(&response).await;
                        let _ = worker.outcomes.send(Outcome::Connection(Connection::Online));
                        if worker.outcomes.send(Outcome::Synced(update)).is_err() {
                            return false;
                        }
                        worker.check_verifications().await;
                        // New room keys go to the backup, when there is one.
                        let _ = worker.client.backup_room_keys().await;
                        true
                    }
                    SyncReport::Retrying { error, .. } => {
                        let offline = Connection::Offline(error.to_string());
                        worker.outcomes.send(Outcome::Connection(offline)).is_ok()
                    }
                }
            }
        };
        let ended = self.client.sync_with(settings, report).await;
        let outcome = match ended {
            Err(error) if error.errcode().as_deref() == Some("M_UNKNOWN_TOKEN") => {
                Outcome::LoggedOut
            }
            Err(error) => Outcome::Connection(Connection::Offline(format!("stopped: {error}"))),
            Ok(()) => return,
        };
        let _ = self.outcomes.send(outcome);
    }

    async fn run(&self, action: Action) -> Option<Outcome> {
        let failed = |what: &str, error: Error| Some(Outcome::Failed(format!("{what}: {error}")));
        match action {
            Action::Login { user, password } => {
                match self.client.login_password(&user, &password, Some(&self.device_name)).await {
                    Ok(session) => {
                        self.set_up_cross_signing(&password).await;
                        Some(Outcome::LoggedIn { user_id: session.user_id })
                    }
                    Err(Error::SecondFactorRequired { session, stages, .. }) => {
                        Some(Outcome::SecondFactorNeeded { session, stages })
                    }
                    Err(error) => Some(Outcome::LoginFailed(error.to_string())),
                }
            }
            Action::SecondFactor { session, code, recovery } => {
                match self
                    .client
                    .login_totp(&session, &code, recovery, Some(&self.device_name))
                    .await
                {
                    Ok(session) => Some(Outcome::LoggedIn { user_id: session.user_id }),
                    Err(error) => Some(Outcome::LoginFailed(error.to_string())),
                }
            }
            Action::BrowserLogin => Some(self.browser_login().await),
            Action::Send { room, plain, html, emote } => {
                let room = self.client.room(room);
                let sent = match (emote, html) {
                    (true, _) => room.send_emote(&plain).await,
                    (false, Some(html)) => room.send_html(&plain, &html).await,
                    (false, None) => room.send_text(&plain).await,
                };
                sent.err().and_then(|e| failed("not sent", e))
            }
            Action::Reply { room, to, sender, plain, html } => {
                let room = self.client.room(room);
                let sent = match html {
                    Some(html) => room.reply_html(&to, &sender, &plain, &html).await,
                    None => room.reply(&to, &sender, &plain).await,
                };
                sent.err().and_then(|e| failed("reply not sent", e))
            }
            Action::ThreadReply { room, root, plain, html } => {
                let room = self.client.room(room);
                let sent = match html {
                    Some(html) => room.send_thread_reply_html(&root, &plain, &html).await,
                    None => room.send_thread_reply(&root, &plain).await,
                };
                sent.err().and_then(|e| failed("not sent", e))
            }
            Action::Edit { room, target, plain, html } => {
                let room = self.client.room(room);
                let sent = match html {
                    Some(html) => room.edit_html(&target, &plain, &html).await,
                    None => room.edit(&target, &plain).await,
                };
                sent.err().and_then(|e| failed("not edited", e))
            }
            Action::React { room, target, key } => {
                let room = self.client.room(room);
                room.react(&target, &key).await.err().and_then(|e| failed("no reaction", e))
            }
            Action::Redact { room, target } => {
                let room = self.client.room(room);
                room.redact(&target, None).await.err().and_then(|e| failed("not removed", e))
            }
            Action::Paginate { room } => {
                let mut timelines = self.timelines.lock().await;
                let timeline = timelines
                    .entry(room.clone())
                    .or_insert_with(|| self.client.room(room.clone()).timeline());
                if let Err(error) = timeline.paginate_backwards(50).await {
                    return failed("no history", error);
                }
                // Everything paged so far: the timeline model skips what it
                // already shows (the first page starts at the newest event).
                let events = timeline
                    .events()
                    .iter()
                    .filter_map(|raw| serde_json::value::to_raw_value(raw.json()).ok())
                    .map(Raw::from_json)
                    .collect();
                Some(Outcome::History { room_id: room, events, at_start: timeline.is_at_start() })
            }
            Action::Members { room } => match self.client.room(room.clone()).members().await {
                Ok(members) => {
                    let mut members: Vec<(OwnedUserId, String)> = members
                        .into_iter()
                        .filter(|m| m.membership == MembershipState::Join)
                        .map(|m| {
                            let name =
                                m.display_name.unwrap_or_else(|| m.user_id.localpart().to_owned());
                            (m.user_id, name)
                        })
                        .collect();
                    members.sort_by_key(|(_, name)| name.to_lowercase());
                    Some(Outcome::Members { room_id: room, members })
                }
                Err(error) => failed("no member list", error),
            },
            Action::Read { room, event, opening } => {
                let handle = self.client.room(room.clone());
                if opening && let Ok(marker) = handle.fully_read().await {
                    let _ = self.outcomes.send(Outcome::Marker { room_id: room, event: marker });
                }
                let _ = handle.mark_read(&event).await;
                None
            }
            Action::Typing { room, typing } => {
                let _ = self.client.room(room).typing(typing).await;
                None
            }
            Action::Run { room, command } => self.command(room, command).await,
            Action::Verify { transaction, answer } => {
                self.answer_verification(transaction, answer).await;
                None
            }
            Action::Download { source, name, dir } => Some(
                self.download(&source, &name, dir.unwrap_or_else(|| self.downloads.clone())).await,
            ),
            Action::LoadPicture { event, source, fit } => self.picture(event, &source, fit).await,
        }
    }

    async fn direct_rooms(&self) -> HashSet<OwnedRoomId> {
        let direct = self.client.direct_rooms().await.unwrap_or_default();
        direct.values().flatten().cloned().collect()
    }

    async fn update_from(&self, response: &sync_events::v3::Response) -> SyncUpdate {
        let direct = self.direct_rooms().await;
        let mut update = SyncUpdate::default();
        for (room_id, joined) in &response.rooms.join {
            let room = self.client.room(room_id.clone());
            let counts = &joined.unread_notifications;
            let unread = Some((
                counts.notification_count.map_or(0, u64::from),
                counts.highlight_count.map_or(0, u64::from),
            ));
            let typing = joined.ephemeral.events.iter().find_map(|raw| match raw.deserialize() {
                Ok(AnySyncEphemeralRoomEvent::Typing(typing)) => Some(typing.content.user_ids),
                _ => None,
            });
            let events = joined.timeline.events.clone();
            update
                .rooms
                .push(self.room_update(&room, false, &direct, events, unread, typing).await);
        }
        for room_id in response.rooms.invite.keys() {
            let room = self.client.room(room_id.clone());
            update.rooms.push(self.room_update(&room, true, &direct, Vec::new(), None, None).await);
        }
        update.left = response.rooms.leave.keys().cloned().collect();
        update.presence = response
            .presence
            .events
            .iter()
            .filter_map(|raw| raw.deserialize().ok())
            .map(|event| (event.sender, event.content.presence))
            .collect();
        update
    }

    async fn room_update(
        &self,
        room: &Room,
        invited: bool,
        direct: &HashSet<OwnedRoomId>,
        events: Vec<Raw<AnySyncTimelineEvent>>,
        unread: Option<(u64, u64)>,
        typing: Option<Vec<OwnedUserId>>,
    ) -> RoomUpdate {
        let room_id = room.room_id().to_owned();
        let space = room.is_space().await.unwrap_or(false);
        RoomUpdate {
            name: room.display_name().await.unwrap_or_else(|_| room_id.to_string()),
            encrypted: room.is_encrypted().await.unwrap_or(false),
            space,
            children: if space { room.space_children().await.unwrap_or_default() } else { vec![] },
            alias: room.canonical_alias().await.ok().flatten().map(|a| a.to_string()),
            direct: direct.contains(&room_id),
            room_id,
            invited,
            events,
            unread,
            typing,
        }
    }
}

/// A user id typed by the user, or why it is none.
fn parse_user(text: &str) -> Result<OwnedUserId, String> {
    UserId::parse(text).map_err(|e| format!("{text} is not a user id: {e}"))
}

/// Where an account's files live: its store and the key that encrypts the
/// store's secrets.
pub fn account_dir(data_dir: &std::path::Path, account: &str) -> PathBuf {
    data_dir.join("accounts").join(account)
}
