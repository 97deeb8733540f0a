//! The SQLite store, Roster's embedded default: a WAL-mode file, a pool of readers and a
//! single writer through which every write goes, each write transaction opened with
//! `BEGIN IMMEDIATE` so that concurrent writers (another process such as the admin command
//! line included) queue on the busy timeout instead of failing on a stale snapshot.
//! Connection handling only; the queries are shared (`capability/`).

use crate::codec;
use crate::error::{TransactionError, is_sqlite_busy};
use crate::waiting::{Counted, Waiting};
use crate::{connect_error, migrate_error, sql};
use anyhow::{Context, bail};
use roster_core::User;
use roster_core::store::{AuthChanges, HEARTBEAT_INTERVAL};
use sqlx::migrate::{MigrateError, Migrator};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{QueryBuilder, Sqlite, Transaction};
use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, Instant};

static MIGRATOR: Migrator = sqlx::migrate!("./migrations/sqlite");

/// The migrations of this Roster (for [`crate::inspect`]).
pub(crate) fn migrator() -> &'static Migrator {
    &MIGRATOR
}

/// How long a connection waits for another's write lock.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a request waits for the writer; writes queue behind one connection.
const WRITER_ACQUIRE_TIMEOUT: Duration = Duration::from_secs(15);
/// How long a request waits for a reader.
const READER_ACQUIRE_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a readiness probe's answer is reused: a flood of `/readyz` costs at most one
/// committed write per this interval.
const PROBE_INTERVAL: Duration = Duration::from_secs(1);
/// How long a readiness probe waits for the writer before calling the database unready.
const PROBE_TIMEOUT: Duration = Duration::from_secs(5);

/// The readiness probe's write: the row replaced (a delete and an insert), so pages change
/// and the commit has to reach the disk. The row means nothing else.
const REPLACE_READINESS_PROBE: &str = "REPLACE INTO instance_state (name) VALUES ('readiness_probe')";

/// The count of changes to sessions, API keys and accounts that triggers keep (migration 0040).
const READ_CHANGE_COUNT: &str = "SELECT n FROM auth_changes WHERE id = 1";

/// A Roster database in one SQLite file.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    reader: SqlitePool,
    writer: SqlitePool,
    /// The acquisitions of each pool waiting now (for the metrics).
    reader_waiting: Arc<Waiting>,
    writer_waiting: Arc<Waiting>,
    /// The last readiness probe: when it ran and whether a write committed.
    probe: Arc<tokio::sync::Mutex<Option<(Instant, bool)>>>,
    /// The marks of changes to sessions, API keys and accounts (see `change_watcher`).
    pub(crate) changes: Arc<AuthChanges>,
}

