//! Loading rows into an empty, migrated database in one transaction: `roster copy` from a
//! live database, and the target side of `roster restore`.

use super::db::Db;
use super::{Kind, Report, Sink, Table, Value, quote};
use anyhow::{Context, bail};
use std::collections::{BTreeMap, BTreeSet};

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
/// Tables the migrations fill (the default tier) or the server writes on its own (the
/// readiness probe's row in `instance_state`): a target with rows only there is still empty,
/// and their rows are replaced by the source's.
const SEEDED: &[&str] = &["tiers", "instance_state"];
/// Loads rows into an empty, migrated database, in one transaction.
pub(super) struct Loader {
    db: Db,
    schema: BTreeMap<String, Table>,
    seen: BTreeSet<String>,
    /// The table being loaded: the source's kinds, the target's kinds, the INSERT.
    current: Option<(String, Vec<Kind>, Vec<Kind>, String)>,
    report: Report,
}

impl Loader {
    pub(super) async fn new(url: &str) -> anyhow::Result<Loader> {
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
    pub(super) async fn commit(mut self) -> anyhow::Result<Report> {
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

    pub(super) async fn rollback(mut self) {
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
