//! Opening, migrating, closing; readiness, failed transactions and NUL text.

use crate::common::*;

async fn migrations_run_twice(backend: Backend) {
    let f = roster_testkit::or_skip!(fixture(backend).await);
    let user = f.insert(&f.user(Some("stays@example.org"), None)).await;
    let again = f.db.store().await;
    assert_eq!(again.get_user(user.id).await.unwrap(), user);
    match backend {
        Backend::Sqlite => {
            let store = roster_store::SqliteStore::connect(&f.db.url).await.unwrap();
            store.migrate().await.unwrap();
            store.migrate().await.unwrap();
        }
        Backend::Postgres => {
            let store = roster_store::PgStore::connect(&f.db.url).await.unwrap();
            store.migrate().await.unwrap();
            store.migrate().await.unwrap();
        }
    }
    assert_eq!(again.count_users().await.unwrap(), 1);
    again.close().await;
}

async fn concurrent_open_on_fresh_database(backend: Backend) {
    let db = roster_testkit::or_skip!(TestDatabase::new(backend).await);
    let mut opening = tokio::task::JoinSet::new();
    for _ in 0..4 {
        let url = db.url.clone();
        opening.spawn(async move { roster_store::open(&url).await });
    }
    let mut stores: Vec<Arc<dyn Store>> = Vec::new();
    while let Some(opened) = opening.join_next().await {
        stores.push(opened.unwrap().unwrap());
    }
    let f = Fixture {
        store: stores[0].clone(),
        ids: IdGenerator::new(3),
        db,
    };
    let user = f.insert(&f.user(Some("one@example.org"), None)).await;
    for store in &stores {
        assert_eq!(store.get_user(user.id).await.unwrap(), user);
        store.close().await;
    }
}

async fn newer_database_is_refused(backend: Backend) {
    let f = roster_testkit::or_skip!(fixture(backend).await);
    f.store.close().await;
    let insert = "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
                  VALUES ($1, 'from the future', TRUE, $2, 0)";
    match backend {
        Backend::Sqlite => {
            let pool = sqlx::SqlitePool::connect(&f.db.url).await.unwrap();
            sqlx::query(insert)
                .bind(99_990_101_i64)
                .bind(vec![0u8; 48])
                .execute(&pool)
                .await
                .unwrap();
            pool.close().await;
        }
        Backend::Postgres => {
            let pool = sqlx::PgPool::connect(&f.db.url).await.unwrap();
            sqlx::query(insert)
                .bind(99_990_101_i64)
                .bind(vec![0u8; 48])
                .execute(&pool)
                .await
                .unwrap();
            pool.close().await;
        }
    }
    let error = roster_store::open(&f.db.url)
        .await
        .err()
        .expect("a newer database is refused");
    let message = format!("{error:#}");
    assert!(message.contains("newer Roster"), "{message}");
    assert!(message.contains("99990101"), "{message}");
}

async fn ping_and_close(backend: Backend) {
    let f = roster_testkit::or_skip!(fixture(backend).await);
    f.store.ping().await.unwrap();
    f.store.close().await;
    let after = f.store.ping().await;
    assert!(matches!(after, Err(StoreError::Unavailable(_))), "{after:?}");
    let insert = f
        .store
        .insert_user(&f.user(Some("late@example.org"), None), true, &NO_JOURNAL)
        .await;
    assert!(matches!(insert, Err(StoreError::Unavailable(_))), "{insert:?}");
}

/// A write whose transaction the database ended on its own (SQLite, as on a full disk: the
/// rollback then fails) or whose COMMIT failed (PostgreSQL, a deferred constraint) does not
/// leave its connection in the pool half inside a transaction: every later write succeeds.
async fn a_failed_transaction_leaves_the_pool_usable(backend: Backend) {
    let f = roster_testkit::or_skip!(fixture(backend).await);
    match backend {
        Backend::Sqlite => {
            let pool = sqlx::SqlitePool::connect(&f.db.url).await.unwrap();
            sqlx::query(
                "CREATE TRIGGER doomed BEFORE INSERT ON users WHEN NEW.email = 'doomed@example.org' \
                 BEGIN SELECT RAISE(ROLLBACK, 'doomed'); END",
            )
            .execute(&pool)
            .await
            .unwrap();
            pool.close().await;
        }
        Backend::Postgres => {
            let pool = sqlx::PgPool::connect(&f.db.url).await.unwrap();
            for statement in [
                "CREATE FUNCTION doomed() RETURNS trigger LANGUAGE plpgsql AS \
                 $$ BEGIN RAISE EXCEPTION 'doomed'; END $$",
                "CREATE CONSTRAINT TRIGGER doomed AFTER INSERT ON users DEFERRABLE INITIALLY DEFERRED \
                 FOR EACH ROW WHEN (NEW.email = 'doomed@example.org') EXECUTE FUNCTION doomed()",
            ] {
                sqlx::query(statement).execute(&pool).await.unwrap();
            }
            pool.close().await;
        }
    }
    for attempt in 0..3 {
        let doomed = f
            .store
            .insert_user(&f.user(Some("doomed@example.org"), None), false, &NO_JOURNAL)
            .await;
        assert!(doomed.is_err(), "attempt {attempt}: {doomed:?}");
    }
    // More writes than either pool has connections, so every connection is used again.
    for i in 0..20 {
        f.store
            .insert_user(
                &f.user(Some(&format!("after{i}@example.org")), None),
                false,
                &NO_JOURNAL,
            )
            .await
            .unwrap_or_else(|e| panic!("write {i} after the failed transaction: {e:?}"));
    }
    f.store.ping().await.unwrap();
    let gone = f.store.find_user_by_login("doomed@example.org").await;
    assert!(matches!(gone, Err(StoreError::NotFound)), "{gone:?}");
}

