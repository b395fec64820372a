//! Requests an application service makes as one of its users
//! ([identity assertion](https://spec.matrix.org/latest/application-service-api/#identity-assertion)):
//! its `as_token` stands for the service, `?user_id=` names the user it
//! acts as (its own sender when left out), `?device_id=` one of their
//! devices (none when left out).

use ruma::{OwnedDeviceId, UserId};

use super::{Auth, Requester};
use crate::{
    error::{Error, Result},
    services::appservice::Registration,
};

impl Auth {
    pub async fn as_appservice(
        &self,
        registration: &Registration,
        user_id: Option<&str>,
        device_id: Option<&str>,
    ) -> Result<Requester> {
        let user_id = match user_id {
            Some(id) => UserId::parse(id)
                .map_err(|e| Error::invalid_param(format!("user_id is not a user id: {e}")))?,
            None => registration.sender.clone(),
        };
        if !registration.claims_user(&user_id)
            || user_id.server_name() != self.config.server.server_name
        {
            return Err(Error::forbidden(
                "the application service's namespaces do not cover this user",
            ));
        }
        // Its own user exists from the start; the others once it registered them.
        if user_id != registration.sender && self.store.get_user(user_id.as_str()).await?.is_none()
        {
            return Err(Error::forbidden("the application service has not registered this user"));
        }
        let device_id = match device_id {
            Some(device) => {
                if self.store.get_device(user_id.as_str(), device).await?.is_none() {
                    return Err(Error::UnknownDevice);
                }
                OwnedDeviceId::from(device)
            }
            None => OwnedDeviceId::from(""),
        };
        Ok(Requester { user_id, device_id, appservice: Some(registration.id.as_str().into()) })
    }
}
