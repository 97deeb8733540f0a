//! Crash consistency: the real `roster` process is killed with SIGKILL in the middle of a bulk
//! import, of a burst of user deletions and of a burst of password resets. After each kill
//! every user is either wholly there or wholly gone (no orphan session, key, membership or
//! link; no reset half applied), and running the job again finishes it. On SQLite and
//! PostgreSQL.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use roster_core::service::{NewApiKey, NewUser};
use roster_core::time::Duration;
use roster_core::{Core, CoreConfig, ManualClock, Role, UserId};
use roster_testkit::process::{ServerProcess, free_port, wait_ready};
use roster_testkit::{Backend, TestDatabase, backend_tests};
use serde_json::json;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Instant;

const BIN: &str = env!("CARGO_BIN_EXE_roster");
/// A bcrypt hash (cost 4), so that imports spend their time writing, not hashing.
const BCRYPT: &str = "$2b$04$abcdefghijklmnopqrstuuAbCdEfGhIjKlMnOpQrStUvWxYz01234";

fn roster(db: &TestDatabase, data: &std::path::Path, args: &[&str]) -> Command {
    let mut command = Command::new(BIN);
    command
        .env_clear()
        .env("RUST_LOG", "warn")
        .env("ROSTER_DATABASE_URL", &db.url)
        .env("ROSTER_DATA_DIR", data)
        .current_dir(data)
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    command
}

/// SIGKILL: no shutdown, no flushing, no rollback but the database's own.
fn kill9(child: &mut Child) {
    Command::new("kill")
        .args(["-KILL", &child.id().to_string()])
        .stderr(Stdio::null())
        .status()
        .unwrap();
    let _ = child.wait();
}

/// One number from the database (a count).
async fn scalar(db: &TestDatabase, sql: &str) -> i64 {
    match db.backend {
        Backend::Sqlite => {
            let pool = sqlx::SqlitePool::connect(&db.url).await.unwrap();
            let v: i64 = sqlx::query_scalar(sql).fetch_one(&pool).await.unwrap();
            pool.close().await;
            v
        }
        Backend::Postgres => {
            let pool = sqlx::PgPool::connect(&db.url).await.unwrap();
            let v: i64 = sqlx::query_scalar(sql).fetch_one(&pool).await.unwrap();
            pool.close().await;
            v
        }
    }
}

/// Rows that belong to no user: must always be none.
async fn assert_no_orphans(db: &TestDatabase, when: &str) {
    for (table, column) in [
        ("sessions", "user_id"),
        ("api_keys", "user_id"),
        ("group_members", "user_id"),
        ("account_tokens", "user_id"),
    ] {
        let n = scalar(
            db,
            &format!(
                "SELECT COUNT(*) FROM {table} t WHERE t.{column} IS NOT NULL \
                 AND NOT EXISTS (SELECT 1 FROM users u WHERE u.id = t.{column})"
            ),
        )
        .await;
        assert_eq!(n, 0, "{n} orphan rows in {table} {when}");
    }
}

async fn core_on(db: &TestDatabase) -> Arc<Core> {
    let config = CoreConfig {
        hash_concurrency: 4,
        ..CoreConfig::default()
    };
    let clock = Arc::new(ManualClock::new(roster_core::time::OffsetDateTime::now_utc()));
    Arc::new(Core::new(db.store().await, clock, config).await.unwrap())
}

/// Imported accounts that are not whole: a passwordless account without its set-password
/// link, or a row missing what its record gave.
async fn broken_imports(db: &TestDatabase) -> i64 {
    scalar(
        db,
        "SELECT COUNT(*) FROM users u WHERE u.email LIKE '%@import.example' AND ( \
           (u.password_hash IS NULL AND NOT EXISTS (SELECT 1 FROM account_tokens t \
              WHERE t.user_id = u.id AND t.kind = 'password_reset')) \
           OR u.name IS NULL OR u.name NOT LIKE 'Imported %')",
    )
    .await
}