impl SqliteStore {
    /// Opens (creating if missing, with its parent directory) the database at a
    /// `sqlite://PATH` or `sqlite:PATH` URL. Does not migrate.
    pub async fn connect(url: &str) -> anyhow::Result<Self> {
        let options = SqliteConnectOptions::from_str(url)
            .context("reading the SQLite database URL")?
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(BUSY_TIMEOUT);
        let path = options.get_filename();
        if path.as_os_str() == ":memory:" {
            bail!("an in-memory SQLite database cannot be shared by Roster's pools; use a file path");
        }
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("creating the database directory {}", parent.display()))?;
        }
        // The writer first: it creates the file and switches it to WAL, which the file keeps,
        // so readers need not (and do not contend for the lock that switching takes).
        let writer_options = options
            .clone()
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal);
        let writer = connect_pool(writer_options, 1, WRITER_ACQUIRE_TIMEOUT).await?;
        let readers = (std::thread::available_parallelism().map_or(4, |n| n.get()) * 4).clamp(8, 32);
        let reader = connect_pool(options, u32::try_from(readers).unwrap_or(4), READER_ACQUIRE_TIMEOUT).await?;
        Ok(Self {
            reader,
            writer,
            reader_waiting: Arc::default(),
            writer_waiting: Arc::default(),
            probe: Arc::default(),
            changes: Arc::default(),
        })
    }

    /// Whether the database can take a write now: a committed write of one row on the
    /// writer (a database that answers reads but cannot commit, such as one on a full disk,
    /// is not ready). The answer is reused for [`PROBE_INTERVAL`], and concurrent callers
    /// wait for one probe rather than each writing.
    async fn probe(&self) -> Result<(), sqlx::Error> {
        if self.writer.is_closed() {
            return Err(sqlx::Error::PoolClosed);
        }
        let mut last = self.probe.lock().await;
        if let Some((at, ok)) = *last
            && at.elapsed() < PROBE_INTERVAL
        {
            return if ok { Ok(()) } else { Err(probe_failed()) };
        }
        let outcome = match tokio::time::timeout(PROBE_TIMEOUT, self.probe_write()).await {
            Ok(outcome) => outcome,
            Err(_) => Err(sqlx::Error::PoolTimedOut),
        };
        *last = Some((Instant::now(), outcome.is_ok()));
        outcome
    }

    /// One committed write of the probe row.
    async fn probe_write(&self) -> Result<(), sqlx::Error> {
        let mut transaction = self.begin_write().await?;
        sqlx::query(REPLACE_READINESS_PROBE).execute(&mut *transaction).await?;
        transaction.commit().await
    }

    /// Relays the changes other processes (the admin commands, a second server on the same
    /// file) commit: triggers count every change of a session, an API key or an account in
    /// `auth_changes` (migration 0040), and this polls the count every
    /// [`HEARTBEAT_INTERVAL`]; a new count forgets everything remembered. Each poll that
    /// answers is the channel's heartbeat; one that fails stops the cache until one answers.
    fn change_watcher(&self) -> impl std::future::Future<Output = ()> + Send + 'static {
        let pool = self.reader.clone();
        let changes = self.changes.clone();
        async move {
            let mut last: Option<i64> = None;
            loop {
                match sqlx::query_scalar::<_, i64>(READ_CHANGE_COUNT).fetch_one(&pool).await {
                    Ok(count) => {
                        if last.is_some_and(|l| l != count) {
                            changes.changed_everything();
                        }
                        last = Some(count);
                        changes.heartbeat();
                    }
                    Err(sqlx::Error::PoolClosed) => return,
                    Err(error) => {
                        changes.lost();
                        tracing::warn!(%error, "cannot read the change count; checking the database on every request");
                    }
                }
                if pool.is_closed() {
                    return;
                }
                tokio::time::sleep(HEARTBEAT_INTERVAL).await;
            }
        }
    }

    /// Applies the migrations this Roster knows; refuses a database migrated by a newer one.
    pub async fn migrate(&self) -> anyhow::Result<()> {
        // SQLite has no migration lock: a second process migrating the same fresh file at
        // the same moment fails its (rolled back) transaction, and finds the work done on
        // the next attempt.
        let mut attempt = 1;
        loop {
            match MIGRATOR.run(&self.writer).await {
                Ok(()) => {
                    self.fill_login_keys().await.context("filling the login keys")?;
                    return Ok(());
                }
                Err(error @ (MigrateError::Execute(_) | MigrateError::ExecuteMigration(..))) if attempt < 5 => {
                    tracing::warn!(%error, attempt, "migrating the SQLite database failed; retrying");
                    tokio::time::sleep(Duration::from_millis(100 * attempt)).await;
                    attempt += 1;
                }
                Err(error) => return Err(migrate_error(error)),
            }
        }
    }

    /// Closes both pools, waiting for connections in use.
    pub(crate) async fn close_pools(&self) {
        self.writer.close().await;
        self.reader.close().await;
    }

    /// Refreshes the planner's statistics (ANALYZE writes, so through the writer).
    async fn analyze(&self) -> Result<(), sqlx::Error> {
        sqlx::query("ANALYZE users").execute(&self.writer).await.map(|_| ())
    }

    /// Whether data-modifying `WITH` parts exist. SQLite has none: statements that go
    /// together are sent as one query of several statements.
    const DATA_MODIFYING_CTE: bool = false;
    /// Whether the `users_search` trigram table exists (SQLite's FTS5).
    const FULL_TEXT_SEARCH: bool = true;
    /// Whether a search must be planned for its own pattern on every run (see
    /// `listing_keeps_plan`). SQLite plans again on its own whenever a bound value would
    /// change its plan (`sqlite_stat4`).
    const PLANS_EACH_SEARCH: bool = false;
    /// Outbox rows get their `seq` at insert.
    const SEQUENCES_OUTBOX: bool = false;
    /// Nothing to add to the claiming sub-select: the single writer serialises claims.
    const CLAIM_LOCK: &'static str = "";
    /// One instance at a time delivers webhooks (the `delivery` lease).
    const SINGLE_DELIVERER: bool = true;

    /// The pools, named for the metrics.
    fn pools(&self) -> [(&'static str, &SqlitePool, &Waiting); 2] {
        [
            ("reader", &self.reader, &self.reader_waiting),
            ("writer", &self.writer, &self.writer_waiting),
        ]
    }

    fn read_pool(&self) -> Counted<'_, Sqlite> {
        Counted {
            pool: &self.reader,
            waiting: &self.reader_waiting,
        }
    }

    async fn begin_write(&self) -> Result<Transaction<'static, Sqlite>, sqlx::Error> {
        self.writer_waiting.begin(&self.writer, Some("BEGIN IMMEDIATE")).await
    }

    /// Nothing to do: `BEGIN IMMEDIATE` on the single writer already serialises writes.
    async fn lock_admins(_transaction: &mut Transaction<'static, Sqlite>) -> Result<(), sqlx::Error> {
        Ok(())
    }

    /// Nothing to announce: SQLite's servers poll the change count (Redis never carries
    /// SQLite's changes).
    #[allow(clippy::unused_async)]
    async fn announce_pending(
        &self,
        _transaction: &mut Transaction<'static, Sqlite>,
    ) -> Result<Option<crate::redis_changes::Announced>, sqlx::Error> {
        Ok(None)
    }

    /// Nothing was announced (see `announce_pending`).
    #[allow(clippy::unused_async)]
    async fn announce_done(&self, _announced: Option<crate::redis_changes::Announced>) {}

    /// Nothing to do: rows get their `seq` when inserted, and the single writer already makes
    /// `seq` order commit order.
    async fn sequence_outbox(_transaction: &mut Transaction<'static, Sqlite>) -> Result<(), sqlx::Error> {
        Ok(())
    }
}

