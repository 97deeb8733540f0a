//! The admin command line: the real `roster` binary against a test database, its effects
//! checked through the HTTP API of a Roster running on the same database; prompts through a
//! real pseudo-terminal. Every test on SQLite and on PostgreSQL.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use roster_core::Role;
use roster_core::time::Duration;
use roster_testkit::app::{TestApp, spawn_app_on};
use roster_testkit::{Backend, TestDatabase, backend_tests};
use serde_json::{Value, json};
use std::io::Write;
use std::process::{Command, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_roster");

/// What a command did.
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

    /// A failure: the code, and exactly one line on standard error containing `needle`.
    #[track_caller]
    fn fails(&self, code: i32, needle: &str) -> &Self {
        assert_eq!(self.code, code, "{self:?}");
        assert_eq!(self.stderr.lines().count(), 1, "one line on stderr: {self:?}");
        assert!(self.stderr.contains(needle), "{needle:?} in {self:?}");
        self
    }
}

fn command(app: &TestApp, args: &[&str]) -> Command {
    let mut command = Command::new(BIN);
    command
        .env_clear()
        .env("ROSTER_DATABASE_URL", &app.db.url)
        .env("ROSTER_PUBLIC_URL", "https://roster.example.org/")
        .env("ROSTER_SECRET_KEY", roster_testkit::app::TEST_SECRET_KEY)
        .current_dir(std::env::temp_dir())
        .args(args);
    command
}

