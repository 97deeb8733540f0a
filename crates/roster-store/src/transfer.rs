//! Whole-database transfer: `roster backup`, `roster restore` and `roster copy`.
//!
//! Every table of the schema is moved, row by row, in foreign-key order: the table list and
//! each table's columns are read from the database's own catalogue (SQLite's `sqlite_master`,
//! PostgreSQL's `information_schema`), never from a list kept here, so a table a later
//! migration adds is moved without a change to this file. Left out are only what is not data:
//! sqlx's `_sqlx_migrations` (the target's own migrations make it), `auth_changes` (the
//! credential cache's change count, which each database keeps for itself), SQLite's internal tables,
//! and SQLite's virtual tables with their shadow tables (the full-text search index, which the
//! users table's triggers rebuild as rows go in).
//!
//! A source is a live database (read in one snapshot: a read transaction on SQLite, a
//! `REPEATABLE READ` transaction on PostgreSQL) or a dump file; a target is a database (made
//! empty and migrated first, loaded in one transaction) or a dump file.
//!
//! The dump format (`roster backup` on PostgreSQL) is gzip-compressed JSON lines:
//! a header `{"format":"roster-dump","version":1,"backend":..,"migrations":[..],"created_at":..}`;
//! per table `{"table":NAME,"columns":[[NAME,KIND],..]}`, then one JSON array per row, then
//! `{"end":NAME,"rows":N}`; and last `{"complete":true,"tables":N}` (a dump without it is
//! truncated and refused). KIND is `int`, `text`, `bool`, `bytes` (base64) or `json` (the
//! document's text).

use crate::{BackendKind, backend_of};
use anyhow::{Context, anyhow, bail};
use base64::Engine as _;
use futures_util::TryStreamExt as _;
use serde_json::{Value as Json, json};
use sqlx::{Connection as _, Executor as _, PgConnection, SqliteConnection};
use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::str::FromStr as _;

/// The tables that are not data, as an SQL list: sqlx's record of the migrations (the target's
/// own migrations write it) and the credential cache's change count (each database counts its
/// own changes; migration 0040 gives it its one row).
pub const NOT_DATA: &str = "('_sqlx_migrations', 'auth_changes')";

/// Binds a value as the target column's kind wants it (typed NULLs).
macro_rules! bind {
    ($q:expr, $v:expr, $kind:expr) => {
        match ($v, $kind) {
            (Value::Null, Kind::Int) => $q.bind(None::<i64>),
            (Value::Null, Kind::Bool) => $q.bind(None::<bool>),
            (Value::Null, Kind::Bytes) => $q.bind(None::<Vec<u8>>),
            (Value::Null, Kind::Text | Kind::Json) => $q.bind(None::<String>),
            (Value::Int(i), _) => $q.bind(i),
            (Value::Bool(b), _) => $q.bind(b),
            (Value::Bytes(b), _) => $q.bind(b),
            (Value::Text(s), _) => $q.bind(s),
        }
    };
}

/// The first line's `format`.
const DUMP_FORMAT: &str = "roster-dump";
/// The dump format's version.
const DUMP_VERSION: u64 = 1;
/// How a SQLite database file begins.
const SQLITE_MAGIC: &[u8] = b"SQLite format 3\0";

/// Tables the migrations fill (the default tier) or the server writes on its own (the
/// readiness probe's row in `instance_state`): a target with rows only there is still empty,
/// and their rows are replaced by the source's.
const SEEDED: &[&str] = &["tiers", "instance_state"];

/// What a column holds, whatever the backend calls it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Int,
    Text,
    Bool,
    Bytes,
    /// A JSON document (PostgreSQL's `jsonb`; SQLite keeps documents as `text`).
    Json,
}

impl Kind {
    fn of(table: &str, column: &str, declared: &str) -> anyhow::Result<Kind> {
        let declared = declared.to_ascii_lowercase();
        Ok(match declared.as_str() {
            "bigint" | "integer" | "smallint" | "int" | "int8" | "int4" => Kind::Int,
            "text" | "character varying" | "varchar" => Kind::Text,
            "boolean" | "bool" => Kind::Bool,
            "blob" | "bytea" => Kind::Bytes,
            "jsonb" | "json" => Kind::Json,
            other => bail!("column {table}.{column} has the type `{other}`, which copying does not know"),
        })
    }

