//! Drawing: the sign-in form, or the room list beside the open room's
//! timeline, its typing line, the composer and the status line; the help
//! screen and the member list on top when asked for.

pub mod lines;
mod overlay;

use lattice_sdk::ruma::{OwnedEventId, presence::PresenceState};
use ratatui::{
    Frame,
    layout::{Constraint, Layout, Position, Rect},
    style::{Modifier, Style},
    text::{Line, Span},
    widgets::{Block, Borders, Clear, Paragraph},
};
use ratatui_image::Image;

use crate::{
    app::{App, Focus, LoginForm, Mode, Screen, images::PICTURE_COLUMNS},
    config::{KeyAction, Theme},
    matrix::Connection,
};

/// Draws the whole screen, and remembers the timeline's size for scrolling.
pub fn draw(frame: &mut Frame<'_>, app: &mut App) {
    match &app.screen {
        Screen::Login(form) => draw_login(frame, form, &app.theme),
        Screen::Chat => draw_chat(frame, app),
    }
}

fn draw_login(frame: &mut Frame<'_>, form: &LoginForm, theme: &Theme) {
    let height = if form.browser.is_some() { 20 } else { 13 };
    let inner = dialog(frame, 76, height, " lattice-chat ");
    let label = Style::default().add_modifier(Modifier::BOLD);
    let mut lines = vec![Line::from(format!("Sign in to {}", form.homeserver)), Line::default()];
    let cursor_field = match &form.second_factor {
        None => {
            lines.push(Line::from(vec![
                Span::styled("User:     ", label),
                Span::raw(form.user.clone()),
            ]));
            let masked = "•".repeat(form.password.chars().count());
            lines.push(Line::from(vec![Span::styled("Password: ", label), Span::raw(masked)]));
            if form.field == 0 {
                (2, 10 + form.user.chars().count())
            } else {
                (3, 10 + form.password.chars().count())
            }
        }
        Some(_) => {
            let what = if form.recovery {
                "Recovery code: "
            } else {
                "Code from your authenticator app: "
            };
            lines.push(Line::from(vec![Span::styled(what, label), Span::raw(form.code.clone())]));
            lines.push(Line::from(Span::styled(
                "Tab: use a recovery code instead (or the authenticator again)",
                Style::default().fg(theme.dim),
            )));
            (2, what.chars().count() + form.code.chars().count())
        }
    };
    lines.push(Line::default());
    if let Some(url) = &form.browser {
        lines.push(Line::from("Finish signing in on the page in your browser. No browser"));
        lines.push(Line::from("opened? Open this address:"));
        lines.push(Line::from(Span::styled(url.clone(), Style::default().fg(theme.accent))));
    } else if form.busy {
        lines.push(Line::from("Signing in…"));
    } else if let Some(error) = &form.error {
        lines.push(Line::from(Span::styled(error.clone(), Style::default().fg(theme.mention))));
    }
    lines.push(Line::default());
    lines.push(Line::from(Span::styled(
        "Enter: next / sign in   F3: in a browser (SSO, passkey)   Ctrl+C: quit",
        Style::default().fg(theme.dim),
    )));
    frame.render_widget(Paragraph::new(lines).wrap(ratatui::widgets::Wrap { trim: false }), inner);
    let (row, column) = cursor_field;
    frame.set_cursor_position(Position::new(inner.x + column as u16, inner.y + row as u16));
}

