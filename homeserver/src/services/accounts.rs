//! Accounts: registration, password login, password changes, deactivation.

use std::sync::Arc;

use ruma::{
    DeviceId, OwnedUserId, UserId,
    api::client::uiaa::{AuthData, AuthType},
};

use super::{
    auth::{Auth, IssuedSession, Requester, UiaFlows, tokens},
    keys::Keys,
    media::Media,
    rooms::Rooms,
};
use crate::{
    config::Config,
    error::{Error, Result},
    store::Store,
};

#[derive(Clone)]
pub struct Accounts {
    store: Store,
    config: Arc<Config>,
    auth: Auth,
    /// Told when devices go, so that contacts stop encrypting for them.
    keys: Keys,
    /// Application services, whose exclusive user ids are theirs alone.
    appservices: super::appservice::Appservices,
    /// A closed account leaves its rooms; an erased one loses its uploads.
    rooms: Rooms,
    media: Media,
}

/// What a client asked for in POST /register.
#[derive(Debug, Default)]
pub struct RegisterParams {
    pub username: Option<String>,
    pub password: Option<String>,
    pub device_id: Option<ruma::OwnedDeviceId>,
    pub initial_device_display_name: Option<String>,
    pub inhibit_login: bool,
    pub refresh_token: bool,
    pub auth: Option<AuthData>,
    /// The application service registering one of its users
    /// (`m.login.application_service` with its token): no password, no
    /// interactive auth, and only names in its user namespaces.
    pub appservice: Option<std::sync::Arc<str>>,
}

/// The device a login creates (or takes over), as the client asked.
pub struct NewDevice<'a> {
    pub device_id: Option<&'a DeviceId>,
    pub display_name: Option<String>,
    /// Whether the client wants a refresh token (and an expiring access token).
    pub refresh_token: bool,
}

/// A new account, with a session unless login was inhibited.
#[derive(Debug)]

pub struct Registered {
    pub user_id: OwnedUserId,
    pub session: Option<IssuedSession>,
}

/// Allowed in a localpart by the spec's user id grammar.
fn is_localpart_char(c: char) -> bool {
    matches!(c, 'a'..='z' | '0'..='9' | '.' | '_' | '=' | '-' | '/' | '+')
}

impl Accounts {
    pub fn new(
        store: Store,
        config: Arc<Config>,
        auth: Auth,
        keys: Keys,
        appservices: super::appservice::Appservices,
        rooms: Rooms,
        media: Media,
    ) -> Self {
        Self { store, config, auth, keys, appservices, rooms, media }
    }

    /// The media store (exports read users' uploads through it).
    pub fn media(&self) -> &Media {
        &self.media
    }

    fn ensure_registration_open(&self) -> Result<()> {
        if self.config.registration.enabled {
            Ok(())
        } else {
            Err(Error::forbidden("registration is disabled on this server"))
        }
    }

    /// The user id a requested username maps to, if it is a valid one.
    pub fn user_id_for(&self, localpart: &str) -> Result<OwnedUserId> {
        if localpart.is_empty() || !localpart.chars().all(is_localpart_char) {
            return Err(Error::InvalidUsername(
                "user names may contain only a-z, 0-9 and . _ = - / +".into(),
            ));
        }
        let user_id = UserId::parse_with_server_name(localpart, &self.config.server.server_name)
            .map_err(|e| Error::InvalidUsername(e.to_string()))?;
        if user_id.as_str().len() > 255 {
            return Err(Error::InvalidUsername("user id longer than 255 bytes".into()));
        }
        Ok(user_id)
    }

    /// Checks that `localpart` is valid and free.
    pub async fn check_available(&self, localpart: &str) -> Result<OwnedUserId> {
        self.ensure_registration_open()?;
        let user_id = self.user_id_for(localpart)?;
        if self.appservices.exclusive_user(&user_id) {
            return Err(Error::Exclusive(
                "this user name is kept by an application service".into(),
            ));
        }
        if self.store.get_user(user_id.as_str()).await?.is_some() {
            return Err(Error::UserInUse);
        }
        Ok(user_id)
    }

    pub async fn registration_token_valid(&self, token: &str) -> Result<bool> {
        self.ensure_registration_open()?;
        Ok(self.config.registration.tokens.iter().any(|t| t == token)
            || self.store.registration_token_usable(token).await?)
    }

    fn registration_flows(&self) -> UiaFlows {
        let stage = if self.config.registration.token_required {
            AuthType::RegistrationToken
        } else {
            AuthType::Dummy
        };
        UiaFlows(vec![vec![stage]])
    }

