//! `roster backup`, `roster restore` and `roster copy`: the real binary against test databases,
//! the results checked through a Roster serving the restored or copied database (users sign
//! in, keys work, two-factor works with the same secret key) and table by table.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use roster_core::Role;
use roster_core::service::NewUser;
use roster_store::transfer::NOT_DATA;
use roster_testkit::app::{TestApp, spawn_app_on};
use roster_testkit::{Backend, TestDatabase, backend_tests};
use serde_json::json;
use sqlx::Connection as _;
use std::collections::BTreeMap;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

const BIN: &str = env!("CARGO_BIN_EXE_roster");

#[derive(Debug)]
struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Run {
    #[track_caller]
    fn ok(&self) -> &Self {
        assert_eq!(self.code, 0, "{self:?}");
        self
    }
}

/// Runs `roster ARGS` with `url` as its database.
fn roster(url: &str, args: &[&str]) -> Run {
    let out = Command::new(BIN)
        .env_clear()
        .env("ROSTER_DATABASE_URL", url)
        .env("ROSTER_PUBLIC_URL", "https://roster.example.org/")
        .env("ROSTER_SECRET_KEY", roster_testkit::app::TEST_SECRET_KEY)
        .current_dir(std::env::temp_dir())
        .args(args)
        .output()
        .unwrap();
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// The `table: rows` lines a transfer command prints.
fn printed_counts(out: &str) -> BTreeMap<String, i64> {
    out.lines()
        .filter_map(|l| l.split_once(": "))
        .filter_map(|(t, n)| Some((t.to_string(), n.trim().parse().ok()?)))
        .collect()
}

/// A user the test can sign in as.
#[derive(Debug, Clone)]
struct Account {
    email: String,
    password: String,
    key: Option<String>,
    totp: Option<Vec<u8>>,
}

/// Fills a deployment: an admin and users with API keys and sessions, one with two-factor,
/// a group, a webhook, an OpenID Connect client, a tier, a badge, a balance (and with them
/// audit entries and outbox events).
async fn populate(app: &TestApp) -> Vec<Account> {
    let admin = app.admin().await;
    let mut accounts = Vec::new();
    for role in [Role::User, Role::User, Role::User] {
        let user = app.user(role).await;
        let key = app.api_key(&user, &[]).await;
        accounts.push(Account {
            email: user.email.clone(),
            password: user.password.clone(),
            key: Some(key),
            totp: None,
        });
    }
    // Two-factor for the last one.
    let last = app.login(&accounts[2].email, &accounts[2].password).await;
    let token = last.body["access_token"].as_str().unwrap().to_string();
    let setup = app.post("/v1/me/2fa/setup", Some(&token), &json!({})).await;
    setup.assert_status(200);
    let secret = base32(setup.body["secret"].as_str().unwrap());
    app.post(
        "/v1/me/2fa/confirm",
        Some(&token),
        &json!({"code": totp(app, &secret, 0)}),
    )
    .await
    .assert_status(200);
    app.advance(roster_core::time::Duration::seconds(30));
    accounts[2].totp = Some(secret);
    app.post("/v1/groups", Some(&admin.access_token), &json!({"name": "staff"}))
        .await
        .assert_status(201);
    let url = &app.db.url;
    roster(url, &["webhooks", "add", "https://hooks.example.org/in"]).ok();
    roster(
        url,
        &[
            "clients",
            "add",
            "chat",
            "--redirect-uri",
            "https://chat.example.org/cb",
        ],
    )
    .ok();
    roster(url, &["tier", "set", "gold", "--limit", "requests=5"]).ok();
    roster(url, &["badge", "add", &accounts[0].email, "staff"]).ok();
    roster(url, &["add-balance", &accounts[1].email, "5000"]).ok();
    accounts.push(Account {
        email: admin.email.clone(),
        password: admin.password.clone(),
        key: None,
        totp: None,
    });
    accounts
}

fn base32(text: &str) -> Vec<u8> {
    roster_core::two_factor::decode_base32(text).unwrap()
}

fn totp(app: &TestApp, secret: &[u8], delta: i64) -> String {
    use roster_core::Clock;
    use roster_core::two_factor::{code_at, step_at};
    code_at(secret, step_at(app.clock.now()) + delta)
}

/// Every account signs in on `app` (with its second factor), and every key works.
async fn everyone_signs_in(app: &TestApp, accounts: &[Account]) {
    // Past the time step whose code confirmed two-factor (a used step is refused).
    app.advance(roster_core::time::Duration::seconds(60));
    for account in accounts {
        let r = app.login(&account.email, &account.password).await;
        r.assert_status(200);
        if let Some(secret) = &account.totp {
            assert_eq!(r.body["two_factor_required"], true, "{}", r.text);
            let challenge = r.body["challenge"].as_str().unwrap();
            app.post(
                "/v1/auth/login/2fa",
                None,
                &json!({"challenge": challenge, "code": totp(app, secret, 0)}),
            )
            .await
            .assert_status(200);
        } else {
            assert!(r.body["access_token"].is_string(), "{}: {}", account.email, r.text);
        }
        if let Some(key) = &account.key {
            app.get("/v1/me", Some(key)).await.assert_status(200);
        }
    }
}

/// Every table's rows, as text, sorted (JSON documents compared as documents).
async fn contents(url: &str) -> BTreeMap<String, Vec<Vec<String>>> {
    let tables = catalogue(url).await;
    let mut out = BTreeMap::new();
    if url.starts_with("sqlite") {
        let mut c = sqlx::SqliteConnection::connect(url).await.unwrap();
        for table in tables {
            let columns: Vec<String> = sqlx::query_scalar("SELECT name FROM pragma_table_info($1) ORDER BY cid")
                .bind(&table)
                .fetch_all(&mut c)
                .await
                .unwrap();
            let select: Vec<String> = columns.iter().map(|c| format!("quote(\"{c}\")")).collect();
            let rows = sqlx::query(&format!("SELECT {} FROM \"{table}\"", select.join(", ")))
                .fetch_all(&mut c)
                .await
                .unwrap();
            let mut rows: Vec<Vec<String>> = rows
                .iter()
                .map(|row| {
                    use sqlx::Row as _;
                    (0..columns.len())
                        .map(|i| normalise(&row.get::<String, _>(i)))
                        .collect()
                })
                .collect();
            rows.sort();
            out.insert(table, rows);
        }
    } else {
        let mut c = sqlx::PgConnection::connect(url).await.unwrap();
        for table in tables {
            let n: i64 = sqlx::query_scalar(&format!("SELECT COUNT(*) FROM \"{table}\""))
                .fetch_one(&mut c)
                .await
                .unwrap();
            out.insert(table, vec![vec![n.to_string()]; 1]);
        }
    }
    out
}

/// A quoted SQLite literal holding a JSON document, re-serialised (PostgreSQL's jsonb spaces
/// and orders keys its own way).
fn normalise(literal: &str) -> String {
    if let Some(inner) = literal.strip_prefix('\'').and_then(|l| l.strip_suffix('\''))
        && (inner.starts_with('{') || inner.starts_with('['))
        && let Ok(doc) = serde_json::from_str::<serde_json::Value>(&inner.replace("''", "'"))
    {
        return doc.to_string();
    }
    literal.to_string()
}

/// The data tables as the test reads the catalogue: everything but sqlx's migrations table and
/// the credential cache's change count (`NOT_DATA`), SQLite's own tables and SQLite's
/// full-text index (`users_search` and its shadow tables).
async fn catalogue(url: &str) -> Vec<String> {
    let mut tables: Vec<String> = if url.starts_with("sqlite") {
        let mut c = sqlx::SqliteConnection::connect(url).await.unwrap();
        sqlx::query_scalar(&format!(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' \
                 AND name NOT IN {NOT_DATA} AND name NOT LIKE 'users_search%'"
        ))
        .fetch_all(&mut c)
        .await
        .unwrap()
    } else {
        let mut c = sqlx::PgConnection::connect(url).await.unwrap();
        sqlx::query_scalar(&format!(
            "SELECT table_name::text FROM information_schema.tables WHERE table_schema = current_schema() \
                 AND table_type = 'BASE TABLE' AND table_name NOT IN {NOT_DATA}"
        ))
        .fetch_all(&mut c)
        .await
        .unwrap()
    };
    tables.sort();
    tables
}

async fn row_counts(url: &str) -> BTreeMap<String, i64> {
    let mut out = BTreeMap::new();
    for table in catalogue(url).await {
        let sql = format!("SELECT COUNT(*) FROM \"{table}\"");
        let n: i64 = if url.starts_with("sqlite") {
            let mut c = sqlx::SqliteConnection::connect(url).await.unwrap();
            sqlx::query_scalar(&sql).fetch_one(&mut c).await.unwrap()
        } else {
            let mut c = sqlx::PgConnection::connect(url).await.unwrap();
            sqlx::query_scalar(&sql).fetch_one(&mut c).await.unwrap()
        };
        out.insert(table, n);
    }
    out
}

/// A migrated, empty database of `backend` (None: PostgreSQL skipped).
async fn fresh(backend: Backend) -> Option<TestDatabase> {
    TestDatabase::new(backend).await
}

async fn backup_under_writes_then_restore(backend: Backend) {
    let db = roster_testkit::or_skip!(fresh(backend).await);
    let app = Arc::new(spawn_app_on(db).await);
    let mut accounts = populate(&app).await;

    // A write load: users created one after another until the backup is done.
    let created: Arc<Mutex<Vec<Account>>> = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let load = {
        let (app, created, stop) = (app.clone(), created.clone(), stop.clone());
        tokio::spawn(async move {
            let mut i = 0;
            while !stop.load(Ordering::Relaxed) {
                let email = format!("load{i}@example.org");
                let password = format!("password-load-{i}");
                app.core
                    .create_user(
                        app.core.operator(),
                        NewUser {
                            email: Some(email.clone()),
                            password: Some(password.clone()),
                            ..NewUser::default()
                        },
                    )
                    .await
                    .unwrap();
                created.lock().unwrap().push(Account {
                    email,
                    password,
                    key: None,
                    totp: None,
                });
                i += 1;
            }
        })
    };
    // Wait until the load has written, then back up while it goes on.
    while created.lock().unwrap().len() < 3 {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("roster.backup");
    let file_arg = file.to_str().unwrap().to_string();
    let url = app.db.url.clone();
    let backup = tokio::task::spawn_blocking(move || roster(&url, &["backup", &file_arg]))
        .await
        .unwrap();
    backup.ok();
    stop.store(true, Ordering::Relaxed);
    load.await.unwrap();
    assert!(!dir.path().join("roster.backup.partial").exists());

    // Restore into a fresh database of the same kind.
    let target = fresh(backend).await.unwrap();
    let restored = roster(&target.url, &["restore", file.to_str().unwrap()]);
    restored.ok();
    let printed = printed_counts(&restored.stdout);
    let counts = row_counts(&target.url).await;
    for (table, n) in &counts {
        assert_eq!(printed.get(table), Some(n), "{table}: {}", restored.stdout);
    }
    if backend == Backend::Postgres {
        // The dump's own counts are the ones restored.
        let dumped = printed_counts(&backup.stdout);
        assert_eq!(dumped, printed, "{}", backup.stdout);
        // A dump without its last line is refused, and nothing is written.
        let cut = dir.path().join("cut.backup");
        let status = Command::new("sh")
            .arg("-c")
            .arg(format!(
                "gzip -dc '{}' | sed '$d' | gzip > '{}'",
                file.display(),
                cut.display()
            ))
            .status()
            .unwrap();
        assert!(status.success());
        let empty = fresh(backend).await.unwrap();
        let refused = roster(&empty.url, &["restore", cut.to_str().unwrap()]);
        assert_eq!(refused.code, 1, "{refused:?}");
        assert!(refused.stderr.contains("truncated"), "{refused:?}");
        assert_eq!(row_counts(&empty.url).await["users"], 0);
    }

    // Every user in the backup signs in on a Roster over the restored database.
    let restored_app = spawn_app_on(target).await;
    let load_accounts = created.lock().unwrap().clone();
    let emails = restored_emails(&restored_app.db.url).await;
    // The snapshot holds the load's users up to some point, and none after it.
    let kept = load_accounts.iter().take_while(|a| emails.contains(&a.email)).count();
    assert!(kept >= 3, "{kept}");
    assert!(load_accounts[kept..].iter().all(|a| !emails.contains(&a.email)));
    assert_eq!(counts["users"] as usize, 4 + kept, "{counts:?}");
    accounts.extend(load_accounts.into_iter().take(kept));
    everyone_signs_in(&restored_app, &accounts).await;

    // A database with data is refused, naming a table that has rows.
    let again = roster(&restored_app.db.url, &["restore", file.to_str().unwrap()]);
    assert_eq!(again.code, 1, "{again:?}");
    assert!(again.stderr.contains("not empty"), "{again:?}");
    // So is a file that exists.
    let over = roster(&app.db.url, &["backup", file.to_str().unwrap()]);
    assert_eq!(over.code, 1, "{over:?}");
    assert!(over.stderr.contains("exists"), "{over:?}");
}

async fn restored_emails(url: &str) -> Vec<String> {
    let sql = "SELECT email FROM users";
    if url.starts_with("sqlite") {
        let mut c = sqlx::SqliteConnection::connect(url).await.unwrap();
        sqlx::query_scalar(sql).fetch_all(&mut c).await.unwrap()
    } else {
        let mut c = sqlx::PgConnection::connect(url).await.unwrap();
        sqlx::query_scalar(sql).fetch_all(&mut c).await.unwrap()
    }
}

backend_tests!(backup_under_writes_then_restore);

/// SQLite → PostgreSQL → SQLite: every table the same, row by row; the PostgreSQL copy serves.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn copy_sqlite_to_postgres_and_back() {
    let postgres = roster_testkit::or_skip!(fresh(Backend::Postgres).await);
    let source = spawn_app_on(fresh(Backend::Sqlite).await.unwrap()).await;
    let accounts = populate(&source).await;
    let back = fresh(Backend::Sqlite).await.unwrap();
    // Rows in the tables whose ids PostgreSQL takes from a sequence.
    {
        let mut c = sqlx::SqliteConnection::connect(&source.db.url).await.unwrap();
        sqlx::raw_sql(
            "INSERT INTO webhook_deliveries (id, subscription_id, event_seq, event_id, event_type, subject_id, \
               status, attempts, next_attempt_at, created_at) \
               SELECT 41, id, 1, 1, 'user.created', 1, 'delivered', 1, 0, 0 FROM webhook_subscriptions; \
             INSERT INTO oidc_logouts (id, client_id, user_id, sid, status, attempts, next_attempt_at, created_at) \
               VALUES (7, 'chat', 1, 1, 'delivered', 1, 0, 0);",
        )
        .execute(&mut c)
        .await
        .unwrap();
    }

    let there = roster(
        &source.db.url,
        &["copy", "--from", &source.db.url, "--to", &postgres.url],
    );
    there.ok();
    let back_again = roster(&source.db.url, &["copy", "--from", &postgres.url, "--to", &back.url]);
    back_again.ok();

    let original = contents(&source.db.url).await;
    assert!(
        original.values().filter(|rows| !rows.is_empty()).count() >= 15,
        "{original:?}"
    );
    assert_eq!(original, contents(&back.url).await);
    let in_postgres = row_counts(&postgres.url).await;
    let in_sqlite = row_counts(&source.db.url).await;
    assert_eq!(in_postgres, in_sqlite);

    // PostgreSQL's sequences are past the copied rows: new rows get new ids.
    {
        let mut c = sqlx::PgConnection::connect(&postgres.url).await.unwrap();
        let next: (i64, i64) = sqlx::query_as(
            "SELECT nextval(pg_get_serial_sequence('webhook_deliveries', 'id')), \
                    nextval(pg_get_serial_sequence('oidc_logouts', 'id'))",
        )
        .fetch_one(&mut c)
        .await
        .unwrap();
        assert_eq!(next, (42, 8));
    }
    let pg_app = spawn_app_on(postgres).await;
    everyone_signs_in(&pg_app, &accounts).await;
    roster(&pg_app.db.url, &["webhooks", "add", "https://hooks.example.org/second"]).ok();
    let sqlite_app = spawn_app_on(back).await;
    everyone_signs_in(&sqlite_app, &accounts).await;
}

/// The tables moved are every table of both schemas: a table a migration adds is moved (or,
/// with a column type copying does not know, the copy fails) rather than skipped.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_table_is_moved_on_both_backends() {
    let postgres = roster_testkit::or_skip!(fresh(Backend::Postgres).await);
    let sqlite = fresh(Backend::Sqlite).await.unwrap();
    for db in [&sqlite, &postgres] {
        roster_store::open(&db.url).await.unwrap().close().await;
    }
    let mut on_sqlite = roster_store::transfer::tables(&sqlite.url).await.unwrap();
    let mut on_postgres = roster_store::transfer::tables(&postgres.url).await.unwrap();
    on_sqlite.sort();
    on_postgres.sort();
    assert_eq!(on_sqlite, catalogue(&sqlite.url).await);
    assert_eq!(on_postgres, catalogue(&postgres.url).await);
    assert_eq!(on_sqlite, on_postgres);
}

/// A copy into a database with data, or from a database with other migrations, writes nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn copy_refuses_a_target_with_data() {
    let source = spawn_app_on(fresh(Backend::Sqlite).await.unwrap()).await;
    source.admin().await;
    let target = spawn_app_on(fresh(Backend::Sqlite).await.unwrap()).await;
    target.admin().await;
    let before = row_counts(&target.db.url).await;
    let r = roster(
        &source.db.url,
        &["copy", "--from", &source.db.url, "--to", &target.db.url],
    );
    assert_eq!(r.code, 1, "{r:?}");
    assert!(r.stderr.contains("not empty") && r.stderr.contains("table"), "{r:?}");
    assert_eq!(before, row_counts(&target.db.url).await);
}
