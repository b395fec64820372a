//! Message formatting both ways: what the user types (Markdown) becomes the
//! HTML `formatted_body` others' clients show, and the HTML others send
//! becomes styled terminal lines.

use ratatui::{
    style::{Color, Modifier, Style},
    text::{Line, Span},
};

/// The `formatted_body` for a typed message, or `None` when the Markdown
/// has no formatting (a plain paragraph is sent as plain text).
pub fn markdown_to_html(text: &str) -> Option<String> {
    use pulldown_cmark::{Options, Parser, html};
    let mut out = String::new();
    html::push_html(&mut out, Parser::new_ext(text, Options::ENABLE_STRIKETHROUGH));
    let html = out.trim_end();
    let inner = html.strip_prefix("<p>").and_then(|h| h.strip_suffix("</p>"));
    match inner {
        // One paragraph without tags or entities: nothing to format.
        Some(inner) if !inner.contains(['<', '&']) && !inner.contains("</p>") => None,
        _ => Some(html.to_owned()),
    }
}

/// The styles a piece of text can carry at once.
#[derive(Clone, Copy, Default)]
struct Marks {
    bold: u8,
    italic: u8,
    code: u8,
    strike: u8,
    link: u8,
    quote: u8,
    pre: u8,
    /// Inside Matrix's reply fallback (`<mx-reply>`), which is not shown.
    hidden: u8,
}

impl Marks {
    fn style(&self) -> Style {
        let mut style = Style::default();
        if self.bold > 0 {
            style = style.add_modifier(Modifier::BOLD);
        }
        if self.italic > 0 {
            style = style.add_modifier(Modifier::ITALIC);
        }
        if self.strike > 0 {
            style = style.add_modifier(Modifier::CROSSED_OUT);
        }
        if self.link > 0 {
            style = style.add_modifier(Modifier::UNDERLINED).fg(Color::Cyan);
        }
        if self.code > 0 || self.pre > 0 {
            style = style.fg(Color::Yellow);
        }
        if self.quote > 0 {
            style = style.fg(Color::Gray);
        }
        style
    }
}

/// Turns a message's HTML into lines. Handles what Matrix clients send
/// (the spec's recommended subset): bold, italic, strike-through, inline
/// code and code blocks, links (shown with their address), quotes, lists,
/// line breaks and paragraphs. Unknown tags keep their text.
pub fn html_to_lines(html: &str) -> Vec<Line<'static>> {
    let mut lines: Vec<Vec<Span<'static>>> = vec![Vec::new()];
    let mut marks = Marks::default();
    let mut links: Vec<String> = Vec::new();
    let mut list_depth = 0usize;
    let mut rest = html;
    let new_line = |lines: &mut Vec<Vec<Span<'static>>>, _: &Marks| {
        if lines.last().is_some_and(|line| !line.is_empty()) {
            lines.push(Vec::new());
        }
    };
    while !rest.is_empty() {
        let Some(open) = rest.find('<') else {
            push_text(&mut lines, rest, &marks);
            break;
        };
        push_text(&mut lines, &rest[..open], &marks);
        let Some(close) = rest[open..].find('>') else {
            push_text(&mut lines, &rest[open..], &marks);
            break;
        };
        let tag = &rest[open + 1..open + close];
        rest = &rest[open + close + 1..];
        let closing = tag.starts_with('/');
        let name: String = tag
            .trim_start_matches('/')
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '-')
            .collect::<String>()
            .to_ascii_lowercase();
        let step = |count: &mut u8| {
            *count = if closing { count.saturating_sub(1) } else { count.saturating_add(1) };
        };
        match name.as_str() {
            "b" | "strong" => step(&mut marks.bold),
            "i" | "em" => step(&mut marks.italic),
            "del" | "s" | "strike" => step(&mut marks.strike),
            "code" => step(&mut marks.code),
            "mx-reply" => step(&mut marks.hidden),
            "pre" => {
                step(&mut marks.pre);
                new_line(&mut lines, &marks);
            }
            "blockquote" => {
                step(&mut marks.quote);
                new_line(&mut lines, &marks);
            }
            "a" if !closing => {
                marks.link += 1;
                links.push(attribute(tag, "href").unwrap_or_default());
            }
            "a" => {
                marks.link = marks.link.saturating_sub(1);
                let href = links.pop().unwrap_or_default();
                if !href.is_empty() && marks.hidden == 0 {
                    let style = Style::default().fg(Color::DarkGray);
                    lines
                        .last_mut()
                        .expect("a line")
                        .push(Span::styled(format!(" <{href}>"), style));
                }
            }
            "br" => new_line(&mut lines, &marks),
            "p" | "div" | "h1" | "h2" | "h3" | "h4" | "h5" | "h6" if closing => {
                new_line(&mut lines, &marks)
            }
            "ul" | "ol" => {
                list_depth = if closing { list_depth.saturating_sub(1) } else { list_depth + 1 };
                new_line(&mut lines, &marks);
            }
            "li" if !closing => {
                new_line(&mut lines, &marks);
                let indent = "  ".repeat(list_depth.saturating_sub(1));
                lines.last_mut().expect("a line").push(Span::raw(format!("{indent}• ")));
            }
            _ => {}
        }
    }
    while lines.len() > 1 && lines.last().is_some_and(Vec::is_empty) {
        lines.pop();
    }
    lines.into_iter().map(Line::from).collect()
}

