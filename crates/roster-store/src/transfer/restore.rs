//! `roster restore`: a backup read back into an empty database.

use super::copy::{Loader, copy};
use super::{DUMP_FORMAT, DUMP_VERSION, Kind, Report, Sink, Table, Value};
use anyhow::{Context, anyhow, bail};
use base64::Engine as _;
use serde_json::Value as Json;
use std::io::{BufRead, BufReader};
use std::path::Path;

/// How a SQLite database file begins.
const SQLITE_MAGIC: &[u8] = b"SQLite format 3\0";
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
