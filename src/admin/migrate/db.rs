//! Read-only access to a source product's SQL database (SQLite file or PostgreSQL URL).
//! Every value is read as text (`CAST(col AS TEXT)`), so one reader works on both backends
//! and on the schema versions the products went through: a column a version lacks reads as
//! None.

use anyhow::Context;
use sqlx::Row as _;
use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::str::FromStr;

/// A source database, opened read-only.
pub enum SourceDb {
    Sqlite(sqlx::SqlitePool),
    Postgres(sqlx::PgPool),
}

/// One row: column name to its text value.
pub type Row = HashMap<String, Option<String>>;

/// Reads a text value of a row.
pub fn get<'a>(row: &'a Row, column: &str) -> Option<&'a str> {
    row.get(column).and_then(|v| v.as_deref())
}

impl SourceDb {
    /// Opens `source`: a `postgres://` URL, a `sqlite://` URL, a database file, or a
    /// directory holding `file_name`. Nothing is ever written (SQLite read-only;
    /// PostgreSQL sessions with `default_transaction_read_only`).
    pub async fn open(source: &str, file_name: &str) -> anyhow::Result<Self> {
        if source.starts_with("postgres://") || source.starts_with("postgresql://") {
            let options = sqlx::postgres::PgConnectOptions::from_str(source)
                .context("reading the PostgreSQL URL")?
                .options([("default_transaction_read_only", "on")]);
            let pool = sqlx::postgres::PgPoolOptions::new()
                .max_connections(2)
                .connect_with(options)
                .await
                .context("connecting to the source PostgreSQL")?;
            return Ok(SourceDb::Postgres(pool));
        }
        let raw = source.strip_prefix("sqlite://").unwrap_or(source);
        let mut path = Path::new(raw).to_path_buf();
        if path.is_dir() {
            path = path.join(file_name);
        }
        if !path.is_file() {
            anyhow::bail!(
                "no database at {} (give the {file_name} file or a postgres:// URL)",
                path.display()
            );
        }
        let options = sqlx::sqlite::SqliteConnectOptions::new()
            .filename(&path)
            .read_only(true)
            .create_if_missing(false);
        let pool = sqlx::sqlite::SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(options)
            .await
            .with_context(|| format!("opening {}", path.display()))?;
        Ok(SourceDb::Sqlite(pool))
    }

    /// The directory a file source lives in (the directory itself when one was given); None
    /// for a PostgreSQL URL.
    pub fn directory_of(source: &str) -> Option<std::path::PathBuf> {
        if source.starts_with("postgres://") || source.starts_with("postgresql://") {
            return None;
        }
        let path = Path::new(source.strip_prefix("sqlite://").unwrap_or(source));
        if path.is_dir() {
            return Some(path.to_path_buf());
        }
        path.parent()
            .map(|p| if p.as_os_str().is_empty() { Path::new(".") } else { p })
            .map(Path::to_path_buf)
    }

    /// The columns of `table` (empty: no such table).
    pub async fn columns(&self, table: &str) -> anyhow::Result<HashSet<String>> {
        let names: Vec<String> = match self {
            SourceDb::Sqlite(pool) => sqlx::query_scalar("SELECT name FROM pragma_table_info(?1)")
                .bind(table)
                .fetch_all(pool)
                .await
                .with_context(|| format!("reading the columns of {table}"))?,
            SourceDb::Postgres(pool) => sqlx::query_scalar(
                "SELECT CAST(column_name AS TEXT) FROM information_schema.columns \
                 WHERE table_name = $1 AND table_schema = current_schema()",
            )
            .bind(table)
            .fetch_all(pool)
            .await
            .with_context(|| format!("reading the columns of {table}"))?,
        };
        Ok(names.into_iter().collect())
    }

    /// Every row of `table`, the `wanted` columns as text (a column the table lacks is None).
    /// `order` is a column to sort by, if the table has it.
    pub async fn rows(&self, table: &str, wanted: &[&str], order: Option<&str>) -> anyhow::Result<Vec<Row>> {
        let present = self.columns(table).await?;
        if present.is_empty() {
            return Ok(Vec::new());
        }
        let selected: Vec<&str> = wanted.iter().copied().filter(|c| present.contains(*c)).collect();
        if selected.is_empty() {
            return Ok(Vec::new());
        }
        let list = selected
            .iter()
            .map(|c| format!("CAST(\"{c}\" AS TEXT) AS \"{c}\""))
            .collect::<Vec<_>>()
            .join(", ");
        let mut sql = format!("SELECT {list} FROM \"{table}\"");
        if let Some(order) = order.filter(|o| present.contains(*o)) {
            sql.push_str(&format!(" ORDER BY \"{order}\""));
        }
        let decode = |values: Vec<Option<String>>| -> Row {
            let mut row: Row = wanted.iter().map(|c| (c.to_string(), None)).collect();
            for (name, value) in selected.iter().zip(values) {
                row.insert(name.to_string(), value);
            }
            row
        };
        let mut out = Vec::new();
        match self {
            SourceDb::Sqlite(pool) => {
                for r in sqlx::query(&sql)
                    .fetch_all(pool)
                    .await
                    .with_context(|| format!("reading {table}"))?
                {
                    let values = (0..selected.len())
                        .map(|i| r.try_get::<Option<String>, _>(i))
                        .collect::<Result<Vec<_>, _>>()
                        .with_context(|| format!("reading {table}"))?;
                    out.push(decode(values));
                }
            }
            SourceDb::Postgres(pool) => {
                for r in sqlx::query(&sql)
                    .fetch_all(pool)
                    .await
                    .with_context(|| format!("reading {table}"))?
                {
                    let values = (0..selected.len())
                        .map(|i| r.try_get::<Option<String>, _>(i))
                        .collect::<Result<Vec<_>, _>>()
                        .with_context(|| format!("reading {table}"))?;
                    out.push(decode(values));
                }
            }
        }
        Ok(out)
    }

