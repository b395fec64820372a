//! Accounts and profile fields.

use super::{
    DirectoryEntry, NewSession, Store,
    device_keys::{DeviceSelector, device_list_changed, forget_device_keys},
    now_ms,
    sessions::insert_session,
    user_directory::upsert_entries,
};
use crate::error::Result;

/// One account as stored.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct UserRow {
    pub user_id: String,
    pub password_hash: Option<String>,
    pub is_admin: i64,
    pub deactivated: i64,
}

impl UserRow {
    pub fn is_deactivated(&self) -> bool {
        self.deactivated != 0
    }
}

impl Store {
    /// Creates an account with its display name, and its first session unless
    /// `session` is None, in one transaction. Returns false if the user id is
    /// already taken.
    pub async fn create_user(
        &self,
        user_id: &str,
        password_hash: Option<&str>,
        displayname: &str,
        session: Option<&NewSession>,
    ) -> Result<bool> {
        let mut tx = self.begin().await?;
        let inserted = sqlx::query(
            "INSERT INTO users (user_id, password_hash, created_at) VALUES ($1, $2, $3) \
             ON CONFLICT (user_id) DO NOTHING",
        )
        .bind(user_id)
        .bind(password_hash)
        .bind(now_ms())
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if inserted == 0 {
            return Ok(false);
        }
        let entry = DirectoryEntry {
            user_id: user_id.to_owned(),
            display_name: Some(displayname.to_owned()),
            avatar_url: None,
        };
        let displayname = serde_json::Value::from(displayname).to_string();
        sqlx::query(
            "INSERT INTO profile_fields (user_id, field, value) VALUES ($1, 'displayname', $2)",
        )
        .bind(user_id)
        .bind(displayname)
        .execute(&mut *tx)
        .await?;
        upsert_entries(&mut tx, &[entry]).await?;
        if let Some(session) = session {
            insert_session(&mut tx, session).await?;
        }
        tx.commit().await?;
        Ok(true)
    }

    pub async fn get_user(&self, user_id: &str) -> Result<Option<UserRow>> {
        Ok(sqlx::query_as(
            "SELECT user_id, password_hash, is_admin, deactivated FROM users WHERE user_id = $1",
        )
        .bind(user_id)
        .fetch_optional(&self.pool)
        .await?)
    }

