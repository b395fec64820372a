//! E-mail addresses on accounts: proving an address is yours (a link
//! mailed to it), binding it to your account, and resetting a forgotten
//! password through it. Phone numbers are not offered.

use std::sync::Arc;

use ruma::{
    MilliSecondsSinceUnixEpoch, OwnedUserId, UInt, UserId,
    thirdparty::{Medium, ThirdPartyIdentifier, ThirdPartyIdentifierInit},
};
use url::Url;

use ruma::api::client::uiaa::AuthData;

use super::{
    auth::{Auth, UiaFlows, tokens},
    email::Mailer,
};
use crate::{
    config::Config,
    error::{Error, Result},
    store::{Store, ThreepidRow, ValidationRow, now_ms},
};

const EMAIL: &str = "email";
/// The page a validation link opens.
pub const VALIDATE_PATH: &str = "/_lattice/email/validate";

/// What a validation is for: the address must be free, or bound already.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    AddToAccount,
    ResetPassword,
}

/// A client's requestToken body.
#[derive(Debug, Clone)]
pub struct TokenRequest {
    pub client_secret: String,
    pub email: String,
    pub send_attempt: u64,
    pub next_link: Option<String>,
}

#[derive(Clone)]
pub struct Threepids {
    store: Store,
    config: Arc<Config>,
    auth: Auth,
    mailer: Mailer,
}

/// Addresses are compared as typed, in lower case and without spaces.
fn canonical_email(email: &str) -> Result<String> {
    let email = email.trim().to_lowercase();
    email
        .parse::<lettre::Address>()
        .map_err(|_| Error::invalid_param("not a valid e-mail address"))?;
    Ok(email)
}

/// The spec's client secret: 1 to 255 of `[0-9a-zA-Z.=_-]`.
fn check_client_secret(secret: &str) -> Result<()> {
    let valid = !secret.is_empty()
        && secret.len() <= 255
        && secret.chars().all(|c| c.is_ascii_alphanumeric() || ".=_-".contains(c));
    match valid {
        true => Ok(()),
        false => Err(Error::invalid_param("client_secret must be 1-255 of [0-9a-zA-Z.=_-]")),
    }
}

/// The address a validation session confirmed, if `client_secret` is its
/// own (the UIA e-mail stage and binding both ask this).
pub async fn validated_address(store: &Store, sid: &str, client_secret: &str) -> Result<String> {
    match store.validation(sid).await? {
        Some(row) if row.client_secret == client_secret && row.validated_at.is_some() => {
            Ok(row.address)
        }
        Some(row) if row.client_secret == client_secret => {
            Err(Error::ThreepidAuthFailed("the address has not been confirmed yet".into()))
        }
        _ => Err(Error::ThreepidAuthFailed("unknown or expired validation session".into())),
    }
}

impl Threepids {
    pub fn new(store: Store, config: Arc<Config>, auth: Auth) -> Result<Self> {
        let mailer = Mailer::new(&config)?;
        Ok(Self { store, config, auth, mailer })
    }

    /// requestToken: mails a validation link to the address (again only for
    /// a higher `send_attempt`); returns the session id.
    pub async fn request_email_token(
        &self,
        purpose: Purpose,
        request: TokenRequest,
    ) -> Result<String> {
        if !self.mailer.enabled() {
            return Err(Error::ThreepidMediumNotSupported(
                "this server does not send e-mail; ask its administrator".into(),
            ));
        }
        check_client_secret(&request.client_secret)?;
        let email = canonical_email(&request.email)?;
        if let Some(link) = &request.next_link {
            let url =
                Url::parse(link).map_err(|_| Error::invalid_param("next_link is not a URL"))?;
            if !matches!(url.scheme(), "http" | "https") {
                return Err(Error::invalid_param("next_link must be an http(s) URL"));
            }
        }
        let owner = self.store.threepid_owner(EMAIL, &email).await?;
        match (purpose, owner) {
            (Purpose::ResetPassword, None) => return Err(Error::ThreepidNotFound),
            (Purpose::AddToAccount, Some(_)) => return Err(Error::ThreepidInUse),
            _ => {}
        }
        let open = self.store.open_validation(&request.client_secret, EMAIL, &email).await?;
        let attempt = i64::try_from(request.send_attempt).unwrap_or(i64::MAX);
        if let Some(open) = &open
            && attempt <= open.send_attempt
        {
            return Ok(open.session_id.clone());
        }
        let session_id = match open {
            Some(open) => open.session_id,
            None => tokens::random_letters(24)?,
        };
        let token = tokens::random_letters(32)?;
        let lifetime = self.config.email.token_lifetime.as_millis() as i64;
        let row = ValidationRow {
            session_id: session_id.clone(),
            client_secret: request.client_secret.clone(),
            medium: EMAIL.into(),
            address: email.clone(),
            token_hash: tokens::hash(&token),
            send_attempt: attempt,
            next_link: request.next_link,
            validated_at: None,
            expires_at: now_ms() + lifetime,
        };
        self.store.save_validation(&row).await?;
        let link = self.link(&session_id, &request.client_secret, &token)?;
        let (subject, what) = match purpose {
            Purpose::AddToAccount => ("Confirm your e-mail address", "add this address to"),
            Purpose::ResetPassword => ("Reset your password", "reset the password of"),
        };
        let server = &self.config.server.server_name;
        let minutes = self.config.email.token_lifetime.as_secs() / 60;
        let body = format!(
            "Someone, hopefully you, asked to {what} a Matrix account on {server}.\n\n\
             To go ahead, open this link within {minutes} minutes:\n\n{link}\n\n\
             If it was not you, ignore this message; nothing changes.\n"
        );
        self.mailer.send(&email, subject, body).await?;
        Ok(session_id)
    }

