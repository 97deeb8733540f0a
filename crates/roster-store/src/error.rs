//! Maps sqlx errors to the store's error kinds. Decides by error kind and code, never by
//! constraint name (SQLite does not report names); no policy here.

use roster_core::StoreError;
use sqlx::error::{DatabaseError, ErrorKind};

/// A failure inside a write transaction: a database error still to be classified (a unique
/// violation may need a look-up to name the field), or an outcome already decided.
#[derive(Debug)]
pub(crate) enum TransactionError {
    Database(sqlx::Error),
    Store(StoreError),
}

impl From<sqlx::Error> for TransactionError {
    fn from(error: sqlx::Error) -> Self {
        TransactionError::Database(error)
    }
}

impl From<StoreError> for TransactionError {
    fn from(error: StoreError) -> Self {
        TransactionError::Store(error)
    }
}

impl From<TransactionError> for StoreError {
    fn from(error: TransactionError) -> Self {
        match error {
            TransactionError::Database(e) => store_error(e),
            TransactionError::Store(e) => e,
        }
    }
}

/// Whether the error is a violated unique (or primary key) constraint.
pub(crate) fn is_unique_violation(error: &sqlx::Error) -> bool {
    matches!(error, sqlx::Error::Database(e) if e.kind() == ErrorKind::UniqueViolation)
}

/// Classifies a database error. A unique violation that reaches this point is not on a user
/// field (those are resolved by look-up first) and is reported as a conflict on `id`.
pub(crate) fn store_error(error: sqlx::Error) -> StoreError {
    match &error {
        sqlx::Error::RowNotFound => StoreError::NotFound,
        sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::WorkerCrashed => StoreError::Unavailable(error.into()),
        sqlx::Error::Database(database) => match database.kind() {
            ErrorKind::UniqueViolation => StoreError::Conflict { field: "id" },
            // A row refers to a parent that does not exist (e.g. a session for a deleted user).
            ErrorKind::ForeignKeyViolation => StoreError::NotFound,
            // PostgreSQL refused a NUL character in `text` (22021) or in `jsonb` (22P05): a
            // value no check before named (the user's columns are checked by name first).
            _ if matches!(database.code().as_deref(), Some("22021" | "22P05")) => {
                StoreError::InvalidText { field: "text" }
            }
            _ if is_transient(database.as_ref()) => StoreError::Unavailable(error.into()),
            _ => StoreError::Other(error.into()),
        },
        _ => StoreError::Other(error.into()),
    }
}

/// Whether a connection coming back to (or leaving) a pool may be used again: not if it is
/// still inside a transaction after its queued work has run. A transaction whose COMMIT or
/// ROLLBACK failed leaves sqlx's transaction depth above zero (SQLite may already have ended
/// the transaction itself, on a full disk for one), and every later `BEGIN` on that
/// connection would fail; such a connection is closed and the pool opens a fresh one.
pub(crate) async fn is_reusable<C: sqlx::Connection>(connection: &mut C, backend: &str) -> Result<bool, sqlx::Error> {
    if !connection.is_in_transaction() {
        return Ok(true);
    }
    // A dropped transaction queues its rollback for the connection's next use: run it.
    connection.ping().await?;
    if connection.is_in_transaction() {
        tracing::warn!(
            backend,
            "closing a database connection left inside a transaction (its commit or rollback failed)"
        );
        return Ok(false);
    }
    Ok(true)
}

/// Whether SQLite answered "database is locked" (`SQLITE_BUSY`, any extended code).
pub(crate) fn is_sqlite_busy(error: &sqlx::Error) -> bool {
    match error {
        sqlx::Error::Database(e) if e.try_downcast_ref::<sqlx::sqlite::SqliteError>().is_some() => e
            .code()
            .and_then(|c| c.parse::<i64>().ok())
            .is_some_and(|c| c & 0xff == 5),
        _ => false,
    }
}

/// Errors that say the database cannot serve right now rather than that the request is wrong.
fn is_transient(error: &dyn DatabaseError) -> bool {
    if let Some(pg) = error.try_downcast_ref::<sqlx::postgres::PgDatabaseError>() {
        let code = pg.code();
        // connection exceptions, shutdowns, "cannot connect now", insufficient resources
        // (a full disk, too many connections), a read-only server (a standby)
        return code.starts_with("08") || code.starts_with("57P") || code.starts_with("53") || code == "25006";
    }
    if error.try_downcast_ref::<sqlx::sqlite::SqliteError>().is_some() {
        // SQLITE_BUSY and SQLITE_LOCKED, with their extended codes, after the busy timeout;
        // SQLITE_FULL, a full disk, until space is freed.
        let primary = error.code().and_then(|c| c.parse::<i64>().ok()).map(|c| c & 0xff);
        return matches!(primary, Some(5 | 6 | 13));
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pool_errors_are_unavailable() {
        assert!(matches!(
            store_error(sqlx::Error::PoolTimedOut),
            StoreError::Unavailable(_)
        ));
        assert!(matches!(
            store_error(sqlx::Error::PoolClosed),
            StoreError::Unavailable(_)
        ));
        assert!(matches!(store_error(sqlx::Error::RowNotFound), StoreError::NotFound));
        assert!(matches!(
            store_error(sqlx::Error::Protocol("x".into())),
            StoreError::Other(_)
        ));
    }
}