    pub async fn set_password_hash(&self, user_id: &str, hash: &str) -> Result<()> {
        sqlx::query("UPDATE users SET password_hash = $1 WHERE user_id = $2")
            .bind(hash)
            .bind(user_id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Deactivates an account for good: no devices, no profile, no
    /// scheduled events; with `erase`, none of their account data, push
    /// rules, filters, key backups or presence either. The password
    /// hash stays only so that its owner can be told the account is gone.
    /// The row stays so that the user id can never be registered again.
    /// Returns the device-list position that tells the user's contacts.
    pub async fn deactivate_user(&self, user_id: &str, erase: bool) -> Result<i64> {
        let mut tx = self.begin().await?;
        // A later deactivation without erasure does not take an erasure back.
        sqlx::query(
            "UPDATE users SET deactivated = 1, \
             erase_requested = CASE WHEN $1 = 1 THEN 1 ELSE erase_requested END WHERE user_id = $2",
        )
        .bind(i64::from(erase))
        .bind(user_id)
        .execute(&mut *tx)
        .await?;
        for sql in [
            "DELETE FROM access_tokens WHERE user_id = $1",
            "DELETE FROM refresh_tokens WHERE user_id = $1",
            "DELETE FROM devices WHERE user_id = $1",
            "DELETE FROM profile_fields WHERE user_id = $1",
            "DELETE FROM user_directory WHERE user_id = $1",
            "DELETE FROM pushers WHERE user_id = $1",
            "DELETE FROM user_threepids WHERE user_id = $1",
            "DELETE FROM totp_factors WHERE user_id = $1",
            "DELETE FROM recovery_codes WHERE user_id = $1",
            "DELETE FROM webauthn_credentials WHERE user_id = $1",
            "DELETE FROM login_tokens WHERE user_id = $1",
            "DELETE FROM openid_tokens WHERE user_id = $1",
            // Scheduled events would otherwise still be sent in their name.
            "DELETE FROM delayed_events WHERE user_id = $1",
        ] {
            sqlx::query(sql).bind(user_id).execute(&mut *tx).await?;
        }
        // Erasure also takes what the user kept here for themselves.
        if erase {
            for sql in [
                "DELETE FROM account_data WHERE user_id = $1",
                "DELETE FROM push_rules WHERE user_id = $1",
                "DELETE FROM filters WHERE user_id = $1",
                "DELETE FROM backup_keys WHERE user_id = $1",
                "DELETE FROM backup_versions WHERE user_id = $1",
                "DELETE FROM presence WHERE user_id = $1",
            ] {
                sqlx::query(sql).bind(user_id).execute(&mut *tx).await?;
            }
        }
        forget_device_keys(&mut tx, user_id, DeviceSelector::AllBut("")).await?;
        let position = device_list_changed(&mut tx, user_id).await?;
        tx.commit().await?;
        Ok(position)
    }

    /// Users who asked, when their account was closed, for their content
    /// to be erased.
    pub async fn erased_users(&self) -> Result<Vec<String>> {
        Ok(sqlx::query_scalar("SELECT user_id FROM users WHERE erase_requested = 1")
            .fetch_all(&self.pool)
            .await?)
    }

    /// All profile fields of a user, as (field name, JSON value).
    pub async fn profile_fields(&self, user_id: &str) -> Result<Vec<(String, String)>> {
        Ok(sqlx::query_as(
            "SELECT field, value FROM profile_fields WHERE user_id = $1 ORDER BY field",
        )
        .bind(user_id)
        .fetch_all(&self.pool)
        .await?)
    }

    pub async fn set_profile_field(&self, user_id: &str, field: &str, json: &str) -> Result<()> {
        sqlx::query(
            "INSERT INTO profile_fields (user_id, field, value) VALUES ($1, $2, $3) \
             ON CONFLICT (user_id, field) DO UPDATE SET value = excluded.value",
        )
        .bind(user_id)
        .bind(field)
        .bind(json)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub async fn delete_profile_field(&self, user_id: &str, field: &str) -> Result<()> {
        sqlx::query("DELETE FROM profile_fields WHERE user_id = $1 AND field = $2")
            .bind(user_id)
            .bind(field)
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}

impl Store {
    /// Grants or revokes server admin rights; false if the user is unknown.
    pub async fn set_admin(&self, user_id: &str, admin: bool) -> Result<bool> {
        let done = sqlx::query("UPDATE users SET is_admin = $1 WHERE user_id = $2")
            .bind(i64::from(admin))
            .bind(user_id)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() > 0)
    }
}

/// A row of the admin user list.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct UserListRow {
    pub user_id: String,
    pub is_admin: i64,
    pub deactivated: i64,
    pub created_at: i64,
}

impl Store {
    /// Users in id order after `from`, optionally only ids containing `name`.
    pub async fn list_users(
        &self,
        from: &str,
        limit: i64,
        name: Option<&str>,
    ) -> Result<Vec<UserListRow>> {
        let pattern = name.map(|n| format!("%{}%", n.replace(['%', '_'], "")));
        Ok(sqlx::query_as(
            "SELECT user_id, is_admin, deactivated, created_at FROM users \
             WHERE user_id > $1 AND ($2 IS NULL OR user_id LIKE $2) ORDER BY user_id LIMIT $3",
        )
        .bind(from)
        .bind(pattern)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?)
    }

    pub async fn count_users(&self) -> Result<i64> {
        Ok(sqlx::query_scalar("SELECT COUNT(*) FROM users").fetch_one(&self.pool).await?)
    }

    pub async fn user_created_at(&self, user_id: &str) -> Result<Option<i64>> {
        Ok(sqlx::query_scalar("SELECT created_at FROM users WHERE user_id = $1")
            .bind(user_id)
            .fetch_optional(&self.pool)
            .await?)
    }
}
