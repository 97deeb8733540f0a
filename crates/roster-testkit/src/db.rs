//! Fresh databases for tests: a SQLite file in a temporary directory, or a throw-away
//! PostgreSQL database under `ROSTER_TEST_PG_URL`, each removed when dropped; and
//! `backend_tests!`, which runs one test body against both backends.

use roster_core::Store;
use sqlx::{Connection, Executor, PgConnection};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

/// Where PostgreSQL test databases are created unless `ROSTER_TEST_PG_URL` says otherwise.
pub const DEFAULT_POSTGRES_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

/// The database a test runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    /// Both backends, SQLite first.
    pub const ALL: [Backend; 2] = [Backend::Sqlite, Backend::Postgres];

    /// `sqlite` or `postgres`.
    pub fn name(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }
}

/// What to remove when the database is dropped.
#[derive(Debug)]
enum Cleanup {
    /// The directory holding the SQLite file (removed by its own drop).
    Sqlite { _directory: tempfile::TempDir },
    /// A database to drop through the administrative connection.
    Postgres { admin_url: String, name: String },
}

/// A fresh, empty database, removed on drop.
#[derive(Debug)]
pub struct TestDatabase {
    /// The URL to open it with (`sqlite://...` or `postgres://...`).
    pub url: String,
    pub backend: Backend,
    /// With Redis carrying the credential cache's changes (PostgreSQL): its URL and key
    /// prefix. Every store [`TestDatabase::store`] opens uses it.
    pub redis_changes: Option<(String, String)>,
    cleanup: Cleanup,
}

/// The administrative PostgreSQL URL test databases are created under.
pub fn postgres_admin_url() -> String {
    std::env::var("ROSTER_TEST_PG_URL")
        .ok()
        .filter(|s| !s.trim().is_empty())
        .unwrap_or_else(|| DEFAULT_POSTGRES_URL.to_string())
}

/// Whether a missing PostgreSQL must fail the tests rather than skip them.
fn postgres_required() -> bool {
    crate::in_ci() || crate::env_flag("ROSTER_TEST_REQUIRE_PG")
}

/// Splits `scheme://authority/path?query` into (`scheme://authority`, path, `?query`).
fn split_url(url: &str) -> (&str, &str, &str) {
    let (rest, query) = url.find('?').map_or((url, ""), |i| url.split_at(i));
    let authority_start = rest.find("://").map_or(0, |i| i + 3);
    match rest[authority_start..].find('/') {
        Some(i) => {
            let (base, path) = rest.split_at(authority_start + i);
            (base, path, query)
        }
        None => (rest, "", query),
    }
}

/// The URL without its password, for messages.
fn redacted(url: &str) -> String {
    let (base, path, query) = split_url(url);
    let authority_start = base.find("://").map_or(0, |i| i + 3);
    let (scheme, authority) = base.split_at(authority_start);
    match authority.rsplit_once('@') {
        Some((user_info, host)) if user_info.contains(':') => {
            let user = user_info.split(':').next().unwrap_or_default();
            format!("{scheme}{user}:***@{host}{path}{query}")
        }
        _ => url.to_string(),
    }
}

/// The same server and options, another database.
fn with_database(url: &str, database: &str) -> String {
    let (base, _, query) = split_url(url);
    format!("{base}/{database}{query}")
}

impl TestDatabase {
    /// A fresh, empty (not migrated) database. None when PostgreSQL is unreachable outside
    /// CI, after a loud `SKIPPED` line on stderr; with `CI=true` that panics instead.
    pub async fn new(backend: Backend) -> Option<TestDatabase> {
        match backend {
            Backend::Sqlite => {
                let dir = tempfile::Builder::new()
                    .prefix("roster-test-")
                    .tempdir()
                    .expect("temporary directory");
                let path = dir.path().join("roster.db");
                Some(TestDatabase {
                    url: format!("sqlite://{}", path.display()),
                    backend,
                    redis_changes: None,
                    cleanup: Cleanup::Sqlite { _directory: dir },
                })
            }
            Backend::Postgres => Self::new_postgres().await,
        }
    }

