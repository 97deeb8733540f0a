//! The PostgreSQL store, for many Roster instances sharing one database: one pool, and an
//! advisory lock that serialises the transactions guarding the last administrator.
//! Connection handling only; the queries are shared (`capability/`).

use crate::codec::{self, UserParams};
use crate::error::TransactionError;
use crate::redis_changes::{Announced, RedisChanges};
use crate::waiting::{Counted, Waiting};
use crate::{connect_error, migrate_error, sql};
use anyhow::Context;
use roster_core::store::{AuthChanges, Channel, HEARTBEAT_INTERVAL};
use roster_core::{User, UserId};
use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::{Postgres, Transaction};
use std::str::FromStr as _;
use std::sync::Arc;
use std::time::Duration;

static MIGRATOR: Migrator = sqlx::migrate!("./migrations/postgres");

/// The migrations of this Roster (for [`crate::inspect`]).
pub(crate) fn migrator() -> &'static Migrator {
    &MIGRATOR
}

/// The transaction-level advisory lock taken by writes under the last-admin guard ("RostAdmn").
/// READ COMMITTED alone would let two transactions each demote one of two admins.
const ADMIN_GUARD_LOCK: i64 = 0x526f_7374_4164_6d6e;

/// A Roster database in PostgreSQL.
#[derive(Debug, Clone)]
pub struct PgStore {
    pool: PgPool,
    /// The acquisitions waiting now (for the metrics).
    waiting: Arc<Waiting>,
    /// The marks of changes to sessions, API keys and accounts (see `change_watcher`).
    pub(crate) changes: Arc<AuthChanges>,
    /// With Redis configured, where changes are announced (see [`crate::redis_changes`]).
    relay: Option<Arc<RedisChanges>>,
}

impl PgStore {
    /// Connects to a `postgres://` or `postgresql://` URL. Does not migrate.
    pub async fn connect(url: &str) -> anyhow::Result<Self> {
        Self::connect_with(url, None).await
    }

    /// As [`PgStore::connect`]; with `relay`, the changes travel through Redis (see
    /// [`crate::redis_changes`]).
    pub async fn connect_with(url: &str, relay: Option<RedisChanges>) -> anyhow::Result<Self> {
        let mut options = PgConnectOptions::from_str(url).map_err(|e| connect_error(e, "PostgreSQL"))?;
        if relay.is_some() {
            options = options.options([("roster.auth_channel", "redis")]);
        }
        let changes = Arc::new(AuthChanges::new());
        if relay.is_some() {
            changes.require(Channel::Redis);
        }
        // A connection still inside a transaction when it comes back (a failed COMMIT or
        // ROLLBACK) is closed rather than pooled, as on SQLite.
        let pool = PgPoolOptions::new()
            .max_connections(16)
            .acquire_timeout(Duration::from_secs(5))
            .after_release(|connection, _| {
                Box::pin(async move { crate::error::is_reusable(connection, "PostgreSQL").await })
            })
            .before_acquire(|connection, _| {
                Box::pin(async move { crate::error::is_reusable(connection, "PostgreSQL").await })
            })
            .connect_with(options)
            .await
            .map_err(|e| connect_error(e, "PostgreSQL"))?;
        Ok(Self {
            pool,
            waiting: Arc::default(),
            changes,
            relay: relay.map(Arc::new),
        })
    }

    /// With Redis: reads the ids the triggers collected in `transaction` and announces them
    /// as pending. When Redis does not take them, notifies them through the database in the
    /// transaction instead (as without Redis). Without Redis, or when nothing was collected:
    /// nothing, and no round trip.
    async fn announce_pending(
        &self,
        transaction: &mut Transaction<'static, Postgres>,
    ) -> Result<Option<Announced>, sqlx::Error> {
        let Some(relay) = &self.relay else {
            return Ok(None);
        };
        let collected: Option<String> = sqlx::query_scalar("SELECT current_setting('roster.auth_changed', true)")
            .fetch_one(&mut **transaction)
            .await?;
        let Some(ids) = collected.filter(|ids| !ids.is_empty()) else {
            return Ok(None);
        };
        if let Some(announced) = relay.pending(ids.clone()).await {
            return Ok(Some(announced));
        }
        sqlx::query("SELECT pg_notify($1, id) FROM unnest(string_to_array($2, ',')) AS id")
            .bind(CHANGES_CHANNEL)
            .bind(ids)
            .execute(&mut **transaction)
            .await?;
        Ok(None)
    }

