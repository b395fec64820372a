//! The user's settings, from `config.toml` in `$XDG_CONFIG_HOME/lattice-chat/`
//! (or `~/.config/lattice-chat/`, or `--config FILE`): notifications, the
//! download folder, colours, keys, and named accounts. Every setting has a
//! default and the file is optional; a misspelt setting, an unknown colour
//! or a key bound twice is refused with what is wrong.
//!
//! ```toml
//! notify = "osc777"             # bell (default), osc777, osc9, off
//! pictures = "blocks"           # auto (default), blocks, off
//! download_dir = "~/Downloads"
//!
//! [theme]
//! accent = "magenta"            # names, "dark gray", "#ff8800", or 0-255
//! names = ["cyan", "green", "yellow"]
//!
//! [keys]
//! reply = "alt+r"
//! thread = "ctrl+o"
//!
//! [accounts.work]
//! homeserver = "https://matrix.example.org"
//! user = "@alice:example.org"
//! ```

use std::{collections::BTreeMap, fmt, path::PathBuf, str::FromStr};

use ratatui::{
    crossterm::event::{KeyCode, KeyEvent, KeyModifiers},
    style::Color,
};
use serde::Deserialize;

/// Everything the file can set.
#[derive(Debug, Default)]
pub struct Config {
    pub notify: Option<Notify>,
    pub pictures: Option<PictureMode>,
    pub download_dir: Option<PathBuf>,
    pub theme: Theme,
    pub keys: Keys,
    /// Accounts by name (`--account NAME`): where and who, for the first
    /// sign-in.
    pub accounts: BTreeMap<String, AccountConfig>,
}

/// How mentions, direct messages and verification requests are told.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Notify {
    /// The terminal bell.
    Bell,
    /// A desktop notification through the terminal, OSC 777 (foot,
    /// WezTerm, Ghostty, urxvt, VTE terminals).
    Osc777,
    /// The same through OSC 9 (iTerm2, Windows Terminal, kitty).
    Osc9,
    Off,
}

/// How image messages show their picture.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum PictureMode {
    /// The best the terminal answers it can draw (sixel, kitty, iTerm2),
    /// else half blocks.
    Auto,
    /// Coloured half blocks: any terminal, over SSH and in tmux.
    Blocks,
    /// No pictures: image messages are file lines.
    Off,
}

/// A named account's homeserver and user.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccountConfig {
    pub homeserver: String,
    #[serde(default)]
    pub user: Option<String>,
}

/// The colours of the screen.
#[derive(Debug, Clone, PartialEq)]
pub struct Theme {
    /// Focused borders, the thread pane, rooms in search results.
    pub accent: Color,
    /// Times, summaries, hints.
    pub dim: Color,
    /// Unread counts.
    pub unread: Color,
    /// Mention counts and errors.
    pub mention: Color,
    /// The status line's notices.
    pub notice: Color,
    /// Reactions.
    pub reaction: Color,
    /// Senders' names: each sender keeps one of these.
    pub names: Vec<Color>,
}

impl Default for Theme {
    fn default() -> Self {
        Self {
            accent: Color::Cyan,
            dim: Color::DarkGray,
            unread: Color::Green,
            mention: Color::Red,
            notice: Color::Yellow,
            reaction: Color::Magenta,
            names: vec![
                Color::Cyan,
                Color::Green,
                Color::Yellow,
                Color::Blue,
                Color::Magenta,
                Color::Red,
            ],
        }
    }
}

/// What a configurable key does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyAction {
    Help,
    Members,
    NextRoom,
    PreviousRoom,
    PickOlder,
    PickNewer,
    Reply,
    Edit,
    React,
    Remove,
    Thread,
}

/// One key with its modifiers, as written in the file: `ctrl+r`,
/// `alt+enter`, `f2`, `ctrl+up`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyBinding {
    pub code: KeyCode,
    pub modifiers: KeyModifiers,
}