    /// Closes the connections.
    pub async fn close(self) {
        match self {
            SourceDb::Sqlite(pool) => pool.close().await,
            SourceDb::Postgres(pool) => pool.close().await,
        }
    }
}

/// A boolean as SQLite (`1`/`0`) or PostgreSQL (`true`/`false`) writes it as text.
pub fn boolean(raw: Option<&str>) -> Option<bool> {
    match raw?.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "t" => Some(true),
        "0" | "false" | "f" => Some(false),
        _ => None,
    }
}

/// A JSON column (NULL, empty and unparsable: None).
pub fn json(raw: Option<&str>) -> Option<serde_json::Value> {
    let raw = raw?.trim();
    if raw.is_empty() {
        return None;
    }
    match serde_json::from_str::<serde_json::Value>(raw).ok()? {
        serde_json::Value::Null => None,
        // A JSON text stored as a JSON string (SQLAlchemy on some versions).
        serde_json::Value::String(s) => serde_json::from_str(&s).ok().or(Some(serde_json::Value::String(s))),
        v => Some(v),
    }
}

/// Epoch seconds (Open WebUI's BigInt times); values in milliseconds or nanoseconds are
/// recognised by their size.
pub fn epoch(raw: Option<&str>) -> Option<time::OffsetDateTime> {
    let n: i64 = raw?.trim().parse::<f64>().ok()? as i64;
    let seconds = if n > 100_000_000_000_000 {
        n / 1_000_000_000
    } else if n > 100_000_000_000 {
        n / 1000
    } else {
        n
    };
    time::OffsetDateTime::from_unix_timestamp(seconds).ok()
}

/// A SQL timestamp as text (`2025-05-29 16:02:20.132436`, optionally with `T`, `Z` or an
/// offset; naive values are UTC, as Langflow writes them).
pub fn timestamp(raw: Option<&str>) -> Option<time::OffsetDateTime> {
    use time::format_description::well_known::Rfc3339;
    let s = raw?.trim().replace(' ', "T");
    if s.is_empty() {
        return None;
    }
    if let Ok(t) = time::OffsetDateTime::parse(&s, &Rfc3339) {
        return Some(t);
    }
    // PostgreSQL writes offsets as `+00`; complete them.
    let with_offset = |s: &str| -> Option<String> {
        let tail = s.get(s.len().saturating_sub(3)..)?;
        ((tail.starts_with('+') || tail.starts_with('-')) && tail[1..].chars().all(|c| c.is_ascii_digit()))
            .then(|| format!("{s}:00"))
    };
    if let Some(full) = with_offset(&s)
        && let Ok(t) = time::OffsetDateTime::parse(&full, &Rfc3339)
    {
        return Some(t);
    }
    time::OffsetDateTime::parse(&format!("{s}Z"), &Rfc3339).ok()
}

/// RFC 3339 text of a time (what import records carry).
pub fn rfc3339(t: time::OffsetDateTime) -> String {
    roster_core::user::rfc3339(t)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_parse() {
        assert_eq!(boolean(Some("1")), Some(true));
        assert_eq!(boolean(Some("false")), Some(false));
        assert_eq!(
            timestamp(Some("2025-05-29 16:02:20.132436")).map(|t| t.unix_timestamp()),
            Some(1_748_534_540)
        );
        assert_eq!(
            timestamp(Some("2025-05-29 16:02:20.132436+00")).map(|t| t.unix_timestamp()),
            Some(1_748_534_540)
        );
        assert_eq!(
            epoch(Some("1748534540")).map(|t| t.unix_timestamp()),
            Some(1_748_534_540)
        );
        assert_eq!(
            epoch(Some("1748534540123")).map(|t| t.unix_timestamp()),
            Some(1_748_534_540)
        );
        assert_eq!(json(Some("{\"a\":1}")), Some(serde_json::json!({"a": 1})));
        assert_eq!(json(Some("null")), None);
    }
}
