//! Shared pieces of the fuzz harnesses in `tests/`: inputs made from the
//! seed corpus in `corpus/<target>/` (whole, or with bytes flipped,
//! inserted and removed), random bytes, and random JSON.
//!
//! Every harness is a proptest property, so it runs on stable Rust: `cargo
//! test -p lattice-fuzz` is the short smoke CI runs (proptest's default of
//! 256 cases per target); `PROPTEST_CASES=1000000 cargo test --release -p
//! lattice-fuzz` is a long run. A failing input is shrunk and kept in
//! `proptest-regressions/`, which is committed and replayed on every run.

use std::path::Path;

use proptest::prelude::*;
use serde_json::Value;

/// The seed files of `target` (`corpus/<target>/*`), sorted by name.
pub fn seeds(target: &str) -> Vec<Vec<u8>> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus").join(target);
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("corpus {}: {e}", dir.display()))
        .filter_map(|entry| entry.ok().map(|entry| entry.path()))
        .collect();
    files.sort();
    files.iter().map(|file| std::fs::read(file).expect("seed file")).collect()
}

/// One edit of a seed.
#[derive(Debug, Clone)]
enum Edit {
    Flip(usize, u8),
    Insert(usize, u8),
    Remove(usize),
    /// Copies a run of the input over another place (keeps JSON-ish shape).
    Splice(usize, usize, usize),
}

fn apply(mut input: Vec<u8>, edits: &[Edit]) -> Vec<u8> {
    for edit in edits {
        let len = input.len().max(1);
        match *edit {
            Edit::Flip(at, mask) if !input.is_empty() => input[at % len] ^= mask.max(1),
            Edit::Insert(at, byte) => input.insert(at % (input.len() + 1), byte),
            Edit::Remove(at) if !input.is_empty() => {
                input.remove(at % len);
            }
            Edit::Splice(from, to, n) if !input.is_empty() => {
                let from = from % len;
                let run: Vec<u8> = input[from..(from + n % 64).min(input.len())].to_vec();
                let to = to % (input.len() + 1);
                input.splice(to..to, run);
            }
            _ => {}
        }
    }
    input
}

fn edits() -> impl Strategy<Value = Vec<Edit>> {
    let edit = prop_oneof![
        (any::<usize>(), any::<u8>()).prop_map(|(at, mask)| Edit::Flip(at, mask)),
        (any::<usize>(), any::<u8>()).prop_map(|(at, byte)| Edit::Insert(at, byte)),
        any::<usize>().prop_map(Edit::Remove),
        (any::<usize>(), any::<usize>(), any::<usize>())
            .prop_map(|(a, b, n)| Edit::Splice(a, b, n)),
    ];
    prop::collection::vec(edit, 0..8)
}

/// Inputs for a byte-level target: a seed as it is or edited, or random
/// bytes.
pub fn inputs(seeds: Vec<Vec<u8>>) -> impl Strategy<Value = Vec<u8>> {
    assert!(!seeds.is_empty(), "a target needs at least one seed");
    let count = seeds.len();
    let mutated = (0..count, edits()).prop_map(move |(i, edits)| apply(seeds[i].clone(), &edits));
    prop_oneof![4 => mutated, 1 => prop::collection::vec(any::<u8>(), 0..256)]
}

/// Random JSON values, nested a few levels, with the strings and numbers
/// parsers trip on (empty, NUL, non-ASCII, huge and negative numbers).
pub fn json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>()
            .prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        "[a-z._:@!$#]{0,12}".prop_map(Value::String),
        any::<String>().prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 32, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map("[a-z_]{1,10}", inner, 0..6)
                .prop_map(|map| Value::Object(map.into_iter().collect())),
        ]
    })
}
