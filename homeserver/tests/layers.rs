//! The layers a newcomer reads in the tree hold because this test says so:
//! the store names nothing above it, services never see HTTP, and the
//! federation crate knows nothing of the homeserver. (Tuwunel gets this
//! from its crate chain; we keep one crate and check the names instead.)

use std::path::{Path, PathBuf};

/// Every `.rs` file under `dir`.
fn sources(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).expect("source folder").flatten() {
        let path = entry.path();
        if path.is_dir() {
            found.extend(sources(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            found.push(path);
        }
    }
    found
}

/// Lines of code (comments aside) under `dir` that name any of `banned`.
fn offences(dir: &Path, banned: &[&str]) -> Vec<String> {
    let mut found = Vec::new();
    for file in sources(dir) {
        let text = std::fs::read_to_string(&file).expect("source file");
        for (number, line) in text.lines().enumerate() {
            let code = line.trim_start();
            if code.starts_with("//") {
                continue;
            }
            if let Some(name) = banned.iter().find(|name| code.contains(*name)) {
                found.push(format!("{}:{}: names {name}", file.display(), number + 1));
            }
        }
    }
    found
}

fn crate_dir(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

#[test]
fn the_store_names_nothing_above_it() {
    let found = offences(&crate_dir("src/store"), &["crate::services", "crate::api", "axum"]);
    assert!(found.is_empty(), "the store reaches up:\n{}", found.join("\n"));
}

#[test]
fn services_never_see_http() {
    // (The `http` crate's types may appear: an X-Matrix signature covers
    // the request's method, URI and body, which the federation service checks.)
    let found = offences(&crate_dir("src/services"), &["crate::api", "axum"]);
    assert!(found.is_empty(), "a service reaches into HTTP:\n{}", found.join("\n"));
}

#[test]
fn the_federation_crate_knows_nothing_of_the_homeserver() {
    let found = offences(&crate_dir("../federation/src"), &["lattice_homeserver", "crate::store"]);
    assert!(
        found.is_empty(),
        "the federation crate reaches into the homeserver:\n{}",
        found.join("\n")
    );
    let manifest =
        std::fs::read_to_string(crate_dir("../federation/Cargo.toml")).expect("manifest");
    assert!(
        !manifest.contains("lattice-homeserver"),
        "the federation crate depends on the homeserver"
    );
}