    pub async fn register(&self, params: RegisterParams) -> Result<Registered> {
        let (user_id, localpart, registration_token) = match params.appservice.as_deref() {
            Some(service) => {
                let localpart = params
                    .username
                    .clone()
                    .ok_or_else(|| Error::MissingParam("username is required".into()))?;
                (self.appservice_user(service, &localpart)?, localpart, None)
            }
            None => {
                self.ensure_registration_open()?;
                let localpart = match &params.username {
                    Some(name) => name.clone(),
                    None => tokens::random_letters(12)?.to_lowercase(),
                };
                let user_id = self.check_available(&localpart).await?;
                let outcome = self
                    .auth
                    .user_interactive(&self.registration_flows(), params.auth.as_ref(), None)
                    .await?;
                (user_id, localpart, outcome.registration_token)
            }
        };

        let password_hash = match params.password {
            Some(password) => Some(self.auth.passwords().hash(password).await?),
            None => None,
        };
        let (issued, row) = if params.inhibit_login {
            (None, None)
        } else {
            let (issued, row) = self.auth.prepare_session(
                &user_id,
                params.device_id.as_deref(),
                params.initial_device_display_name,
                params.refresh_token,
            )?;
            (Some(issued), Some(row))
        };
        let created = self
            .store
            .create_user(user_id.as_str(), password_hash.as_deref(), &localpart, row.as_ref())
            .await?;
        if !created {
            return Err(Error::UserInUse);
        }
        if let Some(token) = &registration_token {
            self.store.consume_registration_token(token).await?;
        }
        tracing::info!(user = %user_id, "registered");
        Ok(Registered { user_id, session: issued })
    }

    /// The user id an application service registers or logs in as: one of
    /// its namespaces', else M_EXCLUSIVE (open registration or not).
    fn appservice_user(&self, service: &str, localpart: &str) -> Result<OwnedUserId> {
        let registration = self
            .appservices
            .by_id(service)
            .ok_or_else(|| Error::internal("an unknown application service"))?;
        let user_id = super::auth::user_from_input(localpart, &self.config.server.server_name)
            .ok_or_else(|| Error::InvalidUsername("not a user name of this server".into()))?;
        if !registration.claims_user(&user_id) {
            return Err(Error::Exclusive(
                "this user is outside the application service's namespaces".into(),
            ));
        }
        Ok(user_id)
    }

    /// An application service logs in as one of its users
    /// (`m.login.application_service`): a new device and token, no password.
    pub async fn login_appservice(
        &self,
        service: &str,
        user: &str,
        device: NewDevice<'_>,
    ) -> Result<(OwnedUserId, IssuedSession)> {
        let user_id = self.appservice_user(service, user)?;
        if self.store.get_user(user_id.as_str()).await?.is_none() {
            return Err(Error::forbidden("the application service has not registered this user"));
        }
        self.start_session(user_id, device).await
    }

    /// Logs in with a password (localpart or full user id).
    pub async fn login_password(
        &self,
        user: &str,
        password: &str,
        device: NewDevice<'_>,
    ) -> Result<(OwnedUserId, IssuedSession)> {
        let Some(user_id) = super::auth::user_from_input(user, &self.config.server.server_name)
        else {
            return Err(Error::forbidden("invalid username or password"));
        };
        self.auth.check_password(&user_id, password).await?;
        if let Some(challenge) = self.auth.second_factor_challenge(&user_id).await? {
            return Err(challenge.into_error());
        }
        self.start_session(user_id, device).await
    }

    /// The second step of a login with a second factor (`stage` is TOTP,
    /// WebAuthn or a recovery code), under the session the password step
    /// opened.
    pub async fn login_second_factor(
        &self,
        session: &str,
        stage: &str,
        answer: &serde_json::Map<String, serde_json::Value>,
        device: NewDevice<'_>,
    ) -> Result<(OwnedUserId, IssuedSession)> {
        let user_id = self.auth.finish_second_factor(session, stage, answer).await?;
        self.start_session(user_id, device).await
    }

    /// Logs in with a loginToken from the web login page (m.login.token).
    pub async fn login_token(
        &self,
        token: &str,
        device: NewDevice<'_>,
    ) -> Result<(OwnedUserId, IssuedSession)> {
        let user_id = self.auth.redeem_login_token(token).await?;
        self.start_session(user_id, device).await
    }

