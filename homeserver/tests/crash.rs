//! Crash safety: the `lattice` binary is killed with SIGKILL again and
//! again while clients send into a room; after the last restart every
//! message a client was told was sent is there, in the order each client
//! sent them. On SQLite and on PostgreSQL.

mod binary;

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use binary::{call, create_room, register, start};
use lattice_homeserver::testing;
use serde_json::json;
use tokio::sync::Notify;

/// How often the server is killed, how many clients send meanwhile, and
/// how many messages are acknowledged between two kills.
const KILLS: usize = 10;
const SENDERS: usize = 4;
const ACKED_PER_ROUND: usize = 50;

#[tokio::test]
async fn acknowledged_messages_survive_kills_on_sqlite() {
    acknowledged_messages_survive_kills(None).await;
}

#[tokio::test]
async fn acknowledged_messages_survive_kills_on_postgres() {
    if !testing::postgres_available() {
        eprintln!("skipped: TEST_POSTGRES_URL is not set");
        return;
    }
    acknowledged_messages_survive_kills(Some(testing::fresh_postgres_database().await)).await;
}

/// What the clients were told was sent: each sender's numbers, in order.
#[derive(Default)]
struct Acknowledged {
    by_sender: Vec<Vec<u64>>,
    total: usize,
}

async fn acknowledged_messages_survive_kills(database: Option<String>) {
    let dir = tempfile::tempdir().expect("data folder");
    let http = binary::http();
    let (mut server, mut url) = start(dir.path(), database.as_deref()).await;
    let token = register(&http, &url).await;
    let room = create_room(&http, &url, &token).await;

    let acked =
        Arc::new(Mutex::new(Acknowledged { by_sender: vec![Vec::new(); SENDERS], total: 0 }));
    let progress = Arc::new(Notify::new());
    let mut next_number = [0u64; SENDERS];
    for kill in 0..=KILLS {
        // Senders send until the server dies under them.
        let target = acked.lock().expect("lock").total + ACKED_PER_ROUND;
        let mut senders = Vec::new();
        for (sender, first) in next_number.iter().enumerate() {
            let (http, url, token, room) = (http.clone(), url.clone(), token.clone(), room.clone());
            let (acked, progress) = (acked.clone(), progress.clone());
            let first = *first;
            senders.push(tokio::spawn(async move {
                let mut number = first;
                loop {
                    let path = format!(
                        "{url}/_matrix/client/v3/rooms/{room}/send/m.room.message/k{kill}s{sender}n{number}"
                    );
                    let body = json!({"msgtype": "m.text", "body": format!("{sender}:{number}")});
                    let sent = http.put(path).bearer_auth(&token).json(&body).send().await;
                    match sent {
                        Ok(answer) if answer.status().is_success() => {
                            let mut acked = acked.lock().expect("lock");
                            acked.by_sender[sender].push(number);
                            acked.total += 1;
                            progress.notify_waiters();
                        }
                        // The server is gone: this round is over.
                        _ => return number + 1,
                    }
                    number += 1;
                }
            }));
        }
        let reached = async {
            loop {
                let waiting = progress.notified();
                if acked.lock().expect("lock").total >= target {
                    return;
                }
                waiting.await;
            }
        };
        tokio::time::timeout(Duration::from_secs(120), reached).await.expect("messages flow");
        if kill == KILLS {
            // The last round ends without a kill: the check reads this server.
            for sender in senders {
                sender.abort();
            }
            break;
        }
        server.kill().await.expect("SIGKILL");
        for (sender, task) in senders.into_iter().enumerate() {
            next_number[sender] = task.await.expect("sender");
        }
        (server, url) = start(dir.path(), database.as_deref()).await;
    }

    // Everything acknowledged is there, in each sender's order.
    let mut seen: Vec<Vec<u64>> = vec![Vec::new(); SENDERS];
    let mut from: Option<String> = None;
    loop {
        let mut page = format!("{url}/_matrix/client/v3/rooms/{room}/messages?dir=f&limit=500");
        if let Some(from) = &from {
            page.push_str(&format!("&from={from}"));
        }
        let answer = call(&http, reqwest::Method::GET, page, &token, None).await;
        let chunk = answer["chunk"].as_array().cloned().unwrap_or_default();
        for event in &chunk {
            let Some((sender, number)) =
                event["content"]["body"].as_str().and_then(|b| b.split_once(':'))
            else {
                continue;
            };
            if let (Ok(sender), Ok(number)) = (sender.parse::<usize>(), number.parse::<u64>()) {
                seen[sender].push(number);
            }
        }
        match answer["end"].as_str() {
            Some(end) if !chunk.is_empty() => from = Some(end.to_owned()),
            _ => break,
        }
    }
    let acked = acked.lock().expect("lock");
    let mut lost = 0;
    for (sender, numbers) in acked.by_sender.iter().enumerate() {
        let stored = &seen[sender];
        lost += numbers.iter().filter(|n| !stored.contains(n)).count();
        let mut in_order = stored.clone();
        in_order.sort_unstable();
        assert_eq!(stored, &in_order, "sender {sender}'s messages are in the order sent");
    }
    eprintln!(
        "crash safety ({}): {KILLS} kills, {} messages acknowledged, {lost} lost",
        if database.is_some() { "PostgreSQL" } else { "SQLite" },
        acked.total
    );
    assert_eq!(lost, 0, "acknowledged messages were lost");
    drop(server);
}
