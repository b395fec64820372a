//! Copying a whole database from SQLite to PostgreSQL (`lattice migrate`):
//! every table both schemas have, in the order SQLite created them (parents
//! before the rows that refer to them), in batches; then PostgreSQL's
//! identity counters are moved past the copied rows, and each table's row
//! count and a hash of its first rows are compared on both sides.

use sqlx::{Row, TypeInfo, ValueRef, any::AnyRow};

use super::{Backend, Store};
use crate::error::{Error, Result};

/// Rows read and written per statement.
pub(super) const BATCH: i64 = 500;
/// Rows per table whose values are compared after the copy.
const SAMPLE: i64 = 200;

/// What was copied: each table with its row count.
#[derive(Debug, Default)]
pub struct CopyReport {
    pub tables: Vec<(String, i64)>,
}

/// One value of a row, as both backends can bind it.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Value {
    Null,
    Int(i64),
    Real(f64),
    Text(String),
    Bytes(Vec<u8>),
}

impl Store {
    /// Copies everything in `self` (SQLite) into `to` (an empty
    /// PostgreSQL database with the same schema version); `progress`
    /// hears each table as it is done.
    pub async fn copy_into(
        &self,
        to: &Store,
        mut progress: impl FnMut(&str, i64),
    ) -> Result<CopyReport> {
        if self.backend != Backend::Sqlite || to.backend != Backend::Postgres {
            return Err(Error::internal("the copy goes from SQLite to PostgreSQL"));
        }
        let users: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM users").fetch_one(&to.pool).await?;
        if users > 0 {
            return Err(Error::internal(
                "the PostgreSQL database is not empty: refusing to copy into it",
            ));
        }
        let tables = self.copied_tables(to).await?;
        // The migrations seeded a few rows (stream counters...): the
        // source's own take their place. Children go before parents.
        for table in tables.iter().rev() {
            let clear = format!("DELETE FROM \"{table}\"");
            sqlx::query(sqlx::AssertSqlSafe(clear)).execute(&to.pool).await?;
        }
        let mut report = CopyReport::default();
        for table in tables {
            let columns = shared_columns(self, to, &table).await?;
            let rows = copy_table(self, to, &table, &columns).await?;
            reset_identity(to, &table).await?;
            compare(self, to, &table, &columns, rows).await?;
            progress(&table, rows);
            report.tables.push((table, rows));
        }
        Ok(report)
    }

    /// Tables of both schemas, in SQLite's creation order. SQLite's own
    /// full-text tables, and the migrations' bookkeeping, stay behind.
    pub(super) async fn copied_tables(&self, to: &Store) -> Result<Vec<String>> {
        let ours: Vec<String> = sqlx::query_scalar(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' \
             AND name NOT LIKE '\\_sqlx%' ESCAPE '\\' AND sql NOT LIKE 'CREATE VIRTUAL%' ORDER BY rowid",
        )
        .fetch_all(&self.pool)
        .await?;
        let theirs: Vec<String> = sqlx::query_scalar(
            "SELECT table_name::text FROM information_schema.tables WHERE table_schema = current_schema()",
        )
        .fetch_all(&to.pool)
        .await?;
        Ok(ours.into_iter().filter(|table| theirs.contains(table)).collect())
    }
}

/// A column both sides have, with its PostgreSQL type (which decides how
/// a NULL or an integer is bound).
pub(super) struct Shared {
    pub(super) name: String,
    pg_type: String,
}

/// The columns both sides have (PostgreSQL's generated ones excepted), in
/// SQLite's order.
pub(super) async fn shared_columns(from: &Store, to: &Store, table: &str) -> Result<Vec<Shared>> {
    let ours: Vec<String> =
        sqlx::query_scalar("SELECT name FROM pragma_table_info($1) ORDER BY cid")
            .bind(table)
            .fetch_all(&from.pool)
            .await?;
    let theirs: Vec<(String, String)> = sqlx::query_as(
        "SELECT column_name::text, data_type::text FROM information_schema.columns \
         WHERE table_schema = current_schema() AND table_name = $1 AND is_generated = 'NEVER'",
    )
    .bind(table)
    .fetch_all(&to.pool)
    .await?;
    Ok(ours
        .into_iter()
        .filter_map(|name| {
            let (_, pg_type) = theirs.iter().find(|(column, _)| *column == name)?;
            Some(Shared { pg_type: pg_type.clone(), name })
        })
        .collect())
}

