//! User-interactive authentication (UIA): the 401-with-flows dance that
//! guards registration and sensitive account changes.

use ruma::{
    OwnedUserId, UserId,
    api::{
        client::uiaa::{AuthData, AuthFlow, AuthType, UiaaInfo},
        error::{ErrorKind, StandardErrorBody},
    },
};

use serde_json::{Map, Value};

use super::{Auth, second_factor, second_factor::FactorChallenge, tokens};
use crate::{
    error::{Error, Result},
    store::now_ms,
};

/// The flows an endpoint accepts; completing any one of them is enough.
#[derive(Debug, Clone)]
pub struct UiaFlows(pub Vec<Vec<AuthType>>);

/// What a completed round of UIA tells the endpoint.
#[derive(Debug, Clone, Default)]
pub struct UiaOutcome {
    /// Set when the password stage identified a user (registration has none).
    pub password_checked: bool,
    /// A registration token from the admin API that this round accepted;
    /// it counts as used once the account exists.
    pub registration_token: Option<String>,
    /// The e-mail address the e-mail stage proved is the client's.
    pub email: Option<String>,
}

impl UiaFlows {
    /// A password, for a logged-in user's sensitive operations.
    pub fn password() -> Self {
        Self(vec![vec![AuthType::Password]])
    }

    /// A link mailed to the account's address: "forgot password".
    pub fn email() -> Self {
        Self(vec![vec![AuthType::EmailIdentity]])
    }

    fn info(
        &self,
        session: &str,
        completed: Vec<AuthType>,
        error: Option<Error>,
        webauthn_options: Option<serde_json::Value>,
    ) -> Box<UiaaInfo> {
        let mut info =
            UiaaInfo::new(self.0.iter().map(|stages| AuthFlow::new(stages.clone())).collect());
        info.session = Some(session.to_owned());
        info.completed = completed;
        info.params = second_factor::stage_params(webauthn_options);
        info.auth_error = error.map(|e| {
            let kind = match e {
                Error::Forbidden(_) => ErrorKind::Forbidden,
                Error::ThreepidAuthFailed(_) => ErrorKind::ThreepidAuthFailed,
                _ => ErrorKind::Unauthorized,
            };
            Box::new(StandardErrorBody::new(kind, e.to_string()))
        });
        Box::new(info)
    }

    /// The same flows, each password flow also asking for one of the
    /// user's second factors.
    fn with_second_factor(&self, factors: &[&str]) -> Self {
        let mut flows = Vec::new();
        for flow in &self.0 {
            if flow.contains(&AuthType::Password) {
                for factor in factors {
                    let mut stages = flow.clone();
                    stages.push(AuthType::from(*factor));
                    flows.push(stages);
                }
            } else {
                flows.push(flow.clone());
            }
        }
        Self(flows)
    }

    fn is_complete(&self, completed: &[AuthType]) -> bool {
        self.0.iter().any(|flow| flow.iter().all(|stage| completed.contains(stage)))
    }

    fn offers(&self, stage: &AuthType) -> bool {
        self.0.iter().any(|flow| flow.contains(stage))
    }
}

