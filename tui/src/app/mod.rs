//! The client's state and how keys and the server's answers change it.
//! Nothing here waits: keys and outcomes come in, [`Action`]s go out to
//! the Matrix worker, and the screen is drawn from what is here.

pub mod composer;
pub mod images;
mod local_commands;
pub mod login;
mod outcomes;
pub mod overlay;
pub mod rooms;
pub mod timeline;

use std::collections::HashMap;

use lattice_sdk::ruma::{OwnedEventId, OwnedRoomId, OwnedUserId, presence::PresenceState};
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

pub use self::login::LoginForm;
use self::{
    composer::Composer,
    images::Pictures,
    login::login_key,
    overlay::{Overlay, Reply},
    rooms::RoomList,
    timeline::{Body, RoomTimeline},
};
use crate::{
    commands::{self, COMMANDS, Command},
    config::{KeyAction, Keys, Theme},
    format,
    matrix::{Action, Connection},
};

/// The two screens.
#[derive(Debug)]
pub enum Screen {
    Login(Box<LoginForm>),
    Chat,
}

/// Where keys go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Focus {
    /// Typing filters the room list; Up/Down open rooms.
    Rooms,
    Composer,
}

/// What the composer's Enter does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mode {
    Message,
    Reply(OwnedEventId),
    Edit(OwnedEventId),
    React(OwnedEventId),
}

/// The screen's measurements from the last draw, which scrolling needs.
#[derive(Debug, Default, Clone, Copy)]
pub struct View {
    /// Rows laid out at the last draw: all of the timeline's when they
    /// reach its top, else at least a page more than are shown.
    pub timeline_lines: usize,
    pub timeline_height: usize,
    /// The room list's columns (from, to).
    pub room_list: (u16, u16),
}

/// Everything the screen shows.
pub struct App {
    pub screen: Screen,
    pub focus: Focus,
    pub mode: Mode,
    pub me: Option<OwnedUserId>,
    pub rooms: RoomList,
    pub timelines: HashMap<OwnedRoomId, RoomTimeline>,
    pub typing: HashMap<OwnedRoomId, Vec<OwnedUserId>>,
    pub members: HashMap<OwnedRoomId, Vec<(OwnedUserId, String)>>,
    /// Others' presence, as syncs told it.
    pub presence: HashMap<OwnedUserId, PresenceState>,
    /// The user said /away (with this message, perhaps empty).
    pub away: Option<String>,
    pub composer: Composer,
    /// The message picked with Ctrl+Up/Down (an index into the timeline).
    pub selected: Option<usize>,
    /// The thread open beside the timeline (its first message): the
    /// composer answers there.
    pub thread: Option<OwnedEventId>,
    pub connection: Connection,
    /// The last thing worth saying (an error, a command's result).
    pub notice: Option<String>,
    /// Help, search results, devices, a verification: over the chat.
    pub overlay: Option<Overlay>,
    /// The keys bound to actions (the configuration's, or the defaults).
    pub keys: Keys,
    /// The screen's colours.
    pub theme: Theme,
    /// Image messages' pictures, where the terminal can show them.
    pub pictures: Pictures,
    pub show_members: bool,
    /// Something to tell the user at the next draw, by the bell or a
    /// desktop notification: a mention, a direct message, a verification.
    pub alert: Option<String>,
    pub quit: bool,
    pub view: View,
    /// Each room line's screen row, for clicks.
    pub room_places: Vec<(u16, OwnedRoomId)>,
    paginating: Option<OwnedRoomId>,
    read_up_to: HashMap<OwnedRoomId, OwnedEventId>,
    typing_sent: bool,
}

impl App {
    /// A client at the sign-in form.
    pub fn login(homeserver: String, user: String) -> Self {
        let field = usize::from(!user.is_empty());
        Self::with_screen(Screen::Login(Box::new(LoginForm {
            homeserver,
            user,
            field,
            ..LoginForm::default()
        })))
    }

    /// A client with a session, at the room list.
    pub fn chat(me: OwnedUserId) -> Self {
        let mut app = Self::with_screen(Screen::Chat);
        app.me = Some(me);
        app
    }

