//! End-to-end encryption keys: device keys, one-time and fallback keys,
//! cross-signing keys and their signatures, and the device-list stream.

use sqlx::{Any, Transaction};

use ruma::OwnedUserId;

use super::{Store, typed_ids};
use crate::error::Result;

/// A one-time or fallback key to store.
#[derive(Debug, Clone)]
pub struct OneTimeKeyRow {
    pub key_id: String,
    pub algorithm: String,
    /// The key (JSON: a string, or a signed object).
    pub key_json: String,
}

/// A line of a device's key summary: an algorithm's unclaimed one-time
/// keys, or (`fallback` 1) an unused fallback key of that algorithm.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct KeySummaryRow {
    pub algorithm: String,
    pub unclaimed: i64,
    pub fallback: i64,
}

/// Takes the next position on a counter stream inside a transaction.
pub(super) async fn next_position(tx: &mut Transaction<'_, Any>, stream: &str) -> Result<i64> {
    Ok(sqlx::query_scalar(
        "UPDATE stream_counters SET value = value + 1 WHERE name = $1 RETURNING value",
    )
    .bind(stream)
    .fetch_one(&mut **tx)
    .await?)
}

/// Records that `user_id`'s devices changed; returns the stream position.
pub(super) async fn device_list_changed(
    tx: &mut Transaction<'_, Any>,
    user_id: &str,
) -> Result<i64> {
    let position = next_position(tx, "device_lists").await?;
    sqlx::query("INSERT INTO device_list_changes (stream_id, user_id) VALUES ($1, $2)")
        .bind(position)
        .bind(user_id)
        .execute(&mut **tx)
        .await?;
    Ok(position)
}

/// Removes the keys of a user's devices: one device, or all but `keep`.
pub(super) async fn forget_device_keys(
    tx: &mut Transaction<'_, Any>,
    user_id: &str,
    device: DeviceSelector<'_>,
) -> Result<()> {
    for table in ["device_keys", "one_time_keys", "fallback_keys"] {
        let sql = match device {
            DeviceSelector::Only(_) => {
                format!("DELETE FROM {table} WHERE user_id = $1 AND device_id = $2")
            }
            DeviceSelector::AllBut(_) => {
                format!("DELETE FROM {table} WHERE user_id = $1 AND device_id <> $2")
            }
        };
        let id = match device {
            DeviceSelector::Only(id) | DeviceSelector::AllBut(id) => id,
        };
        sqlx::query(sqlx::AssertSqlSafe(sql)).bind(user_id).bind(id).execute(&mut **tx).await?;
    }
    Ok(())
}