async fn copy_table(from: &Store, to: &Store, table: &str, columns: &[Shared]) -> Result<i64> {
    let list = column_list(columns);
    let (mut copied, mut after) = (0, i64::MIN);
    loop {
        // Paged by rowid (the copy's order too), whatever the table's key.
        let select = format!(
            "SELECT rowid, {list} FROM \"{table}\" WHERE rowid > {after} ORDER BY rowid LIMIT {BATCH}"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(select)).fetch_all(&from.pool).await?;
        let Some(last) = rows.last() else { return Ok(copied) };
        after = last.try_get::<i64, _>(0)?;
        let mut tx = to.pool.begin().await?;
        for row in &rows {
            let values = values_of(row)?.split_off(1);
            let marks = (1..=values.len()).map(|i| format!("${i}")).collect::<Vec<_>>().join(", ");
            // Identity columns take the copied values as they are.
            let insert = format!(
                "INSERT INTO \"{table}\" ({list}) OVERRIDING SYSTEM VALUE VALUES ({marks})"
            );
            let mut query = sqlx::query(sqlx::AssertSqlSafe(insert));
            for (value, column) in values.into_iter().zip(columns) {
                let pg_type = column.pg_type.as_str();
                query = match (value, pg_type) {
                    (Value::Null, "bigint" | "integer" | "smallint") => query.bind(None::<i64>),
                    (Value::Null, "double precision" | "real") => query.bind(None::<f64>),
                    (Value::Null, "bytea") => query.bind(None::<Vec<u8>>),
                    (Value::Null, "boolean") => query.bind(None::<bool>),
                    (Value::Null, _) => query.bind(None::<String>),
                    (Value::Int(n), "boolean") => query.bind(n != 0),
                    (Value::Int(n), "text") => query.bind(n.to_string()),
                    (Value::Int(n), _) => query.bind(n),
                    (Value::Real(x), _) => query.bind(x),
                    (Value::Text(text), _) => query.bind(text),
                    (Value::Bytes(bytes), _) => query.bind(bytes),
                };
            }
            query.execute(&mut *tx).await?;
        }
        tx.commit().await?;
        copied += rows.len() as i64;
    }
}

/// Moves each identity counter of `table` past the rows now in it.
async fn reset_identity(to: &Store, table: &str) -> Result<()> {
    let identities: Vec<String> = sqlx::query_scalar(
        "SELECT column_name::text FROM information_schema.columns \
         WHERE table_schema = current_schema() AND table_name = $1 AND is_identity = 'YES'",
    )
    .bind(table)
    .fetch_all(&to.pool)
    .await?;
    for column in identities {
        let reset = format!(
            "SELECT setval(pg_get_serial_sequence('\"{table}\"', '{column}'), \
             COALESCE((SELECT MAX(\"{column}\") FROM \"{table}\"), 0) + 1, false)"
        );
        sqlx::query(sqlx::AssertSqlSafe(reset)).execute(&to.pool).await?;
    }
    Ok(())
}

/// The same number of rows on both sides, and the same values in the
/// first rows copied (in SQLite's rowid order, which a fresh PostgreSQL
/// table keeps physically: its `ctid` order).
async fn compare(
    from: &Store,
    to: &Store,
    table: &str,
    columns: &[Shared],
    rows: i64,
) -> Result<()> {
    let count = format!("SELECT COUNT(*) FROM \"{table}\"");
    let theirs: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(count)).fetch_one(&to.pool).await?;
    if theirs != rows {
        return Err(Error::internal(format!("{table}: {rows} rows copied, {theirs} arrived")));
    }
    let list = column_list(columns);
    let sample =
        |order: &str| format!("SELECT {list} FROM \"{table}\" ORDER BY {order} LIMIT {SAMPLE}");
    let ours = sqlx::query(sqlx::AssertSqlSafe(sample("rowid"))).fetch_all(&from.pool).await?;
    let theirs = sqlx::query(sqlx::AssertSqlSafe(sample("ctid"))).fetch_all(&to.pool).await?;
    for (a, b) in ours.iter().zip(&theirs) {
        if values_of(a)? != values_of(b)? {
            return Err(Error::internal(format!("{table}: a copied row differs from its source")));
        }
    }
    Ok(())
}

pub(super) fn column_list(columns: &[Shared]) -> String {
    columns.iter().map(|c| format!("\"{}\"", c.name)).collect::<Vec<_>>().join(", ")
}

pub(super) fn values_of(row: &AnyRow) -> Result<Vec<Value>> {
    (0..row.columns().len())
        .map(|i| {
            let raw = row.try_get_raw(i)?;
            if raw.is_null() {
                return Ok(Value::Null);
            }
            let kind = raw.type_info().name().to_ascii_uppercase();
            Ok(match kind.as_str() {
                "BOOLEAN" | "BOOL" => Value::Int(i64::from(row.try_get::<bool, _>(i)?)),
                "SMALLINT" | "INT2" => Value::Int(i64::from(row.try_get::<i16, _>(i)?)),
                "INTEGER" | "INT" | "INT4" => Value::Int(
                    row.try_get::<i64, _>(i)
                        .or_else(|_| row.try_get::<i32, _>(i).map(i64::from))?,
                ),
                "BIGINT" | "INT8" => Value::Int(row.try_get::<i64, _>(i)?),
                "REAL" | "FLOAT4" => Value::Real(f64::from(row.try_get::<f32, _>(i)?)),
                "DOUBLE" | "FLOAT8" | "DOUBLE PRECISION" => Value::Real(row.try_get::<f64, _>(i)?),
                "BLOB" | "BYTEA" => Value::Bytes(row.try_get::<Vec<u8>, _>(i)?),
                _ => Value::Text(row.try_get::<String, _>(i)?),
            })
        })
        .collect()
}
