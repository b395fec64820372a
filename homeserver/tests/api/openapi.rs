//! spec/matrix-api.json lists every client-server, federation and media
//! route the router serves, with its methods and path parameters: made
//! from the router's own route table (methods found by asking: a method a
//! path does not serve is 405), and compared here so that it cannot fall
//! behind. `LATTICE_UPDATE_SPEC=1` rewrites it. Schemathesis runs against a
//! live server from this document in `.ci/run` (the admin API has its own,
//! spec/admin-api.json).

use reqwest::Method;
use serde_json::{Map, Value, json};

use crate::common::{Backend, TestServer};

const DOCUMENT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../spec/matrix-api.json");

/// Routes documented elsewhere (the admin API) are left out.
fn documented_here(path: &str) -> bool {
    !(path.starts_with("/_synapse/") || path.starts_with("/_lattice/admin/"))
}

/// `GET /_matrix/client/v3/rooms/{room_id}/state` -> `get_client_v3_rooms_room_id_state`.
fn operation_id(method: &str, path: &str) -> String {
    let words: Vec<&str> = path
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty() && *w != "_matrix")
        .collect();
    format!("{}_{}", method.to_lowercase(), words.join("_"))
}

fn operation(method: &str, path: &str) -> Value {
    let parameters: Vec<Value> = path
        .split('/')
        .filter_map(|segment| segment.strip_prefix('{')?.strip_suffix('}'))
        .map(|name| json!({"name": name, "in": "path", "required": true, "schema": {"type": "string"}}))
        .collect();
    let mut operation = json!({
        "operationId": operation_id(method, path),
        "parameters": parameters,
        "security": [{}, {"accessToken": []}],
        "responses": {"default": {"$ref": "#/components/responses/Answer"}},
    });
    if matches!(method, "POST" | "PUT") {
        operation["requestBody"] = json!({
            "required": false,
            "content": {"application/json": {"schema": {"type": "object"}}},
        });
    }
    operation
}

/// The document for `routes` ((method, path template) pairs).
fn document(routes: &[(String, String)]) -> Value {
    let mut paths = Map::new();
    for (method, path) in routes {
        let item = paths.entry(path.clone()).or_insert_with(|| json!({}));
        item[method.to_lowercase()] = operation(method, path);
    }
    json!({
        "openapi": "3.0.3",
        "info": {
            "title": "Lattice: client-server, federation and media routes",
            "version": "0.1.0",
            "description": "Every route Lattice serves besides the admin API (spec/admin-api.json), made from the router's route table by homeserver/tests/api/openapi.rs. Bodies are described as JSON objects only: the Matrix specification describes each one. Errors are the spec's {errcode, error}."
        },
        "paths": paths,
        "components": {
            "securitySchemes": {"accessToken": {"type": "http", "scheme": "bearer"}},
            "responses": {"Answer": {
                "description": "An answer; errors carry a Matrix error code",
                "content": {"application/json": {"schema": {"type": "object", "properties": {
                    "errcode": {"type": "string", "pattern": "^M_[A-Z_]+$"},
                    "error": {"type": "string"},
                }}}},
            }},
        },
    })
}

#[tokio::test]
async fn the_api_document_lists_every_route() {
    let server = TestServer::new(Backend::Sqlite).await;
    let mut routes = Vec::new();
    let templates = lattice_homeserver::api::routes().paths().to_vec();
    for template in templates.iter().filter(|t| documented_here(t)) {
        let path = template.replace(['{', '}'], "");
        for method in [Method::GET, Method::POST, Method::PUT, Method::DELETE] {
            let answer = server.call(method.clone(), &path, None, None).await;
            if answer.status != 405 {
                routes.push((method.to_string(), template.clone()));
            }
        }
    }
    routes.sort();
    routes.dedup();
    let made = serde_json::to_string_pretty(&document(&routes)).expect("JSON") + "\n";
    if std::env::var_os("LATTICE_UPDATE_SPEC").is_some() {
        std::fs::write(DOCUMENT, &made).expect("write spec/matrix-api.json");
    }
    let kept = std::fs::read_to_string(DOCUMENT).unwrap_or_default();
    assert!(
        kept == made,
        "spec/matrix-api.json is not the router's route table ({} routes): run \
         LATTICE_UPDATE_SPEC=1 cargo test -p lattice-homeserver --test api -- openapi",
        routes.len()
    );
}