fn draw_chat(frame: &mut Frame<'_>, app: &mut App) {
    let area = frame.area();
    let members_width = if app.show_members { 26 } else { 0 };
    let [rooms_area, main, members_area] = Layout::horizontal([
        Constraint::Length(26.min(area.width / 3)),
        Constraint::Min(20),
        Constraint::Length(members_width),
    ])
    .areas(area);
    let composer_height = (app.composer.text().lines().count().max(1) as u16 + 2).min(8);
    let [timeline_area, typing_area, composer_area, status_area] = Layout::vertical([
        Constraint::Min(3),
        Constraint::Length(1),
        Constraint::Length(composer_height),
        Constraint::Length(1),
    ])
    .areas(main);

    draw_rooms(frame, app, rooms_area);
    let timeline_area = match app.thread.clone() {
        Some(root) => {
            let [timeline_area, thread_area] =
                Layout::horizontal([Constraint::Percentage(55), Constraint::Percentage(45)])
                    .areas(timeline_area);
            draw_thread(frame, app, &root, thread_area);
            timeline_area
        }
        None => timeline_area,
    };
    draw_timeline(frame, app, timeline_area);
    draw_typing(frame, app, typing_area);
    draw_composer(frame, app, composer_area);
    draw_status(frame, app, status_area);
    if app.show_members {
        draw_members(frame, app, members_area);
    }
    if let Some(overlay) = &app.overlay {
        overlay::draw(frame, app, overlay);
    }
}

fn draw_rooms(frame: &mut Frame<'_>, app: &mut App, area: Rect) {
    let focused = app.focus == Focus::Rooms;
    let title = if app.rooms.filter.is_empty() {
        " Rooms ".to_owned()
    } else {
        format!(" Rooms: {} ", app.rooms.filter)
    };
    let block = Block::default()
        .borders(Borders::RIGHT | Borders::TOP)
        .title(title)
        .border_style(focus_style(&app.theme, focused));
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let mut lines = Vec::new();
    let mut group = None;
    // Where each room's line is, for a click.
    let mut places = Vec::new();
    for (section, entry) in app.rooms.visible() {
        if group != Some(section) {
            group = Some(section);
            lines.push(Line::from(Span::styled(
                section.title().to_owned(),
                Style::default().fg(app.theme.dim).add_modifier(Modifier::BOLD),
            )));
        }
        let open = app.rooms.open.as_ref() == Some(&entry.room_id);
        let sigil = entry.kind.sigil();
        let mut style = Style::default();
        if entry.unread > 0 {
            style = style.add_modifier(Modifier::BOLD);
        }
        if open {
            style = style.add_modifier(Modifier::REVERSED);
        }
        let count = match (entry.highlights, entry.unread) {
            (0, 0) => String::new(),
            (0, unread) => format!(" {unread}"),
            (highlights, _) => format!(" @{highlights}"),
        };
        let room_width = usize::from(inner.width).saturating_sub(count.chars().count() + 2);
        let name: String = entry.name.chars().take(room_width).collect();
        let mut spans = vec![Span::styled(format!("{sigil} {name}"), style)];
        if !count.is_empty() {
            let colour = if entry.highlights > 0 { app.theme.mention } else { app.theme.unread };
            spans.push(Span::styled(
                count,
                Style::default().fg(colour).add_modifier(Modifier::BOLD),
            ));
        }
        if let Ok(row) = u16::try_from(lines.len())
            && row < inner.height
        {
            places.push((inner.y + row, entry.room_id.clone()));
        }
        lines.push(Line::from(spans));
    }
    if app.rooms.is_empty() {
        lines.push(Line::from(Span::styled(
            "No rooms yet: /join or /create",
            Style::default().fg(app.theme.dim),
        )));
    }
    frame.render_widget(Paragraph::new(lines), inner);
    app.view.room_list = (inner.x, inner.x + inner.width);
    app.room_places = places;
}