/// The configurable keys, in the order they are looked up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Keys {
    bindings: Vec<(KeyAction, KeyBinding)>,
}

/// The file's settings and their defaults: (name in the file, action,
/// default key, what it does).
pub const KEY_SETTINGS: [(&str, KeyAction, &str, &str); 11] = [
    ("help", KeyAction::Help, "f1", "this help"),
    ("members", KeyAction::Members, "f2", "the member list"),
    ("next_room", KeyAction::NextRoom, "ctrl+n", "the next room"),
    ("previous_room", KeyAction::PreviousRoom, "ctrl+p", "the previous room"),
    ("pick_older", KeyAction::PickOlder, "ctrl+up", "pick an older message"),
    ("pick_newer", KeyAction::PickNewer, "ctrl+down", "pick a newer message"),
    ("reply", KeyAction::Reply, "ctrl+r", "reply to the picked message"),
    ("edit", KeyAction::Edit, "ctrl+e", "edit it (your own)"),
    ("react", KeyAction::React, "ctrl+t", "react to it"),
    ("remove", KeyAction::Remove, "ctrl+d", "remove it"),
    ("thread", KeyAction::Thread, "ctrl+o", "open its thread (Esc closes)"),
];

impl Default for Keys {
    fn default() -> Self {
        let bindings = KEY_SETTINGS
            .iter()
            .map(|(_, action, key, _)| (*action, key.parse().expect("the defaults parse")))
            .collect();
        Self { bindings }
    }
}

impl Keys {
    /// What `key` is bound to.
    pub fn action(&self, key: &KeyEvent) -> Option<KeyAction> {
        self.bindings.iter().find(|(_, binding)| binding.matches(key)).map(|(action, _)| *action)
    }

    /// The key bound to `action`.
    pub fn binding(&self, action: KeyAction) -> Option<KeyBinding> {
        self.bindings.iter().find(|(a, _)| *a == action).map(|(_, binding)| *binding)
    }
}

impl KeyBinding {
    /// Whether a pressed key is this one (a letter's case is in the letter,
    /// so Shift is not compared for letters).
    pub fn matches(&self, key: &KeyEvent) -> bool {
        let mut modifiers = key.modifiers;
        if matches!(key.code, KeyCode::Char(_)) {
            modifiers.remove(KeyModifiers::SHIFT);
        }
        let code = match key.code {
            KeyCode::Char(c) => KeyCode::Char(c.to_ascii_lowercase()),
            other => other,
        };
        code == self.code && modifiers == self.modifiers
    }
}

impl FromStr for KeyBinding {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let lower = text.trim().to_lowercase();
        let mut parts: Vec<&str> = lower.split('+').collect();
        let key = parts.pop().filter(|k| !k.is_empty()).ok_or(format!("{text:?} names no key"))?;
        let mut modifiers = KeyModifiers::NONE;
        for part in parts {
            modifiers |= match part {
                "ctrl" | "control" => KeyModifiers::CONTROL,
                "alt" | "meta" => KeyModifiers::ALT,
                "shift" => KeyModifiers::SHIFT,
                other => return Err(format!("{other:?} in {text:?} is no modifier")),
            };
        }
        let code = match key {
            "enter" => KeyCode::Enter,
            "tab" => KeyCode::Tab,
            "backspace" => KeyCode::Backspace,
            "delete" => KeyCode::Delete,
            "up" => KeyCode::Up,
            "down" => KeyCode::Down,
            "left" => KeyCode::Left,
            "right" => KeyCode::Right,
            "home" => KeyCode::Home,
            "end" => KeyCode::End,
            "pageup" => KeyCode::PageUp,
            "pagedown" => KeyCode::PageDown,
            f if f.starts_with('f') && f.len() > 1 => {
                KeyCode::F(f[1..].parse().map_err(|_| format!("{text:?} is no key"))?)
            }
            c if c.chars().count() == 1 => KeyCode::Char(c.chars().next().unwrap_or(' ')),
            _ => return Err(format!("{text:?} is no key")),
        };
        // A bare letter would be taken from the text being typed.
        let typing = matches!(code, KeyCode::Char(_))
            && !modifiers.intersects(KeyModifiers::CONTROL | KeyModifiers::ALT);
        let editing = matches!(code, KeyCode::Enter | KeyCode::Tab | KeyCode::Backspace)
            && modifiers.is_empty();
        if typing || editing {
            return Err(format!("{text:?} is needed for typing; add ctrl+ or alt+"));
        }
        Ok(Self { code, modifiers })
    }
}

