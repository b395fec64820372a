//! Second factors: a TOTP app, WebAuthn credentials, and single-use
//! recovery codes. A user who enrolled one cannot log in with the password
//! alone: the password stage answers 401 with the remaining stages and a
//! session, the user-interactive pattern the spec uses elsewhere (our
//! extension; see spec/second-factor.md).

use ruma::{
    OwnedUserId, UserId,
    api::client::uiaa::{AuthFlow, AuthType, UiaaInfo},
};
use serde_json::{Map, Value};

use super::{Auth, tokens, totp};
use crate::error::{Error, Result};

/// The login stage that takes a TOTP code.
pub const TOTP_STAGE: &str = "org.lattice.login.totp";
/// The login stage that takes a WebAuthn assertion.
pub const WEBAUTHN_STAGE: &str = "org.lattice.login.webauthn";
/// The login stage that takes a recovery code.
pub const RECOVERY_STAGE: &str = "org.lattice.login.recovery_code";
/// Recovery codes issued at enrolment.
const RECOVERY_CODES: usize = 10;

/// Whether `stage` is one of our second-factor stages.
pub fn is_factor_stage(stage: &str) -> bool {
    matches!(stage, TOTP_STAGE | WEBAUTHN_STAGE | RECOVERY_STAGE)
}