    /// Announces as done what [`PgStore::announce_pending`] announced (after the commit, or
    /// after a commit that failed).
    async fn announce_done(&self, announced: Option<Announced>) {
        if let (Some(relay), Some(announced)) = (&self.relay, announced) {
            relay.done(announced).await;
        }
    }

    /// Relays the changes other processes commit: triggers (migration 0040) notify
    /// [`CHANGES_CHANNEL`] with the user's id in the transaction that changes a session, an
    /// API key or an account, so the notice follows the commit. This listens on its own
    /// connection and pings the channel every [`HEARTBEAT_INTERVAL`] through the pool; each
    /// ping that comes back is the channel's heartbeat. A lost connection stops the cache
    /// (the core reads the database on every request) until a new one listens and a ping
    /// comes back.
    fn change_watcher(&self) -> impl std::future::Future<Output = ()> + Send + 'static {
        let pool = self.pool.clone();
        let changes = self.changes.clone();
        let relay = self.relay.clone();
        async move {
            let pinger = tokio::spawn(ping_changes_channel(pool.clone()));
            let redis = relay.map(|relay| {
                let pool = pool.clone();
                tokio::spawn(relay.watcher(changes.clone(), move || pool.is_closed()))
            });
            listen_for_changes(&pool, &changes).await;
            pinger.abort();
            if let Some(redis) = redis {
                redis.abort();
            }
        }
    }

    /// Applies the migrations this Roster knows; refuses a database migrated by a newer one.
    /// sqlx holds an advisory lock while migrating, so instances starting together are safe.
    pub async fn migrate(&self) -> anyhow::Result<()> {
        MIGRATOR.run(&self.pool).await.map_err(migrate_error)?;
        self.fill_login_keys().await.context("filling the login keys")?;
        Ok(())
    }

    /// Whether the database can take writes: one round trip that also asks whether the
    /// server is a read-only standby or refuses writes by default. Cheap: writes nothing.
    async fn probe(&self) -> Result<(), sqlx::Error> {
        let read_only: bool =
            sqlx::query_scalar("SELECT pg_is_in_recovery() OR current_setting('transaction_read_only') = 'on'")
                .fetch_one(&self.pool)
                .await?;
        if read_only {
            return Err(sqlx::Error::Io(std::io::Error::other(
                "the PostgreSQL server is read-only (a standby, or default_transaction_read_only)",
            )));
        }
        Ok(())
    }

    /// Closes the pool, waiting for connections in use.
    pub(crate) async fn close_pools(&self) {
        self.pool.close().await;
    }

    /// Refreshes the planner's statistics and flushes the trigram index's pending list
    /// (VACUUM cannot run in a transaction, so on the pool).
    async fn analyze(&self) -> Result<(), sqlx::Error> {
        sqlx::query("VACUUM (ANALYZE) users")
            .execute(self.read_pool())
            .await
            .map(|_| ())
    }

    /// Whether data-modifying `WITH` parts exist: a statement may carry inserts and updates
    /// as `WITH` parts (one round trip for several writes).
    const DATA_MODIFYING_CTE: bool = true;
    /// Whether the `users_search` trigram table exists (SQLite's FTS5).
    const FULL_TEXT_SEARCH: bool = false;
    /// Whether a search must be planned for its own pattern on every run (see
    /// `listing_keeps_plan`): a kept statement gets one generic plan after five runs, which
    /// guesses that any `LIKE` matches 0.5% of the users and walks the sort order; a pattern
    /// that matches three users then reads the whole index (390 ms at a million users).
    const PLANS_EACH_SEARCH: bool = true;
    /// Outbox rows get their `seq` from readers (see `sequence_outbox`).
    const SEQUENCES_OUTBOX: bool = true;
    /// Instances share the deliveries row by row: a claim skips rows another is claiming.
    const CLAIM_LOCK: &'static str = " FOR UPDATE SKIP LOCKED";
    /// Every instance delivers (the leases always succeed).
    const SINGLE_DELIVERER: bool = false;

    /// The pool, named for the metrics.
    fn pools(&self) -> [(&'static str, &PgPool, &Waiting); 1] {
        [("main", &self.pool, &self.waiting)]
    }

    fn read_pool(&self) -> Counted<'_, Postgres> {
        Counted {
            pool: &self.pool,
            waiting: &self.waiting,
        }
    }

    async fn begin_write(&self) -> Result<Transaction<'static, Postgres>, sqlx::Error> {
        self.waiting.begin(&self.pool, None).await
    }

    async fn lock_admins(transaction: &mut Transaction<'static, Postgres>) -> Result<(), sqlx::Error> {
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(ADMIN_GUARD_LOCK)
            .execute(&mut **transaction)
            .await?;
        Ok(())
    }

    /// Gives the committed outbox rows that have none their `seq` (see migration 0013): under
    /// one transaction-level advisory lock, so sequencers take turns and each one's numbers
    /// are above every number committed before it. Writers take no lock; a row that commits
    /// while this runs gets a higher number at the next turn, so a reader paging by `seq`
    /// never passes a row that shows up later.
    async fn sequence_outbox(transaction: &mut Transaction<'static, Postgres>) -> Result<(), sqlx::Error> {
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(crate::journal::OUTBOX_LOCK)
            .execute(&mut **transaction)
            .await?;
        sqlx::query(crate::journal::SEQUENCE_OUTBOX)
            .execute(&mut **transaction)
            .await?;
        Ok(())
    }
}

