//! One database of either kind: opening it as a source or a target, its catalogue (every data
//! table, its columns and keys, parents before children) and reading every row in one
//! snapshot.

use super::{Kind, NOT_DATA, Report, Sink, Table, Value, quote};
use crate::{BackendKind, backend_of};
use anyhow::{Context, bail};
use futures_util::TryStreamExt as _;
use sqlx::{Connection as _, Executor as _, PgConnection, SqliteConnection};
use std::collections::{BTreeMap, BTreeSet};
use std::str::FromStr as _;

/// One database connection of either kind.
pub(super) enum Db {
    Sqlite(SqliteConnection),
    Pg(PgConnection),
}
impl Db {
    /// Opens an existing database read-only (SQLite) or connects (PostgreSQL).
    pub(super) async fn open_source(url: &str) -> anyhow::Result<Db> {
        match backend_of(url)? {
            BackendKind::Sqlite => {
                let options = sqlx::sqlite::SqliteConnectOptions::from_str(url)
                    .context("reading the SQLite database URL")?
                    .read_only(true)
                    .busy_timeout(std::time::Duration::from_secs(5));
                let path = options.get_filename().to_path_buf();
                if !path.exists() {
                    bail!("the database file {} does not exist", path.display());
                }
                Ok(Db::Sqlite(
                    SqliteConnection::connect_with(&options)
                        .await
                        .with_context(|| format!("opening the SQLite database {}", path.display()))?,
                ))
            }
            BackendKind::Postgres => Ok(Db::Pg(
                PgConnection::connect(url)
                    .await
                    .context("connecting to the PostgreSQL database")?,
            )),
        }
    }

    /// Creates (SQLite) and migrates the database, then connects to it for writing.
    pub(super) async fn open_target(url: &str) -> anyhow::Result<Db> {
        crate::open(url).await?.close().await;
        match backend_of(url)? {
            BackendKind::Sqlite => {
                let options = sqlx::sqlite::SqliteConnectOptions::from_str(url)
                    .context("reading the SQLite database URL")?
                    .foreign_keys(true)
                    .busy_timeout(std::time::Duration::from_secs(5));
                Ok(Db::Sqlite(
                    SqliteConnection::connect_with(&options)
                        .await
                        .context("opening the SQLite database")?,
                ))
            }
            BackendKind::Postgres => Ok(Db::Pg(
                PgConnection::connect(url)
                    .await
                    .context("connecting to the PostgreSQL database")?,
            )),
        }
    }

