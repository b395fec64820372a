//! To-device messages: queued per device, delivered by sync, deleted once
//! the device's next sync shows it received them.

use super::{Store, device_keys::next_position};
use crate::error::Result;

/// A message for one device, as it is queued.
#[derive(Debug, Clone)]
pub struct ToDeviceRow {
    pub recipient_user: String,
    pub recipient_device: String,
    /// The message's content (JSON).
    pub content: String,
}

/// A queued message with its recipient, as an application service's
/// sender reads them (for its users' devices).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct AddressedToDevice {
    pub stream_id: i64,
    pub recipient_user: String,
    pub recipient_device: String,
    pub sender: String,
    pub event_type: String,
    pub content: String,
}

/// A queued message, as the recipient's sync takes it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct QueuedToDevice {
    /// Its position in the to-device stream.
    pub stream_id: i64,
    pub sender: String,
    pub event_type: String,
    /// The message's content (JSON).
    pub content: String,
}

impl Store {
    /// Queues messages from `sender`, once per transaction id; returns the
    /// position of the last message, or `None` when the transaction was
    /// already carried out.
    pub async fn queue_to_device(
        &self,
        sender: &str,
        sender_device: &str,
        txn_id: &str,
        event_type: &str,
        messages: &[ToDeviceRow],
    ) -> Result<Option<i64>> {
        let mut tx = self.begin().await?;
        let first_time = sqlx::query(
            "INSERT INTO to_device_txns (user_id, device_id, txn_id) VALUES ($1, $2, $3) \
             ON CONFLICT (user_id, device_id, txn_id) DO NOTHING",
        )
        .bind(sender)
        .bind(sender_device)
        .bind(txn_id)
        .execute(&mut *tx)
        .await?
        .rows_affected()
            > 0;
        if !first_time {
            return Ok(None);
        }
        let mut position = None;
        for message in messages {
            let at = next_position(&mut tx, "to_device").await?;
            sqlx::query(
                "INSERT INTO to_device_messages \
                 (stream_id, recipient_user, recipient_device, sender, event_type, content) \
                 VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(at)
            .bind(&message.recipient_user)
            .bind(&message.recipient_device)
            .bind(sender)
            .bind(event_type)
            .bind(&message.content)
            .execute(&mut *tx)
            .await?;
            position = Some(at);
        }
        tx.commit().await?;
        Ok(position)
    }

    /// Deletes what the device has acknowledged (up to `acknowledged`) and
    /// returns up to `limit` newer messages up to `up_to`. Only reads when nothing was
    /// delivered before, which is nearly always: a sync must not cost a write.
    pub async fn take_to_device(
        &self,
        user_id: &str,
        device_id: &str,
        acknowledged: i64,
        up_to: i64,
        limit: i64,
    ) -> Result<Vec<QueuedToDevice>> {
        // One read in the common case: the device's messages up to `up_to`,
        // oldest first. Rows at or below `acknowledged` were delivered by
        // the previous sync: they are deleted, then the new ones read again.
        let read = |from: i64| {
            sqlx::query_as::<_, QueuedToDevice>(
                "SELECT stream_id, sender, event_type, content FROM to_device_messages \
                 WHERE recipient_user = $1 AND recipient_device = $2 AND stream_id > $3 \
                 AND stream_id <= $4 ORDER BY stream_id LIMIT $5",
            )
            .bind(user_id)
            .bind(device_id)
            .bind(from)
            .bind(up_to)
            .bind(limit)
            .fetch_all(&self.pool)
        };
        let rows = read(-1).await?;
        if rows.first().is_none_or(|row| row.stream_id > acknowledged) {
            return Ok(rows);
        }
        sqlx::query(
            "DELETE FROM to_device_messages \
             WHERE recipient_user = $1 AND recipient_device = $2 AND stream_id <= $3",
        )
        .bind(user_id)
        .bind(device_id)
        .bind(acknowledged)
        .execute(&self.pool)
        .await?;
        Ok(read(acknowledged).await?)
    }

    /// Up to `limit` queued messages in (since, up_to], whoever they are
    /// for (application services pick their users' out).
    pub async fn to_device_between(
        &self,
        since: i64,
        up_to: i64,
        limit: i64,
    ) -> Result<Vec<AddressedToDevice>> {
        Ok(sqlx::query_as(
            "SELECT stream_id, recipient_user, recipient_device, sender, event_type, content \
             FROM to_device_messages WHERE stream_id > $1 AND stream_id <= $2 \
             ORDER BY stream_id LIMIT $3",
        )
        .bind(since)
        .bind(up_to)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?)
    }

    /// Device ids of a user (for messages addressed to `*`).
    pub async fn device_ids(&self, user_id: &str) -> Result<Vec<String>> {
        Ok(sqlx::query_scalar("SELECT device_id FROM devices WHERE user_id = $1")
            .bind(user_id)
            .fetch_all(&self.pool)
            .await?)
    }
}
