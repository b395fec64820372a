//! Checking a user's password, shared by /login and the UIA password stage.

use ruma::{OwnedUserId, ServerName, UserId, api::client::uiaa::UserIdentifier};

use super::Auth;
use crate::{
    error::{Error, Result},
    store::UserRow,
};

/// The local user an identifier names (`alice` or `@alice:server`), if any.
pub fn identifier_user(
    identifier: &UserIdentifier,
    server_name: &ServerName,
) -> Option<OwnedUserId> {
    match identifier {
        UserIdentifier::Matrix(id) => user_from_input(&id.user, server_name),
        _ => None,
    }
}

/// Parses a localpart or a full user id as typed at a login prompt.
pub fn user_from_input(input: &str, server_name: &ServerName) -> Option<OwnedUserId> {
    let user_id = if input.starts_with('@') {
        UserId::parse(input).ok()?
    } else {
        UserId::parse_with_server_name(input.to_lowercase(), server_name).ok()?
    };
    (user_id.server_name() == server_name).then_some(user_id)
}

impl Auth {
    pub fn server_name(&self) -> &ServerName {
        &self.config.server.server_name
    }

    /// Verifies `password` for `user_id`. Unknown users and wrong passwords get
    /// the same answer in the same time; a deactivated account is only
    /// revealed to someone who knows its password.
    pub async fn check_password(&self, user_id: &UserId, password: &str) -> Result<UserRow> {
        self.security.ensure_not_locked(user_id.as_str()).await?;
        let user = self.store.get_user(user_id.as_str()).await?;
        let hash = user.as_ref().and_then(|u| u.password_hash.clone());
        let ok = self.passwords.verify(password.to_owned(), hash).await?;
        if user.is_some() {
            if ok {
                self.security.login_succeeded(user_id.as_str()).await?;
            } else {
                self.security.login_failed(user_id.as_str()).await?;
            }
        }
        match user {
            Some(user) if ok => {
                if user.is_deactivated() {
                    Err(Error::UserDeactivated)
                } else {
                    Ok(user)
                }
            }
            _ => {
                metrics::counter!("lattice_login_failures_total").increment(1);
                Err(Error::forbidden("invalid username or password"))
            }
        }
    }
}
