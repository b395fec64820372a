//! Acting for an application service (a bridge): the service's `as_token`
//! on every request, with `user_id` naming which of its users makes it
//! ([identity assertion](https://spec.matrix.org/latest/application-service-api/#identity-assertion)).

use std::time::Duration;

use ruma::{
    OwnedTransactionId, OwnedUserId, UserId,
    api::{
        client::{
            account::register::{self, LoginType, RegistrationKind},
            appservice::request_ping,
        },
        error::ErrorKind,
    },
};

use super::Client;
use crate::error::{Error, Result};

impl Client {
    /// The same application service acting as another of its users:
    /// shares this client's connections and store, so it is cheap.
    ///
    /// Fails for a client that was not built with
    /// [`ClientBuilder::appservice`](crate::ClientBuilder::appservice).
    pub fn acting_as(&self, user_id: OwnedUserId) -> Result<Client> {
        let Some(token) = self.inner.appservice_token.clone() else {
            return Err(Error::Invalid("not an application service's client".into()));
        };
        let mut transport = self.inner.transport.clone();
        transport.assert_user = Some(user_id);
        Ok(Client::with_versions(
            transport,
            self.inner.store.clone(),
            None,
            self.inner.pickle_key,
            Some(token),
            self.inner.versions.get().cloned(),
        ))
    }

    /// Registers the user this application-service client acts as
    /// (`m.login.application_service`, no password, no login). A user that
    /// exists already is fine: returns whether it was created now.
    pub async fn register_appservice_user(&self) -> Result<bool> {
        let user_id = self.require_user_id()?;
        let mut request = register::v3::Request::new();
        request.username = Some(user_id.localpart().to_owned());
        request.login_type = Some(LoginType::ApplicationService);
        request.inhibit_login = true;
        request.kind = RegistrationKind::User;
        match self.send(request).await {
            Ok(_) => Ok(true),
            Err(error) if matches!(error.kind(), Some(ErrorKind::UserInUse)) => Ok(false),
            Err(error) => Err(error),
        }
    }

    /// Asks the homeserver to ping the application service `appservice_id`
    /// (this client's own): proves both directions work, and returns how
    /// long the service took to answer.
    pub async fn ping_appservice(
        &self,
        appservice_id: &str,
        transaction_id: Option<OwnedTransactionId>,
    ) -> Result<Duration> {
        let mut request = request_ping::v1::Request::new(appservice_id.to_owned());
        request.transaction_id = transaction_id;
        Ok(self.send(request).await?.duration)
    }

    /// The user an application-service client acts as, if it is one.
    pub fn asserted_user(&self) -> Option<&UserId> {
        self.inner.appservice_token.as_ref()?;
        self.inner.transport.assert_user.as_deref()
    }
}