impl fmt::Display for KeyBinding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (modifier, name) in [
            (KeyModifiers::CONTROL, "Ctrl+"),
            (KeyModifiers::ALT, "Alt+"),
            (KeyModifiers::SHIFT, "Shift+"),
        ] {
            if self.modifiers.contains(modifier) {
                f.write_str(name)?;
            }
        }
        match self.code {
            KeyCode::Char(c) => write!(f, "{}", c.to_ascii_uppercase()),
            KeyCode::F(n) => write!(f, "F{n}"),
            KeyCode::PageUp => f.write_str("PageUp"),
            KeyCode::PageDown => f.write_str("PageDown"),
            other => write!(f, "{other:?}"),
        }
    }
}

/// The file as written: strings to be checked.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
struct File {
    notify: Option<Notify>,
    pictures: Option<PictureMode>,
    download_dir: Option<String>,
    theme: BTreeMap<String, toml::Value>,
    keys: BTreeMap<String, String>,
    accounts: BTreeMap<String, AccountConfig>,
}

impl Config {
    /// The file at `path`; the defaults when there is none.
    pub fn load(path: &std::path::Path) -> Result<Self, String> {
        match std::fs::read_to_string(path) {
            Ok(text) => Self::parse(&text).map_err(|e| format!("{}: {e}", path.display())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Self::default()),
            Err(e) => Err(format!("{}: {e}", path.display())),
        }
    }

    /// Settings from the text of a file.
    pub fn parse(text: &str) -> Result<Self, String> {
        let file: File = toml::from_str(text).map_err(|e| e.to_string())?;
        Ok(Self {
            notify: file.notify,
            pictures: file.pictures,
            download_dir: file.download_dir.map(|dir| expand_home(&dir)),
            theme: theme(&file.theme)?,
            keys: keys(&file.keys)?,
            accounts: file.accounts,
        })
    }
}

/// `~/x` is in the home folder, as a shell would have it.
pub fn expand_home(path: &str) -> PathBuf {
    match (path.strip_prefix("~/"), std::env::var_os("HOME")) {
        (Some(rest), Some(home)) => std::path::Path::new(&home).join(rest),
        _ => PathBuf::from(path),
    }
}

/// Where the file is unless `--config` says: `$XDG_CONFIG_HOME/lattice-chat/config.toml`,
/// else `~/.config/lattice-chat/config.toml`.
pub fn default_path() -> PathBuf {
    let base = std::env::var_os("XDG_CONFIG_HOME")
        .filter(|dir| !dir.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".config")))
        .unwrap_or_else(|| PathBuf::from("."));
    base.join("lattice-chat").join("config.toml")
}

fn colour(name: &str, value: &str) -> Result<Color, String> {
    Color::from_str(value).map_err(|_| format!("theme.{name}: {value:?} is no colour"))
}