/// The otpauth:// URI as a QR code to scan, in SVG.
pub fn qr_code_svg(uri: &str) -> Result<String> {
    let code = qrcode::QrCode::new(uri.as_bytes()).map_err(Error::internal)?;
    Ok(code.render::<qrcode::render::svg::Color<'_>>().min_dimensions(200, 200).build())
}

fn recovery_hash(code: &str) -> String {
    tokens::hash(&code.trim().to_lowercase())
}

/// What a sign-in still needs after the password: the session to answer
/// under, the stages that can complete it, and the WebAuthn options when
/// the user has credentials.
#[derive(Debug, Clone)]
pub struct FactorChallenge {
    pub session: String,
    pub stages: Vec<&'static str>,
    pub webauthn_options: Option<Value>,
}

impl FactorChallenge {
    /// The 401 body for API clients: password plus any one factor.
    pub fn into_error(self) -> Error {
        let flows = self
            .stages
            .iter()
            .map(|stage| AuthFlow::new(vec![AuthType::Password, AuthType::from(*stage)]))
            .collect();
        let mut info = UiaaInfo::new(flows);
        info.session = Some(self.session);
        info.completed = vec![AuthType::Password];
        info.params = stage_params(self.webauthn_options);
        Error::Uia(Box::new(info))
    }
}

/// The `params` of a UIA answer: the WebAuthn challenge, if any.
pub(super) fn stage_params(
    webauthn_options: Option<Value>,
) -> Option<Box<serde_json::value::RawValue>> {
    let options = webauthn_options?;
    serde_json::value::to_raw_value(&serde_json::json!({ WEBAUTHN_STAGE: options })).ok()
}

impl Auth {
    /// The factor stages that can complete a sign-in for the user: empty
    /// when they have no second factor.
    pub async fn second_factor_stages(&self, user_id: &UserId) -> Result<Vec<&'static str>> {
        let totp = self.store.totp(user_id.as_str()).await?.is_some_and(|(_, ok, _)| ok);
        let webauthn = !self.store.webauthn_credentials(user_id.as_str()).await?.is_empty();
        let mut stages = Vec::new();
        if webauthn {
            stages.push(WEBAUTHN_STAGE);
        }
        if totp {
            stages.push(TOTP_STAGE);
        }
        if !stages.is_empty() {
            stages.push(RECOVERY_STAGE);
        }
        Ok(stages)
    }

    /// Whether the user has a second factor.
    pub async fn has_second_factor(&self, user_id: &UserId) -> Result<bool> {
        Ok(!self.second_factor_stages(user_id).await?.is_empty())
    }

    /// Starts a TOTP enrolment: (base32 secret, otpauth:// URI for the
    /// authenticator app).
    pub async fn start_totp(&self, user_id: &UserId) -> Result<(String, String)> {
        let mut secret = [0u8; 20];
        getrandom::fill(&mut secret).map_err(Error::internal)?;
        let encoded = totp::base32(&secret);
        let sealed = self.secrets.seal(&encoded, &totp_context(user_id))?;
        self.store.set_totp_secret(user_id.as_str(), &sealed).await?;
        let issuer = self.config.server.server_name.as_str();
        let uri = format!(
            "otpauth://totp/{issuer}:{user_id}?secret={encoded}&issuer={issuer}&algorithm=SHA1&digits=6&period=30"
        );
        Ok((encoded, uri))
    }

    /// Confirms the enrolment with a first code. Returns recovery codes
    /// (shown once, stored only as hashes) when this is the user's first
    /// second factor; codes given out earlier stay valid otherwise.
    pub async fn confirm_totp(&self, user_id: &UserId, code: &str) -> Result<Option<Vec<String>>> {
        if self.store.totp(user_id.as_str()).await?.is_none() {
            return Err(Error::BadRequest("start the TOTP enrolment first".into()));
        }
        let first_factor = !self.has_second_factor(user_id).await?;
        self.check_totp(user_id, code).await?;
        match first_factor {
            true => Ok(Some(self.issue_recovery_codes(user_id).await?)),
            false => Ok(None),
        }
    }

    /// New recovery codes for a user with a second factor; the old ones
    /// stop working.
    pub async fn renew_recovery_codes(&self, user_id: &UserId) -> Result<Vec<String>> {
        if !self.has_second_factor(user_id).await? {
            return Err(Error::BadRequest("recovery codes need a second factor first".into()));
        }
        self.issue_recovery_codes(user_id).await
    }

    /// Replaces the user's recovery codes with new ones.
    pub(super) async fn issue_recovery_codes(&self, user_id: &UserId) -> Result<Vec<String>> {
        let codes = (0..RECOVERY_CODES)
            .map(|_| tokens::random_letters(12).map(|c| c.to_lowercase()))
            .collect::<Result<Vec<_>>>()?;
        let hashes: Vec<String> = codes.iter().map(|c| recovery_hash(c)).collect();
        self.store.set_recovery_codes(user_id.as_str(), &hashes).await?;
        Ok(codes)
    }

    /// Removes the TOTP factor or one WebAuthn credential (`None`: TOTP);
    /// with the last factor gone, the recovery codes go too.
    pub async fn remove_second_factor(
        &self,
        user_id: &UserId,
        credential_id: Option<&str>,
    ) -> Result<()> {
        let removed = match credential_id {
            Some(id) => self.store.remove_webauthn_credential(user_id.as_str(), id).await?,
            None => self.store.remove_totp(user_id.as_str()).await?,
        };
        if !removed {
            return Err(Error::not_found("no such second factor"));
        }
        if !self.has_second_factor(user_id).await? {
            self.store.set_recovery_codes(user_id.as_str(), &[]).await?;
        }
        tracing::info!(user = %user_id, "second factor removed");
        Ok(())
    }

    /// Checks a TOTP code; a code is good once (no replay).
    async fn check_totp(&self, user_id: &UserId, code: &str) -> Result<()> {
        let wrong = || Error::forbidden("wrong or already used code");
        let (stored, _, _) = self.store.totp(user_id.as_str()).await?.ok_or_else(wrong)?;
        let secret = self.secrets.open(&stored, &totp_context(user_id))?;
        let secret =
            totp::from_base32(&secret).ok_or_else(|| Error::internal("bad stored secret"))?;
        let step =
            totp::matching_step(&secret, code.trim(), self.clock.now_ms()).ok_or_else(wrong)?;
        if !self.store.use_totp_step(user_id.as_str(), step).await? {
            return Err(wrong());
        }
        Ok(())
    }

    /// Opens the second step of a sign-in whose password was just checked;
    /// None when the user has no second factor (the password is enough).
    pub async fn second_factor_challenge(
        &self,
        user_id: &UserId,
    ) -> Result<Option<FactorChallenge>> {
        let stages = self.second_factor_stages(user_id).await?;
        if stages.is_empty() {
            return Ok(None);
        }
        let session = tokens::random_letters(24)?;
        let lifetime = self.config.auth.uia_session_lifetime.as_millis() as i64;
        let expires = self.clock.now_ms() + lifetime;
        self.store.create_uia_session(&session, Some(user_id.as_str()), expires).await?;
        self.store.set_uia_completed(&session, r#"["m.login.password"]"#).await?;
        let webauthn_options = self.webauthn_challenge(&session, user_id).await?;
        Ok(Some(FactorChallenge { session, stages, webauthn_options }))
    }

    /// The user of a live sign-in session whose password step is done.
    pub(super) async fn password_checked(&self, session: &str) -> Result<Option<OwnedUserId>> {
        let Some((Some(owner), completed)) = self.store.uia_session(session).await? else {
            return Ok(None);
        };
        let completed: Vec<String> = serde_json::from_str(&completed).unwrap_or_default();
        if !completed.iter().any(|stage| stage == "m.login.password") {
            return Ok(None);
        }
        Ok(UserId::parse(owner).ok())
    }

    /// Completes a sign-in whose password was checked under `session` with
    /// a second factor; returns the user, and ends the session.
    pub async fn finish_second_factor(
        &self,
        session: &str,
        stage: &str,
        answer: &Map<String, Value>,
    ) -> Result<OwnedUserId> {
        let user_id = self
            .password_checked(session)
            .await?
            .ok_or_else(|| Error::forbidden("unknown or expired login session"))?;
        self.check_factor(&user_id, session, stage, answer).await?;
        self.store.delete_uia_session(session).await?;
        Ok(user_id)
    }

    /// Checks a second-factor answer for `user_id` under `session`: `code`
    /// for TOTP and recovery codes, `credential` for WebAuthn. A wrong
    /// answer counts like a wrong password.
    pub(super) async fn check_factor(
        &self,
        user_id: &UserId,
        session: &str,
        stage: &str,
        answer: &Map<String, Value>,
    ) -> Result<()> {
        self.security.ensure_not_locked(user_id.as_str()).await?;
        if !self.second_factor_stages(user_id).await?.contains(&stage) {
            return Err(Error::forbidden(format!("{stage} is not one of your second factors")));
        }
        let code = || {
            answer
                .get("code")
                .and_then(Value::as_str)
                .ok_or_else(|| Error::MissingParam("code is required".into()))
        };
        let checked = match stage {
            TOTP_STAGE => self.check_totp(user_id, code()?).await,
            RECOVERY_STAGE => {
                let hash = recovery_hash(code()?);
                match self.store.use_recovery_code(user_id.as_str(), &hash).await? {
                    true => Ok(()),
                    false => Err(Error::forbidden("wrong or already used recovery code")),
                }
            }
            WEBAUTHN_STAGE => {
                let credential = answer
                    .get("credential")
                    .ok_or_else(|| Error::MissingParam("credential is required".into()))?;
                self.check_webauthn(session, user_id, credential).await
            }
            _ => Err(Error::BadRequest(format!("unknown login stage {stage}"))),
        };
        if let Err(error) = checked {
            self.security.login_failed(user_id.as_str()).await?;
            return Err(error);
        }
        Ok(())
    }

    /// (has TOTP, recovery codes left).
    pub async fn totp_and_recovery(&self, user_id: &UserId) -> Result<(bool, i64)> {
        let totp = self.store.totp(user_id.as_str()).await?.is_some_and(|(_, ok, _)| ok);
        Ok((totp, self.store.recovery_codes_left(user_id.as_str()).await?))
    }
}

/// What a TOTP secret is sealed to: its user's row.
fn totp_context(user_id: &UserId) -> String {
    format!("totp:{user_id}")
}

impl Auth {
    /// Seals the TOTP secrets and passkeys kept in clear (before a key was
    /// configured) or under an earlier key (a rotation).
    pub async fn seal_clear_secrets(&self) -> Result<()> {
        self.seal_clear_passkeys().await?;
        for (user, stored) in self.store.totp_secrets().await? {
            if self.secrets.needs_sealing(&stored) {
                let user_id = UserId::parse(&user).map_err(Error::internal)?;
                let sealed = self.secrets.reseal(&stored, &totp_context(&user_id))?;
                self.store.replace_totp_secret(&user, &stored, &sealed).await?;
            }
        }
        Ok(())
    }
}
