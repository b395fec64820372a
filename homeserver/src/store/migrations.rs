//! The schema's history. Most steps are one SQL text for both backends;
//! the few that differ (identity columns, full-text search) have a file
//! per backend. sqlx applies them and records each in `_sqlx_migrations`.

use std::borrow::Cow;

use sqlx::{
    SqlStr,
    migrate::{Migration, MigrationType, Migrator},
};

use super::Backend;

struct Step {
    version: i64,
    description: &'static str,
    sqlite: &'static str,
    postgres: &'static str,
}

macro_rules! shared {
    ($version:literal, $name:literal) => {
        Step {
            version: $version,
            description: $name,
            sqlite: include_str!(concat!("../../migrations/", $name, ".sql")),
            postgres: include_str!(concat!("../../migrations/", $name, ".sql")),
        }
    };
}

macro_rules! per_backend {
    ($version:literal, $name:literal) => {
        Step {
            version: $version,
            description: $name,
            sqlite: include_str!(concat!("../../migrations/", $name, ".sqlite.sql")),
            postgres: include_str!(concat!("../../migrations/", $name, ".postgres.sql")),
        }
    };
}

const STEPS: &[Step] = &[
    per_backend!(1, "0001_accounts"),
    per_backend!(2, "0002_rooms"),
    shared!(3, "0003_ephemeral"),
    shared!(4, "0004_relations"),
    per_backend!(5, "0005_search"),
    shared!(6, "0006_unread"),
    shared!(7, "0007_media"),
    shared!(8, "0008_txn_index"),
    shared!(9, "0009_security"),
    shared!(10, "0010_reports"),
    shared!(11, "0011_e2ee"),
    shared!(12, "0012_blocked_rooms"),
    shared!(13, "0013_registration_tokens"),
    shared!(14, "0014_media_quarantine"),
    shared!(15, "0015_ratelimit_overrides"),
    shared!(16, "0016_server_notices"),
    shared!(17, "0017_shadow_ban"),
    shared!(18, "0018_second_factors"),
    per_backend!(19, "0019_federation"),
    shared!(20, "0020_remote_media"),
    shared!(21, "0021_openid"),
    shared!(22, "0022_webauthn_and_login_tokens"),
    shared!(23, "0023_partial_event_indexes"),
    per_backend!(24, "0024_search_insert_by_writer"),
    per_backend!(25, "0025_one_sender_index"),
    shared!(26, "0026_retired_server_keys"),
    shared!(27, "0027_user_directory"),
    shared!(28, "0028_pushers"),
    shared!(29, "0029_push_notifications"),
    shared!(30, "0030_threepids"),
    shared!(31, "0031_delayed_events"),
    shared!(32, "0032_web_sessions"),
    shared!(33, "0033_sliding_sync"),
    shared!(34, "0034_appservice_queue"),
    shared!(35, "0035_appservice_directory"),
    shared!(36, "0036_retention"),
    shared!(37, "0037_encryption_keys"),
    shared!(38, "0038_encryption_rotation"),
    shared!(39, "0039_cluster"),
];

/// The migrator for one backend.
pub fn migrator(backend: Backend) -> Migrator {
    let migrations = STEPS
        .iter()
        .map(|step| {
            let sql = match backend {
                Backend::Sqlite => step.sqlite,
                Backend::Postgres => step.postgres,
            };
            Migration::new(
                step.version,
                Cow::Borrowed(step.description),
                MigrationType::Simple,
                SqlStr::from_static(sql),
                false,
            )
        })
        .collect::<Vec<_>>();
    Migrator { migrations: Cow::Owned(migrations), ..Migrator::DEFAULT }
}