/// Text between tags, with entities decoded; newlines only count inside
/// `<pre>` (HTML collapses them elsewhere).
fn push_text(lines: &mut Vec<Vec<Span<'static>>>, text: &str, marks: &Marks) {
    if marks.hidden > 0 || text.is_empty() {
        return;
    }
    let text = decode_entities(text);
    let style = marks.style();
    // A quoted line starts with the quote's bar.
    let start = |line: &mut Vec<Span<'static>>| {
        if line.is_empty() && marks.quote > 0 {
            line.push(Span::styled("│ ", Style::default().fg(Color::DarkGray)));
        }
    };
    if marks.pre > 0 {
        for (i, part) in text.split('\n').enumerate() {
            if i > 0 {
                lines.push(Vec::new());
            }
            if !part.is_empty() {
                let line = lines.last_mut().expect("a line");
                start(line);
                line.push(Span::styled(part.to_owned(), style));
            }
        }
    } else {
        let flat = text.replace('\n', " ");
        let line = lines.last_mut().expect("a line");
        // Whitespace that only separated block tags is no text.
        if line.is_empty() && flat.trim().is_empty() {
            return;
        }
        start(line);
        line.push(Span::styled(flat, style));
    }
}

fn attribute(tag: &str, name: &str) -> Option<String> {
    let at = tag.find(&format!("{name}="))?;
    let rest = &tag[at + name.len() + 1..];
    let quote = rest.chars().next()?;
    let value = if quote == '"' || quote == '\'' {
        rest[1..].split(quote).next()?
    } else {
        rest.split_whitespace().next()?
    };
    Some(decode_entities(value))
}

/// The entities Matrix clients produce; numeric ones in full.
pub fn decode_entities(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find('&') {
        out.push_str(&rest[..at]);
        let after = &rest[at..];
        let Some(end) = after.find(';').filter(|end| *end <= 10) else {
            out.push('&');
            rest = &after[1..];
            continue;
        };
        let entity = &after[1..end];
        let decoded = match entity {
            "amp" => Some('&'),
            "lt" => Some('<'),
            "gt" => Some('>'),
            "quot" => Some('"'),
            "apos" | "#39" => Some('\''),
            "nbsp" => Some(' '),
            _ => entity
                .strip_prefix("#x")
                .or_else(|| entity.strip_prefix("#X"))
                .and_then(|hex| u32::from_str_radix(hex, 16).ok())
                .or_else(|| entity.strip_prefix('#').and_then(|dec| dec.parse().ok()))
                .and_then(char::from_u32),
        };
        match decoded {
            Some(c) => {
                out.push(c);
                rest = &after[end + 1..];
            }
            None => {
                out.push('&');
                rest = &after[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plain(lines: &[Line<'_>]) -> Vec<String> {
        lines.iter().map(|line| line.spans.iter().map(|s| s.content.as_ref()).collect()).collect()
    }

    #[test]
    fn plain_text_stays_plain() {
        assert_eq!(markdown_to_html("hello there"), None);
        assert_eq!(markdown_to_html("a < b"), Some("<p>a &lt; b</p>".to_owned()));
    }

    #[test]
    fn markdown_becomes_html() {
        assert_eq!(
            markdown_to_html("**bold** and *it* and `code`").as_deref(),
            Some("<p><strong>bold</strong> and <em>it</em> and <code>code</code></p>")
        );
        let block = markdown_to_html("```\nfn main() {}\n```").expect("html");
        assert!(block.starts_with("<pre><code>"), "{block}");
    }

    #[test]
    fn html_becomes_styled_lines() {
        let lines = html_to_lines("<p><strong>bold</strong> then <em>it</em></p><p>second</p>");
        assert_eq!(plain(&lines), ["bold then it", "second"]);
        assert!(lines[0].spans[0].style.add_modifier.contains(Modifier::BOLD));
        assert!(lines[0].spans[2].style.add_modifier.contains(Modifier::ITALIC));
    }

    #[test]
    fn code_blocks_keep_their_lines_and_quotes_their_bar() {
        let lines = html_to_lines("<pre><code>a\n  b\n</code></pre>");
        assert_eq!(plain(&lines), ["a", "  b"]);
        let quoted = html_to_lines("<blockquote><p>wise words</p></blockquote>after");
        assert_eq!(plain(&quoted), ["│ wise words", "after"]);
    }

    #[test]
    fn links_lists_entities_and_reply_fallbacks() {
        let lines = html_to_lines(
            "<mx-reply><blockquote>quoted</blockquote></mx-reply>see <a href=\"https://x.org/?a=1&amp;b=2\">this</a> &amp; <ul><li>one</li><li>two</li></ul>",
        );
        assert_eq!(plain(&lines), ["see this <https://x.org/?a=1&b=2> & ", "• one", "• two"]);
        assert_eq!(decode_entities("&#x1F600; &#65; &bogus; &"), "😀 A &bogus; &");
    }
}