    fn with_screen(screen: Screen) -> Self {
        Self {
            screen,
            focus: Focus::Composer,
            mode: Mode::Message,
            me: None,
            rooms: RoomList::default(),
            timelines: HashMap::new(),
            typing: HashMap::new(),
            members: HashMap::new(),
            presence: HashMap::new(),
            away: None,
            composer: Composer::default(),
            selected: None,
            thread: None,
            connection: Connection::Connecting,
            notice: None,
            overlay: None,
            keys: Keys::default(),
            theme: Theme::default(),
            pictures: Pictures::default(),
            show_members: false,
            alert: None,
            quit: false,
            view: View::default(),
            room_places: Vec::new(),
            paginating: None,
            read_up_to: HashMap::new(),
            typing_sent: false,
        }
    }

    /// The open room's timeline.
    pub fn open_timeline(&self) -> Option<&RoomTimeline> {
        self.rooms.open.as_ref().and_then(|id| self.timelines.get(id))
    }

    /// A key pressed.
    pub fn on_key(&mut self, key: KeyEvent) -> Vec<Action> {
        let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
        if ctrl && matches!(key.code, KeyCode::Char('c') | KeyCode::Char('q')) {
            self.quit = true;
            return Vec::new();
        }
        if let Screen::Login(form) = &mut self.screen {
            return login_key(form, key);
        }
        if let Some(overlay) = &mut self.overlay {
            return match overlay.on_key(key) {
                Reply::Stay => Vec::new(),
                Reply::Close => {
                    self.overlay = None;
                    Vec::new()
                }
                Reply::Send(action) => vec![action],
                Reply::SendAndClose(action) => {
                    self.overlay = None;
                    vec![action]
                }
                Reply::Open(room, event) => {
                    self.overlay = None;
                    self.focus = Focus::Composer;
                    let actions = self.open_room(room.clone());
                    self.selected = self.timelines.get(&room).and_then(|t| t.position(&event));
                    actions
                }
            };
        }
        if let Some(action) = self.keys.action(&key) {
            return self.key_action(action);
        }
        match key.code {
            KeyCode::Tab if self.focus == Focus::Rooms => {
                self.focus = Focus::Composer;
                return Vec::new();
            }
            KeyCode::Esc if self.thread.is_some() && self.mode == Mode::Message => {
                self.thread = None;
                self.selected = None;
                return Vec::new();
            }
            KeyCode::Esc => {
                self.selected = None;
                self.mode = Mode::Message;
                self.focus =
                    if self.focus == Focus::Rooms { Focus::Composer } else { Focus::Rooms };
                self.rooms.filter.clear();
                return Vec::new();
            }
            KeyCode::PageUp => return self.scroll_up(),
            KeyCode::PageDown => {
                let page = self.view.timeline_height.max(2) / 2;
                if let Some(timeline) = self.open_timeline_mut() {
                    timeline.scroll -= timeline.scroll.min(page);
                }
                return Vec::new();
            }
            KeyCode::Down if self.focus == Focus::Rooms => return self.switch_room(1),
            KeyCode::Up if self.focus == Focus::Rooms => return self.switch_room(-1),
            _ => {}
        }
        match self.focus {
            Focus::Rooms => self.rooms_key(key),
            Focus::Composer => self.composer_key(key),
        }
    }

    /// A click at a column and row: a room in the list opens.
    pub fn on_click(&mut self, column: u16, row: u16) -> Vec<Action> {
        let (from, to) = self.view.room_list;
        if self.overlay.is_some()
            || !matches!(self.screen, Screen::Chat)
            || column < from
            || column >= to
        {
            return Vec::new();
        }
        let room = self.room_places.iter().find(|(at, _)| *at == row).map(|(_, room)| room.clone());
        match room {
            Some(room) => {
                self.focus = Focus::Composer;
                self.open_room(room)
            }
            None => Vec::new(),
        }
    }