/// Which devices an operation touches.
#[derive(Clone, Copy)]
pub(super) enum DeviceSelector<'a> {
    Only(&'a str),
    AllBut(&'a str),
}

impl Store {
    /// Stores a device's keys and new one-time and fallback keys; returns
    /// the device-list position when the device keys were new or changed.
    pub async fn upload_keys(
        &self,
        user_id: &str,
        device_id: &str,
        device_keys: Option<&str>,
        one_time_keys: &[OneTimeKeyRow],
        fallback_keys: &[OneTimeKeyRow],
    ) -> Result<Option<i64>> {
        let mut tx = self.begin().await?;
        let mut position = None;
        if let Some(keys) = device_keys {
            let old: Option<String> = sqlx::query_scalar(
                "SELECT keys FROM device_keys WHERE user_id = $1 AND device_id = $2",
            )
            .bind(user_id)
            .bind(device_id)
            .fetch_optional(&mut *tx)
            .await?;
            if old.as_deref() != Some(keys) {
                sqlx::query(
                    "INSERT INTO device_keys (user_id, device_id, keys) VALUES ($1, $2, $3) \
                     ON CONFLICT (user_id, device_id) DO UPDATE SET keys = excluded.keys",
                )
                .bind(user_id)
                .bind(device_id)
                .bind(keys)
                .execute(&mut *tx)
                .await?;
                position = Some(device_list_changed(&mut tx, user_id).await?);
            }
        }
        for key in one_time_keys {
            sqlx::query(
                "INSERT INTO one_time_keys (user_id, device_id, key_id, algorithm, key_json) \
                 VALUES ($1, $2, $3, $4, $5) ON CONFLICT (user_id, device_id, key_id) DO NOTHING",
            )
            .bind(user_id)
            .bind(device_id)
            .bind(&key.key_id)
            .bind(&key.algorithm)
            .bind(&key.key_json)
            .execute(&mut *tx)
            .await?;
        }
        for key in fallback_keys {
            sqlx::query(
                "INSERT INTO fallback_keys (user_id, device_id, algorithm, key_id, key_json, used) \
                 VALUES ($1, $2, $3, $4, $5, 0) ON CONFLICT (user_id, device_id, algorithm) \
                 DO UPDATE SET key_id = excluded.key_id, key_json = excluded.key_json, used = 0",
            )
            .bind(user_id)
            .bind(device_id)
            .bind(&key.algorithm)
            .bind(&key.key_id)
            .bind(&key.key_json)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        self.key_summaries.changed();
        Ok(position)
    }

    /// A device's stored keys (JSON).
    pub async fn device_keys(&self, user_id: &str, device_id: &str) -> Result<Option<String>> {
        Ok(sqlx::query_scalar("SELECT keys FROM device_keys WHERE user_id = $1 AND device_id = $2")
            .bind(user_id)
            .bind(device_id)
            .fetch_optional(&self.pool)
            .await?)
    }

    /// Every device of a user that has keys, with its display name:
    /// (device id, keys JSON, display name).
    pub async fn user_device_keys(
        &self,
        user_id: &str,
    ) -> Result<Vec<(String, String, Option<String>)>> {
        Ok(sqlx::query_as(
            "SELECT k.device_id, k.keys, d.display_name FROM device_keys k \
             LEFT JOIN devices d ON d.user_id = k.user_id AND d.device_id = k.device_id \
             WHERE k.user_id = $1 ORDER BY k.device_id",
        )
        .bind(user_id)
        .fetch_all(&self.pool)
        .await?)
    }

    /// The stored one-time key of `key_id`, if any (to refuse a changed re-upload).
    pub async fn one_time_key(
        &self,
        user_id: &str,
        device_id: &str,
        key_id: &str,
    ) -> Result<Option<String>> {
        Ok(sqlx::query_scalar(
            "SELECT key_json FROM one_time_keys WHERE user_id = $1 AND device_id = $2 AND key_id = $3",
        )
        .bind(user_id)
        .bind(device_id)
        .bind(key_id)
        .fetch_optional(&self.pool)
        .await?)
    }

    /// Unclaimed one-time keys by algorithm.
    pub async fn one_time_key_counts(
        &self,
        user_id: &str,
        device_id: &str,
    ) -> Result<Vec<(String, i64)>> {
        Ok(sqlx::query_as(
            "SELECT algorithm, COUNT(*) FROM one_time_keys \
             WHERE user_id = $1 AND device_id = $2 GROUP BY algorithm",
        )
        .bind(user_id)
        .bind(device_id)
        .fetch_all(&self.pool)
        .await?)
    }

    /// Counts and fallback keys in one round trip, for sync.
    pub async fn key_summary(&self, user_id: &str, device_id: &str) -> Result<Vec<KeySummaryRow>> {
        let key = (user_id.to_owned(), device_id.to_owned());
        self.key_summaries
            .get_or_read(key, || async {
                Ok(sqlx::query_as(
                    "SELECT algorithm, COUNT(*) AS unclaimed, CAST(0 AS BIGINT) AS fallback \
                     FROM one_time_keys WHERE user_id = $1 AND device_id = $2 GROUP BY algorithm \
                     UNION ALL SELECT algorithm, CAST(0 AS BIGINT), CAST(1 AS BIGINT) \
                     FROM fallback_keys WHERE user_id = $1 AND device_id = $2 AND used = 0",
                )
                .bind(user_id)
                .bind(device_id)
                .fetch_all(&self.pool)
                .await?)
            })
            .await
    }

    /// Claims one key of `algorithm` for a device: a one-time key (removed,
    /// so nobody else gets it), else the fallback key (marked used).
    /// Returns (key id, key JSON).
    pub async fn claim_key(
        &self,
        user_id: &str,
        device_id: &str,
        algorithm: &str,
    ) -> Result<Option<(String, String)>> {
        // Two claims may pick the same key; the loser of the delete tries again.
        for _ in 0..3 {
            let picked: Option<String> = sqlx::query_scalar(
                "SELECT key_id FROM one_time_keys \
                 WHERE user_id = $1 AND device_id = $2 AND algorithm = $3 ORDER BY key_id LIMIT 1",
            )
            .bind(user_id)
            .bind(device_id)
            .bind(algorithm)
            .fetch_optional(&self.pool)
            .await?;
            let Some(key_id) = picked else { break };
            let claimed: Option<String> = sqlx::query_scalar(
                "DELETE FROM one_time_keys WHERE user_id = $1 AND device_id = $2 AND key_id = $3 \
                 RETURNING key_json",
            )
            .bind(user_id)
            .bind(device_id)
            .bind(&key_id)
            .fetch_optional(&self.pool)
            .await?;
            if let Some(json) = claimed {
                self.key_summaries.changed();
                return Ok(Some((key_id, json)));
            }
        }
        let fallback = sqlx::query_as(
            "UPDATE fallback_keys SET used = 1 \
             WHERE user_id = $1 AND device_id = $2 AND algorithm = $3 RETURNING key_id, key_json",
        )
        .bind(user_id)
        .bind(device_id)
        .bind(algorithm)
        .fetch_optional(&self.pool)
        .await?;
        if fallback.is_some() {
            self.key_summaries.changed();
        }
        Ok(fallback)
    }

    /// A user's cross-signing keys: (type, JSON).
    pub async fn cross_signing_keys(&self, user_id: &str) -> Result<Vec<(String, String)>> {
        Ok(sqlx::query_as("SELECT key_type, keys FROM cross_signing_keys WHERE user_id = $1")
            .bind(user_id)
            .fetch_all(&self.pool)
            .await?)
    }

    /// Replaces some of a user's cross-signing keys; returns the device-list position.
    pub async fn set_cross_signing_keys(
        &self,
        user_id: &str,
        keys: &[(&str, String)],
    ) -> Result<i64> {
        let mut tx = self.begin().await?;
        for (key_type, json) in keys {
            sqlx::query(
                "INSERT INTO cross_signing_keys (user_id, key_type, keys) VALUES ($1, $2, $3) \
                 ON CONFLICT (user_id, key_type) DO UPDATE SET keys = excluded.keys",
            )
            .bind(user_id)
            .bind(key_type)
            .bind(json)
            .execute(&mut *tx)
            .await?;
        }
        let position = device_list_changed(&mut tx, user_id).await?;
        tx.commit().await?;
        self.key_summaries.changed();
        Ok(position)
    }

    /// Stores verified signatures: (target user, target key, signer user,
    /// signer key id, signature); returns the device-list positions.
    pub async fn add_key_signatures(
        &self,
        signatures: &[(String, String, String, String, String)],
    ) -> Result<Option<i64>> {
        let mut tx = self.begin().await?;
        let mut position = None;
        for (target_user, target_key, signer_user, signer_key_id, signature) in signatures {
            sqlx::query(
                "INSERT INTO key_signatures \
                 (target_user, target_key, signer_user, signer_key_id, signature) \
                 VALUES ($1, $2, $3, $4, $5) \
                 ON CONFLICT (target_user, target_key, signer_user, signer_key_id) \
                 DO UPDATE SET signature = excluded.signature",
            )
            .bind(target_user)
            .bind(target_key)
            .bind(signer_user)
            .bind(signer_key_id)
            .bind(signature)
            .execute(&mut *tx)
            .await?;
            position = Some(device_list_changed(&mut tx, target_user).await?);
        }
        tx.commit().await?;
        self.key_summaries.changed();
        Ok(position)
    }

    /// Signatures on a user's keys that `viewer` may see: their own, and
    /// those `viewer` made. (target key, signer user, signer key id, signature)
    pub async fn key_signatures(
        &self,
        target_user: &str,
        viewer: &str,
    ) -> Result<Vec<(String, String, String, String)>> {
        Ok(sqlx::query_as(
            "SELECT target_key, signer_user, signer_key_id, signature FROM key_signatures \
             WHERE target_user = $1 AND (signer_user = $1 OR signer_user = $2)",
        )
        .bind(target_user)
        .bind(viewer)
        .fetch_all(&self.pool)
        .await?)
    }

    /// Records that a (remote) user's devices changed; the stream position.
    pub async fn record_device_list_change(&self, user_id: &str) -> Result<i64> {
        let mut tx = self.begin().await?;
        let position = device_list_changed(&mut tx, user_id).await?;
        tx.commit().await?;
        self.key_summaries.changed();
        Ok(position)
    }

    /// Users whose devices changed in (since, up_to].
    pub async fn device_list_changes(&self, since: i64, up_to: i64) -> Result<Vec<OwnedUserId>> {
        typed_ids(sqlx::query_scalar(
            "SELECT DISTINCT user_id FROM device_list_changes WHERE stream_id > $1 AND stream_id <= $2",
        )
        .bind(since)
        .bind(up_to)
        .fetch_all(&self.pool)
        .await?)
    }

    /// Everyone who shares a joined room with `user_id` (the user included).
    pub async fn users_sharing_rooms(&self, user_id: &str) -> Result<Vec<OwnedUserId>> {
        typed_ids(
            sqlx::query_scalar(
                "SELECT DISTINCT b.state_key FROM current_state a \
             JOIN current_state b ON b.room_id = a.room_id \
             WHERE a.event_type = 'm.room.member' AND a.state_key = $1 AND a.membership = 'join' \
             AND b.event_type = 'm.room.member' AND b.membership = 'join'",
            )
            .bind(user_id)
            .fetch_all(&self.pool)
            .await?,
        )
    }

    /// Users whose membership changed in (since, up_to], with the room:
    /// (user, room).
    pub async fn member_changes(&self, since: i64, up_to: i64) -> Result<Vec<(String, String)>> {
        if self.no_member_events_after(since) {
            return Ok(Vec::new());
        }
        Ok(sqlx::query_as(
            "SELECT state_key, room_id FROM events \
             WHERE event_type = 'm.room.member' AND stream > $1 AND stream <= $2",
        )
        .bind(since)
        .bind(up_to)
        .fetch_all(&self.pool)
        .await?)
    }
}

impl Store {
    /// Users joined to a room now.
    pub async fn room_joined_users(&self, room_id: &str) -> Result<Vec<OwnedUserId>> {
        typed_ids(
            sqlx::query_scalar(
                "SELECT state_key FROM current_state \
             WHERE room_id = $1 AND event_type = 'm.room.member' AND membership = 'join'",
            )
            .bind(room_id)
            .fetch_all(&self.pool)
            .await?,
        )
    }
}
