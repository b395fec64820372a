//! The user directory: who is findable under which name, and the search
//! over it that the invite dialog of every client runs as its user types.

use ruma::events::room::member::MembershipState;
use sqlx::AnyConnection;

use super::Store;
use crate::error::Result;

/// A user's public profile as the directory shows it.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct DirectoryEntry {
    pub user_id: String,
    pub display_name: Option<String>,
    pub avatar_url: Option<String>,
}

impl DirectoryEntry {
    /// What a search term is matched against: id and name, lower-cased here
    /// (SQLite's LOWER knows only ASCII).
    fn search_key(&self) -> String {
        let name = self.display_name.as_deref().unwrap_or_default();
        format!("{} {}", self.user_id, name).to_lowercase()
    }
}

/// Who a search may find besides the users sharing a room with the
/// searcher: members of public rooms always, every local user on request.
#[derive(Debug, Clone, Copy)]
pub struct DirectoryScope {
    pub all_local_users: bool,
}

/// Writes entries (the newest wins), inside the caller's transaction.
pub(super) async fn upsert_entries(
    conn: &mut AnyConnection,
    entries: &[DirectoryEntry],
) -> Result<()> {
    for entry in entries {
        sqlx::query(
            "INSERT INTO user_directory (user_id, display_name, avatar_url, search_key) \
             VALUES ($1, $2, $3, $4) ON CONFLICT (user_id) DO UPDATE SET \
             display_name = excluded.display_name, avatar_url = excluded.avatar_url, \
             search_key = excluded.search_key",
        )
        .bind(&entry.user_id)
        .bind(entry.display_name.as_deref())
        .bind(entry.avatar_url.as_deref())
        .bind(entry.search_key())
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

/// `text` as a LIKE pattern that matches it literally.
fn like_literal(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '\\' | '%' | '_') {
            escaped.push('\\');
        }
        escaped.push(c);
    }
    escaped
}

impl Store {
    pub async fn upsert_directory(&self, entries: &[DirectoryEntry]) -> Result<()> {
        let mut tx = self.begin().await?;
        upsert_entries(&mut tx, entries).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Users whose id or name contains `term` (already lower-cased) and
    /// whom `searcher` may find, best matches first: those whose name or
    /// localpart starts with the term, then by name. Up to `limit` entries.
    pub async fn search_directory(
        &self,
        searcher: &str,
        term: &str,
        scope: DirectoryScope,
        limit: i64,
    ) -> Result<Vec<DirectoryEntry>> {
        let literal = like_literal(term);
        let join = MembershipState::Join.as_str();
        Ok(sqlx::query_as(
            "SELECT d.user_id, d.display_name, d.avatar_url FROM user_directory d \
             WHERE d.search_key LIKE $2 ESCAPE '\\' AND ( \
               ($5 = 1 AND d.user_id IN (SELECT user_id FROM users WHERE deactivated = 0)) \
               OR EXISTS (SELECT 1 FROM current_state m \
                 WHERE m.event_type = 'm.room.member' AND m.state_key = d.user_id \
                 AND m.membership = $6 AND ( \
                   m.room_id IN (SELECT room_id FROM rooms WHERE is_public = 1) \
                   OR m.room_id IN (SELECT room_id FROM current_state WHERE \
                     event_type = 'm.room.member' AND state_key = $1 AND membership = $6)))) \
             ORDER BY CASE WHEN d.search_key LIKE $3 ESCAPE '\\' \
               OR d.search_key LIKE $4 ESCAPE '\\' THEN 0 ELSE 1 END, \
               d.display_name, d.user_id \
             LIMIT $7",
        )
        .bind(searcher)
        .bind(format!("%{literal}%"))
        .bind(format!("@{literal}%"))
        .bind(format!("% {literal}%"))
        .bind(i64::from(scope.all_local_users))
        .bind(join)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_wildcards_in_a_term_match_only_themselves() {
        assert_eq!(like_literal("50%_off\\"), "50\\%\\_off\\\\");
        assert_eq!(like_literal("alice"), "alice");
    }

    #[test]
    fn the_search_key_is_id_and_name_in_lower_case() {
        let entry = DirectoryEntry {
            user_id: "@Ann:x".into(),
            display_name: Some("ÅSA Berg".into()),
            avatar_url: None,
        };
        assert_eq!(entry.search_key(), "@ann:x åsa berg");
    }
}
