//! Room key backups: a user's encrypted Megolm session keys, kept under a
//! backup version so a new device can restore them. The server stores
//! opaque ciphertext and decides only which copy of a session to keep.

use std::collections::HashMap;

use ruma::{
    UInt, UserId,
    api::client::backup::{BackupAlgorithm, KeyBackupData},
    serde::Raw,
};

use super::{Keys, parse_json, raw_json};
use crate::{
    error::{Error, Result},
    store::{BackupKeyRow, BackupVersionRow},
};

/// A backed-up session key: (room, session, key data).
pub type BackupKey = (String, String, Raw<KeyBackupData>);

/// A backup version as clients see it: (version, algorithm, count, etag).
pub type BackupInfo = (String, Raw<BackupAlgorithm>, UInt, String);

fn version_number(version: &str) -> Result<i64> {
    version.parse().map_err(|_| Error::not_found("unknown backup version"))
}

fn algorithm_name(algorithm: &Raw<BackupAlgorithm>) -> Result<String> {
    algorithm
        .get_field::<String>("algorithm")
        .map_err(|e| Error::BadJson(e.to_string()))?
        .ok_or_else(|| Error::MissingParam("algorithm is required".into()))
}

/// Whether a new copy of a session key should replace the stored one: a
/// verified copy beats an unverified one, then the one that decrypts from
/// an earlier message, then the one forwarded fewer times.
fn replaces(new: &BackupKeyRow, old: &BackupKeyRow) -> bool {
    if new.is_verified != old.is_verified {
        return new.is_verified;
    }
    (new.first_message_index, new.forwarded_count) < (old.first_message_index, old.forwarded_count)
}

impl Keys {
    pub async fn create_backup(
        &self,
        user: &UserId,
        algorithm: &Raw<BackupAlgorithm>,
    ) -> Result<String> {
        let name = algorithm_name(algorithm)?;
        let version =
            self.store.create_backup(user.as_str(), &name, algorithm.json().get()).await?;
        Ok(version.to_string())
    }

    /// A version's description; the latest when `version` is `None`.
    pub async fn backup_info(&self, user: &UserId, version: Option<&str>) -> Result<BackupInfo> {
        let number = version.map(version_number).transpose()?;
        let BackupVersionRow { version, auth_data, etag, .. } = self
            .store
            .backup_version(user.as_str(), number)
            .await?
            .ok_or_else(|| Error::not_found("no such backup version"))?;
        let count = self.store.backup_key_count(user.as_str(), version).await?;
        Ok((
            version.to_string(),
            raw_json(&parse_json(&auth_data)?)?,
            UInt::try_from(count).unwrap_or_default(),
            etag.to_string(),
        ))
    }

    /// Replaces a version's auth data; its algorithm cannot change.
    pub async fn update_backup(
        &self,
        user: &UserId,
        version: &str,
        algorithm: &Raw<BackupAlgorithm>,
    ) -> Result<()> {
        let number = version_number(version)?;
        let BackupVersionRow { algorithm: current, .. } = self
            .store
            .backup_version(user.as_str(), Some(number))
            .await?
            .ok_or_else(|| Error::not_found("no such backup version"))?;
        if algorithm_name(algorithm)? != current {
            return Err(Error::invalid_param("a backup's algorithm cannot change"));
        }
        self.store.update_backup(user.as_str(), number, algorithm.json().get()).await?;
        Ok(())
    }

    pub async fn delete_backup(&self, user: &UserId, version: &str) -> Result<()> {
        if !self.store.delete_backup(user.as_str(), version_number(version)?).await? {
            return Err(Error::not_found("no such backup version"));
        }
        Ok(())
    }

    /// Stores session keys in the current version; returns (count, etag).
    pub async fn put_backup_keys(
        &self,
        user: &UserId,
        version: &str,
        keys: Vec<BackupKey>,
    ) -> Result<(UInt, String)> {
        let latest = self
            .store
            .backup_version(user.as_str(), None)
            .await?
            .ok_or_else(|| Error::not_found("no backup version exists"))?;
        if version_number(version).ok() != Some(latest.version) {
            return Err(Error::WrongRoomKeysVersion(latest.version.to_string()));
        }
        let stored: HashMap<(String, String), BackupKeyRow> = self
            .store
            .backup_keys(user.as_str(), latest.version, None, None)
            .await?
            .into_iter()
            .map(|row| ((row.room_id.clone(), row.session_id.clone()), row))
            .collect();
        let mut winners = Vec::new();
        for (room_id, session_id, raw) in keys {
            let data: KeyBackupData =
                raw.deserialize().map_err(|e| Error::BadJson(e.to_string()))?;
            let row = BackupKeyRow {
                room_id,
                session_id,
                first_message_index: i64::try_from(u64::from(data.first_message_index))
                    .unwrap_or(i64::MAX),
                forwarded_count: i64::try_from(u64::from(data.forwarded_count)).unwrap_or(i64::MAX),
                is_verified: data.is_verified,
                session_data: raw.json().get().to_owned(),
            };
            match stored.get(&(row.room_id.clone(), row.session_id.clone())) {
                Some(old) if !replaces(&row, old) => {}
                _ => winners.push(row),
            }
        }
        let (count, etag) =
            self.store.put_backup_keys(user.as_str(), latest.version, &winners).await?;
        Ok((UInt::try_from(count).unwrap_or_default(), etag.to_string()))
    }

    /// Stored session keys of a version, optionally of one room or session.
    pub async fn backup_keys(
        &self,
        user: &UserId,
        version: &str,
        room_id: Option<&str>,
        session_id: Option<&str>,
    ) -> Result<Vec<BackupKey>> {
        let number = self.existing_version(user, version).await?;
        let rows = self.store.backup_keys(user.as_str(), number, room_id, session_id).await?;
        rows.into_iter()
            .map(|row| {
                Ok((row.room_id, row.session_id, raw_json(&parse_json(&row.session_data)?)?))
            })
            .collect()
    }

    /// Deletes session keys; returns (count, etag).
    pub async fn delete_backup_keys(
        &self,
        user: &UserId,
        version: &str,
        room_id: Option<&str>,
        session_id: Option<&str>,
    ) -> Result<(UInt, String)> {
        let number = self.existing_version(user, version).await?;
        let (count, etag) =
            self.store.delete_backup_keys(user.as_str(), number, room_id, session_id).await?;
        Ok((UInt::try_from(count).unwrap_or_default(), etag.to_string()))
    }

    async fn existing_version(&self, user: &UserId, version: &str) -> Result<i64> {
        let number = version_number(version)?;
        self.store
            .backup_version(user.as_str(), Some(number))
            .await?
            .map(|row| row.version)
            .ok_or_else(|| Error::not_found("no such backup version"))
    }
}
