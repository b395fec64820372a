//! What the admin API reads of rooms in bulk, blocked rooms, and the
//! per-user rate limits admins set.

use ruma::OwnedUserId;

use super::{Store, now_ms, typed_ids};
use crate::error::Result;

/// A piece of a room's current state, for room summaries.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct SummaryRow {
    pub room_id: String,
    pub event_type: String,
    pub state_key: String,
    /// Set for `m.room.member` events.
    pub membership: Option<String>,
    pub pdu: String,
}

/// The event types a room summary is made of (members are counted).
const SUMMARY_TYPES: &str = "('m.room.create', 'm.room.name', 'm.room.topic', 'm.room.avatar', \
     'm.room.canonical_alias', 'm.room.join_rules', 'm.room.guest_access', \
     'm.room.history_visibility', 'm.room.encryption', 'm.room.member')";

impl Store {
    /// A page of rooms in id order: (room, version, published), and the total.
    pub async fn room_page(
        &self,
        offset: i64,
        limit: i64,
    ) -> Result<(Vec<(String, String, i64)>, i64)> {
        let rooms = sqlx::query_as(
            "SELECT room_id, room_version, is_public FROM rooms ORDER BY room_id LIMIT $1 OFFSET $2",
        )
        .bind(limit)
        .bind(offset)
        .fetch_all(&self.pool)
        .await?;
        let total = sqlx::query_scalar("SELECT COUNT(*) FROM rooms").fetch_one(&self.pool).await?;
        Ok((rooms, total))
    }

    /// The summary state of every room with an id in [first, last]: one
    /// query for a whole page.
    pub async fn summary_state(&self, first: &str, last: &str) -> Result<Vec<SummaryRow>> {
        let sql = format!(
            "SELECT c.room_id, c.event_type, c.state_key, c.membership, COALESCE(e.pdu, o.pdu) AS pdu FROM current_state c \
             LEFT JOIN events e ON e.event_id = c.event_id LEFT JOIN outlier_events o ON o.event_id = c.event_id \
             WHERE c.room_id >= $1 AND c.room_id <= $2 AND c.event_type IN {SUMMARY_TYPES}"
        );
        Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(first)
            .bind(last)
            .fetch_all(&self.pool)
            .await?)
    }

    /// How many state events each room has, for rooms in [first, last].
    pub async fn state_counts(&self, first: &str, last: &str) -> Result<Vec<(String, i64)>> {
        Ok(sqlx::query_as(
            "SELECT room_id, COUNT(*) FROM current_state \
             WHERE room_id >= $1 AND room_id <= $2 GROUP BY room_id",
        )
        .bind(first)
        .bind(last)
        .fetch_all(&self.pool)
        .await?)
    }

    pub async fn block_room(&self, room_id: &str, by: &str) -> Result<()> {
        sqlx::query(
            "INSERT INTO blocked_rooms (room_id, blocked_by, blocked_at) VALUES ($1, $2, $3) \
             ON CONFLICT (room_id) DO NOTHING",
        )
        .bind(room_id)
        .bind(by)
        .bind(now_ms())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub async fn is_room_blocked(&self, room_id: &str) -> Result<bool> {
        let found: Option<i64> =
            sqlx::query_scalar("SELECT blocked_at FROM blocked_rooms WHERE room_id = $1")
                .bind(room_id)
                .fetch_optional(&self.pool)
                .await?;
        Ok(found.is_some())
    }
}

/// A user's own rate limit: (per second, burst).
pub type RateOverride = (i64, i64);

impl Store {
    pub async fn ratelimit_overrides(&self) -> Result<Vec<(String, i64, i64)>> {
        Ok(sqlx::query_as("SELECT user_id, per_second, burst FROM ratelimit_overrides")
            .fetch_all(&self.pool)
            .await?)
    }

    pub async fn ratelimit_override(&self, user_id: &str) -> Result<Option<RateOverride>> {
        Ok(sqlx::query_as("SELECT per_second, burst FROM ratelimit_overrides WHERE user_id = $1")
            .bind(user_id)
            .fetch_optional(&self.pool)
            .await?)
    }

