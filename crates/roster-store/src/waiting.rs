//! How many acquisitions of a pool's connections are waiting now: a counter raised before
//! each acquire and lowered when it returns (or is dropped), read by the metrics
//! (`roster_db_connections{state="waiting"}`). sqlx keeps no such count of its own. Reads go
//! through [`Counted`], a pool as an executor whose acquisitions are counted; write
//! transactions through [`Waiting::begin`].

use futures_util::{StreamExt, TryStreamExt};
use sqlx::pool::PoolConnection;
use sqlx::{Database, Execute, Executor, Pool, Transaction};
use std::borrow::Cow;
use std::sync::atomic::{AtomicU32, Ordering};

/// The acquisitions of one pool waiting now.
#[derive(Debug, Default)]
pub(crate) struct Waiting(AtomicU32);

/// Lowers the count when the acquisition ends, however it ends (done, failed or dropped).
struct Lower<'a>(&'a AtomicU32);

impl Drop for Lower<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Waiting {
    /// How many wait now.
    pub(crate) fn now(&self) -> u32 {
        self.0.load(Ordering::Relaxed)
    }

    /// A connection of `pool`, counted while it is awaited.
    pub(crate) async fn acquire<DB: Database>(&self, pool: &Pool<DB>) -> Result<PoolConnection<DB>, sqlx::Error> {
        self.0.fetch_add(1, Ordering::Relaxed);
        let _lower = Lower(&self.0);
        pool.acquire().await
    }

    /// A transaction on a connection of `pool` (counted while the connection is awaited)
    /// started with `statement` (None: the backend's `BEGIN`).
    pub(crate) async fn begin<DB: Database>(
        &self,
        pool: &Pool<DB>,
        statement: Option<&'static str>,
    ) -> Result<Transaction<'static, DB>, sqlx::Error> {
        let connection = self.acquire(pool).await?;
        Transaction::begin(connection, statement.map(Cow::Borrowed)).await
    }
}

/// A pool as an executor whose every acquisition is counted in its [`Waiting`].
#[derive(Debug)]
pub(crate) struct Counted<'p, DB: Database> {
    pub(crate) pool: &'p Pool<DB>,
    pub(crate) waiting: &'p Waiting,
}

impl<DB: Database> Clone for Counted<'_, DB> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<DB: Database> Copy for Counted<'_, DB> {}

impl<'p, DB: Database> Executor<'p> for Counted<'p, DB>
where
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
{
    type Database = DB;

    /// The rows are read whole before they are streamed (the store reads bounded pages).
    fn fetch_many<'e, 'q: 'e, E>(
        self,
        query: E,
    ) -> futures_core::stream::BoxStream<'e, Result<sqlx::Either<DB::QueryResult, DB::Row>, sqlx::Error>>
    where
        E: 'q + Execute<'q, DB>,
        'p: 'e,
    {
        let rows = async move {
            let mut connection = self.waiting.acquire(self.pool).await?;
            connection.fetch_many(query).try_collect::<Vec<_>>().await
        };
        futures_util::stream::once(rows)
            .map_ok(|rows| futures_util::stream::iter(rows.into_iter().map(Ok)))
            .try_flatten()
            .boxed()
    }

    fn fetch_optional<'e, 'q: 'e, E>(
        self,
        query: E,
    ) -> futures_core::future::BoxFuture<'e, Result<Option<DB::Row>, sqlx::Error>>
    where
        E: 'q + Execute<'q, DB>,
        'p: 'e,
    {
        Box::pin(async move { self.waiting.acquire(self.pool).await?.fetch_optional(query).await })
    }

    fn prepare_with<'e, 'q: 'e>(
        self,
        sql: &'q str,
        parameters: &'e [DB::TypeInfo],
    ) -> futures_core::future::BoxFuture<'e, Result<DB::Statement<'q>, sqlx::Error>>
    where
        'p: 'e,
    {
        Box::pin(async move {
            self.waiting
                .acquire(self.pool)
                .await?
                .prepare_with(sql, parameters)
                .await
        })
    }

    fn describe<'e, 'q: 'e>(
        self,
        sql: &'q str,
    ) -> futures_core::future::BoxFuture<'e, Result<sqlx::Describe<DB>, sqlx::Error>>
    where
        'p: 'e,
    {
        Box::pin(async move { self.waiting.acquire(self.pool).await?.describe(sql).await })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;
    use roster_testkit::{Backend, TestDatabase, backend_tests};
    use sqlx::pool::PoolOptions;

    /// With the pool's one connection held, an acquisition waits and is counted (through the
    /// executor and through `begin`), and is no longer once it got the connection or was
    /// given up.
    async fn check<DB: Database>(url: &str)
    where
        for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
        for<'q> <DB as Database>::Arguments<'q>: sqlx::IntoArguments<'q, DB>,
        i64: for<'r> sqlx::Decode<'r, DB> + sqlx::Type<DB>,
        usize: sqlx::ColumnIndex<DB::Row>,
    {
        let pool: Pool<DB> = PoolOptions::new().max_connections(1).connect(url).await.unwrap();
        let waiting = Waiting::default();
        let held = waiting.acquire(&pool).await.unwrap();
        assert_eq!(
            waiting.now(),
            0,
            "an acquisition that got its connection no longer waits"
        );

        let counted = Counted {
            pool: &pool,
            waiting: &waiting,
        };
        let read = sqlx::query_scalar::<DB, i64>("SELECT CAST(1 AS BIGINT)").fetch_one(counted);
        let mut read = std::pin::pin!(read);
        assert!(
            poll_once(read.as_mut()).await.is_pending(),
            "the held connection was given"
        );
        assert_eq!(waiting.now(), 1);
        {
            let begin = waiting.begin(&pool, None);
            let mut begin = std::pin::pin!(begin);
            assert!(poll_once(begin.as_mut()).await.is_pending());
            assert_eq!(waiting.now(), 2);
        }
        assert_eq!(waiting.now(), 1, "a dropped acquisition is no longer counted");

        drop(held);
        assert_eq!(read.await.unwrap(), 1);
        assert_eq!(waiting.now(), 0);
        pool.close().await;
    }

    /// Polls `future` once.
    async fn poll_once<F: std::future::Future>(mut future: std::pin::Pin<&mut F>) -> std::task::Poll<F::Output> {
        std::future::poll_fn(|cx| std::task::Poll::Ready(future.as_mut().poll(cx))).await
    }

    async fn acquisitions_waiting_are_counted(backend: Backend) {
        let db = roster_testkit::or_skip!(TestDatabase::new(backend).await);
        match backend {
            Backend::Sqlite => check::<sqlx::Sqlite>(&format!("{}?mode=rwc", db.url)).await,
            Backend::Postgres => check::<sqlx::Postgres>(&db.url).await,
        }
    }

    backend_tests!(acquisitions_waiting_are_counted);
}
