//! The accept loop's limits: a client that dribbles its headers, or keeps
//! a connection open without asking anything more, is cut off, and
//! connections past the cap wait until one closes.

use std::time::Duration;

use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};

use crate::common::{Backend, TestServer};

fn address(s: &TestServer) -> String {
    s.url().trim_start_matches("http://").to_owned()
}

#[tokio::test]
async fn slow_headers_are_cut_off() {
    let s = TestServer::start(Backend::Sqlite, |c| {
        c.limits.header_read_timeout = Duration::from_secs(1)
    })
    .await;
    let mut slow = TcpStream::connect(address(&s)).await.expect("connect");
    // Half a request, and then nothing.
    slow.write_all(b"GET /health HTTP/1.1\r\nHost: localhost\r\n").await.expect("write");
    let mut rest = Vec::new();
    let ended = tokio::time::timeout(Duration::from_secs(10), slow.read_to_end(&mut rest)).await;
    assert!(ended.is_ok(), "the server kept a connection whose headers never came");
    assert!(!String::from_utf8_lossy(&rest).contains("200 OK"));
    // A connection that never says anything is closed the same way.
    let mut silent = TcpStream::connect(address(&s)).await.expect("connect");
    let ended = tokio::time::timeout(Duration::from_secs(10), silent.read_to_end(&mut rest)).await;
    assert!(ended.is_ok(), "the server kept a silent connection");
    // A kept-alive connection that goes quiet after a request is closed too.
    let mut idle = TcpStream::connect(address(&s)).await.expect("connect");
    idle.write_all(b"GET /health HTTP/1.1\r\nHost: localhost\r\n\r\n").await.expect("write");
    let mut answer = Vec::new();
    let ended = tokio::time::timeout(Duration::from_secs(10), idle.read_to_end(&mut answer)).await;
    assert!(ended.is_ok(), "the server kept an idle keep-alive connection");
    assert!(String::from_utf8_lossy(&answer).contains("200 OK"), "the request was answered");
    // Whole requests are still served.
    let health = s.http().get(format!("{}/health", s.url())).send().await.expect("health");
    assert_eq!(health.status(), 200);
}

#[tokio::test]
async fn connections_past_the_cap_wait() {
    let s = TestServer::start(Backend::Sqlite, |c| c.limits.max_connections = 2).await;
    let first = TcpStream::connect(address(&s)).await.expect("connect");
    let _second = TcpStream::connect(address(&s)).await.expect("connect");
    let health = format!("{}/health", s.url());
    let waiting = s.http().get(&health).timeout(Duration::from_millis(500)).send().await;
    assert!(waiting.is_err(), "a third connection was served past the cap of two");
    // One of the two goes away: the next comes in.
    drop(first);
    let served = s.http().get(&health).timeout(Duration::from_secs(10)).send().await;
    assert_eq!(served.expect("served once a slot freed").status(), 200);
}
