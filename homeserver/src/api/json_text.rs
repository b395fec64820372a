//! Checks on the text of a JSON body before any parser sees it: limits that
//! serde would not enforce on bodies kept as raw JSON (event contents,
//! account data), and strings no store can hold.

use crate::error::{Error, Result};

/// Deepest nesting of arrays and objects accepted in a request body.
/// Bodies kept as raw JSON are not parsed into trees here, so serde's own
/// recursion limit would not catch them; whoever parses them later must not
/// be handed a stack overflow.
pub const MAX_DEPTH: usize = 64;

/// What [`check`] refuses besides deep nesting.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Strings {
    /// Any string JSON allows (federation: other servers' events are
    /// judged by the room's rules, not by what our clients may send).
    Any,
    /// No NUL characters and no lone surrogates (`\ud800` without its
    /// pair): neither can be stored or indexed as text, and no client needs
    /// them.
    Clean,
}

/// Checks `bytes` in one pass: arrays and objects nested at most
/// `max_depth` deep, and strings as `strings` asks. Only escapes are looked
/// at inside strings; the parser judges the rest.
pub fn check(bytes: &[u8], max_depth: usize, strings: Strings) -> Result<()> {
    let (mut depth, mut in_string) = (0usize, false);
    // A high surrogate seen, waiting for its low half.
    let mut high_pending = false;
    let mut i = 0;
    while i < bytes.len() {
        let byte = bytes[i];
        i += 1;
        if !in_string {
            match byte {
                b'"' => in_string = true,
                b'[' | b'{' => {
                    depth += 1;
                    if depth > max_depth {
                        let message = format!("JSON nested deeper than {max_depth} levels");
                        return Err(Error::NotJson(message));
                    }
                }
                b']' | b'}' => depth = depth.saturating_sub(1),
                _ => {}
            }
            continue;
        }
        if byte != b'\\' {
            if high_pending {
                return Err(lone_surrogate());
            }
            in_string = byte != b'"';
            continue;
        }
        let escape = bytes.get(i).copied();
        i += 1;
        if strings == Strings::Any {
            continue;
        }
        if escape != Some(b'u') {
            if high_pending {
                return Err(lone_surrogate());
            }
            continue;
        }
        let unit = bytes
            .get(i..i + 4)
            .and_then(|hex| std::str::from_utf8(hex).ok())
            .and_then(|hex| u16::from_str_radix(hex, 16).ok());
        i += 4;
        match unit {
            Some(0) => return Err(Error::BadJson("strings may not contain NUL".into())),
            Some(0xd800..=0xdbff) if !high_pending => high_pending = true,
            Some(0xdc00..=0xdfff) if high_pending => high_pending = false,
            Some(0xd800..=0xdfff) => return Err(lone_surrogate()),
            _ if high_pending => return Err(lone_surrogate()),
            _ => {}
        }
    }
    Ok(())
}

fn lone_surrogate() -> Error {
    Error::NotJson("a string holds a lone UTF-16 surrogate".into())
}

/// The body to parse: an empty one stands for `{}`, since clients
/// (matrix-nio's /join, for one) send nothing where no field is required.
/// Where a field is required, parsing `{}` says which one is missing.
pub fn or_empty_object(bytes: &[u8]) -> &[u8] {
    if bytes.is_empty() { b"{}" } else { bytes }
}

/// Whether a URI's query string decodes to a NUL character somewhere,
/// which no id, token or search term may hold.
pub fn query_has_nul(query: Option<&str>) -> bool {
    query.is_some_and(|query| query.as_bytes().windows(3).any(|w| w == b"%00"))
}

#[cfg(test)]
mod tests {
    use super::{Strings, check};

    fn ok(json: &str, depth: usize, strings: Strings) -> bool {
        check(json.as_bytes(), depth, strings).is_ok()
    }

    #[test]
    fn nesting_is_counted_outside_strings() {
        assert!(ok(r#"{"a": [[1]], "b": "[[[[[[["}"#, 3, Strings::Any));
        assert!(!ok(r#"{"a": [[[1]]]}"#, 3, Strings::Any));
        assert!(ok(r#"{"a": "\"[[[[\""}"#, 1, Strings::Any));
    }

    #[test]
    fn nul_and_lone_surrogates_are_refused_where_strings_must_be_clean() {
        let clean = |json: &str| ok(json, 8, Strings::Clean);
        assert!(!clean(r#"{"a": "x\u0000y"}"#));
        assert!(!clean(r#"{"\u0000": 1}"#), "keys are strings too");
        assert!(!clean(r#"{"a": "\ud800"}"#), "high surrogate alone");
        assert!(!clean(r#"{"a": "\udc00x"}"#), "low surrogate alone");
        assert!(!clean(r#"{"a": "\ud800\u0041"}"#), "high surrogate before another escape");
        assert!(!clean(r#"{"a": "\ud800\n"}"#), "high surrogate before a short escape");
        assert!(clean(r#"{"a": "\ud83d\ude00 \u00e9 \\u0000 \"\n"}"#), "pairs and escaped text");
        assert!(ok(r#"{"a": "x\u0000y\ud800"}"#, 8, Strings::Any), "federation keeps them");
    }
}
