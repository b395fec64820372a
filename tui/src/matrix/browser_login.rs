//! Signing in through the server's web page: single sign-on, passkeys and
//! whatever else the page can do that a terminal cannot. The page sends the
//! browser back to a one-shot listener on 127.0.0.1 with a login token
//! (m.login.token), which this client trades for a session.

use std::time::Duration;

use lattice_sdk::ruma::OwnedUserId;
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpListener, TcpStream},
};

use super::{Outcome, Worker};

/// How long the page may take (a passkey, a password manager, a coffee).
const PATIENCE: Duration = Duration::from_secs(300);

impl Worker {
    /// Opens the web page in the browser and waits for its token.
    pub(super) async fn browser_login(&self) -> Outcome {
        match self.try_browser_login().await {
            Ok(user_id) => Outcome::LoggedIn { user_id },
            Err(message) => Outcome::LoginFailed(message),
        }
    }

    async fn try_browser_login(&self) -> Result<OwnedUserId, String> {
        let listener = TcpListener::bind(("127.0.0.1", 0))
            .await
            .map_err(|e| format!("cannot listen for the browser: {e}"))?;
        let port = listener.local_addr().map_err(|e| e.to_string())?.port();
        // A path nobody can guess: another local program cannot slip this
        // client a token of its own choosing.
        let mut secret = [0u8; 16];
        getrandom::fill(&mut secret).map_err(|e| e.to_string())?;
        let path = format!("/{}", secret.iter().map(|b| format!("{b:02x}")).collect::<String>());
        let url = self
            .client
            .sso_login_url(&format!("http://127.0.0.1:{port}{path}"))
            .map_err(|e| e.to_string())?;
        let _ = self.outcomes.send(Outcome::BrowserOpened(url.clone()));
        open_browser(&url);
        let token = tokio::time::timeout(PATIENCE, wait_for_token(&listener, &path))
            .await
            .map_err(|_| "the browser did not come back in 5 minutes".to_owned())?;
        let session = self
            .client
            .login_token(&token, Some(&self.device_name))
            .await
            .map_err(|e| e.to_string())?;
        Ok(session.user_id)
    }
}

/// Starts `$BROWSER`, or the desktop's opener, on `url`; silently (its
/// output would scribble over the screen). Without one, the address on
/// the screen is there to copy.
fn open_browser(url: &str) {
    let program = std::env::var("BROWSER")
        .ok()
        .filter(|b| !b.trim().is_empty())
        .unwrap_or_else(|| if cfg!(target_os = "macos") { "open" } else { "xdg-open" }.to_owned());
    let _ = tokio::process::Command::new(program)
        .arg(url)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn();
}

/// Answers requests until one comes to `path` with a `loginToken`.
async fn wait_for_token(listener: &TcpListener, path: &str) -> String {
    loop {
        let Ok((mut stream, _)) = listener.accept().await else { continue };
        let target = tokio::time::timeout(Duration::from_secs(10), request_target(&mut stream))
            .await
            .ok()
            .flatten();
        match target.as_deref().and_then(|target| login_token(target, path)) {
            Some(token) => {
                respond(
                    &mut stream,
                    "200 OK",
                    "Signed in: go back to the terminal (this tab can close).",
                )
                .await;
                return token;
            }
            None => respond(&mut stream, "404 Not Found", "Nothing here.").await,
        }
    }
}

/// The target of an HTTP request's first line (`GET /x?y HTTP/1.1`).
async fn request_target(stream: &mut TcpStream) -> Option<String> {
    let mut head = Vec::new();
    let mut buffer = [0u8; 1024];
    while !head.windows(2).any(|w| w == b"\r\n") && head.len() < 8192 {
        let read = stream.read(&mut buffer).await.ok()?;
        if read == 0 {
            break;
        }
        head.extend_from_slice(&buffer[..read]);
    }
    let line = String::from_utf8_lossy(&head).lines().next()?.to_owned();
    let mut parts = line.split(' ');
    (parts.next() == Some("GET")).then_some(())?;
    parts.next().map(str::to_owned)
}

/// The login token in a request target, if it is for `path`.
pub fn login_token(target: &str, path: &str) -> Option<String> {
    let url = url::Url::parse(&format!("http://127.0.0.1{target}")).ok()?;
    if url.path() != path {
        return None;
    }
    url.query_pairs().find(|(key, _)| key == "loginToken").map(|(_, value)| value.into_owned())
}

async fn respond(stream: &mut TcpStream, status: &str, text: &str) {
    let body =
        format!("<!doctype html><meta charset=utf-8><title>lattice-chat</title><p>{text}</p>");
    let response = format!(
        "HTTP/1.1 {status}\r\ncontent-type: text/html; charset=utf-8\r\ncontent-length: {}\r\n\
         cache-control: no-store\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = stream.write_all(response.as_bytes()).await;
    let _ = stream.shutdown().await;
}

#[cfg(test)]
mod tests {
    use super::login_token;

    #[test]
    fn only_the_secret_path_gives_a_token() {
        assert_eq!(login_token("/abc?loginToken=t%2B1", "/abc").as_deref(), Some("t+1"));
        assert_eq!(login_token("/other?loginToken=t", "/abc"), None);
        assert_eq!(login_token("/abc?token=t", "/abc"), None);
        assert_eq!(login_token("http://evil/abc?loginToken=t", "/abc"), None);
    }
}