    async fn new_postgres() -> Option<TestDatabase> {
        let admin_url = postgres_admin_url();
        let connected = tokio::time::timeout(Duration::from_secs(10), PgConnection::connect(&admin_url)).await;
        let mut admin = match connected {
            Ok(Ok(connection)) => connection,
            Ok(Err(error)) => return Self::postgres_unreachable(&admin_url, &error.to_string()),
            Err(_) => return Self::postgres_unreachable(&admin_url, "timed out after 10 s"),
        };
        let name = format!("roster_test_{:016x}", rand::random::<u64>());
        admin
            .execute(format!(r#"CREATE DATABASE "{name}""#).as_str())
            .await
            .unwrap_or_else(|e| panic!("creating test database {name}: {e}"));
        let _ = admin.close().await;
        Some(TestDatabase {
            url: with_database(&admin_url, &name),
            backend: Backend::Postgres,
            redis_changes: None,
            cleanup: Cleanup::Postgres { admin_url, name },
        })
    }

    fn postgres_unreachable(admin_url: &str, error: &str) -> Option<TestDatabase> {
        let url = redacted(admin_url);
        if postgres_required() {
            panic!("PostgreSQL not reachable at {url} ({error}), and CI requires it; set ROSTER_TEST_PG_URL");
        }
        eprintln!(
            "\n*** SKIPPED: PostgreSQL not reachable at {url} ({error}); this PostgreSQL test did not run. \
             Set ROSTER_TEST_PG_URL, or CI=true to make this a failure. ***\n"
        );
        None
    }

    /// Opens it through `roster_store::open` (which migrates it).
    pub async fn store(&self) -> Arc<dyn Store> {
        let redis = self
            .redis_changes
            .as_ref()
            .map(|(url, prefix)| roster_store::RedisChanges::new(url, prefix).expect("a valid Redis URL"));
        roster_store::open_with(&self.url, redis)
            .await
            .unwrap_or_else(|e| panic!("opening the {} test database: {e:#}", self.backend.name()))
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let Cleanup::Postgres { admin_url, name } = &self.cleanup else {
            return;
        };
        let (admin_url, name) = (admin_url.clone(), name.clone());
        let database = name.clone();
        // Drop runs inside the test's runtime, which must not be blocked on; a thread with a
        // runtime of its own does the work, and is waited for so the database is gone after.
        let dropped = std::thread::spawn(move || -> Result<(), String> {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| e.to_string())?;
            runtime.block_on(async {
                let mut admin = PgConnection::connect(&admin_url).await.map_err(|e| e.to_string())?;
                admin
                    .execute(format!(r#"DROP DATABASE IF EXISTS "{database}" WITH (FORCE)"#).as_str())
                    .await
                    .map_err(|e| e.to_string())?;
                let _ = admin.close().await;
                Ok(())
            })
        })
        .join();
        match dropped {
            Ok(Ok(())) => {}
            Ok(Err(error)) => eprintln!("warning: could not drop test database {name}: {error}"),
            Err(_) => eprintln!("warning: dropping test database {name} panicked"),
        }
    }
}

/// Runs one backend test on a runtime like `#[tokio::test(flavor = "multi_thread",
/// worker_threads = 2)]`; used by [`backend_tests!`](crate::backend_tests), so callers need
/// no tokio of their own.
#[doc(hidden)]
pub fn run_backend_test(test: impl Future<Output = ()>) {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("test runtime")
        .block_on(test);
}

/// `backend_tests!(a, b, c);`, where each is `async fn a(backend: Backend)`, generates
/// `mod sqlite { #[test] fn a() }` and `mod postgres { ... }`, each running
/// `super::a(Backend::X).await` on a two-worker multi-threaded tokio runtime.
#[macro_export]
macro_rules! backend_tests {
    ($($name:ident),+ $(,)?) => {
        mod sqlite {
            $(
                #[test]
                fn $name() {
                    $crate::db::run_backend_test(super::$name($crate::db::Backend::Sqlite));
                }
            )+
        }
        mod postgres {
            $(
                #[test]
                fn $name() {
                    $crate::db::run_backend_test(super::$name($crate::db::Backend::Postgres));
                }
            )+
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_rewritten_and_redacted() {
        assert_eq!(
            with_database("postgres://u@h:5432/postgres", "x"),
            "postgres://u@h:5432/x"
        );
        assert_eq!(
            with_database("postgres://u:p@h/postgres?sslmode=disable", "x"),
            "postgres://u:p@h/x?sslmode=disable"
        );
        assert_eq!(with_database("postgres://h", "x"), "postgres://h/x");
        assert_eq!(redacted("postgres://u:secret@h/db"), "postgres://u:***@h/db");
        assert_eq!(redacted("postgres://u@h/db"), "postgres://u@h/db");
    }
}
