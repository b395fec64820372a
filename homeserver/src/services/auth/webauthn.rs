//! WebAuthn (passkeys and security keys) as a second factor: enrolment
//! ceremonies, and the challenge a sign-in answers. The ceremony state lives
//! in the database between challenge and answer, so any instance can take
//! the answer, and each challenge is answered at most once.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use ruma::UserId;
use serde_json::Value;
use sha2::{Digest, Sha256};
use webauthn_rs::prelude::{
    CreationChallengeResponse, Passkey, PasskeyAuthentication, PasskeyRegistration,
    PublicKeyCredential, RegisterPublicKeyCredential, Url, Uuid, Webauthn, WebauthnBuilder,
};

use super::{Auth, tokens};
use crate::{
    config::Config,
    error::{Error, Result},
    store::WebauthnCredentialRow,
};

/// Builds the relying party from the config. Explicit settings that do
/// not fit are a startup error; defaults that do not (an IP-literal server
/// name) only turn WebAuthn off.
pub(super) fn relying_party(config: &Config) -> Result<Option<Webauthn>> {
    let settings = &config.auth.webauthn;
    let explicit = settings.rp_id.is_some() || settings.rp_origin.is_some();
    let origin = settings
        .rp_origin
        .clone()
        .or_else(|| config.server.public_baseurl.clone())
        .unwrap_or_else(|| format!("https://{}", config.server.server_name));
    let built = Url::parse(&origin).map_err(|e| e.to_string()).and_then(|origin| {
        let rp_id = settings
            .rp_id
            .clone()
            .or_else(|| origin.host_str().map(str::to_owned))
            .unwrap_or_default();
        WebauthnBuilder::new(&rp_id, &origin)
            .and_then(|builder| builder.rp_name(config.server.server_name.as_str()).build())
            .map_err(|e| format!("{e} (rp_id {rp_id}, origin {origin})"))
    });
    match built {
        Ok(webauthn) => Ok(Some(webauthn)),
        Err(error) if explicit => {
            Err(Error::internal(format!("auth.webauthn does not make a relying party: {error}")))
        }
        Err(error) => {
            tracing::warn!(%error, "WebAuthn is off: set auth.webauthn or server.public_baseurl");
            Ok(None)
        }
    }
}

/// The user handle authenticators store: derived from the user id, so it
/// stays the same across enrolments.
fn user_handle(user_id: &UserId) -> Uuid {
    let digest = Sha256::digest(user_id.as_str().as_bytes());
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    Uuid::from_bytes(bytes)
}

fn to_json<T: serde::Serialize>(value: &T) -> Result<String> {
    serde_json::to_string(value).map_err(Error::internal)
}

fn from_json<T: serde::de::DeserializeOwned>(json: &str) -> Result<T> {
    serde_json::from_str(json).map_err(Error::internal)
}

/// What a passkey is sealed to: its owner and credential.
fn passkey_context(user_id: &str, credential_id: &str) -> String {
    format!("webauthn:{user_id}:{credential_id}")
}

impl Auth {
    fn webauthn(&self) -> Result<&Webauthn> {
        self.webauthn.as_deref().ok_or_else(|| {
            Error::BadRequest("WebAuthn is not configured on this server (auth.webauthn)".into())
        })
    }

    async fn passkeys(&self, user_id: &UserId) -> Result<Vec<(WebauthnCredentialRow, Passkey)>> {
        let rows = self.store.webauthn_credentials(user_id.as_str()).await?;
        rows.into_iter()
            .map(|row| {
                let context = passkey_context(user_id.as_str(), &row.credential_id);
                let passkey = from_json(&self.secrets.open(&row.passkey, &context)?)?;
                Ok((row, passkey))
            })
            .collect()
    }

    /// A passkey's stored form: sealed with the at-rest key when one is set.
    fn sealed_passkey(&self, user_id: &UserId, passkey: &Passkey) -> Result<String> {
        let credential_id = URL_SAFE_NO_PAD.encode(passkey.cred_id());
        self.secrets.seal(&to_json(passkey)?, &passkey_context(user_id.as_str(), &credential_id))
    }

    /// Seals the passkeys kept in clear, or under an earlier key.
    pub(super) async fn seal_clear_passkeys(&self) -> Result<()> {
        for (user, credential_id, stored) in self.store.webauthn_passkeys().await? {
            if self.secrets.needs_sealing(&stored) {
                let sealed =
                    self.secrets.reseal(&stored, &passkey_context(&user, &credential_id))?;
                self.store.replace_webauthn_passkey(&credential_id, &stored, &sealed).await?;
            }
        }
        Ok(())
    }

    fn ceremony_expiry(&self) -> i64 {
        crate::store::now_ms() + self.config.auth.uia_session_lifetime.as_millis() as i64
    }