async fn imported(db: &TestDatabase) -> i64 {
    scalar(db, "SELECT COUNT(*) FROM users WHERE email LIKE '%@import.example'").await
}

/// Kills `roster import-users` at three points of a 3000-record import, checking after each
/// kill; then a run to the end imports everything once.
async fn import_killed_midway(backend: Backend) {
    let db = roster_testkit::or_skip!(TestDatabase::new(backend).await);
    // Migrated before the first run, which is then killed while it writes users.
    drop(db.store().await);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("users.jsonl");
    let total = 3000;
    let mut lines = String::new();
    for i in 0..total {
        // Every third record has no password: its account gets a set-password link.
        let record = if i % 3 == 0 {
            json!({"email": format!("u{i}@import.example"), "name": format!("Imported {i}")})
        } else {
            json!({"email": format!("u{i}@import.example"), "name": format!("Imported {i}"), "password_hash": BCRYPT})
        };
        lines.push_str(&record.to_string());
        lines.push('\n');
    }
    std::fs::write(&file, lines).unwrap();
    let file = file.to_str().unwrap();
    let mut kills = 0;
    for extra_ms in [0u64, 40, 150] {
        let before = imported(&db).await;
        let mut child = roster(&db, dir.path(), &["import-users", file]).spawn().unwrap();
        // Wait for this run to write something, then kill it a little later.
        let deadline = Instant::now() + std::time::Duration::from_secs(60);
        while imported(&db).await == before && Instant::now() < deadline {
            if child.try_wait().unwrap().is_some() {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        tokio::time::sleep(std::time::Duration::from_millis(extra_ms)).await;
        if child.try_wait().unwrap().is_none() {
            kills += 1;
        }
        kill9(&mut child);
        assert_no_orphans(&db, "after killing an import").await;
        let broken = broken_imports(&db).await;
        assert_eq!(
            broken,
            0,
            "{broken} half-imported accounts after a kill ({} imported)",
            imported(&db).await
        );
    }
    assert!(kills > 0, "no run was killed midway");
    let status = roster(&db, dir.path(), &["import-users", file]).status().unwrap();
    assert!(status.success(), "the re-run finishes");
    assert_eq!(imported(&db).await, total);
    assert_eq!(broken_imports(&db).await, 0);
    assert_no_orphans(&db, "after the re-run").await;
}

/// A running `roster serve` on the test database.
struct Server {
    process: ServerProcess,
    address: String,
}

impl Server {
    async fn start(db: &TestDatabase, data: &std::path::Path) -> Server {
        let address = format!("127.0.0.1:{}", free_port());
        let child = roster(db, data, &["serve"])
            .env("ROSTER_LISTEN", &address)
            .spawn()
            .unwrap();
        let process = ServerProcess::new(child);
        wait_ready(&address).await;
        Server { process, address }
    }
}

/// Fires `requests` at once, waits until `progress` (a count) moves, then kills the server
/// `after` later.
async fn burst_then_kill(
    mut server: Server,
    requests: Vec<reqwest::RequestBuilder>,
    db: &TestDatabase,
    progress: &str,
    after: std::time::Duration,
) {
    let before = scalar(db, progress).await;
    let mut tasks = tokio::task::JoinSet::new();
    for r in requests {
        tasks.spawn(async move {
            let _ = r.send().await;
        });
    }
    let deadline = Instant::now() + std::time::Duration::from_secs(60);
    while scalar(db, progress).await == before && Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    tokio::time::sleep(after).await;
    kill9(server.process.child());
    tasks.shutdown().await;
}

/// Users with a session, an API key and a group membership each.
async fn populate(core: &Core, prefix: &str, n: usize) -> Vec<(UserId, String)> {
    core.create_user(
        core.operator(),
        NewUser {
            email: Some(format!("root-{prefix}@crash.example")),
            password: Some("root-password-1".into()),
            role: Some(Role::Admin),
            ..NewUser::default()
        },
    )
    .await
    .unwrap();
    let root_actor = {
        let login = core
            .login(
                &format!("root-{prefix}@crash.example"),
                "root-password-1",
                &Default::default(),
            )
            .await
            .unwrap();
        core.authenticate_bearer(&login.tokens.unwrap().access_token)
            .await
            .unwrap()
    };
    let group = core
        .create_group(
            &root_actor,
            roster_core::service::NewGroup {
                name: format!("crash-{prefix}"),
                description: None,
                permissions: None,
            },
        )
        .await
        .unwrap();
    let mut users = Vec::new();
    for i in 0..n {
        let email = format!("{prefix}{i}@crash.example");
        let user = core
            .create_user(
                core.operator(),
                NewUser {
                    email: Some(email.clone()),
                    password: Some("old-password-1".into()),
                    ..NewUser::default()
                },
            )
            .await
            .unwrap();
        let login = core.login(&email, "old-password-1", &Default::default()).await.unwrap();
        let actor = core
            .authenticate_bearer(&login.tokens.unwrap().access_token)
            .await
            .unwrap();
        core.create_api_key(
            &actor,
            NewApiKey {
                name: "crash".into(),
                expires_at: None,
                scopes: vec![],
            },
        )
        .await
        .unwrap();
        core.add_group_members(&root_actor, group.id, &[user.id]).await.unwrap();
        users.push((user.id, email));
    }
    users
}

/// Kills the server during a burst of deletions (twice), then deletes again: every user is
/// wholly there (row, session, key, membership) or wholly gone.
async fn deletion_killed_midway(backend: Backend) {
    let db = roster_testkit::or_skip!(TestDatabase::new(backend).await);
    let dir = tempfile::tempdir().unwrap();
    let core = core_on(&db).await;
    let users = populate(&core, "victim", 120).await;
    core.create_user(
        core.operator(),
        NewUser {
            email: Some("deleter@crash.example".into()),
            password: Some("deleter-password-1".into()),
            role: Some(Role::Admin),
            ..NewUser::default()
        },
    )
    .await
    .unwrap();
    let login = core
        .login("deleter@crash.example", "deleter-password-1", &Default::default())
        .await
        .unwrap();
    let actor = core
        .authenticate_bearer(&login.tokens.unwrap().access_token)
        .await
        .unwrap();
    let key = core
        .create_api_key(
            &actor,
            NewApiKey {
                name: "deleter".into(),
                expires_at: None,
                scopes: vec![],
            },
        )
        .await
        .unwrap()
        .secret;
    let client = reqwest::Client::new();
    let remaining_sql = "SELECT COUNT(*) FROM users WHERE email LIKE 'victim%@crash.example'";
    for after_ms in [0u64, 20] {
        let server = Server::start(&db, dir.path()).await;
        let requests = users
            .iter()
            .map(|(id, _)| {
                client
                    .delete(format!("http://{}/v1/users/{id}", server.address))
                    .bearer_auth(&key)
            })
            .collect();
        burst_then_kill(
            server,
            requests,
            &db,
            remaining_sql,
            std::time::Duration::from_millis(after_ms),
        )
        .await;
        assert_no_orphans(&db, "after killing deletions").await;
        let whole = scalar(
            &db,
            "SELECT COUNT(*) FROM users u WHERE u.email LIKE 'victim%@crash.example' AND ( \
               NOT EXISTS (SELECT 1 FROM sessions s WHERE s.user_id = u.id) \
               OR NOT EXISTS (SELECT 1 FROM api_keys k WHERE k.user_id = u.id) \
               OR NOT EXISTS (SELECT 1 FROM group_members m WHERE m.user_id = u.id))",
        )
        .await;
        assert_eq!(whole, 0, "users that lost part of what they own");
    }
    let remaining = scalar(
        &db,
        "SELECT COUNT(*) FROM users WHERE email LIKE 'victim%@crash.example'",
    )
    .await;
    assert!(
        remaining < users.len() as i64,
        "some deletions were done before the kills"
    );
    // The re-run: every deletion is done (204) or was done (404).
    let server = Server::start(&db, dir.path()).await;
    for (id, _) in &users {
        let r = client
            .delete(format!("http://{}/v1/users/{id}", server.address))
            .bearer_auth(&key)
            .send()
            .await
            .unwrap();
        assert!(matches!(r.status().as_u16(), 204 | 404), "{}", r.status());
    }
    assert_eq!(
        scalar(
            &db,
            "SELECT COUNT(*) FROM users WHERE email LIKE 'victim%@crash.example'"
        )
        .await,
        0
    );
    assert_no_orphans(&db, "after the re-run").await;
}

/// Kills the server during a burst of password resets by link (twice), then uses the links
/// again: no account has its new password while an old session lives, no link is used up
/// without its password set, and the re-run completes every reset.
async fn password_reset_killed_midway(backend: Backend) {
    let db = roster_testkit::or_skip!(TestDatabase::new(backend).await);
    let dir = tempfile::tempdir().unwrap();
    let core = core_on(&db).await;
    let users = populate(&core, "reset", 60).await;
    let mut links = Vec::new();
    let mut old_hashes = std::collections::HashMap::new();
    for (id, _) in &users {
        let link = core
            .create_password_reset(core.operator(), *id, Duration::hours(1))
            .await
            .unwrap();
        links.push((*id, link.token));
        old_hashes.insert(*id, core.store.get_user(*id).await.unwrap().password_hash);
    }
    let client = reqwest::Client::new();
    let check = |when: &'static str| {
        let core = core.clone();
        let db = &db;
        let old_hashes = old_hashes.clone();
        let users = users.clone();
        async move {
            assert_no_orphans(db, when).await;
            let mut done = 0;
            for (id, _) in &users {
                let user = core.store.get_user(*id).await.unwrap();
                let changed = user.password_hash != old_hashes[id];
                let sessions = core.store.list_sessions(*id).await.unwrap().len();
                let used = scalar(
                    db,
                    &format!(
                        "SELECT COUNT(*) FROM account_tokens WHERE user_id = {} AND used_at IS NOT NULL",
                        id.0
                    ),
                )
                .await;
                assert!(
                    !(changed && sessions > 0),
                    "{id}: new password, old session alive ({when})"
                );
                assert!(used == 0 || changed, "{id}: link used up, password not set ({when})");
                done += usize::from(changed);
            }
            done
        }
    };
    let used_sql = "SELECT COUNT(*) FROM account_tokens WHERE used_at IS NOT NULL";
    for after_ms in [0u64, 30] {
        let server = Server::start(&db, dir.path()).await;
        let requests = links
            .iter()
            .map(|(_, token)| {
                client
                    .post(format!("http://{}/v1/auth/reset-password", server.address))
                    .json(&json!({"token": token, "new_password": "new-password-1"}))
            })
            .collect();
        burst_then_kill(
            server,
            requests,
            &db,
            used_sql,
            std::time::Duration::from_millis(after_ms),
        )
        .await;
        let done = check("after killing resets").await;
        assert!(done < users.len(), "the kill came after the burst ended");
    }
    // The re-run: each link either completes its reset or was already used.
    let server = Server::start(&db, dir.path()).await;
    for (_, token) in &links {
        let r = client
            .post(format!("http://{}/v1/auth/reset-password", server.address))
            .json(&json!({"token": token, "new_password": "new-password-1"}))
            .send()
            .await
            .unwrap();
        assert!(matches!(r.status().as_u16(), 204 | 422), "{}", r.status());
    }
    let done = check("after the re-run").await;
    assert_eq!(done, users.len(), "every reset completed");
}

backend_tests!(
    import_killed_midway,
    deletion_killed_midway,
    password_reset_killed_midway
);
