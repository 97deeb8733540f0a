//! Whole-database transfer: `roster backup`, `roster restore` and `roster copy`.
//!
//! Every table of the schema is moved, row by row, in foreign-key order: the table list and
//! each table's columns are read from the database's own catalogue (SQLite's `sqlite_master`,
//! PostgreSQL's `information_schema`), never from a list kept here, so a table a later
//! migration adds is moved without a change to this module. Left out are only what is not data:
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
//!
//! `transfer/db.rs` opens either database, reads its catalogue (the one list of tables,
//! their columns and keys, parents first) and reads every row in one snapshot;
//! `transfer/backup.rs` writes a backup, `transfer/restore.rs` reads one back, and
//! `transfer/copy.rs` loads rows into an empty database (what `restore` and `copy` share).

mod backup;
mod copy;
mod db;
mod restore;

pub use backup::backup;
pub use copy::copy;
pub use restore::restore;

use anyhow::bail;
use db::Db;

/// The tables that are not data, as an SQL list: sqlx's record of the migrations (the target's
/// own migrations write it) and the credential cache's change count (each database counts its
/// own changes; migration 0040 gives it its one row).
pub const NOT_DATA: &str = "('_sqlx_migrations', 'auth_changes')";
/// The first line's `format`.
const DUMP_FORMAT: &str = "roster-dump";
/// The dump format's version.
const DUMP_VERSION: u64 = 1;

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
fn quote(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
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
/// The tables `backup`, `restore` and `copy` move, as the database's catalogue lists them
/// (parents before children). For tests and `--dry-run`-like listings.
pub async fn tables(url: &str) -> anyhow::Result<Vec<String>> {
    let mut db = Db::open_source(url).await?;
    Ok(db.tables().await?.into_iter().map(|t| t.name).collect())
}
