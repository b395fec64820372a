//! Thumbnails: each format, standard sizes, animation, and images built
//! to hurt the server.

use std::io::Cursor;

use image::{
    AnimationDecoder, DynamicImage, Frame, ImageFormat, RgbImage, RgbaImage,
    codecs::gif::{GifDecoder, GifEncoder},
};
use reqwest::header;
use serde_json::Value;

use super::{download, uploaded};
use crate::{
    backend_tests,
    common::{Backend, TestServer},
};

backend_tests!(thumbnails_of_each_format, animated_thumbnails, bad_images_are_refused_cheaply);

/// A 1000×500 gradient in `format`.
pub(crate) fn picture(format: ImageFormat) -> Vec<u8> {
    let image =
        RgbImage::from_fn(1000, 500, |x, y| image::Rgb([(x % 256) as u8, (y % 256) as u8, 128]));
    let mut out = Cursor::new(Vec::new());
    DynamicImage::ImageRgb8(image).write_to(&mut out, format).expect("encode");
    out.into_inner()
}

async fn thumbnail_of(s: &TestServer, token: &str, id: &str, query: &str) -> reqwest::Response {
    download(s, Some(token), &format!("/_matrix/client/v1/media/thumbnail/{id}?{query}")).await
}

async fn thumbnails_of_each_format(backend: Backend) {
    let s = TestServer::new(backend).await;
    let alice = s.register("alice", "pw").await;
    for (format, mime) in [
        (ImageFormat::Png, "image/png"),
        (ImageFormat::Jpeg, "image/jpeg"),
        (ImageFormat::Gif, "image/gif"),
        (ImageFormat::WebP, "image/webp"),
    ] {
        let id = uploaded(&s, &alice.token, mime, None, picture(format)).await;
        for (query, expected) in [
            ("width=320&height=240&method=scale", (320, 160)),
            ("width=30&height=30&method=crop", (32, 32)),
            ("width=90&height=90&method=crop", (96, 96)),
        ] {
            // Twice: made the first time, served from storage the second.
            for _ in 0..2 {
                let thumb = thumbnail_of(&s, &alice.token, &id, query).await;
                assert_eq!(thumb.status(), 200, "{mime} {query}");
                let kind =
                    thumb.headers()[header::CONTENT_TYPE].to_str().expect("ascii").to_owned();
                assert!(kind == "image/png" || kind == "image/jpeg", "{kind}");
                let bytes = thumb.bytes().await.expect("body");
                let decoded = image::load_from_memory(&bytes).expect("a real image");
                assert_eq!((decoded.width(), decoded.height()), expected, "{mime} {query}");
            }
        }
    }
}

/// A three-frame animated GIF, 400 by 200.
fn animation() -> Vec<u8> {
    let mut out = Vec::new();
    {
        let mut encoder = GifEncoder::new(&mut out);
        for shade in [0u8, 120, 240] {
            let frame = RgbaImage::from_pixel(400, 200, image::Rgba([shade, 64, 255 - shade, 255]));
            encoder.encode_frame(Frame::new(frame)).expect("frame");
        }
    }
    out
}

async fn animated_thumbnails(backend: Backend) {
    let s = TestServer::new(backend).await;
    let alice = s.register("alice", "pw").await;
    let id = uploaded(&s, &alice.token, "image/gif", None, animation()).await;
    let query = "width=96&height=96&method=crop&animated=true";
    let animated = thumbnail_of(&s, &alice.token, &id, query).await;
    assert_eq!(animated.status(), 200);
    assert_eq!(animated.headers()[header::CONTENT_TYPE], "image/gif");
    let bytes = animated.bytes().await.expect("body");
    let frames = GifDecoder::new(Cursor::new(bytes.to_vec()))
        .expect("a gif")
        .into_frames()
        .collect_frames()
        .expect("frames");
    assert_eq!(frames.len(), 3);
    assert_eq!(frames[0].buffer().dimensions(), (96, 96));
    // Without `animated`, the same size is a still image.
    let still = thumbnail_of(&s, &alice.token, &id, "width=96&height=96&method=crop").await;
    assert_eq!(still.headers()[header::CONTENT_TYPE], "image/png");
    // A still picture asked for animated is still.
    let id = uploaded(&s, &alice.token, "image/png", None, picture(ImageFormat::Png)).await;
    let still = thumbnail_of(&s, &alice.token, &id, query).await;
    assert_eq!(still.headers()[header::CONTENT_TYPE], "image/png");
}

fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = 0xffff_ffffu32;
    for byte in bytes {
        crc ^= u32::from(*byte);
        for _ in 0..8 {
            crc = if crc & 1 == 1 { (crc >> 1) ^ 0xedb8_8320 } else { crc >> 1 };
        }
    }
    !crc
}

/// A PNG whose header claims 100,000 by 100,000 pixels.
fn bomb() -> Vec<u8> {
    let mut png = vec![0x89, b'P', b'N', b'G', 0x0d, 0x0a, 0x1a, 0x0a];
    let mut ihdr = b"IHDR".to_vec();
    ihdr.extend_from_slice(&100_000u32.to_be_bytes());
    ihdr.extend_from_slice(&100_000u32.to_be_bytes());
    ihdr.extend_from_slice(&[8, 2, 0, 0, 0]);
    png.extend_from_slice(&13u32.to_be_bytes());
    png.extend_from_slice(&ihdr);
    png.extend_from_slice(&crc32(&ihdr).to_be_bytes());
    png
}

fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("VmHWM:")).map(str::to_owned))
        .and_then(|l| l.split_whitespace().nth(1).and_then(|n| n.parse().ok()))
        .unwrap_or(0)
}

async fn bad_images_are_refused_cheaply(backend: Backend) {
    let s = TestServer::new(backend).await;
    let alice = s.register("alice", "pw").await;
    let before = peak_rss_kib();
    let id = uploaded(&s, &alice.token, "image/png", None, bomb()).await;
    let refused = thumbnail_of(&s, &alice.token, &id, "width=96&height=96&method=crop").await;
    assert_eq!(refused.status(), 400);
    // A decoded 100,000² image would take 30 GB; the header alone is read.
    assert!(
        peak_rss_kib() < before + 200 * 1024,
        "peak RSS grew from {before} KiB to {} KiB",
        peak_rss_kib()
    );

    let mut truncated = picture(ImageFormat::Png);
    truncated.truncate(truncated.len() / 3);
    let id = uploaded(&s, &alice.token, "image/png", None, truncated).await;
    let refused = thumbnail_of(&s, &alice.token, &id, "width=96&height=96").await;
    assert_eq!(refused.status(), 400);
    let missing = thumbnail_of(&s, &alice.token, &id, "method=crop").await;
    assert_eq!(missing.status(), 400);
    assert_eq!(missing.json::<Value>().await.expect("json")["errcode"], "M_MISSING_PARAM");
}
