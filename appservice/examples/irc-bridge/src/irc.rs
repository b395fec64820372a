//! One connection to the IRC server: registers a nick (adding `_` while
//! the nick is taken), answers the server's PINGs, and hands on what
//! arrives. Lines go out through a channel, so sending never blocks.

use std::time::Duration;

use irc_proto::{Command, Message, Response};
use tokio::{
    io::{AsyncBufReadExt, AsyncWriteExt, BufReader},
    net::TcpStream,
    sync::mpsc,
};

/// How long the server may take to welcome a new connection.
const WELCOME_TIMEOUT: Duration = Duration::from_secs(30);

/// A registered IRC connection. Dropping every clone closes it.
#[derive(Clone, Debug)]
pub struct IrcClient {
    nick: String,
    out: mpsc::UnboundedSender<Message>,
}

impl IrcClient {
    /// Connects to `server` (host:port) as `nick`; what the server sends
    /// after the welcome goes to `incoming`, when given.
    pub async fn connect(
        server: &str,
        nick: &str,
        incoming: Option<mpsc::UnboundedSender<Message>>,
    ) -> std::io::Result<Self> {
        let stream = TcpStream::connect(server).await?;
        let (read, mut write) = stream.into_split();
        let mut lines = BufReader::new(read).lines();
        let mut nick = nick.to_owned();
        // Servers allow fewer characters in user names than in nicks.
        let user: String = nick.chars().filter(char::is_ascii_alphanumeric).collect();
        let hello = [
            Message::from(Command::NICK(nick.clone())),
            Message::from(Command::USER(user, "0".into(), nick.clone())),
        ];
        for message in hello {
            write.write_all(message.to_string().as_bytes()).await?;
        }
        let welcomed = async {
            while let Some(line) = lines.next_line().await? {
                let Ok(message) = line.parse::<Message>() else { continue };
                match message.command {
                    Command::Response(Response::RPL_WELCOME, _) => return Ok(()),
                    Command::Response(Response::ERR_NICKNAMEINUSE, _) => {
                        nick.push('_');
                        let again = Message::from(Command::NICK(nick.clone()));
                        write.write_all(again.to_string().as_bytes()).await?;
                    }
                    Command::PING(server, _) => {
                        let pong = Message::from(Command::PONG(server, None));
                        write.write_all(pong.to_string().as_bytes()).await?;
                    }
                    _ => {}
                }
            }
            Err(std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "the IRC server hung up"))
        };
        tokio::time::timeout(WELCOME_TIMEOUT, welcomed).await.map_err(|_| {
            std::io::Error::new(std::io::ErrorKind::TimedOut, "no welcome from the IRC server")
        })??;

        let (out, mut outgoing) = mpsc::unbounded_channel::<Message>();
        let pongs = out.clone();
        tokio::spawn(async move {
            while let Some(message) = outgoing.recv().await {
                if write.write_all(message.to_string().as_bytes()).await.is_err() {
                    break;
                }
            }
        });
        let me = nick.clone();
        tokio::spawn(async move {
            while let Ok(Some(line)) = lines.next_line().await {
                let Ok(message) = line.parse::<Message>() else { continue };
                if let Command::PING(server, _) = &message.command {
                    let _ = pongs.send(Message::from(Command::PONG(server.clone(), None)));
                } else if let Some(incoming) = &incoming {
                    let _ = incoming.send(message);
                }
            }
            tracing::warn!(nick = %me, "IRC connection closed");
        });
        Ok(Self { nick, out })
    }

    /// The nick the server accepted.
    pub fn nick(&self) -> &str {
        &self.nick
    }

    /// Sends a message to a channel or nick; each line of `text` goes as
    /// its own PRIVMSG (a line break must never end the command early).
    pub fn privmsg(&self, target: &str, text: &str) {
        for line in text.lines().filter(|line| !line.is_empty()) {
            self.send(Command::PRIVMSG(target.to_owned(), line.to_owned()));
        }
    }

    /// Sends a `/me` action.
    pub fn action(&self, target: &str, text: &str) {
        let flat = text.replace(['\r', '\n'], " ");
        self.send(Command::PRIVMSG(target.to_owned(), format!("\u{1}ACTION {flat}\u{1}")));
    }

    /// Joins a channel.
    pub fn join(&self, channel: &str) {
        self.send(Command::JOIN(channel.to_owned(), None, None));
    }

    /// Leaves a channel.
    pub fn part(&self, channel: &str) {
        self.send(Command::PART(channel.to_owned(), None));
    }

    /// Disconnects.
    pub fn quit(&self) {
        self.send(Command::QUIT(None));
    }

    fn send(&self, command: Command) {
        let _ = self.out.send(Message::from(command));
    }
}