    fn name(self) -> &'static str {
        match self {
            Kind::Int => "int",
            Kind::Text => "text",
            Kind::Bool => "bool",
            Kind::Bytes => "bytes",
            Kind::Json => "json",
        }
    }

    fn parse(name: &str) -> anyhow::Result<Kind> {
        Ok(match name {
            "int" => Kind::Int,
            "text" => Kind::Text,
            "bool" => Kind::Bool,
            "bytes" => Kind::Bytes,
            "json" => Kind::Json,
            other => bail!("the backup has an unknown column kind `{other}`"),
        })
    }
}

/// One value on its way; JSON documents travel as their text.
#[derive(Debug, Clone, PartialEq)]
enum Value {
    Null,
    Int(i64),
    Text(String),
    Bool(bool),
    Bytes(Vec<u8>),
}

/// A table as one side describes it: its name and its columns in order.
#[derive(Debug, Clone)]
struct Table {
    name: String,
    columns: Vec<(String, Kind)>,
    /// Columns to order rows by (the primary key, else every column).
    order: Vec<String>,
}

/// The rows moved, per table.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    pub tables: Vec<(String, u64)>,
}

impl Report {
    /// All rows moved.
    pub fn rows(&self) -> u64 {
        self.tables.iter().map(|(_, n)| n).sum()
    }
}

/// What `roster backup` wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Backup {
    /// A copy of the SQLite database file (`VACUUM INTO`).
    SqliteFile,
    /// A dump (PostgreSQL), with its rows per table.
    Dump(Report),
}

/// One database connection of either kind.
enum Db {
    Sqlite(SqliteConnection),
    Pg(PgConnection),
}