fn theme(settings: &BTreeMap<String, toml::Value>) -> Result<Theme, String> {
    let mut theme = Theme::default();
    for (name, value) in settings {
        if name == "names" {
            let list = value.as_array().ok_or("theme.names is a list of colours")?;
            theme.names = list
                .iter()
                .map(|v| v.as_str().ok_or("theme.names is a list of colours".to_owned()))
                .map(|v| v.and_then(|v| colour(name, v)))
                .collect::<Result<_, _>>()?;
            if theme.names.is_empty() {
                return Err("theme.names needs at least one colour".into());
            }
            continue;
        }
        let value = value.as_str().ok_or(format!("theme.{name} is a colour (a string)"))?;
        let slot = match name.as_str() {
            "accent" => &mut theme.accent,
            "dim" => &mut theme.dim,
            "unread" => &mut theme.unread,
            "mention" => &mut theme.mention,
            "notice" => &mut theme.notice,
            "reaction" => &mut theme.reaction,
            other => return Err(format!("theme.{other} is no setting")),
        };
        *slot = colour(name, value)?;
    }
    Ok(theme)
}

fn keys(settings: &BTreeMap<String, String>) -> Result<Keys, String> {
    let mut keys = Keys::default();
    for (name, value) in settings {
        let (_, action, _, _) = KEY_SETTINGS
            .iter()
            .find(|(setting, ..)| setting == name)
            .ok_or(format!("keys.{name} is no setting"))?;
        let binding: KeyBinding = value.parse().map_err(|e| format!("keys.{name}: {e}"))?;
        if let Some(slot) = keys.bindings.iter_mut().find(|(a, _)| a == action) {
            slot.1 = binding;
        }
    }
    for (at, (action, binding)) in keys.bindings.iter().enumerate() {
        if let Some((other, _)) = keys.bindings[at + 1..].iter().find(|(_, b)| b == binding) {
            let name = |a: &KeyAction| KEY_SETTINGS.iter().find(|s| s.1 == *a).map_or("?", |s| s.0);
            return Err(format!(
                "{binding} is bound to both keys.{} and keys.{}",
                name(action),
                name(other)
            ));
        }
    }
    Ok(keys)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_sets_what_it_names_and_keeps_the_rest() {
        let config = Config::parse(
            r##"
            notify = "osc777"
            [theme]
            accent = "magenta"
            dim = "#808080"
            names = ["red", "12"]
            [keys]
            reply = "Alt+R"
            [accounts.work]
            homeserver = "https://matrix.example.org"
            user = "@alice:example.org"
            "##,
        )
        .expect("parses");
        assert_eq!(config.notify, Some(Notify::Osc777));
        assert_eq!(config.theme.accent, Color::Magenta);
        assert_eq!(config.theme.dim, Color::Rgb(128, 128, 128));
        assert_eq!(config.theme.names, [Color::Red, Color::Indexed(12)]);
        assert_eq!(config.theme.unread, Color::Green, "unset colours keep their default");
        let alt_r = KeyEvent::new(KeyCode::Char('r'), KeyModifiers::ALT);
        assert_eq!(config.keys.action(&alt_r), Some(KeyAction::Reply));
        let ctrl_r = KeyEvent::new(KeyCode::Char('r'), KeyModifiers::CONTROL);
        assert_eq!(config.keys.action(&ctrl_r), None);
        let ctrl_o = KeyEvent::new(KeyCode::Char('o'), KeyModifiers::CONTROL);
        assert_eq!(config.keys.action(&ctrl_o), Some(KeyAction::Thread));
        assert_eq!(config.accounts["work"].user.as_deref(), Some("@alice:example.org"));
        assert_eq!(config.keys.binding(KeyAction::Reply).expect("bound").to_string(), "Alt+R");
    }

    #[test]
    fn mistakes_are_named() {
        let error = |text: &str| Config::parse(text).expect_err("refused");
        assert!(error("notfy = \"bell\"").contains("notfy"));
        assert!(error("[theme]\naccent = \"blurple\"").contains("theme.accent"));
        assert!(error("[keys]\nreply = \"r\"").contains("needed for typing"));
        assert!(error("[keys]\nreply = \"ctrl+o\"").contains("keys.reply and keys.thread"));
        assert!(error("[keys]\nfly = \"ctrl+f\"").contains("keys.fly"));
        assert!(error("[accounts.x]\nuser = \"@a:b\"").contains("homeserver"));
    }
}
