//! Two `lattice` processes on one PostgreSQL database, clients sending
//! through both into one room; one is killed with SIGKILL mid-load. The
//! survivor takes its rooms over at once (the dead one's advisory lock went
//! with its connections), its clients carry on through the survivor with
//! the same tokens, and every message a client was told was sent is
//! there, in each client's order.

mod binary;

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use binary::{call, create_room, lattice, register, start_command};
use lattice_homeserver::testing;
use serde_json::json;
use tokio::sync::Notify;

const SENDERS: usize = 2;
const BEFORE_KILL: usize = 60;
const AFTER_KILL: usize = 60;

#[tokio::test]
async fn an_instance_killed_mid_load_loses_nothing_acknowledged() {
    if !testing::postgres_available() {
        eprintln!("skipped: TEST_POSTGRES_URL is not set");
        return;
    }
    let database = testing::fresh_postgres_database().await;
    let (dir_a, dir_b) = (tempfile::tempdir().expect("dir"), tempfile::tempdir().expect("dir"));
    let instance = |dir: &std::path::Path, name: &str| {
        let mut command = lattice(dir, Some(&database));
        command.env("LATTICE_CLUSTER__INSTANCE_NAME", name);
        command
    };
    let (mut a, url_a) = start_command(instance(dir_a.path(), "a")).await;
    let (_b, url_b) = start_command(instance(dir_b.path(), "b")).await;
    let http = binary::http();
    let token = register(&http, &url_a).await;
    let room = create_room(&http, &url_a, &token).await;

    // Sender 0 talks to A, sender 1 to B; each moves to B when its
    // instance is gone, and goes on numbering where it was.
    let acked = Arc::new(Mutex::new(vec![Vec::<u64>::new(); SENDERS]));
    let progress = Arc::new(Notify::new());
    // Held by the test to keep sender 1 (on B) still while A writes the room.
    let gate = Arc::new(tokio::sync::Mutex::new(()));
    let mut senders = Vec::new();
    for (sender, first_url) in [url_a.clone(), url_b.clone()].into_iter().enumerate() {
        let (http, token, room, url_b) = (http.clone(), token.clone(), room.clone(), url_b.clone());
        let (acked, progress, gate) = (acked.clone(), progress.clone(), gate.clone());
        senders.push(tokio::spawn(async move {
            let mut url = first_url;
            let mut number = 0u64;
            loop {
                let _turn = match sender {
                    1 => Some(gate.lock().await),
                    _ => None,
                };
                let path = format!(
                    "{url}/_matrix/client/v3/rooms/{room}/send/m.room.message/s{sender}n{number}"
                );
                let body = json!({"msgtype": "m.text", "body": format!("{sender}:{number}")});
                match http.put(path).bearer_auth(&token).json(&body).send().await {
                    Ok(answer) if answer.status().is_success() => {
                        acked.lock().expect("lock")[sender].push(number);
                        progress.notify_waiters();
                        number += 1;
                    }
                    // Its instance is gone: the same request, through the other.
                    Err(_) => url = url_b.clone(),
                    // Refused while the room moves: asked again (same txn id).
                    Ok(_) => tokio::task::yield_now().await,
                }
            }
        }));
    }
    let total = |acked: &Mutex<Vec<Vec<u64>>>| -> usize {
        acked.lock().expect("lock").iter().map(Vec::len).sum()
    };
    let reach = |target: usize| {
        let (acked, progress) = (acked.clone(), progress.clone());
        async move {
            loop {
                let waiting = progress.notified();
                if total(&acked) >= target {
                    return;
                }
                waiting.await;
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(120), reach(BEFORE_KILL))
        .await
        .expect("messages flow through both instances");
    // A client syncing through A: it will go on from this token through B.
    let sync = format!("{url_a}/_matrix/client/v3/sync?timeout=0");
    let synced = call(&http, reqwest::Method::GET, sync, &token, None).await;
    let since = synced["next_batch"].as_str().expect("a sync token").to_owned();

    // A writes the room when it dies: B must take it over.
    let hold = gate.lock().await;
    let path = format!("{url_a}/_matrix/client/v3/rooms/{room}/send/m.room.message/last-on-a");
    let sent = call(&http, reqwest::Method::PUT, path, &token, Some(json!({"body": "-"}))).await;
    assert!(sent["event_id"].is_string(), "{sent}");
    a.kill().await.expect("SIGKILL");
    drop(hold);
    let at_kill = total(&acked);
    tokio::time::timeout(Duration::from_secs(120), reach(at_kill + AFTER_KILL))
        .await
        .expect("messages flow through the survivor");
    for sender in senders {
        sender.abort();
    }

    // The token A gave continues on B: everything since, the last message
    // A stored before it died among it.
    let filter = "%7B%22room%22%3A%7B%22timeline%22%3A%7B%22limit%22%3A1000%7D%7D%7D";
    let sync = format!("{url_b}/_matrix/client/v3/sync?timeout=0&since={since}&filter={filter}");
    let synced = call(&http, reqwest::Method::GET, sync, &token, None).await;
    let events = synced["rooms"]["join"][&room]["timeline"]["events"].as_array().cloned();
    let events = events.expect("the room's news since the token");
    assert!(events.iter().any(|e| e["content"]["body"] == "-"), "A's last message is there");
    assert!(events.len() >= AFTER_KILL, "and those sent through B since: {}", events.len());
    let acked = acked.lock().expect("lock").clone();
    assert!(acked.iter().all(|numbers| !numbers.is_empty()), "both senders were acknowledged");

    // Everything acknowledged is there, in each sender's order, read from the survivor.
    let page = format!("{url_b}/_matrix/client/v3/rooms/{room}/messages?dir=f&limit=1000");
    let answer = call(&http, reqwest::Method::GET, page, &token, None).await;
    let mut seen = vec![Vec::<u64>::new(); SENDERS];
    for event in answer["chunk"].as_array().cloned().unwrap_or_default() {
        let Some((sender, number)) =
            event["content"]["body"].as_str().and_then(|body| body.split_once(':'))
        else {
            continue;
        };
        if let (Ok(sender), Ok(number)) = (sender.parse::<usize>(), number.parse::<u64>()) {
            seen[sender].push(number);
        }
    }
    for sender in 0..SENDERS {
        let stored = &seen[sender];
        let lost: Vec<_> = acked[sender].iter().filter(|n| !stored.contains(n)).collect();
        assert!(lost.is_empty(), "sender {sender}: acknowledged but not stored: {lost:?}");
        let mut sorted = stored.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(stored, &sorted, "sender {sender}: stored once each, in the order sent");
    }
}