fn quote(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

impl Db {
    /// Opens an existing database read-only (SQLite) or connects (PostgreSQL).
    async fn open_source(url: &str) -> anyhow::Result<Db> {
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
    async fn open_target(url: &str) -> anyhow::Result<Db> {
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

    async fn execute(&mut self, sql: &str) -> anyhow::Result<()> {
        match self {
            Db::Sqlite(c) => c.execute(sql).await.map(|_| ()),
            Db::Pg(c) => c.execute(sql).await.map(|_| ()),
        }
        .with_context(|| format!("running `{sql}`"))
    }

    async fn strings(&mut self, sql: &str, bind: Option<&str>) -> anyhow::Result<Vec<(String, String)>> {
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
    async fn migrations(&mut self) -> anyhow::Result<Vec<i64>> {
        const SQL: &str = "SELECT version FROM _sqlx_migrations WHERE success ORDER BY version";
        match self {
            Db::Sqlite(c) => sqlx::query_scalar(SQL).fetch_all(&mut *c).await,
            Db::Pg(c) => sqlx::query_scalar(SQL).fetch_all(&mut *c).await,
        }
        .context("reading the applied migrations (is this a Roster database?)")
    }

    /// Every data table, parents before children.
    async fn tables(&mut self) -> anyhow::Result<Vec<Table>> {
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
    async fn count(&mut self, table: &str) -> anyhow::Result<i64> {
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
    async fn read_into(&mut self, sink: &mut dyn Sink) -> anyhow::Result<Report> {
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

/// Where rows go.
#[async_trait::async_trait]
trait Sink: Send {
    async fn start(&mut self, backend: &str, migrations: &[i64]) -> anyhow::Result<()>;
    async fn table(&mut self, table: &Table) -> anyhow::Result<()>;
    async fn row(&mut self, values: Vec<Value>) -> anyhow::Result<()>;
    async fn end_table(&mut self, rows: u64) -> anyhow::Result<()>;
    async fn finish(&mut self) -> anyhow::Result<()>;
}

/// Writes a dump file.
struct DumpWriter {
    out: flate2::write::GzEncoder<BufWriter<std::fs::File>>,
    kinds: Vec<Kind>,
    tables: u64,
}

impl DumpWriter {
    fn line(&mut self, value: &Json) -> anyhow::Result<()> {
        serde_json::to_writer(&mut self.out, value)?;
        self.out.write_all(b"\n")?;
        Ok(())
    }
}

#[async_trait::async_trait]
impl Sink for DumpWriter {
    async fn start(&mut self, backend: &str, migrations: &[i64]) -> anyhow::Result<()> {
        let created_at = time::OffsetDateTime::now_utc()
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default();
        self.line(&json!({
            "format": DUMP_FORMAT,
            "version": DUMP_VERSION,
            "backend": backend,
            "migrations": migrations,
            "created_at": created_at,
        }))
    }

    async fn table(&mut self, table: &Table) -> anyhow::Result<()> {
        self.kinds = table.columns.iter().map(|(_, k)| *k).collect();
        let columns: Vec<Json> = table.columns.iter().map(|(c, k)| json!([c, k.name()])).collect();
        self.line(&json!({"table": table.name, "columns": columns}))
    }

    async fn row(&mut self, values: Vec<Value>) -> anyhow::Result<()> {
        let row: Vec<Json> = values
            .into_iter()
            .map(|v| match v {
                Value::Null => Json::Null,
                Value::Int(i) => json!(i),
                Value::Text(s) => Json::String(s),
                Value::Bool(b) => Json::Bool(b),
                Value::Bytes(b) => Json::String(base64::engine::general_purpose::STANDARD.encode(b)),
            })
            .collect();
        self.line(&Json::Array(row))
    }

    async fn end_table(&mut self, rows: u64) -> anyhow::Result<()> {
        self.tables += 1;
        let name = json!(rows);
        self.line(&json!({"end": true, "rows": name}))
    }

    async fn finish(&mut self) -> anyhow::Result<()> {
        let tables = self.tables;
        self.line(&json!({"complete": true, "tables": tables}))?;
        self.out.try_finish()?;
        self.out.get_mut().flush()?;
        self.out.get_ref().get_ref().sync_all()?;
        Ok(())
    }
}

/// Loads rows into an empty, migrated database, in one transaction.
struct Loader {
    db: Db,
    schema: BTreeMap<String, Table>,
    seen: BTreeSet<String>,
    /// The table being loaded: the source's kinds, the target's kinds, the INSERT.
    current: Option<(String, Vec<Kind>, Vec<Kind>, String)>,
    report: Report,
}

impl Loader {
    async fn new(url: &str) -> anyhow::Result<Loader> {
        let mut db = Db::open_target(url).await?;
        let tables = db.tables().await?;
        // Empty: no rows but in the tables the migrations (or a server's readiness probe) fill.
        for table in &tables {
            if SEEDED.contains(&table.name.as_str()) {
                continue;
            }
            let rows = db.count(&table.name).await?;
            if rows > 0 {
                bail!(
                    "the target database is not empty (table {} has {rows} rows); restore and copy need an \
                     empty database: create a new one",
                    table.name
                );
            }
        }
        match db {
            Db::Sqlite(_) => db.execute("BEGIN IMMEDIATE").await?,
            Db::Pg(_) => db.execute("BEGIN").await?,
        }
        for table in SEEDED {
            if tables.iter().any(|t| t.name == *table) {
                db.execute(&format!("DELETE FROM {}", quote(table))).await?;
            }
        }
        Ok(Loader {
            db,
            schema: tables.into_iter().map(|t| (t.name.clone(), t)).collect(),
            seen: BTreeSet::new(),
            current: None,
            report: Report::default(),
        })
    }

    /// Commits, after checking that every table of this database was in the source, and sets
    /// PostgreSQL's sequences past the rows copied.
    async fn commit(mut self) -> anyhow::Result<Report> {
        let missing: Vec<&String> = self.schema.keys().filter(|t| !self.seen.contains(*t)).collect();
        if !missing.is_empty() {
            let _ = self.db.execute("ROLLBACK").await;
            bail!(
                "the source has no table {}, which this database has; nothing was written",
                missing.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ")
            );
        }
        if let Db::Pg(_) = self.db {
            let serials = self
                .db
                .strings(
                    "SELECT table_name::text, column_name::text FROM information_schema.columns \
                     WHERE table_schema = current_schema() \
                     AND (column_default LIKE 'nextval(%' OR is_identity = 'YES')",
                    None,
                )
                .await?;
            for (table, column) in serials {
                let sql = format!(
                    "SELECT setval(pg_get_serial_sequence('{t}', '{c}'), COALESCE(MAX({qc}), 0) + 1, false) FROM {qt}",
                    t = quote(&table).replace('\'', "''"),
                    c = column.replace('\'', "''"),
                    qc = quote(&column),
                    qt = quote(&table),
                );
                self.db.execute(&sql).await?;
            }
        }
        self.db.execute("COMMIT").await?;
        Ok(self.report)
    }

    async fn rollback(mut self) {
        let _ = self.db.execute("ROLLBACK").await;
    }
}

#[async_trait::async_trait]
impl Sink for Loader {
    async fn start(&mut self, backend: &str, migrations: &[i64]) -> anyhow::Result<()> {
        let mine = self.db.migrations().await?;
        if mine != migrations {
            let last = |m: &[i64]| m.last().map_or("none".to_string(), |v| format!("{v:04}"));
            bail!(
                "the source ({backend}) has the migrations up to {} ({} in all) and this Roster's database up to \
                 {} ({} in all); restore with the Roster version that made the backup, then upgrade",
                last(migrations),
                migrations.len(),
                last(&mine),
                mine.len()
            );
        }
        Ok(())
    }

    async fn table(&mut self, table: &Table) -> anyhow::Result<()> {
        let Some(target) = self.schema.get(&table.name) else {
            bail!(
                "this database has no table {} (the source has); nothing was written",
                table.name
            );
        };
        let source_names: BTreeSet<&String> = table.columns.iter().map(|(c, _)| c).collect();
        let target_names: BTreeSet<&String> = target.columns.iter().map(|(c, _)| c).collect();
        if source_names != target_names {
            bail!(
                "table {}: the source's columns differ from this database's ({:?} against {:?}); nothing was written",
                table.name,
                source_names,
                target_names
            );
        }
        let target_kinds: Vec<Kind> = table
            .columns
            .iter()
            .map(|(c, _)| {
                target
                    .columns
                    .iter()
                    .find(|(t, _)| t == c)
                    .map(|(_, k)| *k)
                    .unwrap_or(Kind::Text)
            })
            .collect();
        let pg = matches!(self.db, Db::Pg(_));
        let placeholders: Vec<String> = target_kinds
            .iter()
            .enumerate()
            .map(|(i, kind)| match (pg, kind) {
                (true, Kind::Json) => format!("${}::JSONB", i + 1),
                _ => format!("${}", i + 1),
            })
            .collect();
        let columns: Vec<String> = table.columns.iter().map(|(c, _)| quote(c)).collect();
        let insert = format!(
            "INSERT INTO {} ({}) VALUES ({})",
            quote(&table.name),
            columns.join(", "),
            placeholders.join(", ")
        );
        self.seen.insert(table.name.clone());
        self.current = Some((
            table.name.clone(),
            table.columns.iter().map(|(_, k)| *k).collect(),
            target_kinds,
            insert,
        ));
        Ok(())
    }

    async fn row(&mut self, values: Vec<Value>) -> anyhow::Result<()> {
        let Some((name, _, kinds, insert)) = &self.current else {
            bail!("a row before its table");
        };
        if values.len() != kinds.len() {
            bail!(
                "table {name}: a row has {} values for {} columns",
                values.len(),
                kinds.len()
            );
        }
        let values = values
            .into_iter()
            .zip(kinds)
            .map(|(v, k)| convert(v, *k))
            .collect::<anyhow::Result<Vec<_>>>()
            .with_context(|| format!("table {name}"))?;
        let result = match &mut self.db {
            Db::Sqlite(c) => {
                let mut q = sqlx::query(insert);
                for (v, k) in values.into_iter().zip(kinds) {
                    q = bind!(q, v, *k);
                }
                q.execute(&mut *c).await.map(|_| ())
            }
            Db::Pg(c) => {
                let mut q = sqlx::query(insert);
                for (v, k) in values.into_iter().zip(kinds) {
                    q = bind!(q, v, *k);
                }
                q.execute(&mut *c).await.map(|_| ())
            }
        };
        result.with_context(|| format!("writing a row of {name}"))
    }

    async fn end_table(&mut self, rows: u64) -> anyhow::Result<()> {
        if let Some((name, ..)) = self.current.take() {
            self.report.tables.push((name, rows));
        }
        Ok(())
    }

    async fn finish(&mut self) -> anyhow::Result<()> {
        Ok(())
    }
}

/// A value as a column of `kind` takes it: booleans and integers cross over (SQLite keeps
/// booleans as 0 and 1); documents stay text.
fn convert(value: Value, kind: Kind) -> anyhow::Result<Value> {
    Ok(match (value, kind) {
        (Value::Null, _) => Value::Null,
        (Value::Bool(b), Kind::Int) => Value::Int(i64::from(b)),
        (Value::Int(i), Kind::Bool) => Value::Bool(i != 0),
        (v @ Value::Int(_), Kind::Int)
        | (v @ Value::Bool(_), Kind::Bool)
        | (v @ Value::Bytes(_), Kind::Bytes)
        | (v @ Value::Text(_), Kind::Text | Kind::Json) => v,
        (v, kind) => bail!("a value {v:?} cannot go into a {} column", kind.name()),
    })
}

/// Reads a dump file into `sink`.
async fn read_dump(path: &Path, sink: &mut dyn Sink) -> anyhow::Result<Report> {
    let file = std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let mut lines = BufReader::new(flate2::read::GzDecoder::new(BufReader::new(file))).lines();
    let mut next = move |what: &str| -> anyhow::Result<Option<Json>> {
        match lines.next() {
            None => Ok(None),
            Some(line) => {
                let line = line.with_context(|| format!("reading the backup ({what})"))?;
                Ok(Some(
                    serde_json::from_str(&line).with_context(|| format!("the backup is damaged ({what})"))?,
                ))
            }
        }
    };
    let header = next("its header")?.ok_or_else(|| anyhow!("the backup is empty"))?;
    if header["format"] != DUMP_FORMAT {
        bail!("{} is not a Roster backup", path.display());
    }
    if header["version"].as_u64() != Some(DUMP_VERSION) {
        bail!(
            "the backup's format version {} is not one this Roster reads ({DUMP_VERSION})",
            header["version"]
        );
    }
    let migrations: Vec<i64> = serde_json::from_value(header["migrations"].clone()).context("the backup's header")?;
    sink.start(header["backend"].as_str().unwrap_or("backup"), &migrations)
        .await?;
    let mut report = Report::default();
    let mut kinds: Vec<Kind> = Vec::new();
    let mut current: Option<(String, u64)> = None;
    loop {
        let Some(line) = next("a row")? else {
            bail!("the backup is truncated (it does not end with its completion line); restore nothing from it");
        };
        match (&line, &mut current) {
            (Json::Array(values), Some((table, rows))) => {
                if values.len() != kinds.len() {
                    bail!("the backup is damaged (a row of {table} has {} values)", values.len());
                }
                let row = values
                    .iter()
                    .zip(&kinds)
                    .map(|(v, k)| from_json(v, *k))
                    .collect::<anyhow::Result<Vec<_>>>()
                    .with_context(|| format!("the backup is damaged (table {table})"))?;
                sink.row(row).await?;
                *rows += 1;
            }
            (Json::Object(o), None) if o.contains_key("table") => {
                let name = o["table"].as_str().ok_or_else(|| anyhow!("the backup is damaged"))?;
                let columns: Vec<(String, String)> =
                    serde_json::from_value(o["columns"].clone()).context("the backup is damaged")?;
                let columns = columns
                    .into_iter()
                    .map(|(c, k)| Ok((c, Kind::parse(&k)?)))
                    .collect::<anyhow::Result<Vec<_>>>()?;
                kinds = columns.iter().map(|(_, k)| *k).collect();
                sink.table(&Table {
                    name: name.to_string(),
                    columns,
                    order: Vec::new(),
                })
                .await?;
                current = Some((name.to_string(), 0));
            }
            (Json::Object(o), Some((table, rows))) if o.contains_key("end") => {
                if o["rows"].as_u64() != Some(*rows) {
                    bail!(
                        "the backup is damaged (table {table} should have {} rows, has {rows})",
                        o["rows"]
                    );
                }
                sink.end_table(*rows).await?;
                report.tables.push((table.clone(), *rows));
                current = None;
            }
            (Json::Object(o), None) if o.contains_key("complete") => {
                if o["tables"].as_u64() != Some(report.tables.len() as u64) {
                    bail!("the backup is damaged (its table count does not match)");
                }
                break;
            }
            _ => bail!("the backup is damaged (an unexpected line)"),
        }
    }
    sink.finish().await?;
    Ok(report)
}

fn from_json(value: &Json, kind: Kind) -> anyhow::Result<Value> {
    Ok(match (value, kind) {
        (Json::Null, _) => Value::Null,
        (Json::Number(n), Kind::Int) => Value::Int(n.as_i64().ok_or_else(|| anyhow!("{n} is not an integer"))?),
        (Json::String(s), Kind::Text | Kind::Json) => Value::Text(s.clone()),
        (Json::Bool(b), Kind::Bool) => Value::Bool(*b),
        (Json::String(s), Kind::Bytes) => Value::Bytes(
            base64::engine::general_purpose::STANDARD
                .decode(s)
                .context("bytes that are not base64")?,
        ),
        (v, kind) => bail!("{v} is not a {} value", kind.name()),
    })
}

/// A temporary path beside `path`, renamed into place once complete.
fn partial_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().map(|n| n.to_os_string()).unwrap_or_default();
    name.push(".partial");
    path.with_file_name(name)
}

/// `roster backup`: a consistent copy of the database at `url` in `file` (which must not
/// exist), made while the server runs. SQLite: a copy of the database file (`VACUUM INTO`).
/// PostgreSQL: a dump (see the module's documentation) read in one `REPEATABLE READ`
/// transaction.
pub async fn backup(url: &str, file: &Path) -> anyhow::Result<Backup> {
    if file.exists() {
        bail!("{} exists; back up into a new file", file.display());
    }
    let partial = partial_path(file);
    let _ = std::fs::remove_file(&partial);
    let mut db = Db::open_source(url).await?;
    let outcome = match &mut db {
        Db::Sqlite(c) => {
            let target = partial
                .to_str()
                .ok_or_else(|| anyhow!("the backup path is not UTF-8"))?;
            sqlx::query("VACUUM INTO $1")
                .bind(target)
                .execute(&mut *c)
                .await
                .map(|_| Backup::SqliteFile)
                .context("copying the SQLite database (VACUUM INTO)")
        }
        Db::Pg(_) => {
            let out = std::fs::File::create(&partial).with_context(|| format!("creating {}", partial.display()))?;
            let mut writer = DumpWriter {
                out: flate2::write::GzEncoder::new(BufWriter::new(out), flate2::Compression::default()),
                kinds: Vec::new(),
                tables: 0,
            };
            db.read_into(&mut writer).await.map(Backup::Dump)
        }
    };
    match outcome {
        Ok(done) => {
            std::fs::rename(&partial, file).with_context(|| format!("moving the backup to {}", file.display()))?;
            Ok(done)
        }
        Err(error) => {
            let _ = std::fs::remove_file(&partial);
            Err(error)
        }
    }
}

/// `roster restore`: loads a backup (a SQLite file `roster backup` made, or a dump) into the
/// empty database at `url` (migrated first), in one transaction.
pub async fn restore(file: &Path, url: &str) -> anyhow::Result<Report> {
    let mut magic = [0u8; 16];
    {
        use std::io::Read as _;
        let mut f = std::fs::File::open(file).with_context(|| format!("opening {}", file.display()))?;
        let n = f
            .read(&mut magic)
            .with_context(|| format!("reading {}", file.display()))?;
        if n < magic.len() {
            bail!("{} is not a Roster backup (too short)", file.display());
        }
    }
    if magic == SQLITE_MAGIC {
        let source = format!("sqlite://{}", file.display());
        return copy(&source, url).await;
    }
    let mut loader = Loader::new(url).await?;
    match read_dump(file, &mut loader).await {
        Ok(_) => loader.commit().await,
        Err(error) => {
            loader.rollback().await;
            Err(error)
        }
    }
}

/// `roster copy`: every row of the database at `from` (read in one snapshot) into the empty
/// database at `to` (migrated first), in one transaction.
pub async fn copy(from: &str, to: &str) -> anyhow::Result<Report> {
    let mut source = Db::open_source(from).await?;
    let mut loader = Loader::new(to).await?;
    match source.read_into(&mut loader).await {
        Ok(_) => loader.commit().await,
        Err(error) => {
            loader.rollback().await;
            Err(error)
        }
    }
}

/// The tables `backup`, `restore` and `copy` move, as the database's catalogue lists them
/// (parents before children). For tests and `--dry-run`-like listings.
pub async fn tables(url: &str) -> anyhow::Result<Vec<String>> {
    let mut db = Db::open_source(url).await?;
    Ok(db.tables().await?.into_iter().map(|t| t.name).collect())
}
