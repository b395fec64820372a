//! A timeline as terminal rows: day separators, one block per message
//! (reply quote, body, reactions), summaries of membership and state, all
//! cut to the pane's width.

use std::collections::HashMap;

use lattice_sdk::ruma::{MilliSecondsSinceUnixEpoch, OwnedEventId};
use ratatui::{
    style::{Color, Modifier, Style},
    text::{Line, Span},
};
use unicode_width::UnicodeWidthChar;

use crate::{
    app::{
        images::Pictures,
        timeline::{Body, Item, RoomTimeline, TextKind},
    },
    config::Theme,
    format,
};

/// Rows laid out, oldest first, and where pictures go: each picture's
/// first row and how many rows are left blank for it.
#[derive(Default)]
pub struct Rows {
    pub lines: Vec<Line<'static>>,
    pub pictures: Vec<(usize, u16, OwnedEventId)>,
}

/// The last rows of a timeline at a width, oldest first: at least
/// `needed` of them when the timeline has that many (whole messages, so a
/// few more). Only what can be seen is laid out, so a frame costs the same
/// in a room of ten thousand messages. `selected` is the picked item's
/// index (drawn reversed). Replies in threads stay in their thread's
/// pane; their first message says how many there are. Image messages
/// whose picture is in `pictures` get room for it.
pub fn timeline_rows(
    timeline: &RoomTimeline,
    selected: Option<usize>,
    width: u16,
    theme: &Theme,
    needed: usize,
    pictures: Option<&Pictures>,
) -> Rows {
    let mut replies: HashMap<&OwnedEventId, usize> = HashMap::new();
    for root in timeline.items.iter().filter_map(|item| item.thread_root.as_ref()) {
        *replies.entry(root).or_default() += 1;
    }
    let newest_first =
        timeline.items.iter().enumerate().rev().filter(|(_, item)| item.thread_root.is_none());
    let layout = Layout { timeline, selected, width, replies: &replies, theme, pictures };
    let (mut rows, complete) = layout.last_rows(newest_first, needed);
    if complete && timeline.at_start {
        rows.lines.insert(0, dim_line(theme, "— the start of the room —"));
        rows.pictures.iter_mut().for_each(|(row, _, _)| *row += 1);
    }
    rows
}

/// The last `needed` rows of one thread: its first message and the
/// replies in it, the picked one (`selected`) drawn reversed.
pub fn thread_rows(
    timeline: &RoomTimeline,
    root: &OwnedEventId,
    selected: Option<usize>,
    width: u16,
    theme: &Theme,
    needed: usize,
) -> Vec<Line<'static>> {
    let newest_first = timeline.items.iter().enumerate().rev().filter(|(_, item)| {
        item.event_id.as_ref() == Some(root) || item.thread_root.as_ref() == Some(root)
    });
    let replies = HashMap::new();
    let layout = Layout { timeline, selected, width, replies: &replies, theme, pictures: None };
    layout.last_rows(newest_first, needed).0.lines
}

/// What laying out rows depends on besides the items.
struct Layout<'a> {
    timeline: &'a RoomTimeline,
    selected: Option<usize>,
    width: u16,
    replies: &'a HashMap<&'a OwnedEventId, usize>,
    theme: &'a Theme,
    pictures: Option<&'a Pictures>,
}

impl Layout<'_> {
    /// Lays out items given newest first until `needed` rows are made;
    /// a day separator goes above the first item of each day.
    fn last_rows<'i>(
        &self,
        newest_first: impl Iterator<Item = (usize, &'i Item)>,
        needed: usize,
    ) -> (Rows, bool) {
        let mut items = newest_first.peekable();
        let mut blocks = Vec::new();
        let mut count = 0;
        while count < needed
            && let Some((at, item)) = items.next()
        {
            let mut block = self.item_rows(at, item);
            let day = civil_day(item.ts);
            if items.peek().is_none_or(|(_, before)| civil_day(before.ts) != day) {
                let separator = dim_line(self.theme, &format!("── {} ──", day_label(day)));
                block.lines.insert(0, separator);
                block.pictures.iter_mut().for_each(|(row, _, _)| *row += 1);
            }
            count += block.lines.len();
            blocks.push(block);
        }
        let complete = items.peek().is_none();
        let mut rows = Rows::default();
        for block in blocks.into_iter().rev() {
            let offset = rows.lines.len();
            let moved =
                block.pictures.into_iter().map(|(row, height, id)| (offset + row, height, id));
            rows.pictures.extend(moved);
            rows.lines.extend(block.lines);
        }
        (rows, complete)
    }

    /// One item's rows: its lines wrapped, room for its picture, its
    /// thread's size, and the "new" marker below it when the user had
    /// read up to it.
    fn item_rows(&self, at: usize, item: &Item) -> Rows {
        let (timeline, theme) = (self.timeline, self.theme);
        let mut lines = item_lines(timeline, item, theme);
        if self.selected == Some(at) {
            for line in &mut lines {
                line.style = line.style.add_modifier(Modifier::REVERSED);
            }
        }
        let mut rows = Rows {
            lines: lines.into_iter().flat_map(|line| wrap(line, self.width.max(10))).collect(),
            pictures: Vec::new(),
        };
        if let Some(id) = &item.event_id
            && let Some(height) = self.pictures.and_then(|pictures| pictures.rows(id))
        {
            rows.pictures.push((rows.lines.len(), height, id.clone()));
            rows.lines.extend((0..height).map(|_| Line::default()));
        }
        if let Some(count) = item.event_id.as_ref().and_then(|id| self.replies.get(id)) {
            let noun = if *count == 1 { "reply" } else { "replies" };
            rows.lines.push(dim_line(theme, &format!("      🧵 {count} {noun} in the thread")));
        }
        if item.event_id.is_some()
            && item.event_id == timeline.marker
            && item.event_id.as_ref() != timeline.latest_event_id()
        {
            let marker = Span::styled("──── new ────", Style::default().fg(theme.accent));
            rows.lines.push(Line::from(marker));
        }
        rows
    }
}

