//! Lattice's second factors (spec/second-factor.md): TOTP, WebAuthn
//! credentials and recovery codes, enrolled behind the password, and the
//! second step of a login that needs one.

use ruma::api::client::session::login::v3::LoginInfo;
use serde_json::{Value, json};

use super::Client;
use crate::{
    error::{Error, Result},
    session::Session,
};

const MFA: &str = "/_matrix/client/unstable/org.lattice.mfa";
const TOTP_STAGE: &str = "org.lattice.login.totp";
const WEBAUTHN_STAGE: &str = "org.lattice.login.webauthn";
const RECOVERY_STAGE: &str = "org.lattice.login.recovery_code";

/// The answer to the second step of a login.
#[derive(Debug, Clone)]
pub enum SecondFactor {
    /// A code from the user's authenticator app.
    Totp(String),
    /// One of the recovery codes shown at enrolment (each works once).
    RecoveryCode(String),
    /// An authenticator's answer (a WebAuthn `PublicKeyCredential` as JSON)
    /// to the challenge in [`Error::SecondFactorRequired`].
    WebAuthn(Value),
}

impl SecondFactor {
    fn stage(&self) -> &'static str {
        match self {
            Self::Totp(_) => TOTP_STAGE,
            Self::RecoveryCode(_) => RECOVERY_STAGE,
            Self::WebAuthn(_) => WEBAUTHN_STAGE,
        }
    }
}

/// A 401 to a password login that offers one of our stages becomes
/// [`Error::SecondFactorRequired`]; anything else stays as it was.
pub(super) fn needed(error: ruma::api::error::Error) -> Error {
    if let ruma::api::error::ErrorBody::Json(body) = &error.body
        && error.status_code == http::StatusCode::UNAUTHORIZED
        && let Some(session) = body["session"].as_str()
    {
        let stages: Vec<String> = body["flows"]
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|flow| flow["stages"].as_array().into_iter().flatten())
            .filter_map(Value::as_str)
            .filter(|stage| [TOTP_STAGE, WEBAUTHN_STAGE, RECOVERY_STAGE].contains(stage))
            .map(str::to_owned)
            .collect();
        if !stages.is_empty() {
            let webauthn_challenge = body["params"].get(WEBAUTHN_STAGE).cloned();
            return Error::SecondFactorRequired {
                session: session.to_owned(),
                stages,
                webauthn_challenge,
            };
        }
    }
    Error::Api(error)
}

impl Client {
    /// Finishes a login that answered [`Error::SecondFactorRequired`],
    /// under its session.
    pub async fn login_second_factor(
        &self,
        session: &str,
        factor: SecondFactor,
        device_name: Option<&str>,
    ) -> Result<Session> {
        let mut data = serde_json::Map::new();
        data.insert("session".into(), session.into());
        match &factor {
            SecondFactor::Totp(code) | SecondFactor::RecoveryCode(code) => {
                data.insert("code".into(), code.as_str().into());
            }
            SecondFactor::WebAuthn(credential) => {
                data.insert("credential".into(), credential.clone());
            }
        }
        let info = LoginInfo::new(factor.stage(), data)?;
        let response = self.send_login(info, device_name).await?;
        self.finish_login(response).await
    }

    /// Finishes a login with a TOTP code (`recovery`: a recovery code).
    pub async fn login_totp(
        &self,
        session: &str,
        code: &str,
        recovery: bool,
        device_name: Option<&str>,
    ) -> Result<Session> {
        let factor = match recovery {
            true => SecondFactor::RecoveryCode(code.to_owned()),
            false => SecondFactor::Totp(code.to_owned()),
        };
        self.login_second_factor(session, factor, device_name).await
    }

    /// POSTs `body` to `path` behind user-interactive auth with the
    /// password. An account that already has a second factor is asked for
    /// it too: that comes back as [`Error::Uia`].
    async fn post_with_password(
        &self,
        path: &str,
        password: &str,
        mut body: Value,
    ) -> Result<Value> {
        let user = self.require_user_id()?;
        let session = match self.send_json(http::Method::POST, path, Some(&body)).await {
            Err(Error::Uia(info)) => info.session.clone(),
            other => return other,
        };
        body["auth"] = json!({
            "type": "m.login.password", "session": session, "password": password,
            "identifier": {"type": "m.id.user", "user": user},
        });
        self.send_json(http::Method::POST, path, Some(&body)).await
    }

    /// Adds a TOTP authenticator to the account (confirmed with the
    /// password): returns the base32 secret and an otpauth:// URI to show
    /// as a QR code. [`confirm_totp`](Self::confirm_totp) turns it on.
    pub async fn enable_totp(&self, password: &str) -> Result<(String, String)> {
        let answer =
            self.post_with_password(&format!("{MFA}/totp/setup"), password, json!({})).await?;
        match (answer["secret"].as_str(), answer["otpauth_uri"].as_str()) {
            (Some(secret), Some(uri)) => Ok((secret.to_owned(), uri.to_owned())),
            _ => Err(Error::Response("the TOTP setup answer lacks a secret".into())),
        }
    }

    /// Turns TOTP on with a first code from the app; returns the recovery
    /// codes when this is the account's first second factor (show them
    /// once: the server keeps only their hashes), else none.
    pub async fn confirm_totp(&self, code: &str) -> Result<Vec<String>> {
        let body = json!({"code": code});
        let answer =
            self.send_json(http::Method::POST, &format!("{MFA}/totp/confirm"), Some(&body)).await?;
        recovery_codes(&answer)
    }

    /// Starts enrolling a passkey or security key (confirmed with the
    /// password): returns the registration id and the options to give the
    /// authenticator (`navigator.credentials.create`'s argument, as JSON).
    pub async fn start_webauthn_registration(&self, password: &str) -> Result<(String, Value)> {
        let path = format!("{MFA}/webauthn/register");
        let answer = self.post_with_password(&path, password, json!({})).await?;
        match answer["registration"].as_str() {
            Some(id) => Ok((id.to_owned(), answer["options"].clone())),
            None => Err(Error::Response("the WebAuthn answer lacks a registration".into())),
        }
    }

    /// Finishes the enrolment with the authenticator's answer (a WebAuthn
    /// `RegisterPublicKeyCredential` as JSON). Returns recovery codes when
    /// this is the account's first second factor.
    pub async fn finish_webauthn_registration(
        &self,
        registration: &str,
        name: &str,
        credential: Value,
    ) -> Result<Option<Vec<String>>> {
        let body = json!({"registration": registration, "name": name, "credential": credential});
        let path = format!("{MFA}/webauthn/register/finish");
        let answer = self.send_json(http::Method::POST, &path, Some(&body)).await?;
        let codes = recovery_codes(&answer)?;
        Ok((!codes.is_empty()).then_some(codes))
    }
}

/// The recovery codes in an enrolment answer (none when absent).
fn recovery_codes(answer: &Value) -> Result<Vec<String>> {
    match answer.get("recovery_codes") {
        Some(codes) => Ok(serde_json::from_value(codes.clone())?),
        None => Ok(Vec::new()),
    }
}
