//! What opens over the chat: the help screen, search results, a device
//! list, an emoji verification, a note to keep (a recovery key). Each
//! takes the keys while it is open.

use lattice_sdk::{
    Device,
    ruma::{MilliSecondsSinceUnixEpoch, OwnedDeviceId, OwnedEventId, OwnedRoomId, OwnedUserId},
};
use ratatui::crossterm::event::{KeyCode, KeyEvent};

use crate::{
    commands::Command,
    matrix::{Action, Answer, VerifyStage},
};

/// The box over the chat.
#[derive(Debug)]
pub enum Overlay {
    /// Keys and commands, scrolled down by `scroll` lines.
    Help {
        scroll: u16,
    },
    Search(SearchView),
    Devices(DevicesView),
    Verify(VerifyView),
    /// Text to read and keep (a recovery key); closes on Enter or Esc.
    Note {
        title: String,
        text: Vec<String>,
    },
}

/// Search results, newest first.
#[derive(Debug, Default)]
pub struct SearchView {
    pub term: String,
    pub hits: Vec<Hit>,
    pub selected: usize,
    /// The server's results arrived (encrypted rooms are searched here,
    /// in the history this client decrypted, at once).
    pub complete: bool,
}

/// One message a search found.
#[derive(Debug, Clone, PartialEq)]
pub struct Hit {
    pub room_id: OwnedRoomId,
    pub event_id: OwnedEventId,
    pub sender: OwnedUserId,
    pub ts: MilliSecondsSinceUnixEpoch,
    pub text: String,
}

impl SearchView {
    /// Adds hits not there yet and keeps the newest first.
    pub fn add(&mut self, hits: impl IntoIterator<Item = Hit>) {
        for hit in hits {
            if !self.hits.iter().any(|h| h.event_id == hit.event_id) {
                self.hits.push(hit);
            }
        }
        self.hits.sort_by_key(|hit| std::cmp::Reverse(hit.ts));
    }
}

/// Someone's devices; the picked one can be verified with `v`.
#[derive(Debug)]
pub struct DevicesView {
    pub user: OwnedUserId,
    pub devices: Vec<Device>,
    pub selected: usize,
}

/// A verification with another device, as far as it has come.
#[derive(Debug, Clone)]
pub struct VerifyView {
    pub transaction: String,
    pub user: OwnedUserId,
    pub device: OwnedDeviceId,
    pub stage: VerifyStage,
}

/// What a key on an overlay leads to.
pub enum Reply {
    /// Stay open.
    Stay,
    Close,
    /// Send this and stay open.
    Send(Action),
    /// Send this and close.
    SendAndClose(Action),
    /// Close and open a room at a message.
    Open(OwnedRoomId, OwnedEventId),
}

impl Overlay {
    /// A key while the overlay is open.
    pub fn on_key(&mut self, key: KeyEvent) -> Reply {
        let step = |selected: &mut usize, len: usize, down: bool| {
            *selected = match down {
                true => (*selected + 1).min(len.saturating_sub(1)),
                false => selected.saturating_sub(1),
            };
        };
        match self {
            Overlay::Help { scroll } => match key.code {
                KeyCode::Down | KeyCode::PageDown => {
                    *scroll = scroll.saturating_add(if key.code == KeyCode::Down { 1 } else { 10 });
                    Reply::Stay
                }
                KeyCode::Up | KeyCode::PageUp => {
                    *scroll = scroll.saturating_sub(if key.code == KeyCode::Up { 1 } else { 10 });
                    Reply::Stay
                }
                _ => Reply::Close,
            },
            Overlay::Note { .. } => match key.code {
                KeyCode::Enter | KeyCode::Esc => Reply::Close,
                _ => Reply::Stay,
            },
            Overlay::Search(view) => match key.code {
                KeyCode::Up | KeyCode::Down => {
                    step(&mut view.selected, view.hits.len(), key.code == KeyCode::Down);
                    Reply::Stay
                }
                KeyCode::Enter => match view.hits.get(view.selected) {
                    Some(hit) => Reply::Open(hit.room_id.clone(), hit.event_id.clone()),
                    None => Reply::Close,
                },
                _ => Reply::Close,
            },
            Overlay::Devices(view) => match key.code {
                KeyCode::Up | KeyCode::Down => {
                    step(&mut view.selected, view.devices.len(), key.code == KeyCode::Down);
                    Reply::Stay
                }
                KeyCode::Char('v') => match view.devices.get(view.selected) {
                    Some(device) if !device.is_this_device => Reply::SendAndClose(Action::Run {
                        room: None,
                        command: Command::Verify(
                            Some(device.user_id.to_string()),
                            Some(device.device_id.to_string()),
                        ),
                    }),
                    _ => Reply::Stay,
                },
                _ => Reply::Close,
            },
            Overlay::Verify(view) => view.on_key(key),
        }
    }
}

impl VerifyView {
    fn on_key(&mut self, key: KeyEvent) -> Reply {
        let yes = matches!(key.code, KeyCode::Char('y') | KeyCode::Char('Y') | KeyCode::Enter);
        let no = matches!(key.code, KeyCode::Char('n') | KeyCode::Char('N') | KeyCode::Esc);
        let answer = |answer| Action::Verify { transaction: self.transaction.clone(), answer };
        match &self.stage {
            VerifyStage::Asked if yes => {
                self.stage = VerifyStage::Waiting;
                // The overlay stays: the emoji come next.
                Reply::Send(answer(Answer::Accept))
            }
            VerifyStage::Compare(_) if yes => {
                self.stage = VerifyStage::Confirmed;
                Reply::Send(answer(Answer::Match))
            }
            VerifyStage::Compare(_) if no => Reply::SendAndClose(answer(Answer::Mismatch)),
            VerifyStage::Asked | VerifyStage::Waiting | VerifyStage::Confirmed if no => {
                Reply::SendAndClose(answer(Answer::Decline))
            }
            VerifyStage::Verified | VerifyStage::Cancelled(_) => Reply::Close,
            _ => Reply::Stay,
        }
    }
}