    fn link(&self, sid: &str, client_secret: &str, token: &str) -> Result<Url> {
        let server = &self.config.server;
        let base =
            server.public_baseurl.clone().unwrap_or_else(|| format!("http://{}", server.bind));
        let mut url = Url::parse(&base)
            .and_then(|base| base.join(VALIDATE_PATH))
            .map_err(|e| Error::internal(format!("server.public_baseurl: {e}")))?;
        url.query_pairs_mut()
            .append_pair("sid", sid)
            .append_pair("client_secret", client_secret)
            .append_pair("token", token);
        Ok(url)
    }

    /// The link in the e-mail was opened: the session is confirmed if the
    /// token is its own. Returns where the client asked to go next.
    pub async fn confirm(
        &self,
        sid: &str,
        client_secret: &str,
        token: &str,
    ) -> Result<Option<String>> {
        if !self.store.mark_validated(sid, client_secret, &tokens::hash(token)).await? {
            return Err(Error::forbidden("this link is wrong or has expired"));
        }
        let row = self.store.validation(sid).await?;
        Ok(row.and_then(|row| row.next_link))
    }

    /// POST /account/3pid/add: binds the confirmed address to `user_id`,
    /// once they have confirmed it is them (UIA: the password, and a second
    /// factor if they have one).
    pub async fn add(
        &self,
        user_id: &UserId,
        sid: &str,
        client_secret: &str,
        auth: Option<&AuthData>,
    ) -> Result<()> {
        self.auth.user_interactive(&UiaFlows::password(), auth, Some(user_id)).await?;
        let address = validated_address(&self.store, sid, client_secret).await?;
        let now = now_ms();
        let row = ThreepidRow {
            medium: EMAIL.into(),
            address,
            user_id: user_id.to_string(),
            validated_at: now,
            added_at: now,
        };
        if !self.store.add_threepid(&row).await? {
            return Err(Error::ThreepidInUse);
        }
        self.store.delete_validation(sid).await
    }

    /// POST /account/3pid/delete: unbinds one of the user's addresses.
    pub async fn delete(&self, user_id: &UserId, medium: &Medium, address: &str) -> Result<()> {
        let address = canonical_email(address).unwrap_or_else(|_| address.to_owned());
        if !self.store.delete_threepid(user_id.as_str(), medium.as_str(), &address).await? {
            return Err(Error::not_found("this address is not on your account"));
        }
        Ok(())
    }

    /// GET /account/3pid.
    pub async fn list(&self, user_id: &UserId) -> Result<Vec<ThirdPartyIdentifier>> {
        let rows = self.store.user_threepids(user_id.as_str()).await?;
        let ts = |ms: i64| {
            MilliSecondsSinceUnixEpoch(UInt::try_from(ms.max(0) as u64).unwrap_or_default())
        };
        Ok(rows
            .into_iter()
            .map(|row| {
                ThirdPartyIdentifierInit {
                    address: row.address,
                    medium: Medium::from(row.medium.as_str()),
                    validated_at: ts(row.validated_at),
                    added_at: ts(row.added_at),
                }
                .into()
            })
            .collect())
    }

    /// The account an e-mail address is bound to.
    pub async fn user_with_email(&self, email: &str) -> Result<Option<OwnedUserId>> {
        let Ok(email) = canonical_email(email) else { return Ok(None) };
        let owner = self.store.threepid_owner(EMAIL, &email).await?;
        Ok(owner.and_then(|user| UserId::parse(user).ok()))
    }
}
