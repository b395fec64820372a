//! What the database holds, table by table: row counts for the admin's
//! statistics and for tests that check a refused request changed nothing.

use std::collections::BTreeMap;

use sqlx::{AssertSqlSafe, Row};

use super::{Backend, Store};
use crate::error::Result;

impl Store {
    /// Every table of the schema (migration bookkeeping and SQLite's
    /// full-text shadow tables aside) with its number of rows, read in one
    /// statement so that the counts are of one moment.
    pub async fn row_counts(&self) -> Result<BTreeMap<String, i64>> {
        let catalog = match self.backend {
            Backend::Sqlite => {
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' \
                 AND name NOT LIKE '\\_%' ESCAPE '\\' AND name NOT LIKE 'event_search_%' ORDER BY name"
            }
            Backend::Postgres => {
                "SELECT CAST(table_name AS TEXT) FROM information_schema.tables WHERE table_schema = current_schema() \
                 AND table_type = 'BASE TABLE' AND table_name NOT LIKE '\\_%' ORDER BY table_name"
            }
        };
        let tables: Vec<String> = sqlx::query_scalar(catalog).fetch_all(&self.pool).await?;
        if tables.is_empty() {
            return Ok(BTreeMap::new());
        }
        // Names come from the catalog, quoted; nothing here is user input.
        let counts: Vec<String> =
            tables.iter().map(|t| format!("(SELECT COUNT(*) FROM \"{t}\")")).collect();
        let sql = format!("SELECT {}", counts.join(", "));
        let row = sqlx::query(AssertSqlSafe(sql)).fetch_one(&self.pool).await?;
        let mut found = BTreeMap::new();
        for (i, table) in tables.into_iter().enumerate() {
            found.insert(table, row.try_get::<i64, _>(i)?);
        }
        Ok(found)
    }
}
