//! Commands the screen answers from what it holds: `/download` picks the
//! file message, `/search` looks through the decrypted history first.

use super::{
    App,
    overlay::{Hit, SearchView},
    timeline::Body,
};
use crate::matrix::Action;

impl App {
    /// `/download`: the picked file message, or the newest one here.
    pub(super) fn download(&mut self, dir: Option<String>) -> Vec<Action> {
        let picked = self.selected_event();
        let Some(timeline) = self.open_timeline() else {
            self.notice = Some("open a room first".into());
            return Vec::new();
        };
        let item = match &picked {
            Some(id) => timeline.get(id),
            None => timeline.latest_file(),
        };
        let file = item.and_then(|item| match &item.body {
            Body::File { name, .. } => {
                let id = item.event_id.as_ref()?;
                Some((timeline.files.get(id)?.clone(), name.clone()))
            }
            _ => None,
        });
        match file {
            Some((source, name)) => {
                self.notice = Some(format!("downloading {name}…"));
                vec![Action::Download { source, name, dir: dir.map(Into::into) }]
            }
            None => {
                self.notice = Some("no file here to download (pick one with Ctrl+Up)".into());
                Vec::new()
            }
        }
    }

    /// `/search`: what the loaded timelines hold (the only place encrypted
    /// rooms can be searched); the server's results join when they come.
    pub(super) fn search_here(&self, term: &str) -> SearchView {
        let mut view = SearchView { term: term.to_owned(), ..SearchView::default() };
        view.add(self.timelines.iter().flat_map(|(room_id, timeline)| {
            timeline.search(term).into_iter().filter_map(|item| {
                let text = match &item.body {
                    Body::Text { plain, .. } => plain.clone(),
                    Body::File { name, .. } => name.clone(),
                    _ => return None,
                };
                Some(Hit {
                    room_id: room_id.clone(),
                    event_id: item.event_id.clone()?,
                    sender: item.sender.clone(),
                    ts: item.ts,
                    text,
                })
            })
        }));
        view
    }
}
