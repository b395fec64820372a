//! Asking application services about ids in their namespaces
//! ([queries](https://spec.matrix.org/latest/application-service-api/#querying)):
//! before answering that a user or alias does not exist, the server asks
//! the service that claims it, which may create it there and then (a
//! bridge makes a portal room on the first join to `#irc_#rust:example.org`).

use std::time::Duration;

use ruma::{RoomAliasId, UserId};

use super::{Appservices, Registration};

/// How long a service has to answer a query (the client is waiting).
const QUERY_TIMEOUT: Duration = Duration::from_secs(10);

impl Appservices {
    /// Asks the services whose alias namespaces cover `alias` to create
    /// it; whether one says it did.
    pub async fn query_alias(&self, alias: &RoomAliasId) -> bool {
        let claiming = self.iter().filter(|registration| {
            registration.namespaces.aliases.iter().any(|n| n.regex.is_match(alias.as_str()))
        });
        self.ask(claiming, "rooms", alias.as_str()).await
    }

    /// Asks the services whose user namespaces cover `user_id` to create
    /// that user; whether one says it did.
    pub async fn query_user(&self, user_id: &UserId) -> bool {
        let claiming = self.iter().filter(|registration| {
            registration.namespaces.users.iter().any(|n| n.regex.is_match(user_id.as_str()))
        });
        self.ask(claiming, "users", user_id.as_str()).await
    }

    async fn ask<'a>(
        &self,
        claiming: impl Iterator<Item = &'a Registration>,
        kind: &str,
        id: &str,
    ) -> bool {
        for registration in claiming {
            let Some(base) = &registration.url else { continue };
            let url = format!(
                "{}/_matrix/app/v1/{kind}/{}",
                base.as_str().trim_end_matches('/'),
                url::form_urlencoded::byte_serialize(id.as_bytes()).collect::<String>()
            );
            let answer = self
                .http()
                .get(url)
                .bearer_auth(&registration.hs_token)
                .timeout(QUERY_TIMEOUT)
                .send()
                .await;
            match answer {
                Ok(answer) if answer.status().is_success() => return true,
                Ok(_) => {}
                Err(error) => {
                    tracing::warn!(appservice = %registration.id, %error, "query to application service failed");
                }
            }
        }
        false
    }
}
