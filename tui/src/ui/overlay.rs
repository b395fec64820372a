//! Drawing what opens over the chat: help, search results, devices, an
//! emoji verification, a note to keep.

use ratatui::{
    Frame,
    style::{Modifier, Style},
    text::{Line, Span},
    widgets::{Paragraph, Wrap},
};

use super::{dialog, lines::clock_and_day};
use crate::{
    app::{
        App,
        overlay::{DevicesView, Overlay, SearchView, VerifyView},
    },
    commands::COMMANDS,
    config::{KEY_SETTINGS, Theme},
    matrix::VerifyStage,
};

/// Draws the open overlay.
pub fn draw(frame: &mut Frame<'_>, app: &App, overlay: &Overlay) {
    match overlay {
        Overlay::Help { scroll } => draw_help(frame, app, *scroll),
        Overlay::Search(view) => draw_search(frame, app, view),
        Overlay::Devices(view) => draw_devices(frame, app, view),
        Overlay::Verify(view) => draw_verify(frame, app, view),
        Overlay::Note { title, text } => {
            let inner = dialog(frame, 76, text.len() as u16 + 4, title);
            let mut lines: Vec<Line<'_>> = text.iter().map(|l| Line::from(l.as_str())).collect();
            lines.push(Line::default());
            lines.push(hint(&app.theme, "Enter: close"));
            frame.render_widget(Paragraph::new(lines).wrap(Wrap { trim: false }), inner);
        }
    }
}

fn bold() -> Style {
    Style::default().add_modifier(Modifier::BOLD)
}

fn hint(theme: &Theme, text: &str) -> Line<'static> {
    Line::from(Span::styled(text.to_owned(), Style::default().fg(theme.dim)))
}