/// One item's lines before wrapping.
fn item_lines(timeline: &RoomTimeline, item: &Item, theme: &Theme) -> Vec<Line<'static>> {
    let name = timeline.name_of(&item.sender);
    let time = Span::styled(format!("{} ", clock(item.ts)), Style::default().fg(theme.dim));
    let who = Span::styled(format!("{name}: "), name_style(theme, item.sender.as_str()));
    let mut lines = Vec::new();
    if let Some(quoted) = item.reply_to.as_ref().and_then(|id| timeline.get(id)) {
        // The quoted message's first line as it reads (formatting dropped).
        let text = match &quoted.body {
            Body::Text { html: Some(html), .. } => format::html_to_lines(html)
                .first()
                .map(|line| line.spans.iter().map(|s| s.content.as_ref()).collect())
                .unwrap_or_default(),
            Body::Text { plain, .. } => plain.lines().next().unwrap_or_default().to_owned(),
            other => short(other),
        };
        lines.push(Line::from(vec![Span::styled(
            format!("      ↳ {}: {text}", timeline.name_of(&quoted.sender)),
            Style::default().fg(theme.dim),
        )]));
    }
    match &item.body {
        Body::Text { plain, html, kind } => {
            let mut body = match html {
                Some(html) => format::html_to_lines(html),
                None => plain.split('\n').map(|l| Line::from(l.to_owned())).collect(),
            };
            if body.is_empty() {
                body.push(Line::default());
            }
            let (lead, style) = match kind {
                TextKind::Message => (who, Style::default()),
                TextKind::Emote => (
                    Span::styled(format!("* {name} "), name_style(theme, item.sender.as_str())),
                    Style::default(),
                ),
                TextKind::Notice => (who, Style::default().fg(Color::Gray)),
            };
            let mut first = vec![time, lead];
            first.extend(body[0].spans.iter().cloned().map(|s| s.patch_style(style)));
            if item.edited {
                first.push(Span::styled(" (edited)", Style::default().fg(theme.dim)));
            }
            lines.push(Line::from(first));
            for line in body.into_iter().skip(1) {
                let mut spans = vec![Span::raw("      ")];
                spans.extend(line.spans.into_iter().map(|s| s.patch_style(style)));
                lines.push(Line::from(spans));
            }
        }
        Body::Info(text) => {
            lines.push(Line::from(vec![
                time,
                Span::styled(format!("— {text}"), Style::default().fg(theme.dim)),
            ]));
        }
        other => {
            let text = short(other);
            let style = match other {
                Body::Undecryptable | Body::Redacted => {
                    Style::default().add_modifier(Modifier::ITALIC).fg(Color::Gray)
                }
                _ => Style::default(),
            };
            lines.push(Line::from(vec![time, who, Span::styled(text, style)]));
        }
    }
    if !item.reactions.is_empty() {
        let mut spans = vec![Span::raw("      ")];
        for (key, senders) in &item.reactions {
            spans.push(Span::styled(
                format!("[{key} {}]", senders.len()),
                Style::default().fg(theme.reaction),
            ));
            spans.push(Span::raw(" "));
        }
        lines.push(Line::from(spans));
    }
    lines
}

/// A one-line description of a body that is not text.
fn short(body: &Body) -> String {
    match body {
        Body::Text { plain, .. } => plain.clone(),
        Body::File { kind, name, size } => match size {
            Some(size) => format!("📎 {kind} {name} ({})", human_size(*size)),
            None => format!("📎 {kind} {name}"),
        },
        Body::Undecryptable => {
            "🔒 could not decrypt: the sender's device has not shared the key with this one (yet)"
                .into()
        }
        Body::Redacted => "(message removed)".into(),
        Body::Info(text) => text.clone(),
    }
}