    async fn start_session(
        &self,
        user_id: OwnedUserId,
        device: NewDevice<'_>,
    ) -> Result<(OwnedUserId, IssuedSession)> {
        let NewDevice { device_id, display_name, refresh_token } = device;
        let session =
            self.auth.start_session(&user_id, device_id, display_name, refresh_token).await?;
        Ok((user_id, session))
    }

    /// Changes the requester's password after UIA; by default logs out every
    /// other device.
    pub async fn change_password(
        &self,
        requester: &Requester,
        new_password: String,
        logout_devices: bool,
        auth: Option<&AuthData>,
    ) -> Result<()> {
        self.auth.user_interactive(&UiaFlows::password(), auth, Some(&requester.user_id)).await?;
        let keep = Some(requester.device_id.as_str());
        self.set_password(&requester.user_id, new_password, logout_devices, keep).await
    }

    /// Sets a new password; with `logout_devices`, every device but `keep`
    /// is logged out.
    async fn set_password(
        &self,
        user_id: &UserId,
        new_password: String,
        logout_devices: bool,
        keep: Option<&str>,
    ) -> Result<()> {
        if new_password.is_empty() {
            return Err(Error::WeakPassword("the password must not be empty".into()));
        }
        let hash = self.auth.passwords().hash(new_password).await?;
        self.store.set_password_hash(user_id.as_str(), &hash).await?;
        if logout_devices {
            let position = self.store.delete_other_devices(user_id.as_str(), keep).await?;
            self.auth.forget_sessions(user_id);
            self.keys.announce(user_id, position).await?;
        }
        Ok(())
    }

    /// "Forgot password": a new password for the account whose e-mail
    /// address the client proved is its own (UIA's e-mail stage), with
    /// every device logged out unless the client asks otherwise.
    pub async fn reset_password(
        &self,
        new_password: String,
        logout_devices: bool,
        auth: Option<&AuthData>,
    ) -> Result<()> {
        let outcome = self.auth.user_interactive(&UiaFlows::email(), auth, None).await?;
        let address = outcome.email.ok_or_else(|| Error::forbidden("no address was confirmed"))?;
        let owner = self.store.threepid_owner("email", &address).await?;
        let user_id = owner
            .and_then(|user| OwnedUserId::try_from(user).ok())
            .ok_or(Error::ThreepidNotFound)?;
        self.set_password(&user_id, new_password, logout_devices, None).await?;
        tracing::info!(user = %user_id, logout_devices, "password reset by e-mail");
        Ok(())
    }

    /// POST /login/get_token: a login token for another device of the
    /// requester, once they have confirmed it is them; the endpoint is
    /// off unless configured.
    pub async fn login_token_for_new_device(
        &self,
        requester: &Requester,
        auth: Option<&AuthData>,
    ) -> Result<(String, std::time::Duration)> {
        if !self.config.auth.allow_login_get_token {
            return Err(Error::Unrecognized);
        }
        self.auth.user_interactive(&UiaFlows::password(), auth, Some(&requester.user_id)).await?;
        let token = self.auth.issue_login_token(&requester.user_id).await?;
        Ok((token, self.config.auth.login_token_lifetime))
    }

    /// Deactivates the requester's account after UIA
    /// ([spec](https://spec.matrix.org/v1.16/client-server-api/#post_matrixclientv3accountdeactivate)).
    pub async fn deactivate(
        &self,
        requester: &Requester,
        erase: bool,
        auth: Option<&AuthData>,
    ) -> Result<()> {
        self.auth.user_interactive(&UiaFlows::password(), auth, Some(&requester.user_id)).await?;
        self.close(&requester.user_id, erase).await
    }

    /// Closes an account for good, asked by its user or an admin: no more
    /// logins, devices or keys, out of every room. With `erase`, its
    /// uploads and what it kept here go too, and its events are served
    /// redacted to whoever was not in the room when they were sent.
    pub async fn close(&self, user_id: &UserId, erase: bool) -> Result<()> {
        let position = self.store.deactivate_user(user_id.as_str(), erase).await?;
        self.auth.forget_sessions(user_id);
        self.keys.announce(user_id, position).await?;
        if erase {
            self.rooms.mark_erased(user_id);
            let uploads = self.media.delete_uploads_of(user_id).await?;
            tracing::info!(user = %user_id, uploads, "erased");
        }
        self.rooms.leave_all(user_id).await?;
        tracing::info!(user = %user_id, erase, "deactivated");
        Ok(())
    }
}
