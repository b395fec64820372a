//! Second factors: a TOTP app and single-use recovery codes. A user who
//! enrolled one cannot log in with the password alone: the password stage
//! answers 401 with the remaining stage and a session, the user-interactive
//! pattern the spec uses elsewhere (our extension; see spec/).

use ruma::{
    OwnedUserId, UserId,
    api::client::uiaa::{AuthFlow, AuthType, UiaaInfo},
};
use sha2::{Digest, Sha256};

use super::{Auth, tokens, totp};
use crate::error::{Error, Result};

/// The login stage that takes a TOTP code.
pub const TOTP_STAGE: &str = "org.lattice.login.totp";
/// The login stage that takes a recovery code.
pub const RECOVERY_STAGE: &str = "org.lattice.login.recovery_code";
/// Recovery codes issued at enrolment.
const RECOVERY_CODES: usize = 10;

fn hash(code: &str) -> String {
    Sha256::digest(code.trim().as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
}

impl Auth {
    /// Whether the user has a confirmed second factor.
    pub async fn has_second_factor(&self, user_id: &UserId) -> Result<bool> {
        Ok(self.store.totp(user_id.as_str()).await?.is_some_and(|(_, confirmed, _)| confirmed))
    }

    /// Starts a TOTP enrolment: (base32 secret, otpauth:// URI for a QR code).
    pub async fn start_totp(&self, user_id: &UserId) -> Result<(String, String)> {
        let mut secret = [0u8; 20];
        getrandom::fill(&mut secret).map_err(Error::internal)?;
        let encoded = totp::base32(&secret);
        self.store.set_totp_secret(user_id.as_str(), &encoded).await?;
        let issuer = self.config.server.server_name.as_str();
        let uri = format!(
            "otpauth://totp/{issuer}:{user_id}?secret={encoded}&issuer={issuer}&algorithm=SHA1&digits=6&period=30"
        );
        Ok((encoded, uri))
    }

    /// Confirms the enrolment with a first code; returns the recovery codes
    /// (shown once, stored only as hashes).
    pub async fn confirm_totp(&self, user_id: &UserId, code: &str) -> Result<Vec<String>> {
        if self.store.totp(user_id.as_str()).await?.is_none() {
            return Err(Error::BadRequest("start the TOTP enrolment first".into()));
        }
        self.check_totp(user_id, code).await?;
        let codes = (0..RECOVERY_CODES)
            .map(|_| tokens::random_letters(12).map(|c| c.to_lowercase()))
            .collect::<Result<Vec<_>>>()?;
        let hashes: Vec<String> = codes.iter().map(|c| hash(c)).collect();
        self.store.set_recovery_codes(user_id.as_str(), &hashes).await?;
        Ok(codes)
    }

    /// Checks a TOTP code; a code is good once (no replay).
    async fn check_totp(&self, user_id: &UserId, code: &str) -> Result<()> {
        let wrong = || Error::forbidden("wrong or already used code");
        let (secret, _, _) = self.store.totp(user_id.as_str()).await?.ok_or_else(wrong)?;
        let secret =
            totp::from_base32(&secret).ok_or_else(|| Error::internal("bad stored secret"))?;
        let step =
            totp::matching_step(&secret, code.trim(), self.clock.now_ms()).ok_or_else(wrong)?;
        if !self.store.use_totp_step(user_id.as_str(), step).await? {
            return Err(wrong());
        }
        Ok(())
    }

    /// The 401 a password login answers when a second factor is still due.
    pub async fn second_factor_challenge(&self, user_id: &UserId) -> Result<Error> {
        let session = tokens::random_letters(24)?;
        let lifetime = self.config.auth.uia_session_lifetime.as_millis() as i64;
        let expires = self.clock.now_ms() + lifetime;
        self.store.create_uia_session(&session, Some(user_id.as_str()), expires).await?;
        self.store.set_uia_completed(&session, r#"["m.login.password"]"#).await?;
        let flows = [TOTP_STAGE, RECOVERY_STAGE]
            .map(|stage| AuthFlow::new(vec![AuthType::Password, AuthType::from(stage)]));
        let mut info = UiaaInfo::new(flows.to_vec());
        info.session = Some(session);
        info.completed = vec![AuthType::Password];
        Ok(Error::Uia(Box::new(info)))
    }

    /// Completes a login whose password was checked under `session` with
    /// the second factor; returns the user, and ends the session.
    pub async fn finish_second_factor(
        &self,
        session: &str,
        stage: &str,
        code: &str,
    ) -> Result<OwnedUserId> {
        let unknown = || Error::forbidden("unknown or expired login session");
        let (owner, completed) = self.store.uia_session(session).await?.ok_or_else(unknown)?;
        let user_id = owner.and_then(|o| UserId::parse(o).ok()).ok_or_else(unknown)?;
        if !completed.contains("m.login.password") {
            return Err(unknown());
        }
        self.check_factor(&user_id, stage, code).await?;
        self.store.delete_uia_session(session).await?;
        Ok(user_id)
    }

    /// Checks a second-factor stage (TOTP or recovery code) for `user_id`;
    /// a wrong code counts like a wrong password.
    pub(super) async fn check_factor(
        &self,
        user_id: &UserId,
        stage: &str,
        code: &str,
    ) -> Result<()> {
        self.security.ensure_not_locked(user_id.as_str()).await?;
        let checked = match stage {
            TOTP_STAGE => self.check_totp(user_id, code).await,
            RECOVERY_STAGE => {
                match self.store.use_recovery_code(user_id.as_str(), &hash(code)).await? {
                    true => Ok(()),
                    false => Err(Error::forbidden("wrong or already used recovery code")),
                }
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
    pub async fn second_factors(&self, user_id: &UserId) -> Result<(bool, i64)> {
        let totp = self.has_second_factor(user_id).await?;
        Ok((totp, self.store.recovery_codes_left(user_id.as_str()).await?))
    }
}