fn draw_timeline(frame: &mut Frame<'_>, app: &mut App, area: Rect) {
    let title = app
        .rooms
        .open
        .as_ref()
        .and_then(|id| app.rooms.get(id))
        .map(|entry| format!(" {}{} ", entry.name, if entry.encrypted { " 🔒" } else { "" }))
        .unwrap_or_default();
    let block = Block::default().borders(Borders::TOP).title(title);
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let Some(timeline) = app.open_timeline() else {
        app.view = Default::default();
        return;
    };
    let height = usize::from(inner.height);
    // A page beyond the scroll is laid out too, so that PageUp knows there
    // is more above before it asks the server for older history.
    let needed = timeline.scroll + 2 * height;
    let rows = lines::timeline_rows(
        timeline,
        app.selected,
        inner.width,
        &app.theme,
        needed,
        Some(&app.pictures),
    );
    let most = rows.lines.len().saturating_sub(height);
    let scroll = timeline.scroll.min(most);
    let first = most - scroll;
    let shown: Vec<Line<'static>> = rows.lines.iter().skip(first).take(height).cloned().collect();
    app.view.timeline_lines = rows.lines.len();
    app.view.timeline_height = height;
    frame.render_widget(Paragraph::new(shown), inner);
    // Pictures wholly on screen go in the rows left for them.
    for (row, rows_of_picture, event) in rows.pictures {
        if row < first || row + usize::from(rows_of_picture) > first + height {
            continue;
        }
        let area = Rect {
            x: inner.x + 6,
            y: inner.y + (row - first) as u16,
            width: inner.width.saturating_sub(6).min(PICTURE_COLUMNS),
            height: rows_of_picture,
        };
        if let Some(picture) = app.pictures.encoded(&event, area) {
            frame.render_widget(Image::new(picture), area);
        }
    }
}

/// The open thread, newest at the bottom.
fn draw_thread(frame: &mut Frame<'_>, app: &App, root: &OwnedEventId, area: Rect) {
    let block = Block::default()
        .borders(Borders::TOP | Borders::LEFT)
        .title(" Thread (Esc closes) ")
        .border_style(Style::default().fg(app.theme.accent));
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let Some(timeline) = app.open_timeline() else { return };
    let height = usize::from(inner.height);
    let rows = lines::thread_rows(timeline, root, app.selected, inner.width, &app.theme, height);
    let skip = rows.len().saturating_sub(height);
    frame.render_widget(Paragraph::new(rows.into_iter().skip(skip).collect::<Vec<_>>()), inner);
}

fn draw_typing(frame: &mut Frame<'_>, app: &App, area: Rect) {
    let Some(room) = &app.rooms.open else { return };
    let names: Vec<String> = app
        .typing
        .get(room)
        .into_iter()
        .flatten()
        .map(|user| {
            app.timelines.get(room).map_or_else(|| user.localpart().to_owned(), |t| t.name_of(user))
        })
        .collect();
    let text = match names.as_slice() {
        [] => return,
        [one] => format!("{one} is typing…"),
        [one, two] => format!("{one} and {two} are typing…"),
        _ => format!("{} people are typing…", names.len()),
    };
    frame.render_widget(
        Paragraph::new(Span::styled(text, Style::default().fg(app.theme.dim))),
        area,
    );
}

fn draw_composer(frame: &mut Frame<'_>, app: &App, area: Rect) {
    let name_of = |id: &lattice_sdk::ruma::OwnedEventId| {
        app.open_timeline()
            .and_then(|t| t.get(id).map(|item| t.name_of(&item.sender)))
            .unwrap_or_default()
    };
    let title = match &app.mode {
        Mode::Message if app.thread.is_some() => " Reply in the thread (Esc: close it) ".to_owned(),
        Mode::Message => " Message (Enter: send, Alt+Enter: new line, F1: help) ".to_owned(),
        Mode::Reply(id) => format!(" Reply to {} (Esc: cancel) ", name_of(id)),
        Mode::Edit(_) => " Edit (Enter: save, Esc: cancel) ".to_owned(),
        Mode::React(_) => " React: type an emoji or a word, Enter ".to_owned(),
    };
    let focused = app.focus == Focus::Composer;
    let block = Block::default()
        .borders(Borders::ALL)
        .title(title)
        .border_style(focus_style(&app.theme, focused));
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let lines: Vec<Line<'_>> = app.composer.text().split('\n').map(Line::from).collect();
    let (row, column) = app.composer.cursor();
    let top = row.saturating_sub(usize::from(inner.height).saturating_sub(1));
    frame.render_widget(Paragraph::new(lines).scroll((top as u16, 0)), inner);
    if focused {
        let before: String = app
            .composer
            .text()
            .split('\n')
            .nth(row)
            .unwrap_or_default()
            .chars()
            .take(column)
            .collect();
        let x = unicode_width::UnicodeWidthStr::width(before.as_str()) as u16;
        frame.set_cursor_position(Position::new(
            inner.x + x.min(inner.width.saturating_sub(1)),
            inner.y + (row - top) as u16,
        ));
    }
}

