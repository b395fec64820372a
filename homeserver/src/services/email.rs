//! Outgoing e-mail over SMTP (lettre on rustls), off unless configured.

use lettre::{
    AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor,
    message::{
        Body, Mailbox,
        header::{ContentTransferEncoding, ContentType},
    },
};

use crate::{
    config::Config,
    error::{Error, Result},
};

#[derive(Clone)]
pub struct Mailer {
    transport: Option<AsyncSmtpTransport<Tokio1Executor>>,
    from: Mailbox,
}

impl Mailer {
    /// The mailer the configuration describes; a bad URL or From address
    /// stops the server at start, naming the setting.
    pub fn new(config: &Config) -> Result<Self> {
        let email = &config.email;
        let transport = match &email.smtp_url {
            Some(url) => Some(
                AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
                    .map_err(|e| Error::internal(format!("email.smtp_url: {e}")))?
                    .build(),
            ),
            None => None,
        };
        // A server name may carry a port, which an address cannot.
        let host = config.server.server_name.host();
        let from = email.from.clone().unwrap_or_else(|| format!("noreply@{host}"));
        let from = from.parse().map_err(|e| Error::internal(format!("email.from: {e}")))?;
        Ok(Self { transport, from })
    }

    pub fn enabled(&self) -> bool {
        self.transport.is_some()
    }

    /// Sends a plain-text message. The SMTP server's answer goes to the
    /// log; the caller learns only that it failed.
    pub async fn send(&self, to: &str, subject: &str, body: String) -> Result<()> {
        let Some(transport) = &self.transport else {
            return Err(Error::ThreepidMediumNotSupported("e-mail is not set up here".into()));
        };
        let to: Mailbox =
            to.parse().map_err(|_| Error::invalid_param("not a valid e-mail address"))?;
        let message = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(subject)
            .header(ContentType::TEXT_PLAIN)
            .body(readable_body(body))
            .map_err(Error::internal)?;
        transport.send(message).await.map_err(|error| {
            tracing::warn!(%error, "an e-mail could not be sent");
            Error::Upstream("the e-mail could not be sent; try again later".into())
        })?;
        Ok(())
    }
}

/// Plain ASCII with lines within RFC 5322's 998 characters goes as it
/// is (7bit), so a long link reads and copies whole in any mail client
/// (lettre would quote-print any line past 76); anything else is encoded
/// as lettre sees fit.
fn readable_body(text: String) -> Body {
    let plain = text.is_ascii()
        && !text.contains('\0')
        && !text.contains('\r')
        && text.lines().all(|line| line.len() <= 998);
    if !plain {
        return Body::new(text);
    }
    let crlf = text.replace('\n', "\r\n");
    Body::dangerous_pre_encoded(crlf.into_bytes(), ContentTransferEncoding::SevenBit)
}