    /// A key bound in the configuration (F1, Ctrl+R, … by default).
    fn key_action(&mut self, action: KeyAction) -> Vec<Action> {
        match action {
            KeyAction::Help => self.overlay = Some(Overlay::Help { scroll: 0 }),
            KeyAction::Members => return self.toggle_members(),
            KeyAction::NextRoom => return self.switch_room(1),
            KeyAction::PreviousRoom => return self.switch_room(-1),
            KeyAction::PickOlder => self.select(-1),
            KeyAction::PickNewer => self.select(1),
            KeyAction::Thread => self.open_thread(),
            KeyAction::Reply => self.start_mode(Mode::Reply),
            KeyAction::React => self.start_mode(Mode::React),
            KeyAction::Edit => {
                self.start_mode(Mode::Edit);
                if let Mode::Edit(id) = &self.mode
                    && let Some(item) = self.open_timeline().and_then(|t| t.get(id))
                {
                    let own = Some(&item.sender) == self.me.as_ref();
                    match (&item.body, own) {
                        (Body::Text { plain, .. }, true) => self.composer.set(plain.clone()),
                        _ => {
                            self.notice = Some("only your own messages can be edited".into());
                            self.mode = Mode::Message;
                        }
                    }
                }
            }
            KeyAction::Remove => {
                if let (Some(room), Some(target)) = (self.rooms.open.clone(), self.selected_event())
                {
                    self.selected = None;
                    return vec![Action::Redact { room, target }];
                }
            }
        }
        self.focus = Focus::Composer;
        Vec::new()
    }

    fn rooms_key(&mut self, key: KeyEvent) -> Vec<Action> {
        match key.code {
            KeyCode::Char('?') if self.rooms.filter.is_empty() => {
                self.overlay = Some(Overlay::Help { scroll: 0 })
            }
            KeyCode::Char(c) => {
                self.rooms.filter.push(c);
                // The first match opens as you type.
                let visible = self.rooms.visible();
                let open_shown =
                    visible.iter().any(|(_, e)| Some(&e.room_id) == self.rooms.open.as_ref());
                if let Some(first) = visible.first().map(|(_, e)| e.room_id.clone())
                    && !open_shown
                {
                    return self.open_room(first);
                }
            }
            KeyCode::Backspace => {
                self.rooms.filter.pop();
            }
            KeyCode::Enter => {
                self.rooms.filter.clear();
                self.focus = Focus::Composer;
            }
            _ => {}
        }
        Vec::new()
    }

    fn composer_key(&mut self, key: KeyEvent) -> Vec<Action> {
        let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
        let alt = key.modifiers.contains(KeyModifiers::ALT);
        let mut actions = Vec::new();
        match key.code {
            KeyCode::Enter if alt || key.modifiers.contains(KeyModifiers::SHIFT) => {
                self.composer.insert('\n');
            }
            KeyCode::Enter => return self.submit(),
            KeyCode::Char(c) if !ctrl => self.composer.insert(c),
            KeyCode::Backspace => self.composer.backspace(),
            KeyCode::Delete => self.composer.delete(),
            KeyCode::Left => self.composer.left(),
            KeyCode::Right => self.composer.right(),
            KeyCode::Home => self.composer.home(),
            KeyCode::End => self.composer.end(),
            KeyCode::Up => {
                self.composer.older();
            }
            KeyCode::Down => {
                self.composer.newer();
            }
            KeyCode::Tab => self.complete(),
            _ => {}
        }
        actions.extend(self.typing_changed());
        actions
    }

    /// Enter in the composer: a command, a message, a reply, an edit or a
    /// reaction, by the mode.
    fn submit(&mut self) -> Vec<Action> {
        let text = self.composer.take();
        let mut actions = self.typing_changed();
        if text.trim().is_empty() {
            return actions;
        }
        let room = self.rooms.open.clone();
        if let Some(parsed) = commands::parse(&text) {
            match parsed {
                Ok(Command::Quit) => self.quit = true,
                Ok(Command::Help) => self.overlay = Some(Overlay::Help { scroll: 0 }),
                Ok(Command::Download(dir)) => actions.extend(self.download(dir)),
                Ok(command @ (Command::Away(_) | Command::Back)) => {
                    self.away = match &command {
                        Command::Away(message) => Some(message.clone().unwrap_or_default()),
                        _ => None,
                    };
                    actions.push(Action::Run { room, command });
                }
                Ok(Command::Search(term)) => {
                    self.overlay = Some(Overlay::Search(self.search_here(&term)));
                    actions.push(Action::Run { room, command: Command::Search(term) });
                }
                Ok(command) => actions.push(Action::Run { room, command }),
                Err(message) => self.notice = Some(message),
            }
            return actions;
        }
        let Some(room) = room else {
            self.notice = Some("open a room first (Esc, then type its name)".into());
            return actions;
        };
        let plain = text.strip_prefix('/').map_or(text.clone(), str::to_owned);
        let mode = std::mem::replace(&mut self.mode, Mode::Message);
        self.selected = None;
        let html = format::markdown_to_html(&plain);
        actions.push(match (mode, self.thread.clone()) {
            (Mode::Message, Some(root)) => Action::ThreadReply { room, root, plain, html },
            (Mode::Message, None) => Action::Send { room, plain, html, emote: false },
            // An answer to a message of the open thread stays in the thread.
            (Mode::Reply(_), Some(root)) => Action::ThreadReply { room, root, plain, html },
            (Mode::Reply(to), None) => {
                let sender =
                    self.timelines.get(&room).and_then(|t| t.get(&to)).map(|i| i.sender.clone());
                match sender {
                    Some(sender) => Action::Reply { room, to, sender, plain, html },
                    None => Action::Send { room, plain, html, emote: false },
                }
            }
            (Mode::Edit(target), _) => Action::Edit { room, target, plain, html },
            (Mode::React(target), _) => {
                Action::React { room, target, key: plain.trim().to_owned() }
            }
        });
        if let Some(timeline) = self.open_timeline_mut() {
            timeline.scroll = 0;
        }
        actions
    }

