//! Room state: the current state, state at any event (through state
//! groups), memberships, extremities, aliases and the directory.

use super::{Store, typed_ids};
use crate::error::Result;
use ruma::{OwnedRoomId, events::room::member::MembershipState};

/// One piece of state with its event.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct StateRow {
    pub event_type: String,
    pub state_key: String,
    pub event_id: String,
    pub pdu: String,
}

/// A query over the state of group `$1`: `chain` walks the group's delta
/// chain up to its snapshot (`lvl` 0 is the group itself, so the nearest
/// entry for a (type, state_key) has the lowest `lvl`).
macro_rules! over_state_chain {
    ($query:literal) => {
        concat!(
            "WITH RECURSIVE chain(group_id, parent, lvl) AS ( \
               SELECT group_id, parent, 0 FROM state_groups WHERE group_id = $1 \
               UNION ALL \
               SELECT g.group_id, g.parent, c.lvl + 1 FROM state_groups g JOIN chain c ON g.group_id = c.parent) ",
            $query
        )
    };
}

/// The whole state of a group; the nearest entry for each (type,
/// state_key) wins (it comes last).
const STATE_AT_GROUP: &str = over_state_chain!(
    "SELECT s.event_type, s.state_key, s.event_id, COALESCE(e.pdu, o.pdu) AS pdu FROM chain c \
     JOIN state_group_entries s ON s.group_id = c.group_id \
     LEFT JOIN events e ON e.event_id = s.event_id LEFT JOIN outlier_events o ON o.event_id = s.event_id \
     ORDER BY c.lvl DESC"
);

impl Store {
    pub async fn room_version(&self, room_id: &str) -> Result<Option<String>> {
        Ok(sqlx::query_scalar("SELECT room_version FROM rooms WHERE room_id = $1")
            .bind(room_id)
            .fetch_optional(&self.pool)
            .await?)
    }

    /// The room's current state with each event's PDU.
    pub async fn current_state(&self, room_id: &str) -> Result<Vec<StateRow>> {
        Ok(sqlx::query_as(
            "SELECT c.event_type, c.state_key, c.event_id, COALESCE(e.pdu, o.pdu) AS pdu FROM current_state c \
             LEFT JOIN events e ON e.event_id = c.event_id \
             LEFT JOIN outlier_events o ON o.event_id = c.event_id WHERE c.room_id = $1",
        )
        .bind(room_id)
        .fetch_all(&self.pool)
        .await?)
    }

    /// Current state of every room where `user_id` has `membership`: one query.
    pub async fn current_state_for_user_rooms(
        &self,
        user_id: &str,
        membership: &MembershipState,
    ) -> Result<Vec<(String, String, String)>> {
        Ok(sqlx::query_as(
            "SELECT c.room_id, c.event_id, COALESCE(e.pdu, o.pdu) FROM current_state c \
             LEFT JOIN events e ON e.event_id = c.event_id LEFT JOIN outlier_events o ON o.event_id = c.event_id \
             WHERE c.room_id IN (SELECT room_id FROM current_state WHERE event_type = 'm.room.member' \
             AND state_key = $1 AND membership = $2)",
        )
        .bind(user_id)
        .bind(membership.as_str())
        .fetch_all(&self.pool)
        .await?)
    }

    /// The state after the event whose state group is `group`, oldest entry
    /// first (later entries for the same key override earlier ones).
    pub async fn state_at_group(&self, group: i64) -> Result<Vec<StateRow>> {
        Ok(sqlx::query_as(STATE_AT_GROUP).bind(group).fetch_all(&self.pool).await?)
    }

    pub async fn forward_extremities(&self, room_id: &str) -> Result<Vec<String>> {
        Ok(sqlx::query_scalar("SELECT event_id FROM forward_extremities WHERE room_id = $1")
            .bind(room_id)
            .fetch_all(&self.pool)
            .await?)
    }

    pub async fn max_depth(&self, room_id: &str) -> Result<i64> {
        Ok(sqlx::query_scalar::<_, Option<i64>>("SELECT MAX(depth) FROM events WHERE room_id = $1")
            .bind(room_id)
            .fetch_one(&self.pool)
            .await?
            .unwrap_or(0))
    }

    /// Rooms where `user_id`'s current membership is `membership`.
    pub async fn rooms_with_membership(
        &self,
        user_id: &str,
        membership: &MembershipState,
    ) -> Result<Vec<OwnedRoomId>> {
        typed_ids(
            sqlx::query_scalar(
                "SELECT room_id FROM current_state WHERE event_type = 'm.room.member' \
             AND state_key = $1 AND membership = $2 ORDER BY room_id",
            )
            .bind(user_id)
            .bind(membership.as_str())
            .fetch_all(&self.pool)
            .await?,
        )
    }