/// The probe's error when the last probe, reused, failed.
fn probe_failed() -> sqlx::Error {
    sqlx::Error::Io(std::io::Error::other("the last write probe did not commit"))
}

/// Builds a pool. Switching a fresh file to WAL needs an exclusive lock that the busy
/// timeout does not wait for, so "database is locked" while another process (or pool) sets
/// up the same new file is retried for as long as the busy timeout.
///
/// A connection still inside a transaction when it comes back (a failed COMMIT or ROLLBACK:
/// on a full disk SQLite may end the transaction itself, so sqlx's rollback fails and its
/// count of open transactions never returns to zero) is closed rather than pooled, and the
/// pool opens a fresh one: otherwise every later `BEGIN` on it fails.
async fn connect_pool(
    options: SqliteConnectOptions,
    size: u32,
    acquire_timeout: Duration,
) -> anyhow::Result<SqlitePool> {
    let deadline = Instant::now() + BUSY_TIMEOUT;
    loop {
        let pool = SqlitePoolOptions::new()
            .max_connections(size)
            .acquire_timeout(acquire_timeout)
            .after_release(|connection, _| {
                Box::pin(async move { crate::error::is_reusable(connection, "SQLite").await })
            })
            .before_acquire(|connection, _| {
                Box::pin(async move { crate::error::is_reusable(connection, "SQLite").await })
            })
            .connect_with(options.clone())
            .await;
        match pool {
            Err(error) if is_sqlite_busy(&error) && Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(25)).await;
            }
            other => return other.map_err(|e| connect_error(e, "SQLite")),
        }
    }
}

/// The text of the trigger that writes a new user's search key to `users_search` (migration
/// 0002), if the schema has it.
const SEARCH_INSERT_TRIGGER: &str =
    "SELECT sql FROM sqlite_master WHERE type = 'trigger' AND name = 'users_search_after_insert'";
const DROP_SEARCH_INSERT_TRIGGER: &str = "DROP TRIGGER users_search_after_insert";
/// The head of a multi-row write to the search index (rowid, search key), as the trigger does.
const INDEX_SEARCH_KEYS_HEAD: &str = "INSERT INTO users_search (rowid, search_key) ";

impl SqliteStore {
    /// Inserts users for a bulk load, with their login keys ([`SqliteStore::insert_user_values`]).
    /// From [`sql::BULK_LOAD_MIN_USERS`] users on, the search index is written once after the
    /// rows, in multi-row inserts of the same (rowid, search key) pairs the trigger would write
    /// row by row: the trigger is dropped inside the transaction and made again from its own
    /// text before the commit, so no other connection sees the table without it, and a
    /// failure rolls both back.
    pub(crate) async fn bulk_insert_users(
        transaction: &mut Transaction<'static, Sqlite>,
        users: &[User],
    ) -> Result<u64, TransactionError> {
        if users.len() < sql::BULK_LOAD_MIN_USERS {
            return Self::insert_user_values(transaction, users).await;
        }
        // (Read to the end: no statement of the connection may be left running across DDL.)
        let trigger: Vec<String> = sqlx::query_scalar(SEARCH_INSERT_TRIGGER)
            .fetch_all(&mut **transaction)
            .await?;
        let Some(trigger) = trigger.into_iter().next() else {
            return Self::insert_user_values(transaction, users).await;
        };
        sqlx::query(DROP_SEARCH_INSERT_TRIGGER)
            .persistent(false)
            .execute(&mut **transaction)
            .await?;
        let inserted = Self::insert_user_values(transaction, users).await?;
        for chunk in users.chunks(sql::BULK_ROWS_PER_STATEMENT) {
            let mut index = QueryBuilder::<Sqlite>::new(INDEX_SEARCH_KEYS_HEAD);
            index.push_values(chunk, |mut row, user| {
                row.push_bind(user.id.0).push_bind(codec::search_key(user));
            });
            index.build().execute(&mut **transaction).await?;
        }
        sqlx::query(&trigger)
            .persistent(false)
            .execute(&mut **transaction)
            .await?;
        Ok(inserted)
    }
}

crate::capability::impl_store!(SqliteStore, Sqlite);