    fn start_mode(&mut self, mode: impl FnOnce(OwnedEventId) -> Mode) {
        match self.selected_event() {
            Some(id) => self.mode = mode(id),
            None => self.notice = Some("pick a message first (Ctrl+Up)".into()),
        }
    }

    /// The event id of the picked message, or of the newest message.
    fn selected_event(&self) -> Option<OwnedEventId> {
        let timeline = self.open_timeline()?;
        match self.selected {
            Some(at) => timeline.items.get(at)?.event_id.clone(),
            None => None,
        }
    }

    /// Ctrl+O: the picked message's thread beside the timeline (a reply
    /// in a thread opens its thread).
    fn open_thread(&mut self) {
        let Some(id) = self.selected_event() else {
            self.notice = Some("pick a message first (Ctrl+Up), then Ctrl+O".into());
            return;
        };
        let root =
            self.open_timeline().and_then(|t| t.get(&id)).and_then(|i| i.thread_root.clone());
        self.thread = Some(root.unwrap_or(id));
        self.selected = None;
    }

    /// Moves the pick through the messages (not the summaries, nor replies
    /// in threads, which show in the thread's pane); with a thread open,
    /// through the thread's messages.
    fn select(&mut self, step: isize) {
        let Some(timeline) = self.open_timeline() else { return };
        let thread = self.thread.as_ref();
        let messages: Vec<usize> = timeline
            .items
            .iter()
            .enumerate()
            .filter(|(_, item)| {
                let here = match thread {
                    Some(root) => {
                        item.event_id.as_ref() == Some(root)
                            || item.thread_root.as_ref() == Some(root)
                    }
                    None => item.thread_root.is_none(),
                };
                here && !matches!(item.body, Body::Info(_)) && item.event_id.is_some()
            })
            .map(|(at, _)| at)
            .collect();
        if messages.is_empty() {
            return;
        }
        let current = self.selected.and_then(|s| messages.iter().position(|&m| m == s));
        self.selected = match (current, step < 0) {
            (None, true) => messages.last().copied(),
            (None, false) => None,
            (Some(at), true) => Some(messages[at.saturating_sub(1)]),
            (Some(at), false) if at + 1 < messages.len() => Some(messages[at + 1]),
            (Some(_), false) => None,
        };
    }

    /// Tab: completes a command, a member's user id after `@`, or a room's
    /// address after `#` (by its address or its name).
    fn complete(&mut self) {
        let (start, word) = self.composer.word_before_cursor();
        let word = word.to_owned();
        let mut candidates: Vec<String> = if start == 0 && word.starts_with('/') {
            COMMANDS
                .iter()
                .map(|(name, _)| format!("{name} "))
                .filter(|c| c.starts_with(&word))
                .collect()
        } else if let Some(prefix) = word.strip_prefix('@') {
            let prefix = prefix.to_lowercase();
            let names = self.open_timeline().map(|t| t.names.clone()).unwrap_or_default();
            names
                .iter()
                .filter(|(id, name)| {
                    id.localpart().to_lowercase().starts_with(&prefix)
                        || name.to_lowercase().starts_with(&prefix)
                })
                .map(|(id, _)| format!("{id} "))
                .collect()
        } else if let Some(prefix) = word.strip_prefix('#') {
            let prefix = prefix.to_lowercase();
            self.rooms
                .all()
                .filter_map(|room| Some((room.alias.as_ref()?, &room.name)))
                .filter(|(alias, name)| {
                    alias[1..].to_lowercase().starts_with(&prefix)
                        || name.to_lowercase().starts_with(&prefix)
                })
                .map(|(alias, _)| format!("{alias} "))
                .collect()
        } else {
            Vec::new()
        };
        // Commands keep their listed order; names are alphabetical.
        if !word.starts_with('/') {
            candidates.sort();
        }
        if let Some(first) = candidates.first() {
            self.composer.replace_word(start, first);
        }
    }

