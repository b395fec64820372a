//! What comes back from the worker changes the state: sign-in, syncs,
//! history, command results, verifications.

use super::{
    App, Focus, Screen,
    overlay::{DevicesView, Overlay, VerifyView},
    rooms::{Kind, RoomEntry},
    timeline::Body,
};
use crate::matrix::{Action, Outcome, SyncUpdate, VerifyStage};

impl App {
    /// Something came back from the worker.
    pub fn on_outcome(&mut self, outcome: Outcome) -> Vec<Action> {
        let mut actions = self.take_in(outcome);
        // New image messages in the open room: their pictures are fetched.
        actions.extend(self.pictures_wanted());
        actions
    }

    fn take_in(&mut self, outcome: Outcome) -> Vec<Action> {
        match outcome {
            Outcome::LoggedIn { user_id } => {
                self.me = Some(user_id);
                self.screen = Screen::Chat;
            }
            Outcome::SecondFactorNeeded { session, stages } => {
                if let Screen::Login(form) = &mut self.screen {
                    form.busy = false;
                    form.recovery = !stages.iter().any(|s| s.ends_with(".totp"));
                    form.second_factor = Some((session, stages));
                    form.field = 1;
                    form.error = None;
                }
            }
            Outcome::BrowserOpened(url) => {
                if let Screen::Login(form) = &mut self.screen {
                    form.browser = Some(url);
                }
            }
            Outcome::LoginFailed(message) => {
                if let Screen::Login(form) = &mut self.screen {
                    form.busy = false;
                    form.browser = None;
                    form.error = Some(message);
                    form.code.clear();
                    if form.second_factor.is_none() {
                        form.password.clear();
                    }
                }
            }
            Outcome::Synced(update) => return self.apply(update),
            Outcome::History { room_id, events, at_start } => {
                self.paginating = None;
                let timeline = self.timelines.entry(room_id).or_default();
                timeline.prepend_raw(&events);
                timeline.at_start = at_start;
            }
            Outcome::Open(room_id) => {
                self.focus = Focus::Composer;
                return self.open_room(room_id);
            }
            Outcome::Picture { event, picture } => self.pictures.insert(event, picture),
            Outcome::Members { room_id, members } => {
                self.members.insert(room_id, members);
            }
            Outcome::Left(room_id) => {
                self.rooms.remove(&room_id);
                self.timelines.remove(&room_id);
                self.notice = Some("left the room".into());
            }
            Outcome::Info(message) if message.is_empty() => {}
            Outcome::Info(message) | Outcome::Failed(message) => self.notice = Some(message),
            Outcome::Connection(connection) => self.connection = connection,
            Outcome::LoggedOut => self.quit = true,
            Outcome::Verification { transaction, user, device, stage } => {
                if stage == VerifyStage::Asked {
                    self.alert = Some(format!("{user} asks to verify a device"));
                }
                self.overlay =
                    Some(Overlay::Verify(VerifyView { transaction, user, device, stage }));
            }
            Outcome::SearchResults { term, hits } => {
                if let Some(Overlay::Search(view)) = &mut self.overlay
                    && view.term == term
                {
                    view.add(hits);
                    view.complete = true;
                }
            }
            Outcome::Devices { user, devices } => {
                self.overlay = Some(Overlay::Devices(DevicesView { user, devices, selected: 0 }));
            }
            Outcome::RecoveryKey(key) => {
                self.overlay = Some(Overlay::Note {
                    title: " Key backup on ".into(),
                    text: vec![
                        "Your recovery key (write it down; it is shown only now):".into(),
                        String::new(),
                        key,
                        String::new(),
                        "With it, /restore KEY on a new device reads your old messages.".into(),
                    ],
                });
            }
            Outcome::Marker { room_id, event } => {
                if let Some(timeline) = self.timelines.get_mut(&room_id) {
                    timeline.marker = event;
                }
            }
            Outcome::KeysRestored(count) => {
                self.notice = Some(format!("{count} keys restored"));
                // Read everything again: messages those keys seal now open.
                self.timelines.clear();
                self.paginating = None;
                if let Some(open) = self.rooms.open.clone() {
                    return self.open_room(open);
                }
            }
        }
        Vec::new()
    }

    /// "Name in Room: text" for the newest message of a room, unless it is
    /// the user's own.
    fn alert_for(&self, room_id: &lattice_sdk::ruma::OwnedRoomId) -> Option<String> {
        let timeline = self.timelines.get(room_id)?;
        let item = timeline.items.last()?;
        if Some(&item.sender) == self.me.as_ref() {
            return None;
        }
        let room = self.rooms.get(room_id).map_or(room_id.as_str(), |e| e.name.as_str());
        let text = match &item.body {
            Body::Text { plain, .. } => plain.lines().next().unwrap_or_default().to_owned(),
            Body::File { name, .. } => name.clone(),
            _ => "a message".to_owned(),
        };
        Some(format!("{} in {room}: {text}", timeline.name_of(&item.sender)))
    }

    /// A sync's news: rooms, timelines, counts, typing.
    fn apply(&mut self, update: SyncUpdate) -> Vec<Action> {
        let mut actions = Vec::new();
        for room in update.rooms {
            let kind = match (room.invited, room.direct, room.space) {
                (true, _, _) => Kind::Invite,
                (false, true, _) => Kind::Direct,
                (false, false, true) => Kind::Space,
                (false, false, false) => Kind::Room,
            };
            let previous = self.rooms.get(&room.room_id).cloned();
            let (unread, highlights) = room
                .unread
                .unwrap_or_else(|| previous.as_ref().map_or((0, 0), |p| (p.unread, p.highlights)));
            let timeline = self.timelines.entry(room.room_id.clone()).or_default();
            let before = timeline.items.len();
            timeline.push_raw(&room.events);
            let newest = timeline.items.last().map(|item| item.ts);
            let mentioned = highlights > previous.as_ref().map_or(0, |p| p.highlights);
            self.rooms.upsert(RoomEntry {
                room_id: room.room_id.clone(),
                name: room.name,
                kind,
                alias: room.alias,
                children: room.children,
                encrypted: room.encrypted,
                unread,
                highlights,
                last_activity: newest,
            });
            if let Some(typing) = room.typing {
                let me = self.me.clone();
                self.typing.insert(
                    room.room_id.clone(),
                    typing.into_iter().filter(|u| Some(u) != me.as_ref()).collect(),
                );
            }
            let is_open = self.rooms.open.as_ref() == Some(&room.room_id);
            let grew = self.timelines.get(&room.room_id).is_some_and(|t| t.items.len() > before);
            if is_open && grew {
                actions.extend(self.mark_read(&room.room_id, false));
            } else if mentioned || (grew && kind == Kind::Direct) {
                self.alert = self.alert_for(&room.room_id);
            }
        }
        for room_id in update.left {
            self.rooms.remove(&room_id);
        }
        self.presence.extend(update.presence);
        if self.rooms.open.is_none() && !self.rooms.is_empty() {
            self.rooms.move_selection(0);
            if let Some(first) = self.rooms.open.clone() {
                actions.extend(self.open_room(first));
            }
        }
        actions
    }
}