    fn backend(&self) -> &'static str {
        match self {
            Db::Sqlite(_) => "sqlite",
            Db::Pg(_) => "postgres",
        }
    }

    pub(super) async fn execute(&mut self, sql: &str) -> anyhow::Result<()> {
        match self {
            Db::Sqlite(c) => c.execute(sql).await.map(|_| ()),
            Db::Pg(c) => c.execute(sql).await.map(|_| ()),
        }
        .with_context(|| format!("running `{sql}`"))
    }

    pub(super) async fn strings(&mut self, sql: &str, bind: Option<&str>) -> anyhow::Result<Vec<(String, String)>> {
        let rows: Vec<(String, String)> = match self {
            Db::Sqlite(c) => {
                let mut q = sqlx::query_as(sql);
                if let Some(b) = bind {
                    q = q.bind(b.to_string());
                }
                q.fetch_all(&mut *c).await
            }
            Db::Pg(c) => {
                let mut q = sqlx::query_as(sql);
                if let Some(b) = bind {
                    q = q.bind(b.to_string());
                }
                q.fetch_all(&mut *c).await
            }
        }
        .context("reading the schema")?;
        Ok(rows)
    }

    /// The migrations the database has, in order.
    pub(super) async fn migrations(&mut self) -> anyhow::Result<Vec<i64>> {
        const SQL: &str = "SELECT version FROM _sqlx_migrations WHERE success ORDER BY version";
        match self {
            Db::Sqlite(c) => sqlx::query_scalar(SQL).fetch_all(&mut *c).await,
            Db::Pg(c) => sqlx::query_scalar(SQL).fetch_all(&mut *c).await,
        }
        .context("reading the applied migrations (is this a Roster database?)")
    }

    /// Every data table, parents before children.
    pub(super) async fn tables(&mut self) -> anyhow::Result<Vec<Table>> {
        let names: Vec<String> = match self {
            Db::Sqlite(_) => {
                let all = self
                    .strings(
                        &format!(
                            "SELECT name, COALESCE(sql, '') FROM sqlite_master WHERE type = 'table' \
                             AND name NOT LIKE 'sqlite_%' AND name NOT IN {NOT_DATA} ORDER BY name"
                        ),
                        None,
                    )
                    .await?;
                let virtual_tables: Vec<&String> = all
                    .iter()
                    .filter(|(_, sql)| sql.to_ascii_uppercase().starts_with("CREATE VIRTUAL TABLE"))
                    .map(|(name, _)| name)
                    .collect();
                all.iter()
                    .map(|(name, _)| name)
                    .filter(|name| {
                        !virtual_tables
                            .iter()
                            .any(|v| name == v || name.starts_with(&format!("{v}_")))
                    })
                    .cloned()
                    .collect()
            }
            Db::Pg(_) => self
                .strings(
                    &format!(
                        "SELECT table_name::text, table_type::text FROM information_schema.tables \
                         WHERE table_schema = current_schema() AND table_type = 'BASE TABLE' \
                         AND table_name NOT IN {NOT_DATA} ORDER BY table_name"
                    ),
                    None,
                )
                .await?
                .into_iter()
                .map(|(name, _)| name)
                .collect(),
        };
        let mut tables = BTreeMap::new();
        let mut parents: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for name in &names {
            let (columns_sql, keys_sql, parents_sql) = match self {
                Db::Sqlite(_) => (
                    "SELECT name, type FROM pragma_table_info($1) ORDER BY cid",
                    "SELECT name, CAST(pk AS TEXT) FROM pragma_table_info($1) WHERE pk > 0 ORDER BY pk",
                    "SELECT DISTINCT \"table\", '' FROM pragma_foreign_key_list($1)",
                ),
                Db::Pg(_) => (
                    "SELECT column_name::text, data_type::text FROM information_schema.columns \
                     WHERE table_schema = current_schema() AND table_name = $1 ORDER BY ordinal_position",
                    "SELECT a.attname::text, '' FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid \
                     AND a.attnum = ANY(i.indkey) WHERE i.indrelid = quote_ident($1)::regclass AND i.indisprimary \
                     ORDER BY array_position(i.indkey::int2[], a.attnum)",
                    "SELECT DISTINCT p.relname::text, '' FROM pg_constraint c JOIN pg_class p ON p.oid = c.confrelid \
                     WHERE c.contype = 'f' AND c.conrelid = quote_ident($1)::regclass",
                ),
            };
            let columns = self
                .strings(columns_sql, Some(name))
                .await?
                .into_iter()
                .map(|(column, declared)| Ok((column.clone(), Kind::of(name, &column, &declared)?)))
                .collect::<anyhow::Result<Vec<_>>>()?;
            let mut order: Vec<String> = self
                .strings(keys_sql, Some(name))
                .await?
                .into_iter()
                .map(|(c, _)| c)
                .collect();
            if order.is_empty() {
                order = columns.iter().map(|(c, _)| c.clone()).collect();
            }
            let mine: BTreeSet<String> = self
                .strings(parents_sql, Some(name))
                .await?
                .into_iter()
                .map(|(p, _)| p)
                .filter(|p| p != name)
                .collect();
            parents.insert(name.clone(), mine);
            tables.insert(
                name.clone(),
                Table {
                    name: name.clone(),
                    columns,
                    order,
                },
            );
        }
        // Parents first; among tables that are ready, by name.
        let mut sorted = Vec::with_capacity(tables.len());
        let mut done = BTreeSet::new();
        while done.len() < tables.len() {
            let ready: Vec<String> = tables
                .keys()
                .filter(|t| !done.contains(*t))
                .filter(|t| parents[*t].iter().all(|p| done.contains(p) || !tables.contains_key(p)))
                .cloned()
                .collect();
            if ready.is_empty() {
                bail!("the tables' foreign keys form a cycle; copying cannot order them");
            }
            for t in ready {
                done.insert(t.clone());
                sorted.push(tables[&t].clone());
            }
        }
        Ok(sorted)
    }

    /// Rows in a table.
    pub(super) async fn count(&mut self, table: &str) -> anyhow::Result<i64> {
        let sql = format!("SELECT COUNT(*) FROM {}", quote(table));
        match self {
            Db::Sqlite(c) => sqlx::query_scalar(&sql).fetch_one(&mut *c).await,
            Db::Pg(c) => sqlx::query_scalar(&sql).fetch_one(&mut *c).await,
        }
        .with_context(|| format!("counting the rows of {table}"))
    }

    /// Starts the snapshot every table is read in.
    async fn begin_snapshot(&mut self) -> anyhow::Result<()> {
        match self {
            Db::Sqlite(_) => self.execute("BEGIN").await,
            Db::Pg(_) => self.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY").await,
        }
    }

    /// Sends every row of every table to `sink`, in one snapshot.
    pub(super) async fn read_into(&mut self, sink: &mut dyn Sink) -> anyhow::Result<Report> {
        self.begin_snapshot().await?;
        let tables = self.tables().await?;
        sink.start(self.backend(), &self.migrations().await?).await?;
        let mut report = Report::default();
        for table in &tables {
            sink.table(table).await?;
            let sql = self.select(table);
            let mut rows = 0u64;
            match self {
                Db::Sqlite(c) => {
                    let mut stream = sqlx::query(&sql).fetch(&mut *c);
                    while let Some(row) = stream
                        .try_next()
                        .await
                        .with_context(|| format!("reading {}", table.name))?
                    {
                        sink.row(decode(&row, table)?).await?;
                        rows += 1;
                    }
                }
                Db::Pg(c) => {
                    let mut stream = sqlx::query(&sql).fetch(&mut *c);
                    while let Some(row) = stream
                        .try_next()
                        .await
                        .with_context(|| format!("reading {}", table.name))?
                    {
                        sink.row(decode(&row, table)?).await?;
                        rows += 1;
                    }
                }
            }
            sink.end_table(rows).await?;
            report.tables.push((table.name.clone(), rows));
        }
        self.execute("COMMIT").await?;
        sink.finish().await?;
        Ok(report)
    }

    /// The SELECT that reads a table; on PostgreSQL integers come as BIGINT and documents as text.
    fn select(&self, table: &Table) -> String {
        let columns: Vec<String> = table
            .columns
            .iter()
            .map(|(c, kind)| match (self, kind) {
                (Db::Pg(_), Kind::Int) => format!("{}::BIGINT", quote(c)),
                (Db::Pg(_), Kind::Json) => format!("{}::TEXT", quote(c)),
                _ => quote(c),
            })
            .collect();
        let order: Vec<String> = table.order.iter().map(|c| quote(c)).collect();
        format!(
            "SELECT {} FROM {} ORDER BY {}",
            columns.join(", "),
            quote(&table.name),
            order.join(", ")
        )
    }
}

/// A row's values by the table's column kinds.
fn decode<R>(row: &R, table: &Table) -> anyhow::Result<Vec<Value>>
where
    R: sqlx::Row,
    usize: sqlx::ColumnIndex<R>,
    for<'r> Option<i64>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> Option<String>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> Option<bool>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> Option<Vec<u8>>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
{
    table
        .columns
        .iter()
        .enumerate()
        .map(|(i, (column, kind))| {
            let value = match kind {
                Kind::Int => row.try_get::<Option<i64>, _>(i).map(|v| v.map(Value::Int)),
                Kind::Text | Kind::Json => row.try_get::<Option<String>, _>(i).map(|v| v.map(Value::Text)),
                Kind::Bool => row.try_get::<Option<bool>, _>(i).map(|v| v.map(Value::Bool)),
                Kind::Bytes => row.try_get::<Option<Vec<u8>>, _>(i).map(|v| v.map(Value::Bytes)),
            };
            value
                .map(|v| v.unwrap_or(Value::Null))
                .with_context(|| format!("reading {}.{column}", table.name))
        })
        .collect()
}
