//! The book (docs/, an mdBook): its configuration reference is made from
//! the config template and its admin API page from the API's document,
//! neither may fall behind, its monitoring page
//! lists every metric the code records, and every link between its pages
//! leads to a page that exists.

use std::path::{Path, PathBuf};

/// The book's configuration reference, made from the template: each
/// section under its own heading, the template's text as it is.
fn configuration_reference(template: &str) -> String {
    let mut out = String::from(
        "# Configuration reference\n\n\
         <!-- Made from homeserver/src/config/template.toml by homeserver/tests/book.rs; \
         `LATTICE_UPDATE_DOCS=1 cargo test -p lattice-homeserver --test book` rewrites it. -->\n\n\
         Every option with its default, as `lattice generate-config` prints them.\n",
    );
    let mut preamble = Vec::new();
    let mut sections: Vec<Vec<&str>> = Vec::new();
    for line in template.lines() {
        match sections.last_mut() {
            _ if line.starts_with('[') => sections.push(vec![line]),
            Some(section) => section.push(line),
            None => preamble.push(line.trim_start_matches('#').trim()),
        }
    }
    // The template's opening comment, as it reads (it has <PLACEHOLDERS>).
    out.push_str(&format!("\n```text\n{}\n```\n", preamble.join("\n").trim()));
    for section in sections {
        let body = section.join("\n");
        out.push_str(&format!(
            "\n## `{}`\n\n```toml\n{}\n```\n",
            section[0].trim(),
            body.trim_end()
        ));
    }
    out
}

#[test]
fn the_books_configuration_reference_matches_the_template() {
    let path = book().join("configuration/reference.md");
    let made = configuration_reference(lattice_homeserver::config::TEMPLATE);
    if std::env::var_os("LATTICE_UPDATE_DOCS").is_some() {
        std::fs::write(&path, &made).expect("reference written");
    }
    let written = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        written == made,
        "docs/src/configuration/reference.md is behind the config template: run \
         LATTICE_UPDATE_DOCS=1 cargo test -p lattice-homeserver --test book"
    );
    for section in ["[server]", "[database]", "[encryption]", "[retention]"] {
        assert!(made.contains(&format!("## `{section}`")), "{section} has its heading");
    }
}

fn book() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/src")
}

/// Every file under `dir` whose name ends in `.{extension}`.
fn files(dir: &Path, extension: &str) -> Vec<PathBuf> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).expect("a folder").flatten() {
        let path = entry.path();
        if path.is_dir() {
            found.extend(files(&path, extension));
        } else if path.extension().is_some_and(|ext| ext == extension) {
            found.push(path);
        }
    }
    found
}

#[test]
fn links_between_pages_lead_somewhere() {
    let mut broken = Vec::new();
    for page in files(&book(), "md") {
        let text = std::fs::read_to_string(&page).expect("a page");
        // Markdown links: ](target) — relative ones name another page or file.
        for (at, _) in text.match_indices("](") {
            let rest = &text[at + 2..];
            let Some(end) = rest.find(')') else { continue };
            let target = rest[..end].split('#').next().unwrap_or_default();
            if target.is_empty() || target.contains("://") || target.starts_with("mailto:") {
                continue;
            }
            let resolved = page.parent().expect("a folder").join(target);
            if !resolved.exists() {
                broken.push(format!("{} -> {target}", page.display()));
            }
        }
    }
    assert!(broken.is_empty(), "links to nothing: {broken:#?}");
    assert!(files(&book(), "md").len() > 10, "the book was found");
}

/// Every metric name the code records (`counter!("lattice_…"` and kin).
fn recorded_metrics() -> Vec<String> {
    let mut recorded = Vec::new();
    for file in files(&Path::new(env!("CARGO_MANIFEST_DIR")).join("src"), "rs") {
        let text = std::fs::read_to_string(&file).expect("a source file");
        for macro_call in ["counter!(", "gauge!(", "histogram!("] {
            for (at, _) in text.match_indices(macro_call) {
                let rest = text[at + macro_call.len()..].trim_start();
                let Some(name) = rest.strip_prefix('"').and_then(|r| r.split('"').next()) else {
                    continue;
                };
                recorded.push(name.to_owned());
            }
        }
    }
    recorded.sort();
    recorded.dedup();
    assert!(recorded.len() >= 15, "metrics were found: {recorded:?}");
    recorded
}