fn draw_status(frame: &mut Frame<'_>, app: &App, area: Rect) {
    let (dot, state) = match &app.connection {
        Connection::Connecting => (app.theme.notice, "connecting…".to_owned()),
        Connection::Online => (app.theme.unread, "online".to_owned()),
        Connection::Offline(why) => (app.theme.mention, format!("offline, retrying ({why})")),
    };
    let mut spans = vec![
        Span::styled("● ", Style::default().fg(dot)),
        Span::raw(state),
        Span::raw(" │ "),
        Span::raw(app.me.as_ref().map(ToString::to_string).unwrap_or_default()),
    ];
    if let Some(message) = &app.away {
        let away = if message.is_empty() { "away".to_owned() } else { format!("away ({message})") };
        spans.push(Span::styled(format!(" │ {away}"), Style::default().fg(app.theme.notice)));
    }
    if let Some(entry) = app.rooms.open.as_ref().and_then(|id| app.rooms.get(id)) {
        let lock = if entry.encrypted { "encrypted" } else { "not encrypted" };
        spans.push(Span::raw(format!(" │ {lock}")));
    }
    if let Some(notice) = &app.notice {
        spans.push(Span::raw(" │ "));
        spans.push(Span::styled(notice.clone(), Style::default().fg(app.theme.notice)));
    }
    frame.render_widget(Paragraph::new(Line::from(spans)), area);
}

fn draw_members(frame: &mut Frame<'_>, app: &App, area: Rect) {
    let key = app.keys.binding(KeyAction::Members).map(|k| format!(" ({k})")).unwrap_or_default();
    let title = format!(" Members{key} ");
    let block = Block::default().borders(Borders::LEFT | Borders::TOP).title(title);
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let members = app.rooms.open.as_ref().and_then(|id| app.members.get(id));
    // A dot by presence: around, away, or gone (or not known).
    let dot = |user| match app.presence.get(user) {
        Some(PresenceState::Online) => app.theme.unread,
        Some(PresenceState::Unavailable) => app.theme.notice,
        _ => app.theme.dim,
    };
    let lines: Vec<Line<'_>> = match members {
        Some(members) => members
            .iter()
            .map(|(user, name)| {
                Line::from(vec![
                    Span::styled("● ", Style::default().fg(dot(user))),
                    Span::raw(name.clone()),
                ])
            })
            .collect(),
        None => vec![Line::from("loading…")],
    };
    frame.render_widget(Paragraph::new(lines), inner);
}

fn focus_style(theme: &Theme, focused: bool) -> Style {
    Style::default().fg(if focused { theme.accent } else { theme.dim })
}

/// A framed box in the middle of the screen, over what is there; its inside.
pub(crate) fn dialog(frame: &mut Frame<'_>, width: u16, height: u16, title: &str) -> Rect {
    let area = centered(frame.area(), width, height);
    frame.render_widget(Clear, area);
    let block = Block::default().borders(Borders::ALL).title(title.to_owned());
    let inner = block.inner(area);
    frame.render_widget(block, area);
    inner
}

fn centered(area: Rect, width: u16, height: u16) -> Rect {
    let width = width.min(area.width);
    let height = height.min(area.height);
    Rect::new(area.x + (area.width - width) / 2, area.y + (area.height - height) / 2, width, height)
}