/// Bytes as people read them.
pub fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["B", "KiB", "MiB", "GiB"];
    let mut size = bytes as f64;
    let mut unit = 0;
    while size >= 1024.0 && unit < UNITS.len() - 1 {
        size /= 1024.0;
        unit += 1;
    }
    if unit == 0 { format!("{bytes} B") } else { format!("{size:.1} {}", UNITS[unit]) }
}

/// Each sender keeps one colour, from their user id.
fn name_style(theme: &Theme, user: &str) -> Style {
    let colours = &theme.names;
    let hash = user.bytes().fold(0usize, |h, b| h.wrapping_mul(31).wrapping_add(usize::from(b)));
    // The theme has at least one colour (the configuration checks).
    let colour = colours.get(hash % colours.len().max(1)).copied().unwrap_or_default();
    Style::default().fg(colour).add_modifier(Modifier::BOLD)
}

fn dim_line(theme: &Theme, text: &str) -> Line<'static> {
    Line::from(Span::styled(text.to_owned(), Style::default().fg(theme.dim)))
}

/// Cuts a line into rows of at most `width` columns (wide characters
/// count two), after a space where there is one, keeping the styles.
pub fn wrap(line: Line<'static>, width: u16) -> Vec<Line<'static>> {
    let width = usize::from(width);
    // Most lines fit: keep them as they are.
    let columns: usize =
        line.spans.iter().flat_map(|s| s.content.chars()).map(|c| c.width().unwrap_or(0)).sum();
    if columns <= width {
        return vec![line];
    }
    let chars: Vec<(char, Style)> = line
        .spans
        .iter()
        .flat_map(|span| span.content.chars().map(move |c| (c, span.style)))
        .collect();
    let mut rows = Vec::new();
    let mut start = 0;
    loop {
        let mut used = 0;
        let mut end = start;
        while end < chars.len() {
            let w = chars[end].0.width().unwrap_or(0);
            if used + w > width && end > start {
                break;
            }
            used += w;
            end += 1;
        }
        if end < chars.len()
            && let Some(space) = (start + 1..end).rev().find(|&at| chars[at].0 == ' ')
        {
            end = space + 1;
        }
        rows.push(styled_row(&chars[start..end]).style(line.style));
        start = end;
        if start >= chars.len() {
            return rows;
        }
    }
}

/// Characters back into spans, one per run of the same style.
fn styled_row(chars: &[(char, Style)]) -> Line<'static> {
    let mut spans: Vec<Span<'static>> = Vec::new();
    for &(c, style) in chars {
        match spans.last_mut() {
            Some(span) if span.style == style => span.content.to_mut().push(c),
            _ => spans.push(Span::styled(c.to_string(), style)),
        }
    }
    Line::from(spans)
}

/// Days since 1970-01-01 (UTC).
fn civil_day(ts: MilliSecondsSinceUnixEpoch) -> i64 {
    i64::from(ts.as_secs()) / 86_400
}

/// `HH:MM` (UTC).
fn clock(ts: MilliSecondsSinceUnixEpoch) -> String {
    let secs = i64::from(ts.as_secs()) % 86_400;
    format!("{:02}:{:02}", secs / 3600, secs % 3600 / 60)
}

/// `Mon 7 Dec 2026 14:05` (UTC), for a message out of its timeline.
pub fn clock_and_day(ts: MilliSecondsSinceUnixEpoch) -> String {
    format!("{} {}", day_label(civil_day(ts)), clock(ts))
}

/// `Mon 7 Dec 2026` for a day number (the proleptic Gregorian calendar).
fn day_label(day: i64) -> String {
    // From days to (year, month, day): Howard Hinnant's civil_from_days.
    let z = day + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    const MONTHS: [&str; 12] =
        ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
    const WEEKDAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    let weekday = WEEKDAYS[day.rem_euclid(7) as usize];
    format!("{weekday} {d} {} {y}", MONTHS[(m - 1) as usize])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_and_sizes_read_right() {
        assert_eq!(day_label(0), "Thu 1 Jan 1970");
        // 2026-12-07 is day 20,794.
        assert_eq!(day_label(20_794), "Mon 7 Dec 2026");
        assert_eq!(day_label(11_016), "Tue 29 Feb 2000");
        assert_eq!(human_size(999), "999 B");
        assert_eq!(human_size(12_800), "12.5 KiB");
    }

    #[test]
    fn wide_characters_wrap_at_the_width() {
        let rows = wrap(Line::from("ab日本語cd"), 5);
        let text: Vec<String> =
            rows.iter().map(|r| r.spans.iter().map(|s| s.content.as_ref()).collect()).collect();
        assert_eq!(text, ["ab日", "本語c", "d"]);
        let rows = wrap(Line::from("hello big world"), 8);
        let text: Vec<String> =
            rows.iter().map(|r| r.spans.iter().map(|s| s.content.as_ref()).collect()).collect();
        assert_eq!(text, ["hello ", "big ", "world"]);
    }
}