/// Runs a command with `stdin` as its standard input (not a terminal).
fn roster(app: &TestApp, args: &[&str], stdin: &str) -> Run {
    let mut child = command(app, args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(stdin.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

async fn app(backend: Backend) -> Option<TestApp> {
    Some(spawn_app_on(TestDatabase::new(backend).await?).await)
}

/// The token of the link printed on a line of `out` that contains `page?token=`.
fn token_in(out: &str, page: &str) -> String {
    let marker = format!("https://roster.example.org/{page}?token=");
    let start = out.find(&marker).unwrap_or_else(|| panic!("no {marker} in {out}")) + marker.len();
    out[start..].split_whitespace().next().unwrap().to_string()
}

async fn me_status(app: &TestApp, token: &str) -> u16 {
    app.get("/v1/me", Some(token)).await.status.as_u16()
}

/// Waits (at most 5 s) until `GET /v1/me` with `token` answers `want`. A command is another
/// process: the running server learns of its change through the database's change notices
/// (within a second, docs/deployment.md), not at once as it does of its own changes. The
/// assertions that follow check the answer itself.
async fn settle(app: &TestApp, token: &str, want: u16) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while me_status(app, token).await != want && std::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

async fn create_user_and_list_users(backend: Backend) {
    let app = roster_testkit::or_skip!(app(backend).await);
    let r = roster(
        &app,
        &["create-user", "Ann@Example.org", "Ann Admin", "ann", "--password-stdin"],
        "first password\n",
    );
    r.ok();
    assert!(r.stdout.contains("User created successfully!"), "{r:?}");
    assert!(r.stdout.contains("Role: admin"), "the first user becomes admin: {r:?}");
    let login = app.login("ann@example.org", "first password").await;
    login.assert_status(200);
    assert_eq!(login.body["user"]["role"], "admin");
    assert_eq!(login.body["user"]["email_verified"], true);

    // A password argument works, with a warning; options are honoured.
    let r = roster(
        &app,
        &[
            "create-user",
            "bob@example.org",
            "Bob",
            "bob",
            "bobs password",
            "--email-verified=false",
            "--provider",
            "google",
            "--role",
            "pending",
        ],
        "",
    );
    r.ok();
    assert!(r.stderr.contains("warning"), "{r:?}");
    let bob = app.login("bob", "bobs password").await;
    bob.assert_problem(403, "account_pending");
    // A generated password is printed once and works.
    let r = roster(
        &app,
        &["create-user", "cy@example.org", "Cy", "cy", "--generate-password"],
        "",
    );
    r.ok();
    let password = r
        .stdout
        .lines()
        .find_map(|l| l.strip_prefix("Your password is: "))
        .unwrap();
    app.login("cy", password).await.assert_status(200);

    // Failures: one line, exit 1; missing input without a terminal: exit 2 naming the flag.
    roster(
        &app,
        &["create-user", "ann@example.org", "Ann", "ann2", "--generate-password"],
        "",
    )
    .fails(1, "email is already taken");
    roster(
        &app,
        &["create-user", "x@example.org", "X", "xx", "--password-stdin"],
        "short\n",
    )
    .fails(1, "at least 8 characters");
    roster(&app, &["create-user", "x@example.org", "X", "xx"], "").fails(2, "--password-stdin");
    roster(&app, &["create-user"], "").fails(2, "roster create-user EMAIL NAME USERNAME");
    assert_eq!(
        roster(&app, &["create-user", "--bogus"], "").code,
        2,
        "clap's usage errors"
    );

    // list-users: table with a total, JSON and CSV complete, filters.
    let r = roster(&app, &["list-users"], "");
    r.ok();
    for needle in [
        "ann@example.org",
        "bob@example.org",
        "google",
        "pending",
        "Total users: 3",
    ] {
        assert!(r.stdout.contains(needle), "{needle} in {r:?}");
    }
    let r = roster(&app, &["list-users", "--format", "json", "--role", "pending"], "");
    r.ok();
    let users: Vec<Value> = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(users.len(), 1);
    assert_eq!(users[0]["email"], "bob@example.org");
    assert_eq!(users[0]["provider"], "google");
    assert_eq!(users[0]["email_verified"], false);
    assert!(users[0].get("password_hash").is_none());
    let r = roster(&app, &["list-users", "--format", "csv", "--search", "CY"], "");
    r.ok();
    let mut csv = r.stdout.lines();
    let header: Vec<&str> = csv.next().unwrap().split(',').collect();
    for column in [
        "id",
        "email",
        "username",
        "name",
        "provider",
        "role",
        "email_verified",
        "active",
        "banned_until",
        "created_at",
    ] {
        assert!(header.contains(&column), "{column} in {header:?}");
    }
    assert_eq!(csv.count(), 1);
    let r = roster(&app, &["list-users", "--limit", "2"], "");
    r.ok();
    assert!(r.stdout.contains("Total users: 3 (2 shown"), "{r:?}");
}

async fn ban_unban_and_list_bans(backend: Backend) {
    let app = roster_testkit::or_skip!(app(backend).await);
    let admin = app.admin().await;
    let user = app.user(Role::User).await;
    let key = app.api_key(&user, &[]).await;
    let r = roster(&app, &["ban-user", &user.email, "60", "--reason", "spam"], "");
    r.ok();
    assert!(r.stdout.contains(&format!("Found user: {}", user.email)), "{r:?}");
    // Existing tokens, API keys and logins are refused with the ban's end.
    for token in [&user.access_token, &key] {
        settle(&app, token, 403).await;
        let r = app.get("/v1/me", Some(token)).await;
        r.assert_problem(403, "banned");
        assert!(
            r.body["detail"].as_str().unwrap().contains("banned until"),
            "{}",
            r.text
        );
    }
    let r = app.login(&user.email, &user.password).await;
    r.assert_problem(403, "banned");
    let until = r.body["detail"]
        .as_str()
        .unwrap()
        .rsplit(' ')
        .next()
        .unwrap()
        .to_string();
    let ends =
        roster_core::time::OffsetDateTime::parse(&until, &roster_core::time::format_description::well_known::Rfc3339)
            .unwrap();
    let minutes = (ends - roster_core::time::OffsetDateTime::now_utc()).whole_minutes();
    assert!((58..=60).contains(&minutes), "60 means minutes: {minutes}");
    let r = roster(&app, &["list-bans"], "");
    r.ok();
    assert!(
        r.stdout.contains(&user.email) && r.stdout.contains("spam") && r.stdout.contains(&until),
        "{r:?}"
    );
    assert!(r.stdout.contains("Active bans: 1"), "{r:?}");
    // The last active admin cannot be banned; bad input fails cleanly.
    roster(&app, &["ban-user", &admin.email, "24h"], "").fails(1, "last active administrator");
    roster(&app, &["ban-user", &user.email, "soon"], "").fails(1, "invalid duration");
    roster(&app, &["ban-user", "nobody@example.org", "5"], "").fails(1, "no user");
    roster(&app, &["ban-user"], "").fails(2, "roster ban-user EMAIL DURATION");
    app.get("/v1/me", Some(&admin.access_token)).await.assert_status(200);
    // A ban ends by itself (the server's clock moves past it)...
    app.advance(Duration::minutes(61));
    assert_eq!(me_status(&app, &key).await, 200);
    app.advance(Duration::minutes(-61));
    assert_eq!(me_status(&app, &key).await, 403);
    // ...or is lifted at once.
    roster(&app, &["unban-user", &user.email], "").ok();
    settle(&app, &user.access_token, 200).await;
    settle(&app, &key, 200).await;
    assert_eq!(me_status(&app, &user.access_token).await, 200);
    assert_eq!(me_status(&app, &key).await, 200);
    app.login(&user.email, &user.password).await.assert_status(200);
    let r = roster(&app, &["list-bans"], "");
    assert!(r.stdout.contains("Active bans: 0"), "{r:?}");
}

async fn reset_password_ends_sessions(backend: Backend) {
    let app = roster_testkit::or_skip!(app(backend).await);
    let _admin = app.admin().await;
    let user = app.user(Role::User).await;
    let key = app.api_key(&user, &[]).await;
    let r = roster(
        &app,
        &["reset-password", &user.username, "--password-stdin"],
        "the new password\n",
    );
    r.ok();
    assert!(r.stdout.contains("Password successfully reset!"), "{r:?}");
    settle(&app, &user.access_token, 401).await;
    app.get("/v1/me", Some(&user.access_token))
        .await
        .assert_problem(401, "invalid_token");
    app.login(&user.email, &user.password)
        .await
        .assert_problem(401, "invalid_credentials");
    let fresh = app.login(&user.email, "the new password").await;
    fresh.assert_status(200);
    assert_eq!(me_status(&app, &key).await, 200, "API keys stay");
    roster(
        &app,
        &["reset-password", &user.email, "--password-stdin", "--revoke-keys"],
        "another new password\n",
    )
    .ok();
    settle(&app, &key, 401).await;
    settle(&app, fresh.body["access_token"].as_str().unwrap(), 401).await;
    assert_eq!(me_status(&app, &key).await, 401, "--revoke-keys");
    assert_eq!(me_status(&app, fresh.body["access_token"].as_str().unwrap()).await, 401);
    // A reset link, used through the API.
    let r = roster(&app, &["reset-password", &user.email, "--link", "--expires", "2h"], "");
    r.ok();
    let token = token_in(&r.stdout, "reset-password");
    app.post(
        "/v1/auth/reset-password",
        None,
        &json!({"token": token, "new_password": "linked password"}),
    )
    .await
    .assert_status(204);
    app.login(&user.email, "linked password").await.assert_status(200);
    // Failures.
    roster(
        &app,
        &["reset-password", "nobody@example.org", "--password-stdin"],
        "whatever123\n",
    )
    .fails(1, "no user");
    roster(&app, &["reset-password", &user.email, "--password-stdin"], "short\n").fails(1, "at least 8");
    roster(&app, &["reset-password", &user.email], "").fails(2, "--password-stdin");
    roster(&app, &["reset-password"], "").fails(2, "roster reset-password EMAIL");
}

/// Rows that still mention a user id, table by table (every table with a user column).
async fn rows_mentioning(app: &TestApp, id: i64) -> Vec<(String, i64)> {
    let mut found = Vec::new();
    match app.db.backend {
        Backend::Sqlite => {
            let pool = sqlx::SqlitePool::connect(&app.db.url).await.unwrap();
            let columns: Vec<(String, String)> = sqlx::query_as(
                "SELECT m.name, p.name FROM sqlite_master m JOIN pragma_table_info(m.name) p \
                 WHERE m.type = 'table' AND (p.name = 'user_id' OR (m.name = 'users' AND p.name = 'id'))",
            )
            .fetch_all(&pool)
            .await
            .unwrap();
            assert!(columns.len() >= 4, "{columns:?}");
            for (table, column) in columns {
                let n: i64 = sqlx::query_scalar(&format!("SELECT COUNT(*) FROM {table} WHERE {column} = $1"))
                    .bind(id)
                    .fetch_one(&pool)
                    .await
                    .unwrap();
                found.push((table, n));
            }
            pool.close().await;
        }
        Backend::Postgres => {
            let pool = sqlx::PgPool::connect(&app.db.url).await.unwrap();
            let columns: Vec<(String, String)> = sqlx::query_as(
                "SELECT table_name::text, column_name::text FROM information_schema.columns \
                 WHERE table_schema = 'public' AND (column_name = 'user_id' OR (table_name = 'users' AND column_name = 'id'))",
            )
            .fetch_all(&pool)
            .await
            .unwrap();
            assert!(columns.len() >= 4, "{columns:?}");
            for (table, column) in columns {
                let n: i64 = sqlx::query_scalar(&format!("SELECT COUNT(*) FROM {table} WHERE {column} = $1"))
                    .bind(id)
                    .fetch_one(&pool)
                    .await
                    .unwrap();
                found.push((table, n));
            }
            pool.close().await;
        }
    }
    found
}

async fn delete_user_removes_every_row(backend: Backend) {
    let app = roster_testkit::or_skip!(app(backend).await);
    let admin = app.admin().await;
    let user = app.user(Role::User).await;
    let _key = app.api_key(&user, &[]).await;
    app.login(&user.email, &user.password).await.assert_status(200);
    roster(&app, &["reset-password", &user.email, "--link"], "").ok();
    assert!(
        rows_mentioning(&app, user.id.0)
            .await
            .iter()
            .filter(|(_, n)| *n > 0)
            .count()
            >= 4
    );
    roster(&app, &["delete-user", &user.email], "").fails(2, "--yes");
    let r = roster(&app, &["delete-user", &user.email, "--yes"], "");
    r.ok();
    assert!(r.stdout.contains("Successfully deleted user"), "{r:?}");
    let left: Vec<_> = rows_mentioning(&app, user.id.0)
        .await
        .into_iter()
        .filter(|(_, n)| *n > 0)
        .collect();
    assert!(left.is_empty(), "rows left: {left:?}");
    app.get("/v1/me", Some(&user.access_token))
        .await
        .assert_problem(401, "invalid_token");
    app.get(&format!("/v1/users/{}", user.id), Some(&admin.access_token))
        .await
        .assert_status(404);
    roster(&app, &["delete-user", &user.email, "--yes"], "").fails(1, "no user");
    roster(&app, &["delete-user", &admin.email, "--yes"], "").fails(1, "last active administrator");
}

async fn invite_user_prints_a_working_link(backend: Backend) {
    let app = roster_testkit::or_skip!(app(backend).await);
    let admin = app.admin().await;
    let r = roster(
        &app,
        &["invite-user", "new@example.org", "--role", "admin", "--expires", "1d"],
        "",
    );
    r.ok();
    assert!(r.stdout.contains("send this link"), "{r:?}");
    let token = token_in(&r.stdout, "register");
    let registered = app
        .post(
            "/v1/auth/register",
            None,
            &json!({"email": "new@example.org", "password": "invited password", "invite_token": token}),
        )
        .await;
    registered.assert_status(201);
    assert_eq!(registered.body["user"]["role"], "admin");
    roster(&app, &["invite-user", &admin.email], "").fails(1, "already exists");
    roster(&app, &["invite-user", "x@example.org", "--expires", "never"], "").fails(1, "expires");
    roster(&app, &["invite-user"], "").fails(2, "roster invite-user EMAIL");
}

async fn add_and_set_balance(backend: Backend) {
    let app = roster_testkit::or_skip!(app(backend).await);
    let _admin = app.admin().await;
    let user = app.user(Role::User).await;
    let r = roster(&app, &["add-balance", &user.email, "5000"], "");
    r.ok();
    assert!(r.stdout.contains("Balance: 5000"), "{r:?}");
    let r = roster(&app, &["add-balance", &user.email, "-1000"], "");
    r.ok();
    assert!(r.stdout.contains("Balance: 4000"), "{r:?}");
    let r = roster(&app, &["set-balance", &user.email, "42"], "");
    r.ok();
    assert!(r.stdout.contains("to 42 credits"), "{r:?}");
    let balance = app.get("/librechat/api/balance", Some(&user.access_token)).await;
    balance.assert_status(200);
    assert_eq!(balance.body["tokenCredits"], 42);
    roster(&app, &["add-balance", "nobody@example.org", "5"], "").fails(1, "no user");
    let r = roster(&app, &["set-balance", &user.email, "lots"], "");
    assert_eq!(r.code, 2, "{r:?}");
    assert!(r.stderr.contains("invalid value"), "{r:?}");
    // The ledger goes with the user.
    roster(&app, &["delete-user", &user.email, "--yes"], "").ok();
    let left: Vec<_> = rows_mentioning(&app, user.id.0)
        .await
        .into_iter()
        .filter(|(_, n)| *n > 0)
        .collect();
    assert!(left.is_empty(), "rows left: {left:?}");
}

async fn invite_user_mails_the_link(backend: Backend) {
    let app = roster_testkit::or_skip!(app(backend).await);
    let smtp = roster_testkit::smtp::SmtpSink::start().await;
    let out = command(&app, &["invite-user", "mailed@example.org"])
        .env("ROSTER_SMTP_URL", &smtp.url)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "{out:?}");
    assert!(stdout.contains("Invitation sent successfully"), "{stdout}");
    let token = token_in(&stdout, "register");
    let mail = smtp.wait_for(1).await;
    assert_eq!(mail[0].to, vec!["mailed@example.org".to_string()]);
    assert!(mail[0].data.contains("Invite to join Roster!"), "{}", mail[0].data);
    let link = mail[0].link("https://roster.example.org/register?token=").unwrap();
    assert!(link.ends_with(&token), "{link}");
}

async fn user_stats_counts(backend: Backend) {
    let app = roster_testkit::or_skip!(app(backend).await);
    let _admin = app.admin().await;
    let user = app.user(Role::User).await;
    let _pending = app.user(Role::Pending).await;
    roster(&app, &["ban-user", &user.email, "1d"], "").ok();
    let r = roster(&app, &["user-stats", "--format", "json"], "");
    r.ok();
    let s: Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(s["total"], 3);
    assert_eq!(s["by_role"], json!({"admin": 1, "user": 1, "pending": 1}));
    assert_eq!(s["by_provider"], json!({"local": 3}));
    assert_eq!(s["banned"], 1);
    assert_eq!(s["active"], 3);
    assert_eq!(s["signups_by_day"].as_array().unwrap().len(), 30);
    assert_eq!(s["signups_by_day"][29]["signups"], 3);
    assert_eq!(s["active_last_24_hours"], 3, "all three signed in");
    let r = roster(&app, &["user-stats"], "");
    r.ok();
    assert!(
        r.stdout.contains("Users: 3") && r.stdout.contains("Banned now: 1"),
        "{r:?}"
    );
}

/// A record with text no backend can store (a NUL character) is reported as that record's
/// failure, on both backends alike; the import goes on with the others.
async fn import_reports_records_with_nul_characters(backend: Backend) {
    let app = roster_testkit::or_skip!(app(backend).await);
    let _admin = app.admin().await;
    let dir = tempfile::tempdir().unwrap();
    let lines = [
        json!({"email": "good@example.org", "password": "a good long password"}),
        json!({"email": "bio@example.org", "bio": "a\u{0}b"}),
        json!({"email": "prefs@example.org", "preferences": {"ui": {"theme": "a\u{0}b"}}}),
        json!({"email": "nul\u{0}@example.org"}),
        json!({"email": "name@example.org", "name": "a\u{0}b"}),
    ];
    let file = dir.path().join("users.jsonl");
    let text: Vec<String> = lines.iter().map(Value::to_string).collect();
    std::fs::write(&file, text.join("\n")).unwrap();
    let r = roster(&app, &["import-users", file.to_str().unwrap()], "");
    assert_eq!(r.code, 1, "{r:?}");
    assert!(r.stdout.contains("Imported: 1 created"), "{r:?}");
    assert!(
        r.stderr
            .contains("line 2: bio@example.org: error: bio: must not contain the NUL character"),
        "{r:?}"
    );
    assert!(
        r.stderr
            .contains("line 3: prefs@example.org: error: preferences: must not contain the NUL character"),
        "{r:?}"
    );
    assert!(r.stderr.contains("line 4:") && r.stderr.contains("line 5:"), "{r:?}");
    assert!(!r.stderr.contains("internal"), "{r:?}");
    assert_eq!(app.core.store.count_users().await.unwrap(), 2);
    app.login("good@example.org", "a good long password")
        .await
        .assert_status(200);
}

async fn import_and_export_users(backend: Backend) {
    let app = roster_testkit::or_skip!(app(backend).await);
    let admin = app.admin().await;
    let dir = tempfile::tempdir().unwrap();
    let bcrypt_hash = bcrypt::hash("bcrypt password", 4).unwrap();
    let argon_hash = app.core.hasher.hash("argon password").await.unwrap().0;
    let csv = format!(
        "email,username,name,role,password,password_hash\n\
         plain@example.org,plain,Plain,user,plain password,\n\
         bcrypt@example.org,,Bee,,,{bcrypt_hash}\n\
         argon@example.org,,,admin,,\"{argon_hash}\"\n\
         nopass@example.org,nopass,No Pass,,,\n\
         not-an-email,,,,,\n\
         PLAIN@example.org,,Twin,,,\n\
         {},,,,,\n",
        admin.email
    );
    let file = dir.path().join("users.csv");
    std::fs::write(&file, csv).unwrap();
    let file = file.to_str().unwrap();

    // A dry run says what would happen, per record, and writes nothing.
    let r = roster(&app, &["import-users", file, "--dry-run"], "");
    assert_eq!(r.code, 1, "{r:?}");
    for needle in [
        "line 2: plain@example.org: create",
        "line 5: nopass@example.org: create without a password",
        "line 8:",
        "skip (exists)",
    ] {
        assert!(r.stdout.contains(needle), "{needle} in {r:?}");
    }
    assert!(r.stderr.contains("line 6: not-an-email: error: email"), "{r:?}");
    assert!(
        r.stderr
            .contains("line 7: PLAIN@example.org: error: the same email or username as line 2"),
        "{r:?}"
    );
    assert!(
        r.stdout
            .contains("Dry run: 4 created (1 with a set-password link), 0 updated, 0 unchanged, 1 skipped, 2 failed"),
        "{r:?}"
    );
    app.login("plain@example.org", "plain password")
        .await
        .assert_problem(401, "invalid_credentials");

    // The real run: bad records do not stop good ones.
    let r = roster(&app, &["import-users", file], "");
    assert_eq!(r.code, 1, "{r:?}");
    assert!(
        r.stdout.contains("Imported: 4 created (1 with a set-password link)"),
        "{r:?}"
    );
    // Each created user has its `user.created` event and `user.import` entry, and nothing more.
    let events = app.core.store.list_outbox(0, 1000).await.unwrap();
    assert_eq!(
        events.iter().filter(|e| e.event_type == "user.created").count(),
        1 + 4,
        "{events:?}"
    );
    let audit = roster(&app, &["audit", "--action", "user.import", "--json"], "");
    audit.ok();
    assert_eq!(audit.stdout.lines().count(), 4, "{audit:?}");
    app.login("plain", "plain password").await.assert_status(200);
    app.login("bcrypt@example.org", "bcrypt password")
        .await
        .assert_status(200);
    let argon = app.login("argon@example.org", "argon password").await;
    argon.assert_status(200);
    assert_eq!(argon.body["user"]["role"], "admin");
    let token = token_in(&r.stdout, "reset-password");
    app.post(
        "/v1/auth/reset-password",
        None,
        &json!({"token": token, "new_password": "chosen password"}),
    )
    .await
    .assert_status(204);
    app.login("nopass", "chosen password").await.assert_status(200);

    // A re-run changes nothing; --on-conflict update applies changes, fail refuses.
    let r = roster(&app, &["import-users", file], "");
    assert!(
        r.stdout
            .contains("Imported: 0 created (0 with a set-password link), 0 updated, 0 unchanged, 5 skipped, 2 failed"),
        "{r:?}"
    );
    let r = roster(&app, &["import-users", file, "--on-conflict", "update"], "");
    assert!(r.stdout.contains("0 created"), "{r:?}");
    let r2 = roster(&app, &["import-users", file, "--on-conflict", "update"], "");
    assert!(r2.stdout.contains("0 updated, 5 unchanged"), "idempotent: {r2:?}");
    app.login("plain", "plain password").await.assert_status(200);
    let r = roster(&app, &["import-users", file, "--on-conflict", "fail"], "");
    assert!(r.stdout.contains("7 failed"), "{r:?}");

    // Export, then import into another database: the same users, still no secrets.
    let r = roster(&app, &["export-users"], "");
    r.ok();
    assert!(
        !r.stdout.contains("$argon2") && !r.stdout.contains("$2b$"),
        "no hashes: {}",
        r.stdout
    );
    assert_eq!(r.stdout.lines().count(), 5);
    let exported = dir.path().join("users.jsonl");
    std::fs::write(&exported, &r.stdout).unwrap();
    let csv_export = roster(&app, &["export-users", "--format", "csv"], "");
    csv_export.ok();
    let exported_csv = dir.path().join("export.csv");
    std::fs::write(&exported_csv, &csv_export.stdout).unwrap();
    let other = roster_testkit::or_skip!(self::app(backend).await);
    let r = roster(&other, &["import-users", exported.to_str().unwrap()], "");
    r.ok();
    assert!(
        r.stdout.contains("Imported: 5 created (5 with a set-password link)"),
        "{r:?}"
    );
    let r = roster(
        &other,
        &["import-users", exported_csv.to_str().unwrap(), "--dry-run"],
        "",
    );
    r.ok();
    assert!(r.stdout.contains("5 skipped"), "CSV export reads back: {r:?}");
    let listed = roster(&other, &["list-users", "--format", "json"], "");
    let users: Vec<Value> = serde_json::from_str(&listed.stdout).unwrap();
    let roles: Vec<&str> = users.iter().map(|u| u["role"].as_str().unwrap()).collect();
    assert_eq!(roles.iter().filter(|r| **r == "admin").count(), 2, "{roles:?}");
    roster(&app, &["import-users", "/no/such/file.csv"], "").fails(1, "cannot open");
}

/// Runs `args` in a pseudo-terminal and lets `dialogue` talk to it; returns the exit code.
async fn in_terminal(app: &TestApp, args: &[&str], dialogue: fn(&mut rexpect::session::PtySession)) -> i32 {
    let command = command(app, args);
    tokio::task::spawn_blocking(move || {
        let mut session = rexpect::session::spawn_command(command, Some(30_000)).unwrap();
        dialogue(&mut session);
        session.exp_eof().unwrap();
        match session.process.wait().unwrap() {
            rexpect::process::wait::WaitStatus::Exited(_, code) => code,
            other => panic!("{other:?}"),
        }
    })
    .await
    .unwrap()
}

async fn prompts_on_a_terminal(backend: Backend) {
    let app = roster_testkit::or_skip!(app(backend).await);
    let _admin = app.admin().await;
    let code = in_terminal(&app, &["create-user"], |p| {
        p.exp_string("Email: ").unwrap();
        p.send_line("dora@example.org").unwrap();
        p.exp_string("Name: (default is: dora) ").unwrap();
        p.send_line("").unwrap();
        p.exp_string("Username: (default is: dora) ").unwrap();
        p.send_line("").unwrap();
        p.exp_string("Password: (leave blank, to generate one) ").unwrap();
        p.send_line("typed secret").unwrap();
        p.exp_string("Email verified? (Y/n, default is Y): ").unwrap();
        p.send_line("n").unwrap();
        p.exp_string("User created successfully!").unwrap();
        p.exp_string("Email verified: false").unwrap();
    })
    .await;
    assert_eq!(code, 0);
    let login = app.login("dora", "typed secret").await;
    login.assert_status(200);
    assert_eq!(login.body["user"]["name"], "dora");
    let token = login.body["access_token"].as_str().unwrap().to_string();

    // reset-password asks again while the password is too short or the two differ.
    let code = in_terminal(&app, &["reset-password"], |p| {
        p.exp_string("Enter user email: ").unwrap();
        p.send_line("dora@example.org").unwrap();
        p.exp_string("Enter new password: ").unwrap();
        p.send_line("short").unwrap();
        p.exp_string("Password must be at least 8 characters! Please try again.")
            .unwrap();
        p.exp_string("Enter new password: ").unwrap();
        p.send_line("first attempt").unwrap();
        p.exp_string("Confirm new password: ").unwrap();
        p.send_line("second attempt").unwrap();
        p.exp_string("Passwords do not match! Please try again.").unwrap();
        p.exp_string("Enter new password: ").unwrap();
        p.send_line("final password").unwrap();
        p.exp_string("Confirm new password: ").unwrap();
        p.send_line("final password").unwrap();
        p.exp_string("Password successfully reset!").unwrap();
    })
    .await;
    assert_eq!(code, 0);
    settle(&app, &token, 401).await;
    assert_eq!(me_status(&app, &token).await, 401, "old sessions end");
    app.login("dora", "final password").await.assert_status(200);

    // delete-user asks, and "no" aborts with exit 0.
    let code = in_terminal(&app, &["delete-user", "dora"], |p| {
        p.exp_string("Really delete user dora@example.org (").unwrap();
        p.exp_string(") and ALL their data? (y/N) ").unwrap();
        p.send_line("").unwrap();
        p.exp_string("Aborted.").unwrap();
    })
    .await;
    assert_eq!(code, 0);
    app.login("dora", "final password").await.assert_status(200);
    let code = in_terminal(&app, &["delete-user"], |p| {
        p.exp_string("Email: ").unwrap();
        p.send_line("dora@example.org").unwrap();
        p.exp_string("ALL their data? (y/N) ").unwrap();
        p.send_line("y").unwrap();
        p.exp_string("Also delete all transaction history for this user? (y/N) ")
            .unwrap();
        p.send_line("n").unwrap();
        p.exp_string("Successfully deleted user dora@example.org").unwrap();
        p.exp_string("Transaction history was retained.").unwrap();
    })
    .await;
    assert_eq!(code, 0);
    app.login("dora", "final password")
        .await
        .assert_problem(401, "invalid_credentials");
}

async fn audit_prints_the_trail(backend: Backend) {
    let app = roster_testkit::or_skip!(app(backend).await);
    let admin = app.admin().await;
    let user = app.user(Role::User).await;
    app.login(&user.email, "not the password").await.assert_status(401);
    roster(&app, &["ban-user", &user.email, "60", "--reason", "spam"], "").ok();
    roster(&app, &["unban-user", &user.email], "").ok();

    let r = roster(&app, &["audit"], "");
    r.ok();
    let lines: Vec<&str> = r.stdout.lines().collect();
    assert!(lines[0].starts_with("AT") && lines[0].contains("ACTION"), "{r:?}");
    // Newest first; the command line acts without an actor (-) and without an address.
    assert!(
        lines[1].contains("user.unban") && lines[2].contains("user.ban"),
        "{r:?}"
    );
    assert!(
        lines[2].contains(&user.id.to_string()) && lines[2].contains("spam"),
        "{r:?}"
    );
    assert!(
        r.stdout.contains("login.failure") && r.stdout.contains("127.0.0.1"),
        "{r:?}"
    );
    assert!(!r.stdout.contains("not the password"), "{r:?}");

    let r = roster(
        &app,
        &["audit", "--json", "--target", &user.email, "--action", "user.ban"],
        "",
    );
    r.ok();
    let entries: Vec<Value> = r.stdout.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(entries.len(), 1, "{r:?}");
    assert_eq!(entries[0]["action"], "user.ban");
    assert_eq!(entries[0]["actor_id"], Value::Null);
    assert_eq!(entries[0]["target_id"], user.id.to_string());
    assert_eq!(entries[0]["details"]["reason"], "spam");
    let r = roster(
        &app,
        &["audit", "--json", "--actor", &admin.id.to_string(), "--limit", "1"],
        "",
    );
    r.ok();
    assert_eq!(r.stdout.lines().count(), 1, "{r:?}");
    let r = roster(&app, &["audit", "--action", "user.delete"], "");
    r.ok();
    assert!(r.stdout.contains("(no entries)"), "{r:?}");
    roster(&app, &["audit", "--since", "yesterday"], "").fails(2, "--since");
    roster(&app, &["audit", "--target", "nobody@example.org"], "").fails(1, "no user");
    roster(&app, &["audit", "--action", "Bad Action"], "").fails(1, "action");
}

/// Every instance on one database needs the same secret key: another key is refused with a
/// clear error, a malformed one too; the right one (from the environment) works.
async fn a_different_secret_key_is_refused(backend: Backend) {
    let app = roster_testkit::or_skip!(app(backend).await);
    let run = |key: &str| {
        let out = command(&app, &["list-users"])
            .env("ROSTER_SECRET_KEY", key)
            .stdin(Stdio::null())
            .output()
            .unwrap();
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    };
    // The app's key, checked into the database at its start.
    let key = roster_testkit::app::TEST_SECRET_KEY;
    run(key).ok();
    let other = roster_core::secret::SecretKey::generate().to_base64();
    run(&other).fails(1, "ROSTER_SECRET_KEY");
    run("dG9vIHNob3J0").fails(1, "ROSTER_SECRET_KEY");
    run(key).ok();
}

/// `roster clients logouts` lists the back-channel logouts queued when a user's sessions end.
async fn clients_logouts_lists_the_queue(backend: Backend) {
    use roster_core::service::oidc::{AuthorizeOutcome, AuthorizeRequest, SignedIn};
    let app = roster_testkit::or_skip!(app(backend).await);
    roster(
        &app,
        &[
            "clients",
            "add",
            "rp",
            "--first-party",
            "--redirect-uri",
            "https://rp.example/cb",
            "--backchannel-logout-uri",
            "https://rp.example/logout",
        ],
        "",
    )
    .ok();
    let user = app.user(Role::User).await;
    let claims = app
        .core
        .keys()
        .verify(&user.access_token, roster_core::time::OffsetDateTime::now_utc())
        .unwrap();
    let (_, session): (roster_core::UserId, roster_core::SessionId) = claims.ids().unwrap();
    let signed_in = SignedIn {
        user: app.core.store.get_user(user.id).await.unwrap(),
        session_id: session,
        auth_time: roster_core::time::OffsetDateTime::now_utc(),
        amr: vec!["pwd".into()],
    };
    let request = AuthorizeRequest {
        response_type: Some("code".into()),
        client_id: Some("rp".into()),
        redirect_uri: Some("https://rp.example/cb".into()),
        scope: Some("openid".into()),
        ..Default::default()
    };
    let outcome = app
        .core
        .oidc_authorize(&request, Some(&signed_in), None, "/oidc/authorize")
        .await
        .unwrap();
    assert!(matches!(outcome, AuthorizeOutcome::Redirect(_)), "{outcome:?}");
    roster(&app, &["clients", "logouts"], "").ok();
    app.core
        .revoke_user_sessions(app.core.operator(), user.id)
        .await
        .unwrap();

    let r = roster(&app, &["clients", "logouts", "rp"], "");
    r.ok();
    let lines: Vec<&str> = r.stdout.lines().collect();
    assert_eq!(lines.len(), 2, "{r:?}");
    assert!(lines[0].starts_with("ID") && lines[0].contains("STATUS"), "{r:?}");
    assert!(
        lines[1].contains(&user.id.to_string()) && lines[1].contains("pending"),
        "{r:?}"
    );
    let r = roster(&app, &["clients", "logouts", "--format", "json"], "");
    r.ok();
    let rows: Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(rows[0]["client_id"], "rp");
    assert_eq!(rows[0]["user_id"], user.id.to_string());
    assert_eq!(rows[0]["sid"], session.to_string());
    assert_eq!(
        (rows[0]["status"].as_str(), rows[0]["attempts"].as_i64()),
        (Some("pending"), Some(0))
    );
    let r = roster(&app, &["clients", "logouts", "--status", "delivered"], "");
    r.ok();
    assert_eq!(r.stdout.lines().count(), 1, "{r:?}");
    roster(&app, &["clients", "logouts", "--limit", "0"], "").fails(1, "limit");
    assert_eq!(roster(&app, &["clients", "logouts", "--status", "lost"], "").code, 2);
}

/// `roster clients add|list|show|update|remove|rotate-secret` against a real database: the
/// secret printed once (or read from standard input), errors naming the field, exit codes.
async fn clients_are_managed_from_the_command_line(backend: Backend) {
    let app = roster_testkit::or_skip!(app(backend).await);
    let secret_of = |out: &str| -> String {
        let line = out
            .lines()
            .find(|l| l.starts_with("Client secret (shown once): "))
            .unwrap_or_else(|| panic!("no secret in {out}"));
        line.trim_start_matches("Client secret (shown once): ").to_string()
    };
    let works = |id: &str, secret: &str| {
        let app = &app;
        let (id, secret) = (id.to_string(), secret.to_string());
        async move {
            app.client
                .post(format!("{}/oidc/token", app.address))
                .basic_auth(&id, Some(&secret))
                .form(&[("grant_type", "client_credentials")])
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };

    // add: a generated secret, printed once, that authenticates the client.
    let r = roster(
        &app,
        &[
            "clients",
            "add",
            "owui",
            "--first-party",
            "--redirect-uri",
            "https://chat.example.org/oauth/oidc/login/callback",
            "--redirect-uri",
            "http://127.0.0.1:8080/cb",
            "--post-logout-redirect-uri",
            "https://chat.example.org/auth",
            "--grant-types",
            "authorization_code,refresh_token,client_credentials",
            "--scopes",
            "openid,email,profile",
            "--name",
            "Open WebUI",
        ],
        "",
    );
    r.ok();
    assert!(r.stdout.contains("Client owui created."), "{r:?}");
    let secret = secret_of(&r.stdout);
    assert_eq!(secret.len(), 40, "{secret}");
    assert!(secret.chars().all(|c| c.is_ascii_alphanumeric()));
    assert_eq!(works("owui", &secret).await, 200);
    let stored = app.core.get_oidc_client(app.core.operator(), "owui").await.unwrap();
    assert_eq!(
        stored.redirect_uris,
        [
            "https://chat.example.org/oauth/oidc/login/callback",
            "http://127.0.0.1:8080/cb"
        ]
    );
    assert!(stored.first_party && stored.confidential);
    assert_eq!(stored.name.as_deref(), Some("Open WebUI"));

    // --secret-stdin: the given secret, never printed; --public: no secret at all.
    let given = "S".repeat(20) + &"7".repeat(20);
    let r = roster(
        &app,
        &[
            "clients",
            "add",
            "lf",
            "--secret-stdin",
            "--audience",
            "langflow",
            "--grant-types",
            "authorization_code,client_credentials",
            "--redirect-uri",
            "https://flows.example.org/cb",
        ],
        &format!("{given}\n"),
    );
    r.ok();
    assert!(r.stdout.contains("Client lf created."), "{r:?}");
    assert!(!r.stdout.contains("secret") && !r.stdout.contains(&given), "{r:?}");
    assert_eq!(works("lf", &given).await, 200);
    let r = roster(
        &app,
        &[
            "clients",
            "add",
            "spa",
            "--public",
            "--redirect-uri",
            "https://spa.example.org/cb",
        ],
        "",
    );
    r.ok();
    assert!(!r.stdout.contains("secret"), "{r:?}");
    assert!(
        !app.core
            .get_oidc_client(app.core.operator(), "spa")
            .await
            .unwrap()
            .confidential
    );

    // Errors name the field (exit 1) or the misuse (exit 2); nothing is created.
    roster(
        &app,
        &["clients", "add", "bad-id", "--redirect-uri", "https://x.example/cb"],
        "",
    )
    .fails(1, "client_id");
    roster(&app, &["clients", "add", "x1", "--redirect-uri", "not a url"], "").fails(1, "redirect_uris");
    roster(
        &app,
        &[
            "clients",
            "add",
            "x2",
            "--redirect-uri",
            "https://x.example/cb",
            "--scopes",
            "openid,admin",
        ],
        "",
    )
    .fails(1, "scopes");
    roster(&app, &["clients", "add", "x3"], "").fails(1, "redirect_uris");
    roster(
        &app,
        &[
            "clients",
            "add",
            "x4",
            "--secret-stdin",
            "--redirect-uri",
            "https://x.example/cb",
        ],
        "short\n",
    )
    .fails(1, "secret");
    roster(
        &app,
        &[
            "clients",
            "add",
            "x5",
            "--secret-stdin",
            "--redirect-uri",
            "https://x.example/cb",
        ],
        "",
    )
    .fails(2, "--secret-stdin");
    let r = roster(&app, &["clients", "add", "x6", "--public", "--secret-stdin"], "");
    assert_eq!(r.code, 2, "{r:?}");
    roster(
        &app,
        &["clients", "add", "owui", "--redirect-uri", "https://x.example/cb"],
        "",
    )
    .fails(1, "client_id is already taken");
    let ids: Vec<String> = app
        .core
        .list_oidc_clients(app.core.operator())
        .await
        .unwrap()
        .into_iter()
        .map(|c| c.client_id)
        .collect();
    assert_eq!(ids, ["lf", "owui", "spa"]);

    // list and show, as a table and as JSON.
    let r = roster(&app, &["clients", "list"], "");
    r.ok();
    let lines: Vec<&str> = r.stdout.lines().collect();
    assert!(lines[0].starts_with("CLIENT ID"), "{r:?}");
    assert_eq!(lines.len(), 4, "{r:?}");
    assert!(
        lines[2].starts_with("owui") && lines[2].contains("confidential"),
        "{r:?}"
    );
    assert!(lines[3].starts_with("spa") && lines[3].contains("public"), "{r:?}");
    let r = roster(&app, &["clients", "list", "--format", "json"], "");
    r.ok();
    let listed: Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(listed.as_array().unwrap().len(), 3);
    assert!(
        !r.stdout.contains(&secret) && !r.stdout.contains("digest"),
        "no secret listed"
    );
    let r = roster(&app, &["clients", "show", "lf"], "");
    r.ok();
    assert!(r.stdout.contains("audience                   langflow"), "{r:?}");
    let r = roster(&app, &["clients", "show", "owui", "--format", "json"], "");
    r.ok();
    let shown: Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(shown["client_id"], "owui");
    assert_eq!(
        shown["post_logout_redirect_uris"],
        json!(["https://chat.example.org/auth"])
    );
    roster(&app, &["clients", "show", "nobody"], "").fails(1, "client not found");

    // update: only what is given changes.
    let r = roster(
        &app,
        &[
            "clients",
            "update",
            "owui",
            "--no-first-party",
            "--access-token-ttl",
            "600",
            "--name",
            "",
        ],
        "",
    );
    r.ok();
    assert!(r.stdout.contains("Client owui updated."), "{r:?}");
    let updated = app.core.get_oidc_client(app.core.operator(), "owui").await.unwrap();
    assert!(!updated.first_party);
    assert_eq!(updated.access_token_ttl, 600);
    assert_eq!(updated.name, None);
    assert_eq!(updated.redirect_uris, stored.redirect_uris, "unchanged");
    roster(&app, &["clients", "update", "owui", "--access-token-ttl", "5"], "").fails(1, "access_token_ttl");
    roster(&app, &["clients", "update", "owui", "--signing-alg", "HS256"], "").fails(1, "signing_alg");
    roster(&app, &["clients", "update", "nobody", "--first-party"], "").fails(1, "client not found");
    assert_eq!(
        app.core
            .get_oidc_client(app.core.operator(), "owui")
            .await
            .unwrap()
            .access_token_ttl,
        600,
        "a refused update changes nothing"
    );

    // rotate-secret: a new secret printed once, the old one refused at once.
    let r = roster(&app, &["clients", "rotate-secret", "owui"], "");
    r.ok();
    assert!(r.stdout.contains("Client owui secret replaced."), "{r:?}");
    let rotated = secret_of(&r.stdout);
    assert_ne!(rotated, secret);
    assert_eq!(works("owui", &secret).await, 401);
    assert_eq!(works("owui", &rotated).await, 200);
    let again = "R".repeat(40);
    let r = roster(
        &app,
        &["clients", "rotate-secret", "lf", "--secret-stdin"],
        &format!("{again}\n"),
    );
    r.ok();
    assert!(!r.stdout.contains(&again) && !r.stdout.contains("shown once"), "{r:?}");
    assert_eq!(works("lf", &given).await, 401);
    assert_eq!(works("lf", &again).await, 200);
    roster(&app, &["clients", "rotate-secret", "spa"], "").fails(1, "a public client has no secret");
    roster(&app, &["clients", "rotate-secret", "nobody"], "").fails(1, "client not found");

    // remove: gone, its tokens with it; a second remove is an error.
    let r = roster(&app, &["clients", "remove", "lf"], "");
    r.ok();
    assert!(r.stdout.contains("Client lf removed."), "{r:?}");
    assert_eq!(works("lf", &again).await, 401);
    roster(&app, &["clients", "remove", "lf"], "").fails(1, "client not found");

    // Every change is audited (the command line is no user) and in the outbox.
    let audit = app.audit().await;
    for action in [
        "oidc_client.created",
        "oidc_client.updated",
        "oidc_client.secret_rotated",
        "oidc_client.deleted",
    ] {
        assert!(
            audit.iter().any(|e| e.action == action && e.actor_id.is_none()),
            "{action} audited"
        );
    }
}

backend_tests!(
    clients_logouts_lists_the_queue,
    clients_are_managed_from_the_command_line,
    a_different_secret_key_is_refused,
    create_user_and_list_users,
    ban_unban_and_list_bans,
    reset_password_ends_sessions,
    delete_user_removes_every_row,
    invite_user_prints_a_working_link,
    user_stats_counts,
    add_and_set_balance,
    invite_user_mails_the_link,
    import_and_export_users,
    import_reports_records_with_nul_characters,
    prompts_on_a_terminal,
    audit_prints_the_trail,
);

/// `roster badge add|remove|list`, seen through the Plexichat dialect.
mod badges {
    use super::*;

    async fn badges_are_given_taken_and_listed(backend: Backend) {
        let app = roster_testkit::or_skip!(app(backend).await);
        let _admin = app.admin().await;
        let user = app.user(Role::User).await;
        let r = roster(&app, &["badge", "add", &user.email, "Early_Supporter"], "");
        r.ok();
        assert!(r.stdout.contains("early_supporter"), "{r:?}");
        roster(&app, &["badge", "add", &user.username, "staff"], "").ok();
        let me = app.get("/plexichat/users/@me", Some(&user.access_token)).await;
        me.assert_status(200);
        assert_eq!(me.body["badges"], json!(["early_supporter", "staff"]));
        let r = roster(&app, &["badge", "list", &user.email], "");
        r.ok();
        assert_eq!(r.stdout, "early_supporter\nstaff\n");
        roster(&app, &["badge", "remove", &user.email, "staff"], "").ok();
        roster(&app, &["badge", "remove", &user.email, "staff"], "").fails(1, "has no badge");
        roster(&app, &["badge", "add", &user.email, "not a badge"], "").fails(1, "badge");
        roster(&app, &["badge", "add", "nobody@example.org", "staff"], "").fails(1, "no user");
        // A server sees an admin command's change once its notice arrives (on SQLite, the next
        // poll of the change count): within a second.
        let started = std::time::Instant::now();
        loop {
            let public = app
                .get(&format!("/plexichat/users/{}", user.id), Some(&user.access_token))
                .await;
            if public.body["badges"] == json!(["early_supporter"]) {
                break;
            }
            assert!(
                started.elapsed() < std::time::Duration::from_secs(1),
                "the removed badge is still shown: {}",
                public.body
            );
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        let r = roster(&app, &["badge"], "");
        assert_eq!(r.code, 2, "{r:?}");
    }

    backend_tests!(badges_are_given_taken_and_listed);
}

/// `roster create-user --email-verified=false` mails the verification link (as LibreChat's
/// script does), and `roster balance` shows and sets a user's auto-refill settings.
mod verification_and_refill {
    use super::*;

    async fn an_unverified_user_is_mailed_a_verification_link(backend: Backend) {
        let app = roster_testkit::or_skip!(app(backend).await);
        let _admin = app.admin().await;
        let smtp = roster_testkit::smtp::SmtpSink::start().await;
        let create = |email: &str, username: &str, verified: &str| {
            let mut child = command(
                &app,
                &[
                    "create-user",
                    email,
                    "Vera Unverified",
                    username,
                    "--password-stdin",
                    verified,
                ],
            )
            .env("ROSTER_SMTP_URL", &smtp.url)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
            child.stdin.take().unwrap().write_all(b"vera's password\n").unwrap();
            child.wait_with_output().unwrap()
        };
        // Verified (the default): no mail.
        let out = create("kept@example.org", "kept", "--email-verified=true");
        assert!(out.status.success(), "{out:?}");
        let out = create("vera@example.org", "vera", "--email-verified=false");
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(out.status.success(), "{out:?}");
        assert!(stdout.contains("Email verified: false"), "{stdout}");
        assert!(
            stdout.contains("Verification email sent to vera@example.org."),
            "{stdout}"
        );
        let mail = smtp.wait_for(1).await;
        assert_eq!(mail.len(), 1, "only the unverified user is mailed");
        assert_eq!(mail[0].to, vec!["vera@example.org".to_string()]);
        assert!(mail[0].decoded().contains("Verify your email"), "{}", mail[0].data);
        let link = mail[0].link("https://roster.example.org/verify-email?token=").unwrap();
        assert!(link.ends_with("&email=vera%40example.org"), "{link}");
        // The link leads to Roster's verification page: opening it asks to confirm and uses
        // nothing up; the confirmation (a form with its CSRF token) verifies.
        let path = link.trim_start_matches("https://roster.example.org");
        let page = app.client.get(format!("{}{path}", app.address)).send().await.unwrap();
        assert_eq!(page.status(), 200);
        let query: std::collections::HashMap<String, String> =
            reqwest::Url::parse(&link).unwrap().query_pairs().into_owned().collect();
        let csrf = "c".repeat(43);
        let confirm = || {
            app.client
                .post(format!("{}/verify-email", app.address))
                .header("cookie", format!("roster_csrf={csrf}"))
                .form(&[
                    ("csrf", csrf.as_str()),
                    ("token", query["token"].as_str()),
                    ("email", query["email"].as_str()),
                ])
                .send()
        };
        let done = confirm().await.unwrap();
        assert_eq!(done.status(), 200);
        assert!(done.text().await.unwrap().contains("Your email address is verified"));
        assert_eq!(confirm().await.unwrap().status(), 404, "a used link says so");
        let login = app.login("vera@example.org", "vera's password").await;
        login.assert_status(200);
        assert_eq!(login.body["user"]["email_verified"], true);

        // Without SMTP the link is printed for the operator to pass on.
        let r = roster(
            &app,
            &[
                "create-user",
                "nomail@example.org",
                "No Mail",
                "nomail",
                "--password-stdin",
                "--email-verified=false",
            ],
            "a long password\n",
        );
        r.ok();
        assert!(r.stdout.contains("No email service is configured"), "{r:?}");
        token_in(&r.stdout, "verify-email");
    }

    async fn balance_shows_and_sets_refill_settings(backend: Backend) {
        let app = roster_testkit::or_skip!(app(backend).await);
        let _admin = app.admin().await;
        let user = app.user(Role::User).await;
        let r = roster(&app, &["balance", &user.email], "");
        r.ok();
        assert!(r.stdout.contains("Balance of"), "{r:?}");
        assert!(r.stdout.contains("Auto-refill: off (default)"), "{r:?}");
        assert!(r.stdout.contains("Refill interval: 30 days (default)"), "{r:?}");
        assert!(r.stdout.contains("Refill amount: 10000 (default)"), "{r:?}");
        let balance = app.get("/librechat/api/balance", Some(&user.access_token)).await;
        assert_eq!(balance.body, json!({"tokenCredits": 0, "autoRefillEnabled": false}));

        let r = roster(
            &app,
            &[
                "balance",
                &user.username,
                "--auto-refill",
                "true",
                "--refill-interval",
                "2",
                "--refill-unit",
                "weeks",
                "--refill-amount",
                "500",
            ],
            "",
        );
        r.ok();
        assert!(r.stdout.contains("Auto-refill: on\n"), "{r:?}");
        assert!(r.stdout.contains("Refill interval: 2 weeks\n"), "{r:?}");
        assert!(r.stdout.contains("Refill amount: 500\n"), "{r:?}");
        let balance = app.get("/librechat/api/balance", Some(&user.access_token)).await;
        balance.assert_status(200);
        assert_eq!(balance.body["autoRefillEnabled"], true);
        assert_eq!(balance.body["refillIntervalValue"], 2);
        assert_eq!(balance.body["refillIntervalUnit"], "weeks");
        assert_eq!(balance.body["refillAmount"], 500);

        // Bad values name their option and change nothing.
        let r = roster(&app, &["balance", &user.email, "--refill-unit", "fortnights"], "");
        r.fails(2, "--refill-unit");
        let r = roster(&app, &["balance", &user.email, "--refill-amount", "-5"], "");
        r.fails(1, "refill_amount");
        roster(&app, &["balance", "nobody@example.org"], "").fails(1, "no user");

        // `default` returns a setting to the deployment's.
        let r = roster(&app, &["balance", &user.email, "--auto-refill", "default"], "");
        r.ok();
        assert!(r.stdout.contains("Auto-refill: off (default)"), "{r:?}");
        assert!(r.stdout.contains("Refill amount: 500\n"), "the others are kept: {r:?}");
        let balance = app.get("/librechat/api/balance", Some(&user.access_token)).await;
        assert_eq!(balance.body, json!({"tokenCredits": 0, "autoRefillEnabled": false}));
        // The settings go with the user.
        roster(&app, &["delete-user", &user.email, "--yes"], "").ok();
        let left: Vec<_> = rows_mentioning(&app, user.id.0)
            .await
            .into_iter()
            .filter(|(_, n)| *n > 0)
            .collect();
        assert!(left.is_empty(), "rows left: {left:?}");
    }

    backend_tests!(
        an_unverified_user_is_mailed_a_verification_link,
        balance_shows_and_sets_refill_settings
    );
}

/// `roster tier ...`, seen through the native API and the Plexichat dialect.
mod tiers {
    use super::*;

    async fn tiers_are_defined_and_assigned(backend: Backend) {
        let app = roster_testkit::or_skip!(app(backend).await);
        let _admin = app.admin().await;
        let user = app.user(Role::User).await;
        let r = roster(&app, &["tier", "list"], "");
        r.ok();
        let names: Vec<&str> = r.stdout.lines().map(|l| l.split_whitespace().next().unwrap()).collect();
        assert_eq!(names, ["alpha", "premium", "standard"], "{r:?}");
        assert!(r.stdout.contains("standard  default  {"), "{r:?}");

        let r = roster(
            &app,
            &[
                "tier",
                "set",
                "gold",
                "--limit",
                "max_servers=1000",
                "--limit",
                "multiplier=1.5",
            ],
            "",
        );
        r.ok();
        assert_eq!(r.stdout, "gold  {\"max_servers\":1000,\"multiplier\":1.5}\n");
        roster(&app, &["tier", "set", "silver"], "").fails(1, "needs its limits");
        roster(&app, &["tier", "set", "x", "--limit", "max_servers"], "").fails(1, "NAME=NUMBER");
        roster(&app, &["tier", "set", "x", "--limit", "max_servers=lots"], "").fails(1, "not a number");

        let r = roster(
            &app,
            &["tier", "assign", &user.email, "gold", "--for", "30d", "--note", "trial"],
            "",
        );
        r.ok();
        assert!(
            r.stdout.contains(": gold until ") && r.stdout.contains("(trial)"),
            "{r:?}"
        );
        let features = app.get("/plexichat/users/@me/features", Some(&user.access_token)).await;
        assert_eq!(features.body["tier"], "gold");
        assert_eq!(features.body["tier_limits"]["max_servers"], 1000);
        roster(&app, &["tier", "assign", &user.email, "diamond"], "").fails(1, "tier");
        roster(&app, &["tier", "delete", "standard"], "").fails(1, "default");

        let r = roster(&app, &["tier", "set", "gold", "--default"], "");
        r.ok();
        assert!(r.stdout.starts_with("gold  default  "), "{r:?}");
        roster(&app, &["tier", "delete", "standard"], "").ok();
        let r = roster(&app, &["tier", "clear", &user.username], "");
        r.ok();
        assert!(r.stdout.ends_with(": gold (the default)\n"), "{r:?}");
        let r = roster(&app, &["tier", "show", &user.email], "");
        assert!(r.stdout.ends_with(": gold (the default)\n"), "{r:?}");
        let tier = app
            .get(&format!("/v1/users/{}/tier", user.id), Some(&user.access_token))
            .await;
        assert_eq!(
            (tier.body["tier"]["name"].clone(), tier.body["assigned"].clone()),
            (json!("gold"), json!(false))
        );
        roster(&app, &["tier", "show", "nobody@example.org"], "").fails(1, "no user");
        let r = roster(&app, &["tier"], "");
        assert_eq!(r.code, 2, "{r:?}");
    }

    backend_tests!(tiers_are_defined_and_assigned);
}
