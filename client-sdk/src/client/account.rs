//! Accounts and sessions: register, log in, log out, and who am I.

use ruma::api::client::{
    account::{register, whoami},
    session::{
        login::{self, v3::LoginInfo},
        logout,
    },
    uiaa::{AuthData, AuthType, Dummy, MatrixUserIdentifier, UserIdentifier},
};

use super::Client;

/// Lattice's second-factor login stages (spec/second-factor.md).
const TOTP_STAGE: &str = "org.lattice.login.totp";
const RECOVERY_STAGE: &str = "org.lattice.login.recovery_code";

/// A 401 to a password login that offers a second-factor stage becomes
/// [`Error::SecondFactorRequired`]; anything else stays as it was.
fn second_factor_needed(error: ruma::api::error::Error) -> Error {
    if let ruma::api::error::ErrorBody::Json(body) = &error.body
        && error.status_code == http::StatusCode::UNAUTHORIZED
        && body.to_string().contains(TOTP_STAGE)
        && let Some(session) = body["session"].as_str()
    {
        return Error::SecondFactorRequired { session: session.to_owned() };
    }
    Error::Api(error)
}
use crate::{
    error::{Error, Result},
    session::Session,
};

impl Client {
    /// Logs in with a password (`user` is a localpart or a full user id)
    /// and keeps the session. Asks for a refresh token, so an expiring
    /// access token is renewed without the password.
    pub async fn login_password(
        &self,
        user: &str,
        password: &str,
        device_name: Option<&str>,
    ) -> Result<Session> {
        let identifier = UserIdentifier::Matrix(MatrixUserIdentifier::new(user.to_owned()));
        let info = login::v3::Password::new(identifier, password.to_owned());
        let response = match self.send_login(LoginInfo::Password(info), device_name).await {
            Err(Error::Api(error)) => return Err(second_factor_needed(error)),
            other => other?,
        };
        self.finish_login(response).await
    }

    /// Finishes a login that asked for a second factor with a code from
    /// the user's authenticator app (`recovery` for a recovery code).
    pub async fn login_totp(
        &self,
        session: &str,
        code: &str,
        recovery: bool,
        device_name: Option<&str>,
    ) -> Result<Session> {
        let stage = if recovery { RECOVERY_STAGE } else { TOTP_STAGE };
        let mut data = serde_json::Map::new();
        data.insert("session".into(), session.into());
        data.insert("code".into(), code.into());
        let info = LoginInfo::new(stage, data)?;
        let response = self.send_login(info, device_name).await?;
        self.finish_login(response).await
    }

    async fn send_login(
        &self,
        info: LoginInfo,
        device_name: Option<&str>,
    ) -> Result<login::v3::Response> {
        let mut request = login::v3::Request::new(info);
        request.initial_device_display_name = device_name.map(str::to_owned);
        request.refresh_token = true;
        self.send(request).await
    }

    async fn finish_login(&self, response: login::v3::Response) -> Result<Session> {
        let session = Session {
            user_id: response.user_id,
            device_id: response.device_id,
            access_token: response.access_token,
            refresh_token: response.refresh_token,
        };
        self.set_session(Some(session.clone())).await?;
        self.publish_device_keys().await?;
        Ok(session)
    }

    /// Registers `username` with `password` and logs in as the new user.
    /// Servers that ask for nothing more than the `m.login.dummy` stage
    /// are answered; other stages come back as [`Error::Uia`].
    pub async fn register(&self, username: &str, password: &str) -> Result<Session> {
        let mut request = register::v3::Request::new();
        request.username = Some(username.to_owned());
        request.password = Some(password.to_owned());
        request.refresh_token = true;
        let response = match self.send(request.clone()).await {
            Err(Error::Uia(info)) => {
                let dummy_only = info.flows.iter().any(|flow| flow.stages == [AuthType::Dummy]);
                if !dummy_only {
                    return Err(Error::Uia(info));
                }
                let mut dummy = Dummy::new();
                dummy.session = info.session.clone();
                request.auth = Some(AuthData::Dummy(dummy));
                self.send(request).await?
            }
            other => other?,
        };
        let (Some(access_token), Some(device_id)) = (response.access_token, response.device_id)
        else {
            return Err(Error::Response("registration returned no session".into()));
        };
        let session = Session {
            user_id: response.user_id,
            device_id,
            access_token,
            refresh_token: response.refresh_token,
        };
        self.set_session(Some(session.clone())).await?;
        self.publish_device_keys().await?;
        Ok(session)
    }

    /// Adds a TOTP authenticator to the account (Lattice's extension,
    /// confirmed with the password): returns the base32 secret and an
    /// otpauth:// URI to show as a QR code. [`confirm_totp`](Self::confirm_totp)
    /// turns it on.
    pub async fn enable_totp(&self, password: &str) -> Result<(String, String)> {
        const SETUP: &str = "/_matrix/client/unstable/org.lattice.mfa/totp/setup";
        let user = self.require_user_id()?;
        let session =
            match self.send_json(http::Method::POST, SETUP, Some(&serde_json::json!({}))).await {
                Err(Error::Uia(info)) => info.session.clone(),
                Err(error) => return Err(error),
                Ok(answer) => return totp_setup(&answer),
            };
        let auth = serde_json::json!({
            "type": "m.login.password", "session": session, "password": password,
            "identifier": {"type": "m.id.user", "user": user},
        });
        let answer = self
            .send_json(http::Method::POST, SETUP, Some(&serde_json::json!({"auth": auth})))
            .await?;
        totp_setup(&answer)
    }

    /// Turns TOTP on with a first code from the app; returns the recovery
    /// codes (show them once: the server keeps only their hashes).
    pub async fn confirm_totp(&self, code: &str) -> Result<Vec<String>> {
        const CONFIRM: &str = "/_matrix/client/unstable/org.lattice.mfa/totp/confirm";
        let body = serde_json::json!({"code": code});
        let answer = self.send_json(http::Method::POST, CONFIRM, Some(&body)).await?;
        Ok(serde_json::from_value(answer["recovery_codes"].clone())?)
    }

    /// Logs out this device and forgets the session and everything synced.
    pub async fn logout(&self) -> Result<()> {
        self.send(logout::v3::Request::new()).await?;
        self.set_session(None).await
    }

    /// Asks the server who the access token belongs to.
    pub async fn whoami(&self) -> Result<whoami::v3::Response> {
        self.send(whoami::v3::Request::new()).await
    }
}

fn totp_setup(answer: &serde_json::Value) -> Result<(String, String)> {
    match (answer["secret"].as_str(), answer["otpauth_uri"].as_str()) {
        (Some(secret), Some(uri)) => Ok((secret.to_owned(), uri.to_owned())),
        _ => Err(Error::Response("the TOTP setup answer lacks a secret".into())),
    }
}