impl PgStore {
    /// Inserts users for a bulk load, with their login keys: from
    /// [`sql::BULK_LOAD_MIN_USERS`] users on, by `COPY` (the rows as text, two statements in
    /// all); fewer, by [`PgStore::insert_user_values`]. An identifier another account, or
    /// another of these, holds fails the copy with a unique violation (Conflict `email`, as
    /// the caller maps it). The trigram index (`users_search_trgm_idx`, GIN) takes the rows
    /// into its pending list as they come; `refresh_statistics` (`VACUUM`) merges it.
    pub(crate) async fn bulk_insert_users(
        transaction: &mut Transaction<'static, Postgres>,
        users: &[User],
    ) -> Result<u64, TransactionError> {
        if users.len() < sql::BULK_LOAD_MIN_USERS {
            return Self::insert_user_values(transaction, users).await;
        }
        let mut rows = Vec::with_capacity(users.len() * 320);
        let mut keys = Vec::with_capacity(users.len() * 64);
        for user in users {
            copy_user_row(&mut rows, user);
            for (key, _) in codec::login_keys(user) {
                copy_text(&mut keys, Some(&key));
                copy_end(&mut keys, user.id.0);
            }
        }
        let inserted = copy_in(transaction, COPY_USERS, rows).await?;
        if !keys.is_empty() {
            copy_in(transaction, COPY_LOGIN_KEYS, keys).await?;
        }
        Ok(inserted)
    }
}

/// Sends `rows` (`COPY` text, whole lines) to a `COPY ... FROM STDIN` statement; the rows it
/// wrote.
async fn copy_in(
    transaction: &mut Transaction<'static, Postgres>,
    statement: &str,
    rows: Vec<u8>,
) -> Result<u64, sqlx::Error> {
    let mut copy = transaction.copy_in_raw(statement).await?;
    copy.send(rows).await?;
    copy.finish().await
}

/// The columns of [`copy_user_row`], as in `sql::INSERT_USERS_HEAD`.
const COPY_USERS: &str = "COPY users (id, email, email_verified, username, username_key, name, password_hash, \
     provider, role, active, avatar, bio, timezone, terms_version, terms_accepted_at, preferences, created_at, \
     updated_at, last_login_at, last_active_at, search_key, revision) FROM STDIN";
const COPY_LOGIN_KEYS: &str = "COPY login_keys (login_key, user_id) FROM STDIN";