    pub async fn set_ratelimit_override(
        &self,
        user_id: &str,
        per_second: i64,
        burst: i64,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO ratelimit_overrides (user_id, per_second, burst) VALUES ($1, $2, $3) \
             ON CONFLICT (user_id) DO UPDATE SET per_second = excluded.per_second, burst = excluded.burst",
        )
        .bind(user_id)
        .bind(per_second)
        .bind(burst)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub async fn delete_ratelimit_override(&self, user_id: &str) -> Result<()> {
        sqlx::query("DELETE FROM ratelimit_overrides WHERE user_id = $1")
            .bind(user_id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}

impl Store {
    /// A user's server notices room, if one was made.
    pub async fn server_notice_room(&self, user_id: &str) -> Result<Option<String>> {
        Ok(sqlx::query_scalar("SELECT room_id FROM server_notice_rooms WHERE user_id = $1")
            .bind(user_id)
            .fetch_optional(&self.pool)
            .await?)
    }

    pub async fn set_server_notice_room(&self, user_id: &str, room_id: &str) -> Result<()> {
        sqlx::query(
            "INSERT INTO server_notice_rooms (user_id, room_id) VALUES ($1, $2) \
             ON CONFLICT (user_id) DO UPDATE SET room_id = excluded.room_id",
        )
        .bind(user_id)
        .bind(room_id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }
}

impl Store {
    /// A user's membership of a room now, if any.
    pub async fn membership_of(&self, room_id: &str, user_id: &str) -> Result<Option<String>> {
        let found: Option<Option<String>> = sqlx::query_scalar(
            "SELECT membership FROM current_state \
             WHERE room_id = $1 AND event_type = 'm.room.member' AND state_key = $2",
        )
        .bind(room_id)
        .bind(user_id)
        .fetch_optional(&self.pool)
        .await?;
        Ok(found.flatten())
    }
}

impl Store {
    pub async fn shadow_banned_users(&self) -> Result<Vec<OwnedUserId>> {
        typed_ids(
            sqlx::query_scalar("SELECT user_id FROM users WHERE shadow_banned = 1")
                .fetch_all(&self.pool)
                .await?,
        )
    }

    /// False if there is no such user.
    pub async fn set_shadow_banned(&self, user_id: &str, banned: bool) -> Result<bool> {
        let done = sqlx::query("UPDATE users SET shadow_banned = $2 WHERE user_id = $1")
            .bind(user_id)
            .bind(i64::from(banned))
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() > 0)
    }
}

impl Store {
    /// Every server admin's user id.
    pub async fn admin_users(&self) -> Result<Vec<OwnedUserId>> {
        typed_ids(
            sqlx::query_scalar("SELECT user_id FROM users WHERE is_admin = 1 AND deactivated = 0")
                .fetch_all(&self.pool)
                .await?,
        )
    }
}

impl Store {
    /// Deletes a room's history before stream position `before`: message
    /// events only (state events make up the room's state and stay), and
    /// this server's users' events only when `delete_local`. Returns how
    /// many events went.
    pub async fn purge_history(
        &self,
        room_id: &str,
        before: i64,
        delete_local: bool,
        local_suffix: &str,
    ) -> Result<u64> {
        let mut tx = self.begin().await?;
        let mut removed = 0;
        // The search index forgets a row when its text is cleared; then the rows go.
        for sql in [
            "UPDATE events SET search_text = NULL WHERE room_id = $1 AND stream < $2 \
             AND state_key IS NULL AND ($3 = 1 OR sender NOT LIKE '%' || $4)",
            "DELETE FROM events WHERE room_id = $1 AND stream < $2 \
             AND state_key IS NULL AND ($3 = 1 OR sender NOT LIKE '%' || $4)",
        ] {
            removed = sqlx::query(sql)
                .bind(room_id)
                .bind(before)
                .bind(i64::from(delete_local))
                .bind(local_suffix)
                .execute(&mut *tx)
                .await?
                .rows_affected();
        }
        tx.commit().await?;
        // A deleted event may have been where someone had read up to.
        self.read_positions.changed();
        Ok(removed)
    }

    /// Deletes everything this server holds of a room (its block, if any,
    /// stays so that it cannot come back).
    pub async fn purge_room(&self, room_id: &str) -> Result<()> {
        let mut tx = self.begin().await?;
        sqlx::query("UPDATE events SET search_text = NULL WHERE room_id = $1")
            .bind(room_id)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "DELETE FROM state_group_entries WHERE group_id IN \
             (SELECT group_id FROM state_groups WHERE room_id = $1)",
        )
        .bind(room_id)
        .execute(&mut *tx)
        .await?;
        for sql in [
            "DELETE FROM events WHERE room_id = $1",
            "DELETE FROM state_groups WHERE room_id = $1",
            "DELETE FROM current_state WHERE room_id = $1",
            "DELETE FROM forward_extremities WHERE room_id = $1",
            "DELETE FROM outlier_events WHERE room_id = $1",
            "DELETE FROM receipts WHERE room_id = $1",
            "DELETE FROM room_aliases WHERE room_id = $1",
            "DELETE FROM forgotten_rooms WHERE room_id = $1",
            "DELETE FROM rooms WHERE room_id = $1",
        ] {
            sqlx::query(sql).bind(room_id).execute(&mut *tx).await?;
        }
        tx.commit().await?;
        self.memberships.changed();
        self.read_positions.changed();
        Ok(())
    }
}
