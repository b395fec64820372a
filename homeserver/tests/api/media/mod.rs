//! The media repository: uploads, downloads, async uploads, limits and the
//! headers that keep uploaded content harmless.

use reqwest::header;
use serde_json::Value;

use crate::{
    backend_tests,
    common::{Backend, TestServer},
};

mod previews;
mod s3;
pub(crate) mod thumbnails;

backend_tests!(
    upload_and_download_round_trip,
    async_uploads_fill_a_reserved_id,
    limits_and_unknown_media,
    served_content_cannot_run_script,
    uploads_have_their_own_rate_limit,
);

async fn upload(
    s: &TestServer,
    token: &str,
    content_type: &str,
    name: Option<&str>,
    bytes: Vec<u8>,
) -> reqwest::Response {
    let mut url = format!("{}/_matrix/media/v3/upload", s.url());
    if let Some(name) = name {
        url.push_str(&format!("?filename={name}"));
    }
    s.http()
        .post(url)
        .bearer_auth(token)
        .header(header::CONTENT_TYPE, content_type)
        .body(bytes)
        .send()
        .await
        .expect("upload sent")
}

/// Uploads and returns the new media's `server/id` path.
async fn uploaded(
    s: &TestServer,
    token: &str,
    content_type: &str,
    name: Option<&str>,
    bytes: Vec<u8>,
) -> String {
    let answer: Value =
        upload(s, token, content_type, name, bytes).await.json().await.expect("json");
    media_path(answer["content_uri"].as_str().expect("uri"))
}

fn media_path(uri: &str) -> String {
    uri.strip_prefix("mxc://").expect("mxc uri").to_owned()
}

async fn download(s: &TestServer, token: Option<&str>, path: &str) -> reqwest::Response {
    let mut request = s.http().get(format!("{}{path}", s.url()));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    request.send().await.expect("download sent")
}

async fn upload_and_download_round_trip(backend: Backend) {
    let mut s = TestServer::new(backend).await;
    let alice = s.register("alice", "pw").await;
    let bob = s.register("bob", "pw").await;
    let big: Vec<u8> =
        (0..50_000_000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
    for (bytes, kind) in
        [(b"hello media".to_vec(), "text/plain"), (big, "application/octet-stream")]
    {
        let answer: Value = upload(&s, &alice.token, kind, Some("file.bin"), bytes.clone())
            .await
            .json()
            .await
            .expect("json");
        let uri = answer["content_uri"].as_str().expect("content_uri");
        assert!(uri.starts_with("mxc://localhost/"));
        let path = format!("/_matrix/client/v1/media/download/{}", media_path(uri));
        let fetched = download(&s, Some(&bob.token), &path).await;
        assert_eq!(fetched.status(), 200);
        assert_eq!(fetched.headers()[header::CONTENT_LENGTH], bytes.len().to_string().as_str());
        assert_eq!(fetched.bytes().await.expect("body").to_vec(), bytes);
    }
    // Content survives a restart.
    let answer: Value = upload(&s, &alice.token, "text/plain", None, b"kept".to_vec())
        .await
        .json()
        .await
        .expect("json");
    let path = format!(
        "/_matrix/client/v1/media/download/{}",
        media_path(answer["content_uri"].as_str().expect("uri"))
    );
    s.restart().await;
    assert_eq!(
        download(&s, Some(&alice.token), &path).await.bytes().await.expect("body").as_ref(),
        b"kept"
    );
    let config = s.get("/_matrix/client/v1/media/config", Some(&alice.token)).await.ok();
    assert!(config["m.upload.size"].as_u64().expect("size") > 0);
}

async fn async_uploads_fill_a_reserved_id(backend: Backend) {
    let s = TestServer::new(backend).await;
    let alice = s.register("alice", "pw").await;
    let bob = s.register("bob", "pw").await;
    let created =
        s.post("/_matrix/media/v1/create", Some(&alice.token), serde_json::json!({})).await.ok();
    let uri = created["content_uri"].as_str().expect("uri").to_owned();
    assert!(created["unused_expires_at"].as_i64().is_some());
    let id = media_path(&uri);
    let path = format!("/_matrix/client/v1/media/download/{id}");
    let early = download(&s, Some(&alice.token), &path).await;
    assert_eq!(early.status(), 504);
    assert_eq!(early.json::<Value>().await.expect("json")["errcode"], "M_NOT_YET_UPLOADED");

    let put = |token: String, bytes: &'static [u8]| {
        let url = format!("{}/_matrix/media/v3/upload/{id}", s.url());
        let http = s.http().clone();
        async move {
            http.put(url)
                .bearer_auth(token)
                .header(header::CONTENT_TYPE, "text/plain")
                .body(bytes)
                .send()
                .await
                .expect("sent")
        }
    };
    assert_eq!(put(bob.token.clone(), b"not yours").await.status(), 403);
    assert_eq!(put(alice.token.clone(), b"later content").await.status(), 200);
    let again = put(alice.token.clone(), b"overwrite").await;
    assert_eq!(again.status(), 409);
    assert_eq!(again.json::<Value>().await.expect("json")["errcode"], "M_CANNOT_OVERWRITE_MEDIA");
    let fetched = download(&s, Some(&bob.token), &path).await;
    assert_eq!(fetched.bytes().await.expect("body").as_ref(), b"later content");
}

