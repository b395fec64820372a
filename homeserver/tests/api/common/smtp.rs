//! A real SMTP server for the e-mail tests: aiosmtpd (PyPI), started on a
//! free port, printing every message it receives; the test reads them.
//! Needs LATTICE_AIOSMTPD (a python with aiosmtpd); without it the tests
//! say they were skipped, unless LATTICE_REQUIRE_SMTP is set (as in CI).

use std::{
    io::{BufRead, BufReader, Write},
    process::{Child, ChildStdin},
    time::Duration,
};

use tokio::sync::mpsc;

use super::federation::free_port;

/// Starts the server, says READY once it listens, runs until stdin closes.
const SINK: &str = r#"
import sys
from aiosmtpd.controller import Controller
from aiosmtpd.handlers import Debugging
controller = Controller(Debugging(sys.stdout), hostname="127.0.0.1", port=int(sys.argv[1]))
controller.start()
print("READY", flush=True)
sys.stdin.read()
controller.stop()
"#;

pub struct SmtpSink {
    child: Child,
    /// Held open: the sink stops when it closes.
    _stdin: ChildStdin,
    pub port: u16,
    messages: mpsc::UnboundedReceiver<String>,
}

impl SmtpSink {
    pub async fn start() -> Option<Self> {
        let python = super::peer_python("LATTICE_AIOSMTPD", "LATTICE_REQUIRE_SMTP", "aiosmtpd")?;
        let port = free_port();
        let (child, stdin, stdout) = super::run_python_script(python, SINK, port);
        let (ready, started) = tokio::sync::oneshot::channel();
        let (sender, messages) = mpsc::unbounded_channel();
        std::thread::spawn(move || {
            let mut ready = Some(ready);
            let mut message: Option<String> = None;
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                match line.as_str() {
                    "READY" => {
                        ready.take().map(|ready| ready.send(()));
                    }
                    "---------- MESSAGE FOLLOWS ----------" => message = Some(String::new()),
                    "------------ END MESSAGE ------------" => {
                        if let Some(done) = message.take() {
                            let _ = sender.send(done);
                        }
                    }
                    text => {
                        if let Some(message) = &mut message {
                            message.push_str(text);
                            message.push('\n');
                        }
                    }
                }
            }
        });
        let started = tokio::time::timeout(Duration::from_secs(30), started).await;
        assert!(matches!(started, Ok(Ok(()))), "aiosmtpd did not start");
        Some(Self { child, _stdin: stdin, port, messages })
    }

    /// The `smtp_url` of this server.
    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    /// The next message the server receives (headers and body).
    pub async fn next_message(&mut self) -> String {
        tokio::time::timeout(Duration::from_secs(15), self.messages.recv())
            .await
            .expect("an e-mail arrived in time")
            .expect("the SMTP server is running")
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        let _ = self._stdin.flush();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
