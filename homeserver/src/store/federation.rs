//! Federation's tables: other servers' keys, outlier events and the
//! outbound queue.

use super::{Backend, StateEntry, Store};
use crate::error::Result;

/// An event of a room's history fetched from another server.
pub struct BackfilledEvent {
    pub event_id: String,
    pub sender: String,
    pub event_type: String,
    pub state_key: Option<String>,
    pub depth: i64,
    pub origin_server_ts: i64,
    pub pdu: String,
    pub relation: Option<(String, String)>,
}

/// One queued item for a destination: a PDU or EDU as JSON.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct OutboxRow {
    pub id: i64,
    /// `pdu` or `edu`.
    pub kind: String,
    pub payload: String,
}

impl Store {
    pub async fn remote_server_keys(&self, server: &str) -> Result<Option<String>> {
        Ok(sqlx::query_scalar("SELECT keys_json FROM remote_server_keys WHERE server_name = $1")
            .bind(server)
            .fetch_optional(&self.pool)
            .await?)
    }

    pub async fn save_remote_server_keys(
        &self,
        server: &str,
        keys_json: &str,
        valid_until_ts: i64,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO remote_server_keys (server_name, keys_json, valid_until_ts) VALUES ($1, $2, $3) \
             ON CONFLICT (server_name) DO UPDATE SET keys_json = excluded.keys_json, \
             valid_until_ts = excluded.valid_until_ts",
        )
        .bind(server)
        .bind(keys_json)
        .bind(valid_until_ts)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Keys `server` no longer lists: (key id, public key, expired at).
    pub async fn retired_server_keys(&self, server: &str) -> Result<Vec<(String, String, i64)>> {
        Ok(sqlx::query_as(
            "SELECT key_id, public_key, expired_ts FROM retired_server_keys WHERE server_name = $1",
        )
        .bind(server)
        .fetch_all(&self.pool)
        .await?)
    }

