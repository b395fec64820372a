//! URL previews: off by default; when on, OpenGraph tags and the page's
//! image come back, and nothing on private addresses can be reached.

use std::io::Cursor;

use image::{DynamicImage, ImageFormat, RgbImage};
use wiremock::{
    Mock, MockServer, ResponseTemplate,
    matchers::{method, path},
};

use super::{download, media_path};
use crate::{
    backend_tests,
    common::{Backend, TestServer},
};

backend_tests!(previews_are_off_by_default, previews_read_opengraph, private_addresses_are_refused);

fn preview_path(url: &str) -> String {
    let mut encoded = String::new();
    for b in url.bytes() {
        match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'.' | b'-' | b'_' => encoded.push(b as char),
            other => encoded.push_str(&format!("%{other:02X}")),
        }
    }
    format!("/_matrix/client/v1/media/preview_url?url={encoded}")
}

fn png(width: u32, height: u32) -> Vec<u8> {
    let mut out = Cursor::new(Vec::new());
    DynamicImage::ImageRgb8(RgbImage::new(width, height))
        .write_to(&mut out, ImageFormat::Png)
        .expect("encode");
    out.into_inner()
}

/// A server whose previews may reach 127.0.0.1 (where the test's pages
/// are) and nothing else private.
async fn with_loopback_allowed(backend: Backend) -> TestServer {
    TestServer::start(backend, |c| {
        c.media.url_previews = true;
        c.media.url_preview_allowed_ranges = vec!["127.0.0.1/32".parse().expect("range")];
        c.media.url_preview_max_bytes = 100_000;
    })
    .await
}

async fn previews_are_off_by_default(backend: Backend) {
    let s = TestServer::new(backend).await;
    let alice = s.register("alice", "pw").await;
    let off = s.get(&preview_path("https://example.org/"), Some(&alice.token)).await;
    off.err(404, "M_UNRECOGNIZED");
}

async fn previews_read_opengraph(backend: Backend) {
    let pages = MockServer::start().await;
    let page = r#"<html><head><title>ignored</title>
        <meta property="og:title" content="Lattice &amp; friends">
        <meta property="og:description" content="A homeserver">
        <meta property="og:image" content="/logo.png"></head><body>hi</body></html>"#;
    // Fetched once: the second preview comes from the cache.
    Mock::given(method("GET"))
        .and(path("/post"))
        .respond_with(ResponseTemplate::new(200).set_body_raw(page, "text/html; charset=utf-8"))
        .expect(1)
        .mount(&pages)
        .await;
    let logo = png(64, 32);
    Mock::given(method("GET"))
        .and(path("/logo.png"))
        .respond_with(ResponseTemplate::new(200).set_body_raw(logo.clone(), "image/png"))
        .mount(&pages)
        .await;
    Mock::given(method("GET"))
        .and(path("/big"))
        .respond_with(ResponseTemplate::new(200).set_body_raw(vec![b'a'; 200_000], "text/html"))
        .mount(&pages)
        .await;

    let s = with_loopback_allowed(backend).await;
    let alice = s.register("alice", "pw").await;
    let url = format!("{}/post", pages.uri());
    for _ in 0..2 {
        let preview = s.get(&preview_path(&url), Some(&alice.token)).await.ok();
        assert_eq!(preview["og:title"], "Lattice & friends");
        assert_eq!(preview["og:description"], "A homeserver");
        assert_eq!(preview["og:image:width"], 64);
        assert_eq!(preview["matrix:image:size"], logo.len());
        let image = preview["og:image"].as_str().expect("og:image");
        let stored = download(
            &s,
            Some(&alice.token),
            &format!("/_matrix/client/v1/media/download/{}", media_path(image)),
        )
        .await;
        assert_eq!(stored.bytes().await.expect("body").to_vec(), logo);
    }
    // An image URL previews as the image itself.
    let preview =
        s.get(&preview_path(&format!("{}/logo.png", pages.uri())), Some(&alice.token)).await.ok();
    assert_eq!(preview["og:image:height"], 32);
    let too_big = s.get(&preview_path(&format!("{}/big", pages.uri())), Some(&alice.token)).await;
    too_big.err(413, "M_TOO_LARGE");
    let gone = s.get(&preview_path(&format!("{}/missing", pages.uri())), Some(&alice.token)).await;
    assert_eq!(gone.status, 502);
    let no_url = s.get("/_matrix/client/v1/media/preview_url", Some(&alice.token)).await;
    no_url.err(400, "M_INVALID_PARAM");
    let anonymous = s.get(&preview_path(&url), None).await;
    anonymous.err(401, "M_MISSING_TOKEN");
}

async fn private_addresses_are_refused(backend: Backend) {
    let internal = MockServer::start().await;
    // Nothing may ever reach the "internal" service.
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_body_raw("secret", "text/html"))
        .expect(0)
        .mount(&internal)
        .await;
    let port = internal.address().port();

    let strict = TestServer::start(backend, |c| c.media.url_previews = true).await;
    let alice = strict.register("alice", "pw").await;
    for url in [
        format!("http://127.0.0.1:{port}/"),
        // A name is checked after it resolves.
        format!("http://localhost:{port}/"),
        format!("http://[::ffff:127.0.0.1]:{port}/"),
        "file:///etc/passwd".to_owned(),
    ] {
        let refused = strict.get(&preview_path(&url), Some(&alice.token)).await;
        refused.err(403, "M_FORBIDDEN");
    }

    // An allowed page cannot redirect to an address that is not allowed.
    let pages = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/hop"))
        .respond_with(
            ResponseTemplate::new(302)
                .insert_header("location", format!("http://127.0.0.2:{port}/").as_str()),
        )
        .mount(&pages)
        .await;
    let s = with_loopback_allowed(backend).await;
    let bob = s.register("bob", "pw").await;
    let refused = s.get(&preview_path(&format!("{}/hop", pages.uri())), Some(&bob.token)).await;
    refused.err(403, "M_FORBIDDEN");
}