fn picked(line: Line<'static>, is_picked: bool) -> Line<'static> {
    if is_picked { line.style(Style::default().add_modifier(Modifier::REVERSED)) } else { line }
}

fn draw_help(frame: &mut Frame<'_>, app: &App, scroll: u16) {
    let inner = dialog(frame, 76, 40, " Help (↑↓ scroll, any other key closes) ");
    let fixed = [
        ("Esc", "room list ⇄ composer; cancels a reply, an edit, a thread"),
        ("type in the list", "narrows the rooms to those matching"),
        ("Up/Down in the list", "next / previous room"),
        ("PageUp/PageDown", "scroll (older history loads at the top)"),
        ("Alt+Enter", "a new line in the message"),
        ("Tab", "complete a command, @someone or #room"),
        ("Ctrl+C", "quit"),
    ];
    let bound = KEY_SETTINGS.iter().filter_map(|(_, action, _, what)| {
        app.keys.binding(*action).map(|key| (key.to_string(), *what))
    });
    let mut lines: Vec<Line<'_>> = fixed
        .iter()
        .map(|(key, what)| (key.to_string(), *what))
        .chain(bound)
        .map(|(key, what)| {
            Line::from(vec![Span::styled(format!("{key:<20}"), bold()), Span::raw(what)])
        })
        .collect();
    lines.push(Line::default());
    lines
        .push(hint(&app.theme, "Markdown is sent formatted: **bold**, *italic*, `code`, > quotes"));
    lines.push(hint(&app.theme, "Keys and colours: ~/.config/lattice-chat/config.toml"));
    lines.push(Line::default());
    lines.extend(COMMANDS.iter().map(|(name, what)| {
        Line::from(vec![Span::styled(format!("{name:<10}"), bold()), Span::raw(*what)])
    }));
    frame.render_widget(Paragraph::new(lines).scroll((scroll, 0)), inner);
}

fn draw_search(frame: &mut Frame<'_>, app: &App, view: &SearchView) {
    let title = format!(" Search: {} ", view.term);
    let inner = dialog(frame, 90, 20, &title);
    let mut lines = Vec::new();
    for (at, hit) in view.hits.iter().enumerate() {
        let room = app.rooms.get(&hit.room_id).map_or(hit.room_id.as_str(), |e| e.name.as_str());
        let sender = app
            .timelines
            .get(&hit.room_id)
            .map_or_else(|| hit.sender.localpart().to_owned(), |t| t.name_of(&hit.sender));
        let text: String = hit.text.lines().next().unwrap_or_default().to_owned();
        let line = Line::from(vec![
            Span::styled(format!("{} ", clock_and_day(hit.ts)), Style::default().fg(app.theme.dim)),
            Span::styled(format!("{room} "), Style::default().fg(app.theme.accent)),
            Span::styled(format!("{sender}: "), bold()),
            Span::raw(text),
        ]);
        lines.push(picked(line, at == view.selected));
    }
    if view.hits.is_empty() {
        lines.push(Line::from(if view.complete { "Nothing found." } else { "Searching…" }));
    }
    lines.push(Line::default());
    lines.push(hint(
        &app.theme,
        if view.complete {
            "↑↓ pick, Enter: go to the message, Esc: close (encrypted rooms: loaded history only)"
        } else {
            "asking the server…"
        },
    ));
    let height = usize::from(inner.height);
    let first = view.selected.saturating_sub(height.saturating_sub(3));
    frame.render_widget(Paragraph::new(lines).scroll((first as u16, 0)), inner);
}

fn draw_devices(frame: &mut Frame<'_>, app: &App, view: &DevicesView) {
    let title = format!(" Devices of {} ", view.user);
    let inner = dialog(frame, 76, view.devices.len() as u16 + 6, &title);
    let mut lines = Vec::new();
    for (at, device) in view.devices.iter().enumerate() {
        let (mark, colour, trust) = match (device.is_this_device, device.is_trusted()) {
            (true, _) => ("●", app.theme.unread, "this device"),
            (false, true) if device.verified_here => ("✓", app.theme.unread, "verified"),
            (false, true) => ("✓", app.theme.unread, "cross-signed"),
            (false, false) => ("!", app.theme.notice, "not verified"),
        };
        let name = device.display_name.clone().unwrap_or_default();
        let line = Line::from(vec![
            Span::styled(format!("{mark} "), Style::default().fg(colour)),
            Span::styled(format!("{:<14}", device.device_id), bold()),
            Span::raw(format!("{name:<28}")),
            Span::styled(trust, Style::default().fg(colour)),
        ]);
        lines.push(picked(line, at == view.selected));
    }
    lines.push(Line::default());
    lines.push(hint(&app.theme, "↑↓ pick, v: verify it with emoji, Esc: close"));
    frame.render_widget(Paragraph::new(lines), inner);
}

fn draw_verify(frame: &mut Frame<'_>, app: &App, view: &VerifyView) {
    let me = app.me.as_ref() == Some(&view.user);
    let who = if me {
        format!("your device {}", view.device)
    } else {
        format!("{}'s device {}", view.user, view.device)
    };
    let inner = dialog(frame, 80, 12, " Verify a device ");
    let mut lines = Vec::new();
    match &view.stage {
        VerifyStage::Asked => {
            lines.push(Line::from(format!("{who} asks to verify this device.")));
            lines.push(Line::default());
            lines.push(hint(&app.theme, "y: start, n: decline"));
        }
        VerifyStage::Waiting => {
            lines.push(Line::from(format!("Waiting for {who}…")));
            lines.push(Line::default());
            lines.push(hint(&app.theme, "Esc: stop"));
        }
        VerifyStage::Compare(code) => {
            let (emoji, decimals) = (code.emoji(), code.decimals);
            lines.push(Line::from(format!("Do these emoji show on {who}, in this order?")));
            lines.push(Line::default());
            lines.push(Line::from(
                emoji.iter().map(|(symbol, _)| format!("    {symbol}     ")).collect::<String>(),
            ));
            lines.push(Line::from(
                emoji.iter().map(|(_, name)| format!("{name:<11}")).collect::<String>(),
            ));
            lines.push(Line::default());
            lines.push(hint(
                &app.theme,
                &format!("(or the numbers {} {} {})", decimals.0, decimals.1, decimals.2),
            ));
            lines.push(Line::default());
            lines.push(hint(&app.theme, "y: they match, n: they do not"));
        }
        VerifyStage::Confirmed => {
            lines.push(Line::from(format!("Waiting for {who} to confirm…")));
        }
        VerifyStage::Verified => {
            lines.push(Line::from(Span::styled(
                format!("✓ Verified {who}."),
                Style::default().fg(app.theme.unread).add_modifier(Modifier::BOLD),
            )));
            lines.push(Line::default());
            lines.push(hint(&app.theme, "any key closes"));
        }
        VerifyStage::Cancelled(why) => {
            lines.push(Line::from(Span::styled(
                format!("Not verified: {why}."),
                Style::default().fg(app.theme.mention),
            )));
            lines.push(Line::default());
            lines.push(hint(&app.theme, "any key closes"));
        }
    }
    frame.render_widget(Paragraph::new(lines), inner);
}