    /// Keeps a key `server` no longer lists; a key retired again keeps the
    /// later expiry.
    pub async fn retire_server_key(
        &self,
        server: &str,
        key_id: &str,
        public_key: &str,
        expired_ts: i64,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO retired_server_keys (server_name, key_id, public_key, expired_ts) \
             VALUES ($1, $2, $3, $4) ON CONFLICT (server_name, key_id) DO UPDATE SET \
             expired_ts = CASE WHEN excluded.expired_ts > retired_server_keys.expired_ts \
             THEN excluded.expired_ts ELSE retired_server_keys.expired_ts END",
        )
        .bind(server)
        .bind(key_id)
        .bind(public_key)
        .bind(expired_ts)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Keeps events that are known as state or auth events only.
    pub async fn insert_outliers(&self, events: &[(String, String, String)]) -> Result<()> {
        let mut tx = self.begin().await?;
        for (event_id, room_id, pdu) in events {
            sqlx::query(
                "INSERT INTO outlier_events (event_id, room_id, pdu) VALUES ($1, $2, $3) \
                 ON CONFLICT (event_id) DO NOTHING",
            )
            .bind(event_id)
            .bind(room_id)
            .bind(pdu)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Any known event of a room, timeline or outlier: (room_id, pdu).
    pub async fn any_event(&self, event_id: &str) -> Result<Option<(String, String)>> {
        Ok(sqlx::query_as(
            "SELECT room_id, pdu FROM events WHERE event_id = $1 \
             UNION ALL SELECT room_id, pdu FROM outlier_events WHERE event_id = $1",
        )
        .bind(event_id)
        .fetch_optional(&self.pool)
        .await?)
    }

    /// Whether the event is in the timeline (not only an outlier).
    pub async fn has_timeline_event(&self, event_id: &str) -> Result<bool> {
        Ok(sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM events WHERE event_id = $1")
            .bind(event_id)
            .fetch_one(&self.pool)
            .await?
            > 0)
    }

    /// Queues EDUs (JSON) for each destination.
    pub async fn enqueue_edu(&self, destinations: &[String], edu: &str) -> Result<()> {
        let mut tx = self.begin().await?;
        for destination in destinations {
            sqlx::query(
                "INSERT INTO federation_outbox (destination, kind, payload) VALUES ($1, 'edu', $2)",
            )
            .bind(destination)
            .bind(edu)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// The oldest queued items of a destination.
    pub async fn outbox(&self, destination: &str, limit: i64) -> Result<Vec<OutboxRow>> {
        Ok(sqlx::query_as(
            "SELECT id, kind, payload FROM federation_outbox WHERE destination = $1 \
             ORDER BY id LIMIT $2",
        )
        .bind(destination)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?)
    }

    /// Drops the given items once their destination has them.
    pub async fn ack_outbox(&self, destination: &str, ids: &[i64]) -> Result<()> {
        let mut tx = self.begin().await?;
        for id in ids {
            sqlx::query("DELETE FROM federation_outbox WHERE destination = $1 AND id = $2")
                .bind(destination)
                .bind(id)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Destinations with something queued, with how much.
    pub async fn outbox_destinations(&self) -> Result<Vec<(String, i64)>> {
        Ok(sqlx::query_as(
            "SELECT destination, COUNT(*) FROM federation_outbox GROUP BY destination",
        )
        .fetch_all(&self.pool)
        .await?)
    }

    /// The state group of an event in the timeline.
    pub async fn event_state_group(&self, event_id: &str) -> Result<Option<i64>> {
        Ok(sqlx::query_scalar("SELECT state_group FROM events WHERE event_id = $1")
            .bind(event_id)
            .fetch_optional(&self.pool)
            .await?)
    }

    /// Timeline events of a room before the given depth, newest first
    /// (backfill).
    pub async fn events_before_depth(
        &self,
        room_id: &str,
        depth: i64,
        limit: i64,
    ) -> Result<Vec<(String, String)>> {
        Ok(sqlx::query_as(
            "SELECT event_id, pdu FROM events WHERE room_id = $1 AND depth <= $2 \
             ORDER BY depth DESC, stream DESC LIMIT $3",
        )
        .bind(room_id)
        .bind(depth)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?)
    }

    /// Stores history older than anything the room's timeline holds:
    /// newest first, at stream positions below every other (negative), so
    /// pagination finds them in order and no sync sees them as new. They
    /// share one state group, `state`.
    pub async fn persist_backfill(
        &self,
        room_id: &str,
        events: &[BackfilledEvent],
        state: &[StateEntry],
    ) -> Result<()> {
        let parents = events.iter().filter_map(|e| e.relation.as_ref().map(|(p, _)| p.as_str()));
        self.relation_targets.add(parents);
        let mut tx = self.begin().await?;
        // Positions below every other are taken one instance at a time too.
        super::cluster::lock_event_stream(&mut tx, self.backend, None, &[]).await?;
        let group = super::event_writes::insert_snapshot(&mut tx, room_id, state).await?;
        let lowest: Option<i64> =
            sqlx::query_scalar("SELECT MIN(stream) FROM events").fetch_one(&mut *tx).await?;
        let mut stream = lowest.unwrap_or(0).min(0);
        // An identity column takes explicit values only when told to.
        let sql = match self.backend {
            Backend::Sqlite => {
                "INSERT INTO events (stream, event_id, room_id, sender, event_type, state_key, depth, \
                 origin_server_ts, pdu, state_group, relates_to, rel_type) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) \
                 ON CONFLICT (event_id) DO NOTHING"
            }
            Backend::Postgres => {
                "INSERT INTO events (stream, event_id, room_id, sender, event_type, state_key, depth, \
                 origin_server_ts, pdu, state_group, relates_to, rel_type) OVERRIDING SYSTEM VALUE \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) \
                 ON CONFLICT (event_id) DO NOTHING"
            }
        };
        for event in events {
            stream -= 1;
            sqlx::query(sql)
                .bind(stream)
                .bind(&event.event_id)
                .bind(room_id)
                .bind(&event.sender)
                .bind(&event.event_type)
                .bind(event.state_key.as_deref())
                .bind(event.depth)
                .bind(event.origin_server_ts)
                .bind(&event.pdu)
                .bind(group)
                .bind(event.relation.as_ref().map(|(parent, _)| parent.as_str()))
                .bind(event.relation.as_ref().map(|(_, kind)| kind.as_str()))
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// The room's oldest timeline event: (event_id, pdu).
    pub async fn oldest_event(&self, room_id: &str) -> Result<Option<(String, String)>> {
        Ok(sqlx::query_as(
            "SELECT event_id, pdu FROM events WHERE room_id = $1 ORDER BY stream ASC LIMIT 1",
        )
        .bind(room_id)
        .fetch_optional(&self.pool)
        .await?)
    }

    pub async fn insert_openid_token(
        &self,
        token_hash: &str,
        user_id: &str,
        expires_at: i64,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO openid_tokens (token_hash, user_id, expires_at) VALUES ($1, $2, $3)",
        )
        .bind(token_hash)
        .bind(user_id)
        .bind(expires_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The user an unexpired OpenID token stands for.
    pub async fn openid_user(&self, token_hash: &str, now: i64) -> Result<Option<String>> {
        Ok(sqlx::query_scalar(
            "SELECT user_id FROM openid_tokens WHERE token_hash = $1 AND expires_at > $2",
        )
        .bind(token_hash)
        .bind(now)
        .fetch_optional(&self.pool)
        .await?)
    }
}
