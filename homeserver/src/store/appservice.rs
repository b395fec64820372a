//! Application services' push queues: where each service is on the event
//! stream, and the one transaction sent to it and not yet taken; and the
//! rooms they list in their networks' directories.

use ruma::OwnedRoomId;

use super::{Store, typed_ids};
use crate::error::Result;

/// A transaction written before it is sent.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct AppserviceTxnRow {
    pub txn_id: i64,
    pub body: String,
    pub events: i64,
}

impl Store {
    /// A service's position on the event stream; a service seen for the
    /// first time starts at `start` (it is sent what happens from now on).
    pub async fn appservice_position(&self, appservice_id: &str, start: i64) -> Result<i64> {
        sqlx::query(
            "INSERT INTO appservice_state (appservice_id, position, next_txn) VALUES ($1, $2, 1) \
             ON CONFLICT (appservice_id) DO NOTHING",
        )
        .bind(appservice_id)
        .bind(start)
        .execute(&self.pool)
        .await?;
        Ok(sqlx::query_scalar("SELECT position FROM appservice_state WHERE appservice_id = $1")
            .bind(appservice_id)
            .fetch_one(&self.pool)
            .await?)
    }

    /// A service's position on the event stream, if it ever started.
    pub async fn appservice_state(&self, appservice_id: &str) -> Result<Option<i64>> {
        Ok(sqlx::query_scalar("SELECT position FROM appservice_state WHERE appservice_id = $1")
            .bind(appservice_id)
            .fetch_optional(&self.pool)
            .await?)
    }

    /// Moves a service past events none of which it wanted.
    pub async fn skip_appservice_events(&self, appservice_id: &str, position: i64) -> Result<()> {
        sqlx::query("UPDATE appservice_state SET position = $2 WHERE appservice_id = $1")
            .bind(appservice_id)
            .bind(position)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Writes the next transaction for a service and moves it past the
    /// events it carries, in one database transaction, in which the
    /// to-device messages it carries (`to_device`, by stream id) leave
    /// their queue; returns its id.
    pub async fn queue_appservice_txn(
        &self,
        appservice_id: &str,
        body: &str,
        events: i64,
        position: i64,
        to_device: &[i64],
    ) -> Result<i64> {
        let mut tx = self.begin().await?;
        for stream_id in to_device {
            sqlx::query("DELETE FROM to_device_messages WHERE stream_id = $1")
                .bind(stream_id)
                .execute(&mut *tx)
                .await?;
        }
        let txn_id: i64 = sqlx::query_scalar(
            "UPDATE appservice_state SET next_txn = next_txn + 1, position = $2 \
             WHERE appservice_id = $1 RETURNING next_txn - 1",
        )
        .bind(appservice_id)
        .bind(position)
        .fetch_one(&mut *tx)
        .await?;
        sqlx::query(
            "INSERT INTO appservice_txns (appservice_id, txn_id, body, events) VALUES ($1, $2, $3, $4)",
        )
        .bind(appservice_id)
        .bind(txn_id)
        .bind(body)
        .bind(events)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(txn_id)
    }

    /// The transaction waiting to be taken by a service, if one is.
    pub async fn pending_appservice_txn(
        &self,
        appservice_id: &str,
    ) -> Result<Option<AppserviceTxnRow>> {
        Ok(sqlx::query_as(
            "SELECT txn_id, body, events FROM appservice_txns WHERE appservice_id = $1",
        )
        .bind(appservice_id)
        .fetch_optional(&self.pool)
        .await?)
    }

    /// The service took its transaction.
    pub async fn appservice_txn_taken(&self, appservice_id: &str, txn_id: i64) -> Result<()> {
        sqlx::query("DELETE FROM appservice_txns WHERE appservice_id = $1 AND txn_id = $2")
            .bind(appservice_id)
            .bind(txn_id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}

impl Store {
    /// Lists (or withdraws) a room in a service's network directory.
    pub async fn set_appservice_room_listed(
        &self,
        appservice_id: &str,
        network_id: &str,
        room_id: &str,
        listed: bool,
    ) -> Result<()> {
        let query = match listed {
            true => {
                "INSERT INTO appservice_room_directory (appservice_id, network_id, room_id) \
                 VALUES ($1, $2, $3) ON CONFLICT DO NOTHING"
            }
            false => {
                "DELETE FROM appservice_room_directory \
                 WHERE appservice_id = $1 AND network_id = $2 AND room_id = $3"
            }
        };
        sqlx::query(query)
            .bind(appservice_id)
            .bind(network_id)
            .bind(room_id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Rooms services listed: in one network (service id, network id), or
    /// in any.
    pub async fn appservice_listed_rooms(
        &self,
        network: Option<(&str, &str)>,
    ) -> Result<Vec<OwnedRoomId>> {
        let rooms = match network {
            Some((appservice_id, network_id)) => {
                sqlx::query_scalar(
                    "SELECT room_id FROM appservice_room_directory \
                     WHERE appservice_id = $1 AND network_id = $2 ORDER BY room_id",
                )
                .bind(appservice_id)
                .bind(network_id)
                .fetch_all(&self.pool)
                .await?
            }
            None => {
                sqlx::query_scalar(
                    "SELECT DISTINCT room_id FROM appservice_room_directory ORDER BY room_id",
                )
                .fetch_all(&self.pool)
                .await?
            }
        };
        typed_ids(rooms)
    }
}