impl Auth {
    /// Runs one round of UIA for `user` (None while registering). Returns Ok
    /// once a whole flow is complete, else `Error::Uia` with what remains.
    pub async fn user_interactive(
        &self,
        flows: &UiaFlows,
        auth: Option<&AuthData>,
        user: Option<&UserId>,
    ) -> Result<UiaOutcome> {
        // With a second factor, the password alone no longer unlocks
        // sensitive operations: each password flow gains a factor stage.
        let factors = match user {
            Some(user) => self.second_factor_stages(user).await?,
            None => Vec::new(),
        };
        let with_factor;
        let flows = if factors.is_empty() {
            flows
        } else {
            with_factor = flows.with_second_factor(&factors);
            &with_factor
        };
        // Each answer carries a fresh WebAuthn challenge for the session.
        let webauthn = factors.contains(&second_factor::WEBAUTHN_STAGE);
        let challenge = |session: String| async move {
            match user {
                Some(user) if webauthn => self.webauthn_challenge(&session, user).await,
                _ => Ok(None),
            }
        };
        let lifetime = self.config.auth.uia_session_lifetime.as_millis() as i64;
        let user_str = user.map(|u| u.as_str());
        let Some(auth) = auth else {
            let session = tokens::random_letters(24)?;
            self.store.create_uia_session(&session, user_str, now_ms() + lifetime).await?;
            let options = challenge(session.clone()).await?;
            return Err(Error::Uia(flows.info(&session, Vec::new(), None, options)));
        };
        let session = match auth.session() {
            Some(session) => session.to_owned(),
            None => {
                // Clients may send a stage straight away, without a session.
                let session = tokens::random_letters(24)?;
                self.store.create_uia_session(&session, user_str, now_ms() + lifetime).await?;
                session
            }
        };
        let Some((owner, completed_json)) = self.store.uia_session(&session).await? else {
            return Err(Error::invalid_param("unknown or expired user-interactive auth session"));
        };
        if owner.as_deref() != user_str {
            return Err(Error::forbidden("this auth session belongs to another user"));
        }
        let mut completed: Vec<AuthType> =
            serde_json::from_str(&completed_json).map_err(Error::internal)?;
        let mut outcome = UiaOutcome::default();

        let stage = auth.auth_type();
        let checked = match (&stage, auth) {
            (Some(stage), _) if !flows.offers(stage) => {
                Err(Error::forbidden(format!("auth stage {stage} is not offered here")))
            }
            (_, AuthData::Dummy(_)) => Ok(()),
            (_, AuthData::RegistrationToken(t)) => {
                if self.config.registration.tokens.iter().any(|known| known == &t.token) {
                    Ok(())
                } else if self.store.registration_token_usable(&t.token).await? {
                    outcome.registration_token = Some(t.token.clone());
                    Ok(())
                } else {
                    Err(Error::forbidden("invalid registration token"))
                }
            }
            (_, AuthData::Password(p)) => match user {
                Some(user) => {
                    let claimed = super::login::identifier_user(&p.identifier, self.server_name());
                    if claimed.as_deref() != Some(user) {
                        Err(Error::forbidden("the identifier does not match the logged-in user"))
                    } else {
                        self.check_password(user, &p.password).await.map(|_| {
                            outcome.password_checked = true;
                        })
                    }
                }
                None => Err(Error::forbidden("password auth needs an existing account")),
            },
            (_, AuthData::EmailIdentity(email)) => {
                let creds = &email.thirdparty_id_creds;
                let proved = crate::services::threepids::validated_address(
                    &self.store,
                    creds.sid.as_str(),
                    creds.client_secret.as_str(),
                )
                .await;
                proved.map(|address| outcome.email = Some(address))
            }
            // Acknowledging a fallback page only re-reads the session's state.
            (_, AuthData::FallbackAcknowledgement(_)) => Ok(()),
            (Some(stage), custom) if second_factor::is_factor_stage(stage.as_str()) => match user {
                Some(user) => {
                    self.check_factor(user, &session, stage.as_str(), &custom.data()).await
                }
                None => Err(Error::forbidden("a second factor needs an existing account")),
            },
            _ => Err(Error::forbidden("unsupported auth stage")),
        };
        if let Err(error) = checked {
            let options = challenge(session.clone()).await?;
            return Err(Error::Uia(flows.info(&session, completed, Some(error), options)));
        }
        if let Some(stage) = stage
            && !completed.contains(&stage)
        {
            completed.push(stage);
        }
        if flows.is_complete(&completed) {
            self.store.delete_uia_session(&session).await?;
            return Ok(outcome);
        }
        let json = serde_json::to_string(&completed).map_err(Error::internal)?;
        self.store.set_uia_completed(&session, &json).await?;
        let options = challenge(session.clone()).await?;
        Err(Error::Uia(flows.info(&session, completed, None, options)))
    }

    /// The state a fallback page of `session` shows: whose session it is
    /// and the second factors they could answer with (a fresh passkey
    /// challenge among them). Only sessions of a logged-in user's request
    /// have fallback pages; registration stages are done in the client.
    pub async fn fallback_challenge(&self, session: &str) -> Result<FactorChallenge> {
        let user_id = self.fallback_owner(session).await?;
        let stages = self.second_factor_stages(&user_id).await?;
        let webauthn_options = match stages.contains(&second_factor::WEBAUTHN_STAGE) {
            true => self.webauthn_challenge(session, &user_id).await?,
            false => None,
        };
        Ok(FactorChallenge { session: session.to_owned(), stages, webauthn_options })
    }

    /// Completes `stage` of `session` on its fallback web page, for a
    /// client that cannot do the stage itself; the client then sends its
    /// request again with only the session.
    pub async fn complete_fallback_stage(
        &self,
        session: &str,
        stage: &str,
        answer: &Map<String, Value>,
    ) -> Result<()> {
        let user_id = self.fallback_owner(session).await?;
        match stage {
            "m.login.password" => {
                let password = answer
                    .get("password")
                    .and_then(Value::as_str)
                    .ok_or_else(|| Error::MissingParam("password is required".into()))?;
                self.check_password(&user_id, password).await?;
            }
            stage if second_factor::is_factor_stage(stage) => {
                self.check_factor(&user_id, session, stage, answer).await?;
            }
            _ => return Err(Error::not_found("this stage has no fallback page")),
        }
        let Some((_, completed)) = self.store.uia_session(session).await? else {
            return Err(Error::forbidden("unknown or expired user-interactive auth session"));
        };
        let mut completed: Vec<AuthType> =
            serde_json::from_str(&completed).map_err(Error::internal)?;
        let stage = AuthType::from(stage);
        if !completed.contains(&stage) {
            completed.push(stage);
        }
        let json = serde_json::to_string(&completed).map_err(Error::internal)?;
        self.store.set_uia_completed(session, &json).await
    }

    async fn fallback_owner(&self, session: &str) -> Result<OwnedUserId> {
        match self.store.uia_session(session).await? {
            Some((Some(owner), _)) => UserId::parse(owner).map_err(Error::internal),
            Some((None, _)) => {
                Err(Error::forbidden("this session's stages are done in the client"))
            }
            None => Err(Error::forbidden("unknown or expired user-interactive auth session")),
        }
    }
}
