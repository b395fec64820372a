//! A PostgreSQL database copied, as of one moment, into a new SQLite file
//! (`lattice backup` of a PostgreSQL server): one repeatable-read,
//! read-only transaction reads every table while the server keeps
//! writing, so the copy is as consistent as SQLite's own `VACUUM INTO`.
//! The archive then holds one format whatever the backend, and restoring
//! into PostgreSQL is `lattice migrate`'s copy.

use futures_util::TryStreamExt;
use sqlx::Executor;

use super::{
    Backend, Store,
    copy::{BATCH, CopyReport, Value, column_list, shared_columns, values_of},
};
use crate::error::{Error, Result};

impl Store {
    /// Copies everything in `self` (PostgreSQL) into `to` (a new SQLite
    /// database, migrated to the same version).
    pub async fn snapshot_into(&self, to: &Store) -> Result<CopyReport> {
        if self.backend != Backend::Postgres || to.backend != Backend::Sqlite {
            return Err(Error::internal("the snapshot goes from PostgreSQL to SQLite"));
        }
        // SQLite's creation order: parents before the rows that refer to them.
        let tables = to.copied_tables(self).await?;
        let mut source = self.pool.begin().await?;
        source.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY").await?;
        let mut target = to.pool.acquire().await?;
        // Rows the migrations seeded (stream counters...) make way for the
        // source's own.
        for table in tables.iter().rev() {
            let clear = format!("DELETE FROM \"{table}\"");
            target.execute(sqlx::AssertSqlSafe(clear)).await?;
        }
        let mut report = CopyReport::default();
        for table in tables {
            let columns = shared_columns(to, self, &table).await?;
            let list = column_list(&columns);
            let marks = (1..=columns.len()).map(|i| format!("${i}")).collect::<Vec<_>>();
            let insert = format!("INSERT INTO \"{table}\" ({list}) VALUES ({})", marks.join(", "));
            let select = format!("SELECT {list} FROM \"{table}\"");
            let mut rows = sqlx::query(sqlx::AssertSqlSafe(select)).fetch(&mut *source);
            let (mut copied, mut batch) = (0i64, Vec::new());
            loop {
                let row = rows.try_next().await?;
                if let Some(row) = &row {
                    batch.push(values_of(row)?);
                }
                if batch.len() as i64 >= BATCH || (row.is_none() && !batch.is_empty()) {
                    copied += batch.len() as i64;
                    insert_batch(&mut target, &insert, std::mem::take(&mut batch)).await?;
                }
                if row.is_none() {
                    break;
                }
            }
            report.tables.push((table, copied));
        }
        source.commit().await?;
        // SQLite's full-text index is filled by the event writer, not by a
        // trigger: rebuilt from the copied events.
        target
            .execute(
                "INSERT INTO event_search (rowid, body) \
                 SELECT stream, search_text FROM events WHERE search_text IS NOT NULL",
            )
            .await?;
        Ok(report)
    }
}

async fn insert_batch(
    target: &mut sqlx::pool::PoolConnection<sqlx::Any>,
    insert: &str,
    rows: Vec<Vec<Value>>,
) -> Result<()> {
    let mut tx = sqlx::Connection::begin(&mut **target).await?;
    for values in rows {
        let mut query = sqlx::query(sqlx::AssertSqlSafe(insert.to_owned()));
        for value in values {
            query = match value {
                Value::Null => query.bind(None::<String>),
                Value::Int(n) => query.bind(n),
                Value::Real(x) => query.bind(x),
                Value::Text(text) => query.bind(text),
                Value::Bytes(bytes) => query.bind(bytes),
            };
        }
        query.execute(&mut *tx).await?;
    }
    tx.commit().await?;
    Ok(())
}
