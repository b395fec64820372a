//! The check every client body passes before a parser sees it
//! (`api::json_text`): it never panics, and what it lets through holds no
//! NUL, no lone surrogate and no nesting past the limit.

use lattice_fuzz::{inputs, seeds};
use lattice_homeserver::api::json_text::{MAX_DEPTH, Strings, check};
use proptest::prelude::*;
use serde_json::Value;

fn depth(value: &Value) -> usize {
    match value {
        Value::Array(items) => 1 + items.iter().map(depth).max().unwrap_or(0),
        Value::Object(map) => 1 + map.values().map(depth).max().unwrap_or(0),
        _ => 0,
    }
}

fn has_nul(value: &Value) -> bool {
    match value {
        Value::String(s) => s.contains('\0'),
        Value::Array(items) => items.iter().any(has_nul),
        Value::Object(map) => map.iter().any(|(k, v)| k.contains('\0') || has_nul(v)),
        _ => false,
    }
}

proptest! {
    #[test]
    fn passed_bodies_are_clean(body in inputs(seeds("json_text"))) {
        let clean = check(&body, MAX_DEPTH, Strings::Clean);
        let any = check(&body, MAX_DEPTH, Strings::Any);
        prop_assert!(clean.is_err() || any.is_ok(), "Clean lets through what Any refuses");
        // serde_json stops at 128 levels itself; below that, our limit holds.
        if clean.is_ok() && let Ok(value) = serde_json::from_slice::<Value>(&body) {
            prop_assert!(!has_nul(&value));
            prop_assert!(depth(&value) <= MAX_DEPTH);
        }
    }
}