/// One user as a line of `COPY ... FROM STDIN` text: the values `sql::INSERT_USERS_HEAD`
/// binds (`codec::UserParams`, then the revision), tab-separated.
fn copy_user_row(out: &mut Vec<u8>, user: &User) {
    let p = UserParams::new(user);
    let number = |out: &mut Vec<u8>, n: Option<i64>| match n {
        Some(n) => out.extend_from_slice(n.to_string().as_bytes()),
        None => out.extend_from_slice(b"\\N"),
    };
    let flag = |out: &mut Vec<u8>, b: bool| out.push(if b { b't' } else { b'f' });
    number(out, Some(p.id));
    out.push(b'\t');
    copy_text(out, p.email.as_deref());
    out.push(b'\t');
    flag(out, p.email_verified);
    out.push(b'\t');
    for text in [
        p.username.as_deref(),
        p.username_key.as_deref(),
        p.name.as_deref(),
        p.password_hash.as_deref(),
    ] {
        copy_text(out, text);
        out.push(b'\t');
    }
    copy_text(out, Some(&p.provider));
    out.push(b'\t');
    copy_text(out, Some(p.role));
    out.push(b'\t');
    flag(out, p.active);
    out.push(b'\t');
    for text in [
        p.avatar.as_deref(),
        p.bio.as_deref(),
        p.timezone.as_deref(),
        p.terms_version.as_deref(),
    ] {
        copy_text(out, text);
        out.push(b'\t');
    }
    number(out, p.terms_accepted_at);
    out.push(b'\t');
    copy_text(out, Some(&p.preferences.0.to_string()));
    out.push(b'\t');
    for n in [
        Some(p.created_at),
        Some(p.updated_at),
        p.last_login_at,
        p.last_active_at,
    ] {
        number(out, n);
        out.push(b'\t');
    }
    copy_text(out, Some(&p.search_key));
    copy_end(out, user.revision);
}

/// A text value of `COPY` text format: `\N` for none, and the backslash, tab, newline and
/// carriage return escaped (NUL never reaches here: `check_user_text` refuses it).
fn copy_text(out: &mut Vec<u8>, value: Option<&str>) {
    let Some(value) = value else {
        out.extend_from_slice(b"\\N");
        return;
    };
    for byte in value.bytes() {
        match byte {
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\t' => out.extend_from_slice(b"\\t"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            other => out.push(other),
        }
    }
}

/// The last value of a `COPY` line (a number) and the line's end.
fn copy_end(out: &mut Vec<u8>, last: i64) {
    out.push(b'\t');
    out.extend_from_slice(last.to_string().as_bytes());
    out.push(b'\n');
}

crate::capability::impl_store!(PgStore, Postgres);

/// The channel the change triggers notify (migration 0040).
pub(crate) const CHANGES_CHANNEL: &str = "roster_auth";
/// The heartbeat's payload (user ids are numbers; `*` means anything may have changed).
const PING: &str = "ping";

async fn ping_changes_channel(pool: PgPool) {
    while !pool.is_closed() {
        let ping = sqlx::query("SELECT pg_notify($1, $2)")
            .bind(CHANGES_CHANNEL)
            .bind(PING)
            .execute(&pool)
            .await;
        if let Err(error) = ping
            && !matches!(error, sqlx::Error::PoolClosed)
        {
            tracing::debug!(%error, "cannot ping the change channel");
        }
        tokio::time::sleep(HEARTBEAT_INTERVAL).await;
    }
}

async fn listen_for_changes(pool: &PgPool, changes: &AuthChanges) {
    loop {
        if pool.is_closed() {
            return;
        }
        let listener = async {
            let mut listener = sqlx::postgres::PgListener::connect_with(pool).await?;
            listener.listen(CHANGES_CHANNEL).await?;
            Ok::<_, sqlx::Error>(listener)
        };
        match listener.await {
            Ok(mut listener) => loop {
                match listener.try_recv().await {
                    Ok(Some(notice)) => match notice.payload() {
                        PING => changes.heartbeat(),
                        "*" => changes.changed_everything(),
                        id => match id.parse::<i64>() {
                            Ok(id) => changes.changed_user(UserId(id)),
                            Err(_) => changes.changed_everything(),
                        },
                    },
                    Ok(None) => {
                        changes.lost();
                        tracing::warn!(
                            "the change channel's connection was lost; checking the database on every request"
                        );
                        break;
                    }
                    Err(sqlx::Error::PoolClosed) => return,
                    Err(error) => {
                        changes.lost();
                        tracing::warn!(%error, "the change channel failed; checking the database on every request");
                        break;
                    }
                }
            },
            Err(sqlx::Error::PoolClosed) => return,
            Err(error) => {
                changes.lost();
                tracing::warn!(%error, "cannot listen for changes; checking the database on every request");
            }
        }
        tokio::time::sleep(HEARTBEAT_INTERVAL).await;
    }
}