async fn limits_and_unknown_media(backend: Backend) {
    let s = TestServer::start(backend, |c| c.media.max_upload_bytes = 1000).await;
    let alice = s.register("alice", "pw").await;
    let too_big = upload(&s, &alice.token, "application/octet-stream", None, vec![7u8; 5000]).await;
    assert_eq!(too_big.status(), 413);
    assert_eq!(too_big.json::<Value>().await.expect("json")["errcode"], "M_TOO_LARGE");
    let fine: Value = upload(&s, &alice.token, "text/plain", None, vec![b'a'; 999])
        .await
        .json()
        .await
        .expect("json");
    let id = media_path(fine["content_uri"].as_str().expect("uri"));

    let anonymous = download(&s, None, &format!("/_matrix/client/v1/media/download/{id}")).await;
    assert_eq!(anonymous.status(), 401);
    assert_eq!(anonymous.json::<Value>().await.expect("json")["errcode"], "M_MISSING_TOKEN");
    let unknown =
        download(&s, Some(&alice.token), "/_matrix/client/v1/media/download/localhost/nothing")
            .await;
    assert_eq!(unknown.status(), 404);
    assert_eq!(unknown.json::<Value>().await.expect("json")["errcode"], "M_NOT_FOUND");
    // Media uploaded after the freeze is not on the unauthenticated paths.
    let legacy = download(&s, None, &format!("/_matrix/media/v3/download/{id}")).await;
    assert_eq!(legacy.status(), 404);
    let quota = TestServer::start(backend, |c| c.media.user_quota_bytes = 1500).await;
    let bob = quota.register("bob", "pw").await;
    assert_eq!(
        upload(&quota, &bob.token, "text/plain", None, vec![b'b'; 1000]).await.status(),
        200
    );
    let over = upload(&quota, &bob.token, "text/plain", None, vec![b'b'; 1000]).await;
    assert_eq!(over.status(), 403);
    assert_eq!(over.json::<Value>().await.expect("json")["errcode"], "M_FORBIDDEN");
    let no_upload_without_token = s
        .http()
        .post(format!("{}/_matrix/media/v3/upload", s.url()))
        .body("x")
        .send()
        .await
        .expect("sent");
    assert_eq!(no_upload_without_token.status(), 401);
}

async fn served_content_cannot_run_script(backend: Backend) {
    let s = TestServer::start(backend, |c| c.media.freeze_after = u64::MAX / 2000).await;
    let alice = s.register("alice", "pw").await;
    let html = b"<html><script>alert(document.cookie)</script></html>".to_vec();
    let id = uploaded(&s, &alice.token, "text/html", Some("evil.html"), html).await;
    let served =
        download(&s, Some(&alice.token), &format!("/_matrix/client/v1/media/download/{id}")).await;
    let headers = served.headers();
    assert!(
        headers[header::CONTENT_DISPOSITION].to_str().expect("ascii").starts_with("attachment")
    );
    assert!(headers[header::CONTENT_SECURITY_POLICY].to_str().expect("ascii").contains("sandbox"));
    assert_eq!(headers[header::X_CONTENT_TYPE_OPTIONS], "nosniff");

    let png = vec![0x89, b'P', b'N', b'G', 0x0d, 0x0a, 0x1a, 0x0a];
    let id = uploaded(&s, &alice.token, "image/png", Some("cat picture.png"), png).await;
    let served =
        download(&s, Some(&alice.token), &format!("/_matrix/client/v1/media/download/{id}")).await;
    let disposition =
        served.headers()[header::CONTENT_DISPOSITION].to_str().expect("ascii").to_owned();
    assert_eq!(disposition, "inline; filename*=utf-8''cat%20picture.png");
    // Before the freeze, the legacy path still serves it.
    let legacy = download(&s, None, &format!("/_matrix/media/v3/download/{id}/renamed.png")).await;
    assert_eq!(legacy.status(), 200);
    assert!(
        legacy.headers()[header::CONTENT_DISPOSITION]
            .to_str()
            .expect("ascii")
            .contains("renamed.png")
    );
}

async fn uploads_have_their_own_rate_limit(backend: Backend) {
    let s = TestServer::start(backend, |c| {
        c.rate_limits.enabled = true;
        c.rate_limits.upload_per_minute = 1;
        c.rate_limits.upload_burst = 2;
    })
    .await;
    let alice = s.register("alice", "pw").await;
    let bob = s.register("bob", "pw").await;
    for _ in 0..2 {
        assert_eq!(upload(&s, &alice.token, "text/plain", None, b"x".to_vec()).await.status(), 200);
    }
    let limited = upload(&s, &alice.token, "text/plain", None, b"x".to_vec()).await;
    assert_eq!(limited.status(), 429);
    let body: Value = limited.json().await.expect("json");
    assert_eq!(body["errcode"], "M_LIMIT_EXCEEDED");
    assert!(body["retry_after_ms"].as_u64().expect("retry_after_ms") > 0);
    // Other requests and other users are not held back.
    s.get("/_matrix/client/v1/media/config", Some(&alice.token)).await.ok();
    assert_eq!(upload(&s, &bob.token, "text/plain", None, b"y".to_vec()).await.status(), 200);
}
