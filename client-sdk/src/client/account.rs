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
        let mut request = login::v3::Request::new(LoginInfo::Password(info));
        request.initial_device_display_name = device_name.map(str::to_owned);
        request.refresh_token = true;
        let response = self.send(request).await?;
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