    /// Sends a typing notice when the composer starts or stops holding text.
    fn typing_changed(&mut self) -> Vec<Action> {
        let typing = !self.composer.text().is_empty() && !self.composer.text().starts_with('/');
        match &self.rooms.open {
            Some(room) if typing != self.typing_sent => {
                self.typing_sent = typing;
                vec![Action::Typing { room: room.clone(), typing }]
            }
            _ => Vec::new(),
        }
    }

    /// F2: the member list beside the timeline, fetched when shown.
    fn toggle_members(&mut self) -> Vec<Action> {
        self.show_members = !self.show_members;
        match (&self.rooms.open, self.show_members) {
            (Some(room), true) => vec![Action::Members { room: room.clone() }],
            _ => Vec::new(),
        }
    }

    fn open_timeline_mut(&mut self) -> Option<&mut RoomTimeline> {
        let open = self.rooms.open.clone()?;
        self.timelines.get_mut(&open)
    }

    fn scroll_up(&mut self) -> Vec<Action> {
        let view = self.view;
        let Some(room) = self.rooms.open.clone() else { return Vec::new() };
        let paginating = self.paginating.is_some();
        let Some(timeline) = self.timelines.get_mut(&room) else { return Vec::new() };
        let most = view.timeline_lines.saturating_sub(view.timeline_height);
        timeline.scroll = (timeline.scroll + view.timeline_height.max(2) / 2).min(most);
        if timeline.scroll >= most && !timeline.at_start && !paginating {
            self.paginating = Some(room.clone());
            return vec![Action::Paginate { room }];
        }
        Vec::new()
    }

    fn switch_room(&mut self, step: isize) -> Vec<Action> {
        let before = self.rooms.open.clone();
        self.rooms.move_selection(step);
        match self.rooms.open.clone() {
            Some(now) if Some(&now) != before.as_ref() => self.open_room(now),
            _ => Vec::new(),
        }
    }

    /// Shows a room: its timeline (fetching history when there is little),
    /// its unread count cleared with a read receipt.
    pub fn open_room(&mut self, room_id: OwnedRoomId) -> Vec<Action> {
        self.rooms.open = Some(room_id.clone());
        self.selected = None;
        self.thread = None;
        self.mode = Mode::Message;
        self.typing_sent = false;
        let mut actions = Vec::new();
        let timeline = self.timelines.entry(room_id.clone()).or_default();
        if timeline.items.len() < 20 && !timeline.at_start && self.paginating.is_none() {
            self.paginating = Some(room_id.clone());
            actions.push(Action::Paginate { room: room_id.clone() });
        }
        if self.show_members {
            actions.push(Action::Members { room: room_id.clone() });
        }
        actions.extend(self.mark_read(&room_id, true));
        actions.extend(self.pictures_wanted());
        actions
    }

    /// Fetches the pictures of the open room's image messages not asked
    /// for yet.
    pub(super) fn pictures_wanted(&mut self) -> Vec<Action> {
        let Some(timeline) = self.rooms.open.as_ref().and_then(|open| self.timelines.get(open))
        else {
            return Vec::new();
        };
        let (wanted, fit) = self.pictures.wanted(timeline);
        wanted
            .into_iter()
            .map(|(event, source)| Action::LoadPicture { event, source, fit })
            .collect()
    }

    fn mark_read(&mut self, room_id: &OwnedRoomId, opening: bool) -> Vec<Action> {
        if let Some(entry) = self.rooms.get_mut(room_id) {
            entry.unread = 0;
            entry.highlights = 0;
        }
        let latest = self.timelines.get(room_id).and_then(|t| t.latest_event_id()).cloned();
        match latest {
            Some(event) if self.read_up_to.get(room_id) != Some(&event) => {
                self.read_up_to.insert(room_id.clone(), event.clone());
                vec![Action::Read { room: room_id.clone(), event, opening }]
            }
            _ => Vec::new(),
        }
    }
}