    pub async fn set_room_public(&self, room_id: &str, public: bool) -> Result<()> {
        sqlx::query("UPDATE rooms SET is_public = $1 WHERE room_id = $2")
            .bind(i64::from(public))
            .bind(room_id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    pub async fn is_room_public(&self, room_id: &str) -> Result<bool> {
        Ok(sqlx::query_scalar::<_, i64>("SELECT is_public FROM rooms WHERE room_id = $1")
            .bind(room_id)
            .fetch_optional(&self.pool)
            .await?
            .unwrap_or(0)
            != 0)
    }

    /// Public rooms with their current state, for the directory.
    pub async fn public_rooms(&self) -> Result<Vec<OwnedRoomId>> {
        typed_ids(
            sqlx::query_scalar("SELECT room_id FROM rooms WHERE is_public = 1 ORDER BY created_at")
                .fetch_all(&self.pool)
                .await?,
        )
    }

    /// Creates an alias; false if it is taken.
    pub async fn create_alias(&self, alias: &str, room_id: &str, creator: &str) -> Result<bool> {
        let done = sqlx::query(
            "INSERT INTO room_aliases (alias, room_id, creator) VALUES ($1, $2, $3) \
             ON CONFLICT (alias) DO NOTHING",
        )
        .bind(alias)
        .bind(room_id)
        .bind(creator)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() > 0)
    }

    /// (room_id, creator) of an alias.
    pub async fn alias(&self, alias: &str) -> Result<Option<(String, String)>> {
        Ok(sqlx::query_as("SELECT room_id, creator FROM room_aliases WHERE alias = $1")
            .bind(alias)
            .fetch_optional(&self.pool)
            .await?)
    }

    pub async fn delete_alias(&self, alias: &str) -> Result<()> {
        sqlx::query("DELETE FROM room_aliases WHERE alias = $1")
            .bind(alias)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    pub async fn room_aliases(&self, room_id: &str) -> Result<Vec<String>> {
        Ok(sqlx::query_scalar("SELECT alias FROM room_aliases WHERE room_id = $1 ORDER BY alias")
            .bind(room_id)
            .fetch_all(&self.pool)
            .await?)
    }

    pub async fn forget_room(&self, user_id: &str, room_id: &str) -> Result<()> {
        sqlx::query(
            "INSERT INTO forgotten_rooms (user_id, room_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
        )
        .bind(user_id)
        .bind(room_id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub async fn unforget_room(&self, user_id: &str, room_id: &str) -> Result<()> {
        sqlx::query("DELETE FROM forgotten_rooms WHERE user_id = $1 AND room_id = $2")
            .bind(user_id)
            .bind(room_id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    pub async fn forgotten_rooms(&self, user_id: &str) -> Result<Vec<OwnedRoomId>> {
        typed_ids(
            sqlx::query_scalar("SELECT room_id FROM forgotten_rooms WHERE user_id = $1")
                .bind(user_id)
                .fetch_all(&self.pool)
                .await?,
        )
    }

    pub async fn account_data_position(&self) -> Result<i64> {
        Ok(sqlx::query_scalar("SELECT value FROM stream_counters WHERE name = 'account_data'")
            .fetch_one(&self.pool)
            .await?)
    }

    /// Account data changed after `since`: (room_id, type, content).
    pub async fn account_data_since(
        &self,
        user_id: &str,
        since: i64,
    ) -> Result<Vec<(String, String, String)>> {
        Ok(sqlx::query_as(
            "SELECT room_id, data_type, content FROM account_data \
             WHERE user_id = $1 AND stream_id > $2 ORDER BY stream_id",
        )
        .bind(user_id)
        .bind(since)
        .fetch_all(&self.pool)
        .await?)
    }
}

impl Store {
    /// At a state group: the user's member event and the history visibility
    /// event, as (type, pdu), nearest entries first.
    pub async fn visibility_state_at_group(
        &self,
        group: i64,
        user_id: &str,
    ) -> Result<Vec<(String, String)>> {
        Ok(sqlx::query_as(over_state_chain!(
            "SELECT s.event_type, COALESCE(e.pdu, o.pdu) FROM chain c \
                 JOIN state_group_entries s ON s.group_id = c.group_id \
                 LEFT JOIN events e ON e.event_id = s.event_id \
                 LEFT JOIN outlier_events o ON o.event_id = s.event_id \
                 WHERE (s.event_type = 'm.room.member' AND s.state_key = $2) \
                    OR (s.event_type = 'm.room.history_visibility' AND s.state_key = '') \
                 ORDER BY c.lvl ASC"
        ))
        .bind(group)
        .bind(user_id)
        .fetch_all(&self.pool)
        .await?)
    }
}

impl Store {
    /// The history visibility and the memberships of `server`'s users in
    /// the state of a group: (type, state key, PDU), nearest entries first.
    /// User ids are matched by their ending here and exactly by the caller.
    pub async fn server_visibility_state_at_group(
        &self,
        group: i64,
        server: &str,
    ) -> Result<Vec<(String, String, String)>> {
        Ok(sqlx::query_as(over_state_chain!(
            "SELECT s.event_type, s.state_key, COALESCE(e.pdu, o.pdu) FROM chain c \
                 JOIN state_group_entries s ON s.group_id = c.group_id \
                 LEFT JOIN events e ON e.event_id = s.event_id \
                 LEFT JOIN outlier_events o ON o.event_id = s.event_id \
                 WHERE (s.event_type = 'm.room.member' AND s.state_key LIKE $2) \
                    OR (s.event_type = 'm.room.history_visibility' AND s.state_key = '') \
                 ORDER BY c.lvl ASC"
        ))
        .bind(group)
        .bind(format!("%:{server}"))
        .fetch_all(&self.pool)
        .await?)
    }
}

impl Store {
    /// Points an alias at another room (after an upgrade).
    pub async fn move_alias(&self, alias: &str, room_id: &str) -> Result<()> {
        sqlx::query("UPDATE room_aliases SET room_id = $1 WHERE alias = $2")
            .bind(room_id)
            .bind(alias)
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}

impl Store {
    /// Every room the user has a membership in, with that membership.
    pub async fn memberships(&self, user_id: &str) -> Result<Vec<(String, String)>> {
        self.memberships
            .get_or_read(user_id.to_owned(), || async {
                Ok(sqlx::query_as(
                    "SELECT room_id, membership FROM current_state \
                     WHERE event_type = 'm.room.member' AND state_key = $1 \
                     AND membership IS NOT NULL ORDER BY room_id",
                )
                .bind(user_id)
                .fetch_all(&self.pool)
                .await?)
            })
            .await
    }
}