#[test]
fn the_monitoring_page_lists_every_metric() {
    let page = std::fs::read_to_string(book().join("operations/monitoring.md")).expect("the page");
    let recorded = recorded_metrics();
    let missing: Vec<&String> =
        recorded.iter().filter(|name| !page.contains(&format!("`{name}`"))).collect();
    assert!(missing.is_empty(), "docs/src/operations/monitoring.md does not list {missing:?}");
}

/// The Helm chart's alerts and Grafana dashboard ask only for metrics the
/// code records (a renamed metric would leave a panel empty and an alert
/// silent), and between them watch most of what it records.
#[test]
fn the_dashboard_and_alerts_ask_for_recorded_metrics() {
    let recorded = recorded_metrics();
    let chart = Path::new(env!("CARGO_MANIFEST_DIR")).join("../helm/lattice/files");
    let mut used = Vec::new();
    for file in ["alerts.yaml", "dashboard.json"] {
        let text = std::fs::read_to_string(chart.join(file)).expect("chart file");
        for (at, _) in text.match_indices("lattice_") {
            let name: String = text[at..]
                .chars()
                .take_while(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '_')
                .collect();
            // A histogram's series carry these suffixes.
            let base = ["_bucket", "_sum", "_count"]
                .iter()
                .find_map(|suffix| name.strip_suffix(suffix))
                .unwrap_or(&name)
                .to_owned();
            used.push((file, base));
        }
    }
    let unknown: Vec<_> = used.iter().filter(|(_, name)| !recorded.contains(name)).collect();
    assert!(unknown.is_empty(), "not recorded by the code: {unknown:?}");
    let watched: Vec<&String> =
        recorded.iter().filter(|name| used.iter().any(|(_, used)| used == *name)).collect();
    assert!(watched.len() * 10 >= recorded.len() * 9, "only {watched:?} of {recorded:?}");
}

/// The book's admin API page, made from the API's OpenAPI document.
fn admin_reference(spec: &serde_json::Value) -> String {
    let mut out = String::from(
        "# Admin API\n\n\
         <!-- Made from spec/admin-api.json by homeserver/tests/book.rs; \
         `LATTICE_UPDATE_DOCS=1 cargo test -p lattice-homeserver --test book` rewrites it. -->\n\n",
    );
    let text = |value: &serde_json::Value| value.as_str().unwrap_or_default().trim().to_owned();
    out.push_str(&text(&spec["info"]["description"]));
    out.push_str(
        "\n\nMake an account a server admin with `lattice admin make-admin @alice:example.org` \
         (or `create-user --admin`). The whole document, with bodies and answers, is \
         `spec/admin-api.json` (OpenAPI 3.1).\n\n| method | path | what it does |\n| --- | --- | --- |\n",
    );
    for (path, operations) in spec["paths"].as_object().expect("paths") {
        for (method, operation) in operations.as_object().expect("operations") {
            let summary = text(&operation["summary"]).replace('|', "\\|");
            out.push_str(&format!("| {} | `{path}` | {summary} |\n", method.to_uppercase()));
        }
    }
    out
}

#[test]
fn the_books_admin_api_page_matches_the_api_document() {
    let document = Path::new(env!("CARGO_MANIFEST_DIR")).join("../spec/admin-api.json");
    let spec: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(document).expect("the document"))
            .expect("JSON");
    let path = book().join("operations/admin-api.md");
    let made = admin_reference(&spec);
    if std::env::var_os("LATTICE_UPDATE_DOCS").is_some() {
        std::fs::write(&path, &made).expect("page written");
    }
    let written = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        written == made,
        "docs/src/operations/admin-api.md is behind spec/admin-api.json: run \
         LATTICE_UPDATE_DOCS=1 cargo test -p lattice-homeserver --test book"
    );
    assert!(made.contains("/_lattice/admin/v1/retention"), "Lattice's own routes are listed");
}
