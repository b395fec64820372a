//! Pictures in the timeline. In a terminal that can draw them (sixel,
//! kitty, iTerm2; half blocks anywhere else) an image message shows its
//! picture under its file line once it has been fetched; without a picker
//! (`pictures = "off"`, or tests) it stays a file line with its size.

use std::collections::{HashMap, HashSet};

use image::DynamicImage;
use lattice_sdk::ruma::{OwnedEventId, events::room::MediaSource};
use ratatui::layout::{Rect, Size};
use ratatui_image::{Resize, picker::Picker, protocol::Protocol};

use super::timeline::{Body, RoomTimeline};

/// Rows a picture takes in the timeline at most.
pub const PICTURE_ROWS: u16 = 8;
/// Columns it takes at most.
pub const PICTURE_COLUMNS: u16 = 32;
/// Larger files are left as a file line: fetching them for a preview
/// would cost more than it shows.
const LARGEST: u64 = 8 * 1024 * 1024;

/// The pictures fetched, and how the terminal draws them.
#[derive(Default)]
pub struct Pictures {
    picker: Option<Picker>,
    asked: HashSet<OwnedEventId>,
    fetched: HashMap<OwnedEventId, DynamicImage>,
    /// Each picture encoded for the terminal at the size last drawn
    /// (encoding, sixel above all, is the costly part).
    encoded: HashMap<OwnedEventId, (Rect, Protocol)>,
}

impl std::fmt::Debug for Pictures {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pictures").field("fetched", &self.fetched.len()).finish()
    }
}

impl Pictures {
    /// Pictures drawn with `picker` (from the terminal's answers, or half
    /// blocks).
    pub fn new(picker: Picker) -> Self {
        Self { picker: Some(picker), ..Self::default() }
    }

    /// The rows this image message's picture takes, when it is here to
    /// be drawn: its size in the terminal's cells, made to fit
    /// [`PICTURE_COLUMNS`] × [`PICTURE_ROWS`] (never enlarged).
    pub fn rows(&self, event: &OwnedEventId) -> Option<u16> {
        let font = self.picker.as_ref()?.font_size();
        let picture = self.fetched.get(event)?;
        let columns = f64::from(picture.width()) / f64::from(font.width.max(1));
        let rows = f64::from(picture.height()) / f64::from(font.height.max(1));
        let scale =
            (f64::from(PICTURE_COLUMNS) / columns).min(f64::from(PICTURE_ROWS) / rows).min(1.0);
        Some(((rows * scale).ceil() as u16).clamp(1, PICTURE_ROWS))
    }

    /// Image messages of `timeline` not asked for yet (each asked once),
    /// and the largest size in pixels worth fetching them at: the cells a
    /// picture may take, in the terminal's pixels.
    pub fn wanted(
        &mut self,
        timeline: &RoomTimeline,
    ) -> (Vec<(OwnedEventId, MediaSource)>, (u32, u32)) {
        let Some(picker) = &self.picker else { return (Vec::new(), (0, 0)) };
        let font = picker.font_size();
        let fit = (
            u32::from(PICTURE_COLUMNS) * u32::from(font.width.max(1)),
            u32::from(PICTURE_ROWS) * u32::from(font.height.max(1)),
        );
        let mut wanted = Vec::new();
        for (event, source) in &timeline.files {
            let small_image = timeline.get(event).is_some_and(|item| {
                matches!(item.body, Body::File { kind: "image", size, .. }
                    if size.is_none_or(|size| size <= LARGEST))
            });
            if small_image && self.asked.insert(event.clone()) {
                wanted.push((event.clone(), source.clone()));
            }
        }
        (wanted, fit)
    }

    /// A picture arrived, already made as small as it is drawn (the size
    /// [`wanted`](Self::wanted) gave), so each costs a few hundred
    /// kilobytes at most.
    pub fn insert(&mut self, event: OwnedEventId, picture: DynamicImage) {
        self.encoded.remove(&event);
        self.fetched.insert(event, picture);
    }

    /// The picture encoded to fit `area`, ready for ratatui-image's
    /// `Image` widget.
    pub fn encoded(&mut self, event: &OwnedEventId, area: Rect) -> Option<&Protocol> {
        let picker = self.picker.as_ref()?;
        let stale = self.encoded.get(event).is_none_or(|(at, _)| at.as_size() != area.as_size());
        if stale {
            let picture = self.fetched.get(event)?.clone();
            let size = Size::new(area.width, area.height);
            let protocol = picker.new_protocol(picture, size, Resize::Fit(None)).ok()?;
            self.encoded.insert(event.clone(), (area, protocol));
        }
        self.encoded.get(event).map(|(_, protocol)| protocol)
    }
}