/// Readiness (`ping`, behind `/readyz`) proves the database can take a write, not only that
/// it answers: a database that refuses writes is not ready, and is again once it takes them.
async fn readiness_needs_a_writable_database(backend: Backend) {
    let f = roster_testkit::or_skip!(fixture(backend).await);
    // Polls `ping` until it gives the expected answer (SQLite reuses an answer for a second).
    async fn until_ready(store: &Arc<dyn Store>, ready: bool) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        loop {
            let ping = store.ping().await;
            if ping.is_ok() == ready {
                return;
            }
            assert!(std::time::Instant::now() < deadline, "ping stayed {ping:?}");
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
    }
    match backend {
        Backend::Sqlite => {
            // Every write refused, as a full disk would: the probe's own row included.
            let pool = sqlx::SqlitePool::connect(&f.db.url).await.unwrap();
            sqlx::query(
                "CREATE TRIGGER read_only BEFORE INSERT ON instance_state \
                 BEGIN SELECT RAISE(ABORT, 'read only'); END",
            )
            .execute(&pool)
            .await
            .unwrap();
            until_ready(&f.store, false).await;
            sqlx::query("DROP TRIGGER read_only").execute(&pool).await.unwrap();
            pool.close().await;
        }
        Backend::Postgres => {
            // A server that takes no writes (as a standby): new connections are read-only.
            use sqlx::Connection as _;
            let mut admin = sqlx::PgConnection::connect(&f.db.url).await.unwrap();
            let database: String = sqlx::query_scalar("SELECT current_database()")
                .fetch_one(&mut admin)
                .await
                .unwrap();
            let reconnect_all = "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity \
                                 WHERE datname = current_database() AND pid <> pg_backend_pid()";
            sqlx::query(&format!(
                r#"ALTER DATABASE "{database}" SET default_transaction_read_only = on"#
            ))
            .execute(&mut admin)
            .await
            .unwrap();
            sqlx::query(reconnect_all).execute(&mut admin).await.unwrap();
            until_ready(&f.store, false).await;
            let ping = f.store.ping().await;
            assert!(matches!(ping, Err(StoreError::Unavailable(_))), "{ping:?}");
            sqlx::query(&format!(
                r#"ALTER DATABASE "{database}" RESET default_transaction_read_only"#
            ))
            .execute(&mut admin)
            .await
            .unwrap();
            sqlx::query(reconnect_all).execute(&mut admin).await.unwrap();
            admin.close().await.unwrap();
        }
    }
    until_ready(&f.store, true).await;
    f.store
        .insert_user(&f.user(Some("writable@example.org"), None), false, &NO_JOURNAL)
        .await
        .unwrap();
}

/// Text with a NUL character, which PostgreSQL cannot store, is refused by both stores alike
/// with a typed error naming the field (not a database failure), and nothing is written.
async fn nul_text_is_refused_alike(backend: Backend) {
    let f = roster_testkit::or_skip!(fixture(backend).await);
    let existing = f
        .store
        .insert_user(&f.user(Some("kept@example.org"), Some("kept")), true, &NO_JOURNAL)
        .await
        .unwrap();
    let nul =
        |field: &'static str| move |e: StoreError| matches!(e, StoreError::InvalidText { field: f } if f == field);
    let mut user = f.user(Some("new@example.org"), None);
    user.bio = Some("a\0b".into());
    let e = f.store.insert_user(&user, false, &NO_JOURNAL).await.unwrap_err();
    assert!(nul("bio")(e));
    let mut user = f.user(Some("new@example.org"), None);
    user.preferences = json!({"ui": {"theme": ["dark", "a\0b"]}});
    let e = f.store.insert_user(&user, false, &NO_JOURNAL).await.unwrap_err();
    assert!(nul("preferences")(e));
    let user = f.user(Some("new\0@example.org"), None);
    let e = f
        .store
        .insert_users_with_tokens(std::slice::from_ref(&user), &[], &NO_JOURNAL)
        .await
        .unwrap_err();
    assert!(nul("email")(e));
    let mut changed = existing.clone();
    changed.name = Some("a\0b".into());
    let e = f.store.update_user(&changed, false, &NO_JOURNAL).await.unwrap_err();
    assert!(nul("name")(e));
    let e = f.store.find_user_by_login("a\0b").await.unwrap_err();
    assert!(nul("login")(e));
    let e = f.store.find_user_by_username("a\0b").await.unwrap_err();
    assert!(nul("username")(e));
    assert_eq!(f.store.count_users().await.unwrap(), 1);
    assert_eq!(f.store.get_user(existing.id).await.unwrap().name, existing.name);
}

backend_tests!(
    migrations_run_twice,
    concurrent_open_on_fresh_database,
    newer_database_is_refused,
    ping_and_close,
    a_failed_transaction_leaves_the_pool_usable,
    readiness_needs_a_writable_database,
    nul_text_is_refused_alike,
);
