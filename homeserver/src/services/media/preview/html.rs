//! Reads the OpenGraph tags out of a page: `<meta property="og:..">`, with
//! `<title>` and the meta description as fallbacks. A small scanner, not an
//! HTML parser: previews need a handful of tags from the head of a page.

use std::collections::HashMap;

use serde_json::{Map, Value};

/// Tags kept from one page; the rest is noise for a preview.
const MAX_TAGS: usize = 32;
/// Characters kept of one tag's value.
const MAX_VALUE: usize = 1000;

/// The page's OpenGraph tags, keyed as the spec's preview response is.
pub fn og_tags(html: &str) -> Map<String, Value> {
    // ASCII lowercasing keeps byte offsets, so positions found in `lower`
    // are valid in `html`.
    let lower = html.to_ascii_lowercase();
    let mut tags = Map::new();
    let mut description = None;
    let mut at = 0;
    while let Some(found) = lower[at..].find("<meta") {
        let start = at + found + "<meta".len();
        let end = lower[start..].find('>').map_or(lower.len(), |e| start + e);
        let attrs = attributes(&html[start..end]);
        let key = attrs.get("property").or_else(|| attrs.get("name"));
        if let (Some(key), Some(content)) = (key, attrs.get("content")) {
            let key = key.to_ascii_lowercase();
            if key.starts_with("og:") && tags.len() < MAX_TAGS && !tags.contains_key(&key) {
                tags.insert(key, Value::String(clip(content)));
            } else if key == "description" {
                description.get_or_insert_with(|| clip(content));
            }
        }
        at = end;
    }
    if !tags.contains_key("og:title")
        && let Some(title) = title(html, &lower)
    {
        tags.insert("og:title".into(), Value::String(title));
    }
    if !tags.contains_key("og:description")
        && let Some(description) = description
    {
        tags.insert("og:description".into(), Value::String(description));
    }
    tags
}

fn title(html: &str, lower: &str) -> Option<String> {
    let open = lower.find("<title")?;
    let start = open + lower[open..].find('>')? + 1;
    let end = start + lower[start..].find("</title")?;
    let text = decode_entities(html[start..end].trim());
    (!text.is_empty()).then(|| clip(&text))
}

fn clip(text: &str) -> String {
    text.chars().take(MAX_VALUE).collect()
}

/// The attributes of one tag, names lowercased, values decoded.
fn attributes(tag: &str) -> HashMap<String, String> {
    let mut attrs = HashMap::new();
    let mut rest = tag;
    loop {
        rest = rest.trim_start_matches(|c: char| c.is_whitespace() || c == '/');
        if rest.is_empty() {
            return attrs;
        }
        let name_end =
            rest.find(|c: char| c.is_whitespace() || c == '=' || c == '/').unwrap_or(rest.len());
        if name_end == 0 {
            // A stray '=': skip it.
            rest = &rest[1..];
            continue;
        }
        let name = rest[..name_end].to_ascii_lowercase();
        rest = rest[name_end..].trim_start();
        let mut value = "";
        if let Some(after) = rest.strip_prefix('=') {
            let after = after.trim_start();
            match after.chars().next() {
                Some(quote @ ('"' | '\'')) => {
                    let body = &after[1..];
                    let close = body.find(quote).unwrap_or(body.len());
                    value = &body[..close];
                    rest = body.get(close + 1..).unwrap_or("");
                }
                _ => {
                    let end = after.find(char::is_whitespace).unwrap_or(after.len());
                    value = &after[..end];
                    rest = &after[end..];
                }
            }
        }
        attrs.entry(name).or_insert_with(|| decode_entities(value));
    }
}

/// Decodes the character references pages use in titles and descriptions.
fn decode_entities(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        rest = &rest[amp..];
        let decoded = rest.find(';').filter(|&end| end <= 10).and_then(|end| {
            let name = &rest[1..end];
            let c = match name {
                "amp" => Some('&'),
                "lt" => Some('<'),
                "gt" => Some('>'),
                "quot" => Some('"'),
                "apos" => Some('\''),
                "nbsp" => Some('\u{a0}'),
                _ => name.strip_prefix('#').and_then(|num| {
                    let code = match num.strip_prefix(['x', 'X']) {
                        Some(hex) => u32::from_str_radix(hex, 16).ok(),
                        None => num.parse().ok(),
                    };
                    code.and_then(char::from_u32)
                }),
            };
            c.map(|c| (c, end))
        });
        match decoded {
            Some((c, end)) => {
                out.push(c);
                rest = &rest[end + 1..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_opengraph_tags() {
        let page = r#"<html><head><TITLE>Fallback</TITLE>
            <meta property="og:title" content="Tom &amp; Jerry &#8211; &#x263A;">
            <meta content='A cat, a mouse' property=og:description />
            <meta name="description" content="ignored: og:description wins">
            <meta property="og:image" content="/cat.png"></head></html>"#;
        let tags = og_tags(page);
        assert_eq!(tags["og:title"], "Tom & Jerry \u{2013} \u{263a}");
        assert_eq!(tags["og:description"], "A cat, a mouse");
        assert_eq!(tags["og:image"], "/cat.png");
    }

    #[test]
    fn falls_back_to_title_and_description() {
        let page = "<title> Plain page </title><meta name=description content=\"About it\">";
        let tags = og_tags(page);
        assert_eq!(tags["og:title"], "Plain page");
        assert_eq!(tags["og:description"], "About it");
    }

    #[test]
    fn survives_broken_markup() {
        for page in ["<meta", "<meta =\"x\" =", "<title>", "&#xZZ; &", "<meta content='é"] {
            let _ = og_tags(page);
        }
    }
}
