//! Media in an S3-compatible bucket (moto's server): uploads land in the
//! bucket under their hash, large ones in parts; another instance with an
//! empty cache downloads them byte for byte and thumbnails them; a bucket
//! that does not exist stops the start with a message that says so.

use image::ImageFormat;
use sha2::Digest;

use super::{media_path, thumbnails::picture};
use crate::common::{Backend, TestServer, s3::S3Server, upload_media};

fn sha256_hex(bytes: &[u8]) -> String {
    sha2::Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

async fn get(s: &TestServer, token: &str, path: &str) -> reqwest::Response {
    s.http().get(format!("{}{path}", s.url())).bearer_auth(token).send().await.expect("answer")
}

#[tokio::test]
async fn instances_share_media_through_the_bucket() {
    if !lattice_homeserver::testing::postgres_available() {
        eprintln!("skipped: TEST_POSTGRES_URL is not set");
        return;
    }
    let Some(bucket) = S3Server::start().await else { return };
    // A keeps nothing in its cache (every read goes to the bucket); B some.
    let a = TestServer::start(Backend::Postgres, |c| bucket.configure(c, "media/", 0)).await;
    let b = a.another_instance_with(|c| c.media.s3.cache_bytes = 64 * 1024 * 1024).await;
    let alice = a.register("alice", "pw").await;

    // 20 MB: three parts of a multipart upload.
    let big: Vec<u8> = (0..20_000_000u32).map(|i| (i % 251) as u8).collect();
    let uri =
        upload_media(a.http(), a.url(), &alice.token, "application/octet-stream", big.clone())
            .await;
    let key = format!("media/{}", sha256_hex(&big));
    assert_eq!(bucket.object_size(&key).await, Some(big.len() as u64), "in the bucket whole");
    assert!(!a.config().server.data_dir.join("media").exists(), "nothing went to the data folder");

    let path = format!("/_matrix/client/v1/media/download/{}", media_path(&uri));
    for server in [&a, &b, &b] {
        let answer = get(server, &alice.token, &path).await;
        assert_eq!(answer.status(), 200);
        let body = answer.bytes().await.expect("body");
        assert!(body == big.as_slice(), "byte for byte, from either instance");
    }

    // B kept what it read in its cache; A, with no room for it, kept nothing.
    let sha = sha256_hex(&big);
    let cached = |s: &TestServer| {
        let dir = s.config().server.data_dir.join("media-cache");
        dir.join(&sha[..2]).join(&sha[2..4]).join(&sha).exists()
    };
    assert!(cached(&b), "read through B's cache");
    assert!(!cached(&a), "A keeps nothing");

    // A picture uploaded on B is thumbnailed on A; the thumbnail is kept in the bucket too.
    let png = picture(ImageFormat::Png);
    let uri = upload_media(b.http(), b.url(), &alice.token, "image/png", png).await;
    let before = bucket.keys().await.len();
    let thumbnail = format!(
        "/_matrix/client/v1/media/thumbnail/{}?width=64&height=64&method=scale",
        media_path(&uri)
    );
    let answer = get(&a, &alice.token, &thumbnail).await;
    assert_eq!(answer.status(), 200);
    assert_eq!(answer.headers()["content-type"], "image/png");
    let thumb = answer.bytes().await.expect("thumbnail");
    assert!(image::load_from_memory(&thumb).expect("an image").width() < 1000, "scaled down");
    let keys = bucket.keys().await;
    assert_eq!(keys.len(), before + 1, "the thumbnail is stored: {keys:?}");
    assert!(keys.iter().all(|key| key.starts_with("media/")), "{keys:?}");
}

#[tokio::test]
async fn a_bucket_that_does_not_exist_stops_the_start() {
    let Some(bucket) = S3Server::start().await else { return };
    let dir = tempfile::tempdir().expect("dir");
    let mut config = lattice_homeserver::testing::config(dir.path());
    bucket.configure(&mut config, "", 0);
    config.media.s3.bucket = "no-such-bucket".into();
    let refused = lattice_homeserver::Server::new(config).await.err().expect("refused");
    assert!(refused.to_string().contains("no-such-bucket"), "{refused}");
}
