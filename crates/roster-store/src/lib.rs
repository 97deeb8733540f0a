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
mod sql;
mod sqlite;
mod two_factor;
mod webhooks;

pub use postgres::PgStore;
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
            let store = PgStore::connect(url).await?;
            if let Err(e) = store.migrate().await {
                store.close_pools().await;
                return Err(e);
            }
            Ok(Arc::new(store))
        }
    }
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