    /// Starts enrolling a credential: (registration id, the options for
    /// `navigator.credentials.create`).
    pub async fn start_webauthn_registration(
        &self,
        user_id: &UserId,
    ) -> Result<(String, CreationChallengeResponse)> {
        let webauthn = self.webauthn()?;
        let existing =
            self.passkeys(user_id).await?.into_iter().map(|(_, p)| p.cred_id().clone()).collect();
        let (options, state) = webauthn
            .start_passkey_registration(
                user_handle(user_id),
                user_id.as_str(),
                user_id.localpart(),
                Some(existing),
            )
            .map_err(|e| Error::BadRequest(format!("cannot start a WebAuthn enrolment: {e}")))?;
        let id = tokens::random_letters(24)?;
        let expires = self.ceremony_expiry();
        self.store.put_webauthn_ceremony(&id, user_id.as_str(), &to_json(&state)?, expires).await?;
        Ok((id, options))
    }

    /// Finishes an enrolment with the authenticator's answer. Returns the
    /// credential's id, and recovery codes if this is the user's first
    /// second factor.
    pub async fn finish_webauthn_registration(
        &self,
        user_id: &UserId,
        registration: &str,
        name: &str,
        credential: &RegisterPublicKeyCredential,
    ) -> Result<(String, Option<Vec<String>>)> {
        let webauthn = self.webauthn()?;
        let state = self
            .store
            .take_webauthn_ceremony(registration, user_id.as_str())
            .await?
            .ok_or_else(|| Error::forbidden("unknown or expired WebAuthn registration"))?;
        let state: PasskeyRegistration = from_json(&state)?;
        let passkey = webauthn
            .finish_passkey_registration(credential, &state)
            .map_err(|e| Error::forbidden(format!("the authenticator's answer is invalid: {e}")))?;
        let first_factor = !self.has_second_factor(user_id).await?;
        let row = WebauthnCredentialRow {
            credential_id: URL_SAFE_NO_PAD.encode(passkey.cred_id()),
            name: if name.trim().is_empty() { "Passkey".into() } else { name.trim().into() },
            passkey: self.sealed_passkey(user_id, &passkey)?,
            created_ts: crate::store::now_ms(),
        };
        if !self.store.add_webauthn_credential(user_id.as_str(), &row).await? {
            return Err(Error::forbidden("this credential is already registered"));
        }
        let codes = match first_factor {
            true => Some(self.issue_recovery_codes(user_id).await?),
            false => None,
        };
        Ok((row.credential_id, codes))
    }

    /// A fresh sign-in challenge for `session` (replacing any earlier one),
    /// as the options for `navigator.credentials.get`; None without
    /// credentials.
    pub(super) async fn webauthn_challenge(
        &self,
        session: &str,
        user_id: &UserId,
    ) -> Result<Option<Value>> {
        let passkeys: Vec<Passkey> =
            self.passkeys(user_id).await?.into_iter().map(|(_, p)| p).collect();
        let Some(webauthn) = self.webauthn.as_deref().filter(|_| !passkeys.is_empty()) else {
            return Ok(None);
        };
        let (options, state) =
            webauthn.start_passkey_authentication(&passkeys).map_err(Error::internal)?;
        let expires = self.ceremony_expiry();
        self.store
            .put_webauthn_ceremony(session, user_id.as_str(), &to_json(&state)?, expires)
            .await?;
        Ok(Some(serde_json::to_value(options).map_err(Error::internal)?))
    }

    /// Checks the answer to the challenge issued for `session`.
    pub(super) async fn check_webauthn(
        &self,
        session: &str,
        user_id: &UserId,
        credential: &Value,
    ) -> Result<()> {
        let wrong = |why: String| Error::forbidden(format!("WebAuthn sign-in refused: {why}"));
        let state = self
            .store
            .take_webauthn_ceremony(session, user_id.as_str())
            .await?
            .ok_or_else(|| wrong("no live challenge for this session".into()))?;
        let state: PasskeyAuthentication = from_json(&state)?;
        let credential: PublicKeyCredential =
            serde_json::from_value(credential.clone()).map_err(|e| wrong(e.to_string()))?;
        let result = self
            .webauthn()?
            .finish_passkey_authentication(&credential, &state)
            .map_err(|e| wrong(e.to_string()))?;
        // Keep the signature counter, so a cloned authenticator shows.
        for (row, mut passkey) in self.passkeys(user_id).await? {
            if passkey.update_credential(&result) == Some(true) {
                let stored = self.sealed_passkey(user_id, &passkey)?;
                self.store
                    .replace_webauthn_passkey(&row.credential_id, &row.passkey, &stored)
                    .await?;
            }
        }
        Ok(())
    }

    /// The user's credentials: (id, name, created_ts).
    pub async fn webauthn_credentials(
        &self,
        user_id: &UserId,
    ) -> Result<Vec<(String, String, i64)>> {
        let rows = self.store.webauthn_credentials(user_id.as_str()).await?;
        Ok(rows.into_iter().map(|r| (r.credential_id, r.name, r.created_ts)).collect())
    }
}
