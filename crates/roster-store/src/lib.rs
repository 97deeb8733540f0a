//! Roster's stores: SQLite (embedded default) and PostgreSQL (scale-out), both always
//! compiled in and chosen by the URL scheme. SQL only; no policy.
//!
//! The [`Store`] implementation is written once, one file per capability (`capability/`), and
//! instantiated for both backends; each backend only supplies its pools and a few hooks (how a
//! write transaction begins, how the last-admin guard serialises, how outbox rows get their
//! sequence numbers, how deliveries are claimed).

mod capability;
mod codec;
mod error;
mod features;
mod journal;
mod oidc;
mod postgres;
mod redis_changes;
mod retention;
mod scim_push;
mod sql;
mod sqlite;
pub mod transfer;
mod two_factor;
mod waiting;
mod webhooks;

pub use postgres::PgStore;
pub use redis_changes::RedisChanges;
pub use sqlite::SqliteStore;

use anyhow::bail;
use roster_core::Store;
use std::sync::Arc;

/// The database kinds Roster can use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BackendKind {
    /// `sqlite://PATH` or `sqlite:PATH`.
    Sqlite,
    /// `postgres://...` or `postgresql://...`.
    Postgres,
}

/// Which backend a URL names, or an error naming the unknown scheme.
pub fn backend_of(url: &str) -> anyhow::Result<BackendKind> {
    let Some((scheme, _)) = url.split_once(':') else {
        bail!("the database URL has no scheme; expected sqlite://PATH or postgres://...");
    };
    match scheme.to_ascii_lowercase().as_str() {
        "sqlite" => Ok(BackendKind::Sqlite),
        "postgres" | "postgresql" => Ok(BackendKind::Postgres),
        other => bail!("unsupported database URL scheme `{other}`; expected sqlite or postgres"),
    }
}

/// Opens the store named by the URL (`sqlite://PATH` / `sqlite:PATH`, or `postgres://...` /
/// `postgresql://...`), creating the SQLite file (and its parent directory) if missing, and
/// applies migrations. Unknown schemes are an error naming the scheme. Refuses a database
/// migrated by a newer Roster.
pub async fn open(url: &str) -> anyhow::Result<Arc<dyn Store>> {
    open_with(url, None).await
}

/// As [`open`]; with `redis` (PostgreSQL only; SQLite ignores it), the changes the credential
/// cache hears of travel through Redis pub/sub (see [`RedisChanges`]).
pub async fn open_with(url: &str, redis: Option<RedisChanges>) -> anyhow::Result<Arc<dyn Store>> {
    match backend_of(url)? {
        BackendKind::Sqlite => {
            let store = SqliteStore::connect(url).await?;
            if let Err(e) = store.migrate().await {
                store.close_pools().await;
                return Err(e);
            }
            Ok(Arc::new(store))
        }
        BackendKind::Postgres => {
            let store = PgStore::connect_with(url, redis).await?;
            if let Err(e) = store.migrate().await {
                store.close_pools().await;
                return Err(e);
            }
            Ok(Arc::new(store))
        }
    }
}

/// What `roster doctor` learns of a database without changing it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inspection {
    /// Migrations of this Roster that the database has.
    pub applied: usize,
    /// Migrations of this Roster not yet applied (`0037 description`).
    pub pending: Vec<String>,
    /// Migrations the database has that this Roster does not know (a newer Roster's).
    pub unknown: Vec<i64>,
    /// The database server's clock (PostgreSQL; SQLite runs on this host's clock).
    pub server_time: Option<time::OffsetDateTime>,
}

/// Connects to the database at `url` (one connection; a SQLite file is opened read-only and
/// never created) and reads which migrations it has, and the server's clock.
pub async fn inspect(url: &str) -> anyhow::Result<Inspection> {
    use anyhow::Context as _;
    use sqlx::Connection as _;
    const APPLIED: &str = "SELECT version FROM _sqlx_migrations WHERE success";
    let (migrator, applied, server_time): (&sqlx::migrate::Migrator, Result<Vec<i64>, sqlx::Error>, _) =
        match backend_of(url)? {
            BackendKind::Sqlite => {
                use std::str::FromStr as _;
                let options = sqlx::sqlite::SqliteConnectOptions::from_str(url)
                    .context("reading the SQLite database URL")?
                    .read_only(true);
                let path = options.get_filename().to_path_buf();
                if !path.exists() {
                    bail!(
                        "the database file {} does not exist (roster serve creates it)",
                        path.display()
                    );
                }
                let mut c = sqlx::SqliteConnection::connect_with(&options)
                    .await
                    .map_err(|e| connect_error(e, "SQLite"))?;
                let applied = sqlx::query_scalar(APPLIED).fetch_all(&mut c).await;
                let _ = c.close().await;
                (sqlite::migrator(), applied, None)
            }
            BackendKind::Postgres => {
                let connect = sqlx::PgConnection::connect(url);
                let mut c = tokio::time::timeout(std::time::Duration::from_secs(10), connect)
                    .await
                    .map_err(|_| anyhow::anyhow!("connecting to PostgreSQL timed out after 10 s"))?
                    .map_err(|e| connect_error(e, "PostgreSQL"))?;
                let applied = sqlx::query_scalar(APPLIED).fetch_all(&mut c).await;
                let ms: i64 = sqlx::query_scalar("SELECT (EXTRACT(EPOCH FROM clock_timestamp()) * 1000)::BIGINT")
                    .fetch_one(&mut c)
                    .await
                    .context("reading the server's clock")?;
                let _ = c.close().await;
                let at = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
                    .context("the server's clock")?;
                (postgres::migrator(), applied, Some(at))
            }
        };
    // A database no Roster has migrated has no migrations table: everything is pending.
    let applied = match applied {
        Ok(versions) => versions,
        Err(sqlx::Error::Database(e)) if e.message().contains("_sqlx_migrations") => Vec::new(),
        Err(e) => return Err(anyhow::Error::new(e).context("reading the applied migrations")),
    };
    let known: Vec<&sqlx::migrate::Migration> = migrator
        .iter()
        .filter(|m| !m.migration_type.is_down_migration())
        .collect();
    Ok(Inspection {
        applied: known.iter().filter(|m| applied.contains(&m.version)).count(),
        pending: known
            .iter()
            .filter(|m| !applied.contains(&m.version))
            .map(|m| format!("{:04} {}", m.version, m.description))
            .collect(),
        unknown: applied
            .iter()
            .filter(|v| !known.iter().any(|m| m.version == **v))
            .copied()
            .collect(),
        server_time,
    })
}

/// Turns a migration failure into an error an operator can act on.
fn migrate_error(error: sqlx::migrate::MigrateError) -> anyhow::Error {
    use sqlx::migrate::MigrateError;
    match error {
        MigrateError::VersionMissing(version) => anyhow::anyhow!(
            "the database was migrated by a newer Roster (migration {version} is unknown to this version); \
             refusing to use it: upgrade Roster"
        ),
        other => anyhow::Error::new(other),
    }
    .context("applying database migrations")
}

/// The error for a pool that could not be built.
fn connect_error(error: sqlx::Error, what: &str) -> anyhow::Error {
    anyhow::Error::new(error).context(format!("opening the {what} database"))
}
