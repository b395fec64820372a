//! Trust: emoji verification with other devices, device lists, the key
//! backup and cross-signing. Verifications move on as to-device messages
//! arrive with syncs, so their state is looked at after each sync and
//! reported when it changed.

use lattice_sdk::{
    Error, Verification,
    ruma::{OwnedDeviceId, OwnedUserId},
};

use super::{Answer, Outcome, VerifyStage, Worker, parse_user};

/// A verification the screen follows, with the stage it last showed.
pub(super) struct Tracked {
    verification: Verification,
    stage: VerifyStage,
}

impl Worker {
    /// Reports new verification requests and verifications that moved on.
    pub(super) async fn check_verifications(&self) {
        let requests = self.client.verification_requests().await.unwrap_or_default();
        let mut tracked = self.verifications.lock().await;
        for request in requests {
            if !tracked.contains_key(&request.transaction_id) {
                self.report_verification(&request, VerifyStage::Asked).await;
                tracked.insert(
                    request.transaction_id.clone(),
                    Tracked { verification: request, stage: VerifyStage::Asked },
                );
            }
        }
        let mut finished = Vec::new();
        for (transaction, entry) in tracked.iter_mut() {
            let stage = stage_of(&entry.verification, &entry.stage).await;
            if stage != entry.stage {
                entry.stage = stage.clone();
                self.report_verification(&entry.verification, stage.clone()).await;
            }
            if matches!(stage, VerifyStage::Verified | VerifyStage::Cancelled(_)) {
                finished.push(transaction.clone());
            }
        }
        for transaction in finished {
            tracked.remove(&transaction);
        }
    }

    async fn report_verification(&self, verification: &Verification, stage: VerifyStage) {
        if let Ok((user, device)) = verification.other_device().await {
            let _ = self.outcomes.send(Outcome::Verification {
                transaction: verification.transaction_id.clone(),
                user,
                device,
                stage,
            });
        }
    }

    /// The user's answer in a verification.
    pub(super) async fn answer_verification(&self, transaction: String, answer: Answer) {
        let verification = {
            let mut tracked = self.verifications.lock().await;
            let Some(entry) = tracked.get_mut(&transaction) else { return };
            entry.stage = match answer {
                Answer::Accept => VerifyStage::Waiting,
                Answer::Match => VerifyStage::Confirmed,
                Answer::Mismatch | Answer::Decline => VerifyStage::Cancelled(String::new()),
            };
            entry.verification.clone()
        };
        let sent = match answer {
            Answer::Accept => verification.accept().await,
            Answer::Match => verification.confirm().await,
            Answer::Mismatch => verification.mismatch().await,
            Answer::Decline => verification.cancel().await,
        };
        if let Err(error) = sent {
            let _ = self.outcomes.send(Outcome::Failed(format!("verification: {error}")));
        }
        if matches!(answer, Answer::Mismatch | Answer::Decline) {
            self.verifications.lock().await.remove(&transaction);
        } else {
            // Confirming may have finished it (the other side's MAC was here).
            self.check_verifications().await;
        }
    }

    /// Asks a device of `user` (this user by default) to verify; without a
    /// device id, the one other device there is.
    pub(super) async fn start_verification(
        &self,
        user: Option<String>,
        device: Option<String>,
    ) -> Result<(), String> {
        let user = self.user_or_me(user)?;
        let device: OwnedDeviceId = match device {
            Some(device) => device.into(),
            None => {
                let devices = self.client.user_devices(&user).await.map_err(|e| e.to_string())?;
                let others: Vec<_> = devices.iter().filter(|d| !d.is_this_device).collect();
                match others.as_slice() {
                    [one] => one.device_id.clone(),
                    [] => return Err(format!("{user} has no other device to verify")),
                    several => {
                        let ids: Vec<&str> = several.iter().map(|d| d.device_id.as_str()).collect();
                        return Err(format!("which device? /verify {user} {}", ids.join(" | ")));
                    }
                }
            }
        };
        let verification =
            self.client.request_verification(&user, &device).await.map_err(|e| e.to_string())?;
        self.verifications.lock().await.insert(
            verification.transaction_id.clone(),
            Tracked { verification: verification.clone(), stage: VerifyStage::Waiting },
        );
        self.report_verification(&verification, VerifyStage::Waiting).await;
        Ok(())
    }

    /// `user`'s devices (this user's by default) and which are trusted.
    pub(super) async fn devices(&self, user: Option<String>) -> Outcome {
        let user = match self.user_or_me(user) {
            Ok(user) => user,
            Err(message) => return Outcome::Failed(message),
        };
        match self.client.user_devices(&user).await {
            Ok(devices) => Outcome::Devices { user, devices },
            Err(error) => Outcome::Failed(format!("no device list: {error}")),
        }
    }

    fn user_or_me(&self, user: Option<String>) -> Result<OwnedUserId, String> {
        match user {
            Some(text) => parse_user(&text),
            None => self.client.user_id().ok_or_else(|| "not signed in".to_owned()),
        }
    }

    /// After signing in with a password: an account without cross-signing
    /// keys gets them (the password answers the server's check), so the
    /// devices verified from here are vouched for to everyone.
    pub(super) async fn set_up_cross_signing(&self, password: &str) {
        match self.client.has_cross_signing_keys().await {
            Ok(false) => {
                if let Err(error) = self.client.bootstrap_cross_signing(Some(password)).await {
                    let _ = self.outcomes.send(Outcome::Failed(format!("cross-signing: {error}")));
                }
            }
            Ok(true) => {}
            Err(error) => {
                let _ = self.outcomes.send(Outcome::Failed(format!("cross-signing: {error}")));
            }
        }
    }

    /// Starts a key backup; the recovery key is shown once.
    pub(super) async fn enable_backup(&self) -> Outcome {
        match self.client.enable_key_backup().await {
            Ok(key) => Outcome::RecoveryKey(key),
            Err(error) => Outcome::Failed(format!("no backup: {error}")),
        }
    }

    /// Reads the backup with the recovery key; timelines are read again so
    /// that messages sealed by the restored keys open.
    pub(super) async fn restore_backup(&self, key: &str) -> Outcome {
        match self.client.restore_key_backup(key).await {
            Ok(count) => {
                self.timelines.lock().await.clear();
                Outcome::KeysRestored(count)
            }
            Err(Error::Invalid(why)) => Outcome::Failed(why),
            Err(error) => Outcome::Failed(format!("not restored: {error}")),
        }
    }
}

/// Where a verification stands now, given where it stood.
async fn stage_of(verification: &Verification, last: &VerifyStage) -> VerifyStage {
    if let Ok(Some(code)) = verification.cancelled().await {
        return VerifyStage::Cancelled(explain(&code).to_owned());
    }
    if verification.is_verified().await.unwrap_or(false) {
        return VerifyStage::Verified;
    }
    match last {
        VerifyStage::Asked | VerifyStage::Confirmed => last.clone(),
        _ => match verification.sas().await {
            Ok(Some(code)) => VerifyStage::Compare(code),
            _ => VerifyStage::Waiting,
        },
    }
}

/// Cancel codes in words.
fn explain(code: &str) -> &str {
    match code {
        "m.user" => "cancelled",
        "m.mismatched_sas" => "the emoji did not match",
        "m.key_mismatch" | "m.mismatched_commitment" => {
            "the keys did not match: someone may be in the middle"
        }
        "m.timeout" => "it took too long",
        "m.accepted" => "another device answered",
        other => other,
    }
}
