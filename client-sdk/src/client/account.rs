//! Accounts and sessions: register, log in, log out, and who am I.

use ruma::{
    OwnedMxcUri,
    api::client::{
        account::{register, whoami},
        profile::set_profile_field,
        session::{
            login::{self, v3::LoginInfo},
            logout,
        },
        uiaa::{AuthData, AuthType, Dummy, MatrixUserIdentifier, UserIdentifier},
    },
    profile::ProfileFieldValue,
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
        let response = match self.send_login(LoginInfo::Password(info), device_name).await {
            Err(Error::Api(error)) => return Err(super::second_factor::needed(error)),
            other => other?,
        };
        self.finish_login(response).await
    }

    /// Logs in with the loginToken the server's web login page handed
    /// back (m.login.token; see [`Client::sso_login_url`]).
    pub async fn login_token(&self, token: &str, device_name: Option<&str>) -> Result<Session> {
        let info = LoginInfo::Token(login::v3::Token::new(token.to_owned()));
        let response = self.send_login(info, device_name).await?;
        self.finish_login(response).await
    }

    /// The address of the server's web login page (m.login.sso) that ends
    /// by sending the browser to `redirect_url` with a `loginToken`.
    pub fn sso_login_url(&self, redirect_url: &str) -> Result<String> {
        let mut url = reqwest::Url::parse(self.homeserver())
            .and_then(|base| base.join("/_matrix/client/v3/login/sso/redirect"))
            .map_err(|e| Error::Invalid(e.to_string()))?;
        url.query_pairs_mut().append_pair("redirectUrl", redirect_url);
        Ok(url.into())
    }

    pub(super) async fn send_login(
        &self,
        info: LoginInfo,
        device_name: Option<&str>,
    ) -> Result<login::v3::Response> {
        let mut request = login::v3::Request::new(info);
        request.initial_device_display_name = device_name.map(str::to_owned);
        request.refresh_token = true;
        self.send(request).await
    }

    pub(super) async fn finish_login(&self, response: login::v3::Response) -> Result<Session> {
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

    /// Sets the user's display name (shown in every room they are in).
    pub async fn set_display_name(&self, name: &str) -> Result<()> {
        self.set_profile_field(ProfileFieldValue::DisplayName(name.to_owned())).await
    }

    /// Sets the user's avatar to an uploaded image (see [`Client::media`]).
    pub async fn set_avatar_url(&self, url: OwnedMxcUri) -> Result<()> {
        self.set_profile_field(ProfileFieldValue::AvatarUrl(url)).await
    }

    async fn set_profile_field(&self, value: ProfileFieldValue) -> Result<()> {
        let user_id = self.require_user_id()?;
        self.send(set_profile_field::v3::Request::new(user_id, value)).await?;
        Ok(())
    }
}
