//! The echo bot example, run as its own process against a real server.

use std::{
    io::{BufRead, BufReader},
    path::PathBuf,
    process::{Child, Command, Stdio},
};

use lattice_homeserver::testing::{Backend, TestServer};
use lattice_sdk::{
    Room,
    ruma::{
        api::client::room::create_room,
        events::room::{
            member::{MembershipState, OriginalSyncRoomMemberEvent},
            message::{MessageType, OriginalSyncRoomMessageEvent},
        },
    },
};
use tokio::sync::mpsc::unbounded_channel;

use crate::{
    backend_tests,
    common::{registered, sync_until},
};

backend_tests!(echo_bot_answers);

/// `cargo test` builds the examples next to the test binaries.
fn example(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("test binary path");
    let dir = exe.parent().and_then(|deps| deps.parent()).expect("target dir");
    let path = dir.join("examples").join(name);
    assert!(path.exists(), "{} is missing: run the tests with `cargo test`", path.display());
    path
}

/// Kills the bot when the test ends, however it ends.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

async fn echo_bot_answers(backend: Backend) {
    let server = TestServer::start(backend, |_| {}).await;
    let bot = registered(&server, "echo").await;
    let bot_id = bot.user_id().expect("id");
    drop(bot);
    let dir = tempfile::tempdir().expect("temp dir");
    let mut child = Command::new(example("echo_bot"))
        .args(["--homeserver", server.url(), "--user", "echo"])
        .arg("--store")
        .arg(dir.path().join("bot.sqlite"))
        .env("ECHO_BOT_PASSWORD", "correct horse")
        .stdout(Stdio::piped())
        .spawn()
        .expect("bot started");
    let stdout = child.stdout.take().expect("stdout");
    let _bot = Running(child);
    let ready = tokio::task::spawn_blocking(move || {
        BufReader::new(stdout).lines().map_while(Result::ok).any(|line| line == "ready")
    });
    assert!(ready.await.expect("reader"), "the bot said it was ready");

    let alice = registered(&server, "alice").await;
    let (joined, mut joins) = unbounded_channel();
    let bot_in_room = bot_id.clone();
    alice.add_event_handler(move |event: OriginalSyncRoomMemberEvent, _: Room| {
        let joined = joined.clone();
        let bot = bot_in_room.clone();
        async move {
            if event.state_key == bot && event.content.membership == MembershipState::Join {
                let _ = joined.send(());
            }
        }
    });
    let mut request = create_room::v3::Request::new();
    request.invite = vec![bot_id.clone()];
    let room = alice.create_room(request).await.expect("room");
    sync_until(&alice, &mut joins).await;

    let (said, mut notices) = unbounded_channel();
    alice.add_event_handler(move |event: OriginalSyncRoomMessageEvent, _: Room| {
        let said = said.clone();
        async move {
            if let MessageType::Notice(notice) = event.content.msgtype {
                let _ = said.send((event.sender, notice.body));
            }
        }
    });
    room.send_text("hello bot").await.expect("sent");
    let (sender, body) = sync_until(&alice, &mut notices).await;
    assert_eq!((sender, body.as_str()), (bot_id, "echo: hello bot"));
}
