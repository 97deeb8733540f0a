//! `roster backup`: a copy of the SQLite database file, or a dump of PostgreSQL's rows.

use super::db::Db;
use super::{Backup, DUMP_FORMAT, DUMP_VERSION, Kind, Sink, Table, Value};
use anyhow::{Context, anyhow, bail};
use base64::Engine as _;
use serde_json::{Value as Json, json};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

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
