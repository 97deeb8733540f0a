//! `roster migrate`: the real binary imports fixtures made by Open WebUI, Langflow and a
//! LibreChat export checked against LibreChat's own schemas (tests/fixtures/migrate, with the
//! scripts that made them), into a test database on SQLite and on PostgreSQL; every fixture
//! user then logs in with the password the fixture was created with, through the native API
//! and through its product's dialect, served by a Roster on the same database.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use roster_testkit::app::{TestApp, spawn_app_on};
use roster_testkit::{Backend, TestDatabase, backend_tests};
use serde_json::{Value, json};
use std::path::PathBuf;
use std::process::{Command, Stdio};

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

fn fixture(path: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/migrate")
        .join(path)
}

fn fixture_path(path: &str) -> String {
    fixture(path).to_str().unwrap().to_string()
}

fn manifest(path: &str) -> Value {
    serde_json::from_str(&std::fs::read_to_string(fixture(path)).unwrap()).unwrap()
}

fn roster(app: &TestApp, args: &[&str]) -> Run {
    let out = Command::new(BIN)
        .env_clear()
        .env("ROSTER_DATABASE_URL", &app.db.url)
        .env("ROSTER_DATA_DIR", app.files.path())
        .env("ROSTER_SECRET_KEY", roster_testkit::app::TEST_SECRET_KEY)
        .current_dir(std::env::temp_dir())
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

async fn app(backend: Backend) -> Option<TestApp> {
    Some(spawn_app_on(TestDatabase::new(backend).await?).await)
}

fn sha(path: &PathBuf) -> Vec<u8> {
    use std::hash::{DefaultHasher, Hasher};
    let bytes = std::fs::read(path).unwrap();
    let mut h = DefaultHasher::new();
    h.write(&bytes);
    h.finish().to_le_bytes().to_vec()
}

/// The stored password hash of the account with this login.
async fn stored_hash(app: &TestApp, login: &str) -> String {
    let user = app.core.store.find_user_by_login(login).await.unwrap();
    user.password_hash.unwrap().0
}

#[track_caller]
fn assert_current_argon2(hash: &str) {
    assert!(hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{hash}");
}

async fn openwebui_signin(app: &TestApp, email: &str, password: &str) -> (u16, Value) {
    let r = app
        .post(
            "/openwebui/api/v1/auths/signin",
            None,
            &json!({"email": email, "password": password}),
        )
        .await;
    (r.status.as_u16(), r.body)
}

async fn langflow_login(app: &TestApp, username: &str, password: &str) -> (u16, Value) {
    let response = app
        .client
        .post(format!("{}/langflow/api/v1/login", app.address))
        .form(&[("username", username), ("password", password)])
        .send()
        .await
        .unwrap();
    let r = TestApp::read(response).await;
    (r.status.as_u16(), r.body)
}

async fn librechat_login(app: &TestApp, email: &str, password: &str) -> (u16, Value) {
    let r = app
        .post(
            "/librechat/api/auth/login",
            None,
            &json!({"email": email, "password": password}),
        )
        .await;
    (r.status.as_u16(), r.body)
}

/// The TOTP code of a base32 secret at the app clock's step shifted by `delta`.
fn totp(app: &TestApp, secret: &str, delta: i64) -> String {
    use roster_core::Clock;
    use roster_core::two_factor::{code_at, decode_base32, step_at};
    code_at(&decode_base32(secret).unwrap(), step_at(app.clock.now()) + delta)
}

/// A native login that must answer with a two-factor challenge.
async fn native_challenge(app: &TestApp, login: &str, password: &str) -> String {
    let r = app.login(login, password).await;
    r.assert_status(200);
    assert_eq!(r.body["two_factor_required"], true, "{login}: {}", r.text);
    r.body["challenge"].as_str().unwrap().to_string()
}

/// A LibreChat-dialect login that must answer `twoFAPending` with a `tempToken`.
async fn librechat_temp_token(app: &TestApp, email: &str, password: &str) -> String {
    let (status, body) = librechat_login(app, email, password).await;
    assert_eq!(status, 200, "{email}: {body}");
    assert_eq!(body["twoFAPending"], true, "{email}: {body}");
    assert!(body.get("token").is_none(), "{body}");
    body["tempToken"].as_str().unwrap().to_string()
}

async fn librechat_verify_temp(app: &TestApp, temp_token: &str, factor: Value) -> (u16, Value) {
    let mut body = factor;
    body["tempToken"] = json!(temp_token);
    let r = app.post("/librechat/api/auth/2fa/verify-temp", None, &body).await;
    (r.status.as_u16(), r.body)
}

// ---------------------------------------------------------------------------------------
// Open WebUI

async fn open_webui(backend: Backend) {
    let app = roster_testkit::or_skip!(app(backend).await);
    let db = fixture("open-webui/webui.db");
    let before = sha(&db);
    let fixture = manifest("open-webui/users.json");
    let users = fixture["users"].as_array().unwrap();
    let carol_file = users[2]["profile_image"]["file_id"].as_str().unwrap();
    let upload = crate::fixture(&format!("open-webui/uploads/{carol_file}_carol.png"));
    let upload_before = sha(&upload);
    let source = db.to_str().unwrap();

    // A dry run says what would happen and writes nothing.
    let r = roster(&app, &["migrate", "open-webui", source, "--dry-run"]);
    r.ok();
    assert!(r.stdout.contains("user bob@example.org"), "{r:?}");
    assert!(r.stdout.contains("would be created"), "{r:?}");
    assert!(
        r.stdout
            .contains("Dry run, nothing written: open-webui: users: 5 created, 0 updated, 0 unchanged"),
        "{r:?}"
    );
    assert_eq!(app.core.store.count_users().await.unwrap(), 0);
    assert!(app.core.store.list_groups().await.unwrap().is_empty());
    assert!(!app.files.path().join("avatars").exists(), "a dry run writes no avatar");

    // The real run.
    let r = roster(&app, &["migrate", "open-webui", source]);
    r.ok();
    assert!(
        r.stdout
            .contains("users: 5 created, 0 updated, 0 unchanged, 0 skipped, 0 failed; groups: 1 created"),
        "{r:?}"
    );
    assert!(r.stdout.contains("default permissions: created"), "{r:?}");
    assert_eq!(app.core.store.count_users().await.unwrap(), 5);

    for u in users {
        let (email, password, role) = (
            u["email"].as_str().unwrap(),
            u["password"].as_str().unwrap(),
            u["role"].as_str().unwrap(),
        );
        let active = u["active"].as_bool().unwrap();
        // The kept source hash first (bcrypt or argon2-cffi), not yet Roster's.
        assert!(
            !stored_hash(&app, email)
                .await
                .starts_with("$argon2id$v=19$m=19456,t=2,p=1$")
        );
        // Wrong passwords are refused like any other.
        let (status, _) = openwebui_signin(&app, email, "not the password").await;
        assert_eq!(status, 400, "{email}");
        let native = app.login(email, password).await;
        match (active, role) {
            (false, _) => {
                native.assert_problem(403, "account_disabled");
            }
            (true, "pending") => {
                native.assert_problem(403, "account_pending");
                // Open WebUI signs pending users in (its waiting page).
                let (status, body) = openwebui_signin(&app, email, password).await;
                assert_eq!(status, 200, "{email}: {body}");
                assert_eq!(body["role"], "pending");
            }
            (true, _) => {
                native.assert_status(200);
                assert_eq!(native.body["user"]["role"], role, "{email}");
                let (status, body) = openwebui_signin(&app, email, password).await;
                assert_eq!(status, 200, "{email}: {body}");
                assert_eq!(body["role"], role);
                assert_eq!(body["email"], email);
                assert_eq!(body["name"], u["name"]);
                // Upgraded to Roster's Argon2id at the first login.
                assert_current_argon2(&stored_hash(&app, email).await);
            }
        }
    }

    // Bob's settings, info, status, profile image and API key came along.
    let (_, bob) = openwebui_signin(&app, "bob@example.org", "bob correct horse").await;
    let token = bob["token"].as_str().unwrap();
    let settings = app
        .get("/openwebui/api/v1/users/user/settings?raw=true", Some(token))
        .await;
    settings.assert_status(200);
    assert_eq!(settings.body["ui"]["theme"], "dark", "{:?}", settings.body);
    assert_eq!(settings.body["ui"]["models"], json!(["llama3:8b"]));
    let info = app.get("/openwebui/api/v1/users/user/info", Some(token)).await;
    assert_eq!(info.body, json!({"location": "Berlin"}));
    let me = app.get("/openwebui/api/v1/auths/", Some(token)).await;
    me.assert_status(200);
    assert_eq!(me.body["bio"], "Likes graphs");
    assert_eq!(me.body["gender"], "male");
    assert_eq!(me.body["status_emoji"], "🚀");
    assert_eq!(me.body["status_message"], "shipping");
    // Bob's profile image (a small data: URL) is now a Roster avatar, served by Open WebUI's
    // profile image route.
    let route = format!("/api/v1/users/{}/profile/image", me.body["id"].as_str().unwrap());
    assert_eq!(me.body["profile_image_url"], route.as_str(), "{:?}", me.body);
    assert_eq!(
        fetch_image(&app, &format!("/openwebui{route}"), Some(token)).await,
        (24, 24)
    );
    let api_key = users[1]["api_key"].as_str().unwrap();
    let by_key = app.get("/v1/me", Some(api_key)).await;
    by_key.assert_status(200);
    assert_eq!(by_key.body["email"], "bob@example.org");

    // Dave's large data: URL and Carol's uploaded file became avatars too (cropped square).
    let dave = app.core.store.find_user_by_login("dave@example.org").await.unwrap();
    let dave_avatar = dave.avatar.clone().unwrap();
    assert!(dave_avatar.starts_with("/v1/avatars/"), "{dave_avatar}");
    assert_eq!(fetch_image(&app, &dave_avatar, None).await, (140, 140));
    let (_, signed_in) = openwebui_signin(&app, "dave@example.org", "dave-argon2-4").await;
    let route = format!(
        "/openwebui/api/v1/users/{}/profile/image",
        signed_in["id"].as_str().unwrap()
    );
    assert_eq!(fetch_image(&app, &route, signed_in["token"].as_str()).await, (140, 140));
    let carol = app.core.store.find_user_by_login("carol@example.org").await.unwrap();
    assert_eq!(
        fetch_image(&app, carol.avatar.as_deref().unwrap(), None).await,
        (48, 48)
    );
    assert!(r.stdout.lines().all(|l| !l.contains("profile image")), "{r:?}");

    // The group with its members and permissions; the default template.
    let groups = app.core.store.list_groups().await.unwrap();
    assert_eq!(groups.len(), 1);
    assert_eq!(groups[0].name, "Researchers");
    assert_eq!(groups[0].permissions["workspace"]["models"], true);
    let members = app.core.store.list_group_members(groups[0].id).await.unwrap();
    let mut emails = Vec::new();
    for m in members {
        emails.push(app.core.store.get_user(m).await.unwrap().email.unwrap());
    }
    emails.sort();
    assert_eq!(emails, ["bob@example.org", "dave@example.org"]);
    let template = app
        .core
        .store
        .get_permission_template("default")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(template, fixture["default_permissions"]);
    assert_eq!(template["chat"]["temporary"], false);

    // A second run updates instead of duplicating; the upgraded hash is kept.
    let upgraded = stored_hash(&app, "bob@example.org").await;
    let r = roster(&app, &["migrate", "open-webui", source]);
    r.ok();
    assert!(
        r.stdout.contains(
            "users: 0 created, 0 updated, 5 unchanged, 0 skipped, 0 failed; groups: 0 created, 0 updated, 1 unchanged"
        ),
        "{r:?}"
    );
    assert_eq!(app.core.store.count_users().await.unwrap(), 5);
    assert_eq!(app.core.store.list_groups().await.unwrap().len(), 1);
    assert_eq!(stored_hash(&app, "bob@example.org").await, upgraded);
    app.login("bob@example.org", "bob correct horse")
        .await
        .assert_status(200);
    app.get("/v1/me", Some(api_key)).await.assert_status(200);
    // The avatars are the same files (no new copy per run).
    let dave_again = app.core.store.find_user_by_login("dave@example.org").await.unwrap();
    assert_eq!(dave_again.avatar.as_deref(), Some(dave_avatar.as_str()));
    assert_eq!(std::fs::read_dir(app.files.path().join("avatars")).unwrap().count(), 3);

    // The source was only read.
    assert_eq!(sha(&db), before);
    assert_eq!(sha(&upload), upload_before);
}

/// Fetches an image from the app and returns its size.
async fn fetch_image(app: &TestApp, path: &str, token: Option<&str>) -> (u32, u32) {
    let mut request = app.client.get(format!("{}{path}", app.address));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let got = request.send().await.unwrap();
    assert_eq!(got.status(), 200, "{path}");
    assert_eq!(got.headers()["content-type"], "image/png", "{path}");
    let image = image::load_from_memory(&got.bytes().await.unwrap()).unwrap();
    (image.width(), image.height())
}

/// An email already in Roster follows --on-conflict.
async fn open_webui_conflicts(backend: Backend) {
    let app = roster_testkit::or_skip!(app(backend).await);
    let source = fixture("open-webui/webui.db");
    let source = source.to_str().unwrap();
    let fixture = manifest("open-webui/users.json");
    let alice_id = fixture["users"][0]["id"].as_str().unwrap().to_string();
    roster(
        &app,
        &[
            "create-user",
            "alice@example.org",
            "Alice R",
            "alice",
            "roster password",
        ],
    )
    .ok();

    // fail: the record fails (named by its source id), the others go in, exit 1.
    let r = roster(&app, &["migrate", "open-webui", source, "--on-conflict", "fail"]);
    assert_eq!(r.code, 1, "{r:?}");
    let line = r.stderr.lines().find(|l| l.contains("alice@example.org")).unwrap();
    assert!(
        line.contains(&alice_id) && line.contains("failed") && line.contains("exists"),
        "{r:?}"
    );
    assert!(
        r.stdout
            .contains("4 created, 0 updated, 0 unchanged, 0 skipped, 1 failed"),
        "{r:?}"
    );
    app.login("alice@example.org", "roster password")
        .await
        .assert_status(200);

    // skip (the default): left alone, with the reason.
    let r = roster(&app, &["migrate", "open-webui", source, "--dry-run"]);
    r.ok();
    let line = r.stdout.lines().find(|l| l.contains("alice@example.org")).unwrap();
    assert!(line.contains("would be skipped") && line.contains("exists"), "{r:?}");
    let r = roster(&app, &["migrate", "open-webui", source]);
    r.ok();
    assert!(
        r.stdout
            .contains("0 created, 0 updated, 4 unchanged, 1 skipped, 0 failed"),
        "{r:?}"
    );
    app.login("alice@example.org", "roster password")
        .await
        .assert_status(200);
    assert_eq!(app.core.store.count_users().await.unwrap(), 5);

    // update: the account takes Open WebUI's hash and role, and is linked from then on.
    let r = roster(&app, &["migrate", "open-webui", source, "--on-conflict", "update"]);
    r.ok();
    assert!(
        r.stdout.contains("0 created, 1 updated, 4 unchanged, 0 skipped"),
        "{r:?}"
    );
    app.login("alice@example.org", "roster password")
        .await
        .assert_status(401);
    let ok = app.login("alice@example.org", "alice-Secret-1").await;
    ok.assert_status(200);
    assert_eq!(ok.body["user"]["username"], "alice");
    let r = roster(&app, &["migrate", "open-webui", source, "--on-conflict", "fail"]);
    r.ok();
    assert!(
        r.stdout
            .contains("0 created, 0 updated, 5 unchanged, 0 skipped, 0 failed"),
        "{r:?}"
    );
}

/// A PostgreSQL database of its own holding a product's dump (a fixture made with
/// `pg_dump --inserts`); None when PostgreSQL is missing outside CI.
async fn source_database(dump: &str) -> Option<TestDatabase> {
    use sqlx::Connection;
    let db = TestDatabase::new(Backend::Postgres).await?;
    let dump = std::fs::read_to_string(fixture(dump)).unwrap();
    let mut connection = sqlx::PgConnection::connect(&db.url).await.unwrap();
    sqlx::raw_sql(&dump).execute(&mut connection).await.unwrap();
    connection.close().await.unwrap();
    Some(db)
}

/// Open WebUI on PostgreSQL: the source read through a postgres:// URL (a dump of the database
/// Open WebUI made there, loaded into a fresh PostgreSQL database).
async fn open_webui_from_postgres(backend: Backend) {
    let app = roster_testkit::or_skip!(app(backend).await);
    let source_db = roster_testkit::or_skip!(source_database("open-webui/postgres.sql").await);
    let fixture = manifest("open-webui/users-postgres.json");
    let r = roster(&app, &["migrate", "open-webui", &source_db.url]);
    r.ok();
    assert!(
        r.stdout
            .contains("users: 5 created, 0 updated, 0 unchanged, 0 skipped, 0 failed; groups: 1 created"),
        "{r:?}"
    );
    assert!(r.stdout.contains("default permissions: created"), "{r:?}");
    for u in fixture["users"].as_array().unwrap() {
        let (email, password) = (u["email"].as_str().unwrap(), u["password"].as_str().unwrap());
        let (status, body) = openwebui_signin(&app, email, password).await;
        if u["active"].as_bool().unwrap() {
            assert_eq!(status, 200, "{email}: {body}");
            assert_eq!(body["role"], u["role"]);
        } else {
            let native = app.login(email, password).await;
            native.assert_problem(403, "account_disabled");
        }
    }
    let key = fixture["users"][1]["api_key"].as_str().unwrap();
    app.get("/v1/me", Some(key)).await.assert_status(200);
    let groups = app.core.store.list_groups().await.unwrap();
    assert_eq!(app.core.store.list_group_members(groups[0].id).await.unwrap().len(), 2);
    // Profile images: data: URLs come from the database itself; an uploaded file needs
    // Open WebUI's data directory (--files), which a PostgreSQL URL does not give.
    for (email, side) in [("bob@example.org", 24), ("dave@example.org", 140)] {
        let user = app.core.store.find_user_by_login(email).await.unwrap();
        assert_eq!(
            fetch_image(&app, user.avatar.as_deref().unwrap(), None).await,
            (side, side)
        );
    }
    let carol = app.core.store.find_user_by_login("carol@example.org").await.unwrap();
    assert_eq!(carol.avatar, None);
    assert!(
        r.stdout
            .lines()
            .any(|l| l.starts_with("user carol@example.org") && l.contains("--files DIR")),
        "{r:?}"
    );
    let files = fixture_path("open-webui");
    let r = roster(&app, &["migrate", "open-webui", &source_db.url, "--files", &files]);
    r.ok();
    assert!(r.stdout.contains("users: 0 created, 1 updated, 4 unchanged"), "{r:?}");
    let carol = app.core.store.find_user_by_login("carol@example.org").await.unwrap();
    assert_eq!(
        fetch_image(&app, carol.avatar.as_deref().unwrap(), None).await,
        (48, 48)
    );
    let r = roster(&app, &["migrate", "open-webui", &source_db.url, "--files", &files]);
    r.ok();
    assert!(r.stdout.contains("users: 0 created, 0 updated, 5 unchanged"), "{r:?}");
    let r = roster(
        &app,
        &["migrate", "open-webui", &source_db.url, "--files", "/nonexistent"],
    );
    assert_eq!(r.code, 1, "{r:?}");
    assert!(r.stderr.contains("--files: /nonexistent is not a directory"), "{r:?}");
    // The source was only read: its rows are as the dump made them, hashes not upgraded.
    use sqlx::Connection;
    let mut connection = sqlx::PgConnection::connect(&source_db.url).await.unwrap();
    let hashes: Vec<(String,)> = sqlx::query_as("SELECT password FROM auth ORDER BY id")
        .fetch_all(&mut connection)
        .await
        .unwrap();
    assert_eq!(hashes.len(), 5);
    assert!(hashes.iter().all(|(h,)| !h.starts_with("$argon2id$v=19$m=19456")));
    connection.close().await.unwrap();
}

// ---------------------------------------------------------------------------------------
// Langflow

/// Every user of a Langflow fixture manifest logs in as the importer mapped it: active users
/// through the Langflow dialect and the native API (the hash upgraded to Roster's argon2id),
/// superusers as admins with their optins, inactive users pending (never signed in) or
/// disabled; frank's API key from the manifest works through both APIs.
async fn assert_langflow_users(app: &TestApp, fixture: &Value) {
    for u in fixture["users"].as_array().unwrap() {
        let (username, password) = (u["username"].as_str().unwrap(), u["password"].as_str().unwrap());
        let (active, superuser) = (u["is_active"].as_bool().unwrap(), u["is_superuser"].as_bool().unwrap());
        let (status, body) = langflow_login(app, username, "not the password").await;
        assert_eq!(
            (status, &body["detail"]),
            (401, &json!("Incorrect username or password"))
        );
        let (status, body) = langflow_login(app, username, password).await;
        let native = app.login(username, password).await;
        match (active, u["last_login_at"].is_null()) {
            (true, _) => {
                assert_eq!(status, 200, "{username}: {body}");
                native.assert_status(200);
                let token = body["access_token"].as_str().unwrap();
                let me = app.get("/langflow/api/v1/users/whoami", Some(token)).await;
                me.assert_status(200);
                assert_eq!(me.body["username"], username);
                assert_eq!(me.body["is_superuser"], superuser);
                assert_eq!(me.body["profile_image"], u["profile_image"]);
                assert!(!me.body["last_login_at"].is_null());
                assert_current_argon2(&stored_hash(app, username).await);
            }
            // Never signed in: waiting for approval, as in Langflow.
            (false, true) => {
                assert_eq!((status, &body["detail"]), (400, &json!("Waiting for approval")));
                native.assert_problem(403, "account_pending");
            }
            (false, false) => {
                assert_eq!((status, &body["detail"]), (401, &json!("Inactive user")));
                native.assert_problem(403, "account_disabled");
            }
        }
    }
    // The superuser's optins came along.
    let (_, body) = langflow_login(app, "langflow", "langflow-Super-1").await;
    let me = app
        .get("/langflow/api/v1/users/whoami", body["access_token"].as_str())
        .await;
    assert_eq!(me.body["optins"]["github_starred"], true);
    assert_eq!(me.body["is_superuser"], true);

    // Frank's API key (stored by Langflow as its SHA-256) keeps working.
    let key = fixture["users"][1]["api_key"].as_str().unwrap();
    let response = app
        .client
        .get(format!("{}/langflow/api/v1/users/whoami", app.address))
        .header("x-api-key", key)
        .send()
        .await
        .unwrap();
    let r = TestApp::read(response).await;
    r.assert_status(200);
    assert_eq!(r.body["username"], "frank");
    app.get("/v1/me", Some(key)).await.assert_status(200);
}

/// Migrates a Langflow source: a dry run writes nothing, the run creates the fixture's four
/// users (checked by [`assert_langflow_users`]), a second run changes nothing.
async fn migrate_langflow(app: &TestApp, source: &str, fixture: &Value) {
    let r = roster(app, &["migrate", "langflow", source, "--dry-run"]);
    r.ok();
    assert!(r.stdout.contains("users: 4 created"), "{r:?}");
    assert_eq!(app.core.store.count_users().await.unwrap(), 0);
    let r = roster(app, &["migrate", "langflow", source]);
    r.ok();
    assert!(
        r.stdout
            .contains("users: 4 created, 0 updated, 0 unchanged, 0 skipped, 0 failed"),
        "{r:?}"
    );
    assert_langflow_users(app, fixture).await;

    let r = roster(app, &["migrate", "langflow", source]);
    r.ok();
    assert!(r.stdout.contains("users: 0 created, 0 updated, 4 unchanged"), "{r:?}");
    assert_eq!(app.core.store.count_users().await.unwrap(), 4);
    let frank = app.core.store.find_user_by_login("frank").await.unwrap();
    assert_eq!(app.core.store.list_api_keys(frank.id).await.unwrap().len(), 1);
}

async fn langflow(backend: Backend) {
    let app = roster_testkit::or_skip!(app(backend).await);
    let db = fixture("langflow/langflow.db");
    let before = sha(&db);
    let fixture = manifest("langflow/users.json");
    let source = db.to_str().unwrap();

    migrate_langflow(&app, source, &fixture).await;
    assert_eq!(sha(&db), before);
}

/// The same data made by Langflow on PostgreSQL (its migrations and models; dumped with
/// `pg_dump --inserts`), loaded into a database of its own and read over a postgres:// URL.
async fn langflow_from_postgres(backend: Backend) {
    use sqlx::Connection;
    let app = roster_testkit::or_skip!(app(backend).await);
    let source_db = roster_testkit::or_skip!(source_database("langflow/postgres.sql").await);
    let before = pg_checksum(&source_db.url).await;
    assert!(before.len() > 50, "the dump made Langflow's tables: {before:?}");
    let users = before.iter().find(|(table, _)| table == "user").unwrap();
    assert!(!users.1.is_empty(), "the dump filled the user table");
    let fixture = manifest("langflow/users-postgres.json");
    assert_eq!(fixture["users"].as_array().unwrap().len(), 4);
    let source = source_db.url.as_str();

    migrate_langflow(&app, source, &fixture).await;

    // The source was only read: every table's rows are as the dump made them (Langflow's
    // bcrypt hashes not upgraded, API key uses not counted).
    assert_eq!(pg_checksum(&source_db.url).await, before);
    let mut connection = sqlx::PgConnection::connect(&source_db.url).await.unwrap();
    let hashes: Vec<(String,)> = sqlx::query_as(r#"SELECT password FROM "user" ORDER BY username"#)
        .fetch_all(&mut connection)
        .await
        .unwrap();
    assert_eq!(hashes.len(), 4);
    assert!(hashes.iter().all(|(h,)| h.starts_with("$2b$12$")), "{hashes:?}");
    connection.close().await.unwrap();
}

/// Each table of a PostgreSQL database's public schema with an MD5 of all its rows.
async fn pg_checksum(url: &str) -> Vec<(String, String)> {
    use sqlx::Connection;
    let mut connection = sqlx::PgConnection::connect(url).await.unwrap();
    let tables: Vec<(String,)> = sqlx::query_as(
        "SELECT CAST(table_name AS TEXT) FROM information_schema.tables \
         WHERE table_schema = 'public' AND table_type = 'BASE TABLE' ORDER BY table_name",
    )
    .fetch_all(&mut connection)
    .await
    .unwrap();
    let mut out = Vec::new();
    for (table,) in tables {
        let sql = format!(
            "SELECT COALESCE(md5(string_agg(CAST(t AS TEXT), '|' ORDER BY CAST(t AS TEXT))), '') \
             FROM public.\"{table}\" t"
        );
        let (sum,): (String,) = sqlx::query_as(&sql).fetch_one(&mut connection).await.unwrap();
        out.push((table, sum));
    }
    connection.close().await.unwrap();
    out
}

// ---------------------------------------------------------------------------------------
// LibreChat

async fn librechat(backend: Backend) {
    let app = roster_testkit::or_skip!(app(backend).await);
    let fixture = manifest("librechat/manifest.json");
    let files: Vec<String> = ["users.json", "balances.json", "transactions.json"]
        .iter()
        .map(|f| fixture_path(&format!("librechat/export/{f}")))
        .collect();
    let mut args = vec!["migrate", "librechat"];
    args.extend(files.iter().map(String::as_str));

    let mut dry = args.clone();
    dry.push("--dry-run");
    let r = roster(&app, &dry);
    r.ok();
    assert!(r.stdout.contains("users: 6 created, 0 updated"), "{r:?}");
    // Without LibreChat's CREDS_KEY the encrypted secrets stay behind, each with its note; the
    // plain (older LibreChat) secret needs no key.
    for (email, format) in [("oscar@example.org", "v3"), ("peggy@example.org", "v2")] {
        let line = r.stdout.lines().find(|l| l.contains(email)).unwrap();
        assert!(
            line.contains(&format!(
                "two-factor not carried over: totpSecret is encrypted ({format}) and no --creds-key (or CREDS_KEY) was given"
            )),
            "{r:?}"
        );
    }
    assert!(
        !r.stdout
            .lines()
            .any(|l| l.contains("trent@example.org") && l.contains("two-factor")),
        "{r:?}"
    );
    assert_eq!(app.core.store.count_users().await.unwrap(), 0);
    // Ivan's avatar is a file of LibreChat's local file strategy: it needs --files.
    let ivan_line = r.stdout.lines().find(|l| l.contains("ivan@example.org")).unwrap();
    assert!(
        ivan_line.contains("give LibreChat's client/public directory with --files DIR"),
        "{r:?}"
    );

    let r = roster(&app, &args);
    r.ok();
    assert!(
        r.stdout
            .contains("users: 6 created, 0 updated, 0 unchanged, 0 skipped, 0 failed"),
        "{r:?}"
    );
    assert!(
        r.stdout
            .lines()
            .any(|l| l.contains("mallory@example.org") && l.contains("no password")),
        "{r:?}"
    );

    for u in fixture["users"].as_array().unwrap() {
        let email = u["email"].as_str().unwrap();
        let Some(password) = u["password"].as_str() else {
            // A Google account: no password to bring.
            let user = app.core.store.find_user_by_login(email).await.unwrap();
            assert!(user.password_hash.is_none());
            assert_eq!(user.provider, "google");
            assert_eq!(user.preferences["provider_ids"]["googleId"], "108239471234567890123");
            continue;
        };
        assert!(stored_hash(&app, email).await.starts_with("$2"), "bcryptjs hash kept");
        let (status, body) = librechat_login(&app, email, "not the password").await;
        assert_eq!(
            (status, &body["message"]),
            (404, &json!("Email does not exist or the password is incorrect.")),
            "{email}"
        );
        if u["totp_format"] == "plain" {
            // Carried over without a key: the password alone is not enough.
            let temp = librechat_temp_token(&app, email, password).await;
            let (status, body) = librechat_verify_temp(
                &app,
                &temp,
                json!({"token": totp(&app, u["totp_secret"].as_str().unwrap(), 0)}),
            )
            .await;
            assert_eq!(status, 200, "{email}: {body}");
            assert_eq!(body["user"]["twoFactorEnabled"], true);
            native_challenge(&app, email, password).await;
            continue;
        }
        let (status, body) = librechat_login(&app, email, password).await;
        assert_eq!(status, 200, "{email}: {body}");
        assert_eq!(body["user"]["email"], email);
        assert_eq!(body["user"]["role"], u["role"]);
        assert_eq!(body["user"]["username"], u["username"]);
        assert_current_argon2(&stored_hash(&app, email).await);
        app.login(u["username"].as_str().unwrap(), password)
            .await
            .assert_status(200);
    }

    // Ivan's plugins, personalization and accepted terms; Judy's balance and history.
    let (_, ivan) = librechat_login(&app, "ivan@example.org", "ivan-Secret-1").await;
    let token = ivan["token"].as_str().unwrap();
    let me = app.get("/librechat/api/user", Some(token)).await;
    me.assert_status(200);
    assert_eq!(me.body["plugins"], json!(["google", "dalle"]));
    assert_eq!(me.body["personalization"]["memories"], false);
    assert_eq!(me.body["emailVerified"], true);
    let terms = app.get("/librechat/api/user/terms", Some(token)).await;
    assert_eq!(terms.body["termsAccepted"], true, "{:?}", terms.body);
    let (_, judy) = librechat_login(&app, "judy@example.org", "judy's password 2").await;
    let judy_token = judy["token"].as_str().unwrap();
    let balance = app.get("/librechat/api/balance", Some(judy_token)).await;
    balance.assert_status(200);
    assert_eq!(balance.body["tokenCredits"], 12345, "{:?}", balance.body);
    assert_eq!(judy["user"]["avatar"], "https://example.org/judy.png");

    // Again: nothing duplicated, the balance the same.
    let r = roster(&app, &args);
    r.ok();
    assert!(r.stdout.contains("users: 0 created, 0 updated, 6 unchanged"), "{r:?}");
    // With LibreChat's public directory, Ivan's avatar file comes along (resized to 256 px at
    // most: 250 stays), served where LibreChat's client shows it.
    let public = fixture_path("librechat/public");
    let mut with_files = args.clone();
    with_files.extend(["--files", public.as_str()]);
    let r = roster(&app, &with_files);
    r.ok();
    assert!(r.stdout.contains("users: 0 created, 1 updated, 5 unchanged"), "{r:?}");
    let me = app.get("/librechat/api/user", Some(token)).await;
    let avatar = me.body["avatar"].as_str().unwrap().to_string();
    assert!(avatar.starts_with("/v1/avatars/"), "{:?}", me.body);
    assert_eq!(fetch_image(&app, &avatar, None).await, (250, 250));
    let r = roster(&app, &with_files);
    r.ok();
    assert!(r.stdout.contains("users: 0 created, 0 updated, 6 unchanged"), "{r:?}");
    assert_eq!(app.core.store.count_users().await.unwrap(), 6);
    let balance = app.get("/librechat/api/balance", Some(judy_token)).await;
    assert_eq!(balance.body["tokenCredits"], 12345);
}

/// A bad document is reported with its source id and does not stop the others.
async fn librechat_bad_record(backend: Backend) {
    let app = roster_testkit::or_skip!(app(backend).await);
    let dir = tempfile::tempdir().unwrap();
    let users = std::fs::read_to_string(fixture("librechat/export/users.json")).unwrap();
    let bad =
        r#"{"_id":{"$oid":"65a1b2c3d4e5f60718293a4b"},"email":"not an email","password":"$2b$10$x","name":"Bad"}"#;
    let path = dir.path().join("users.json");
    std::fs::write(&path, format!("{bad}\n{users}")).unwrap();
    let r = roster(&app, &["migrate", "librechat", path.to_str().unwrap()]);
    assert_eq!(r.code, 1, "{r:?}");
    let line = r
        .stderr
        .lines()
        .find(|l| l.contains("65a1b2c3d4e5f60718293a4b"))
        .unwrap();
    assert!(line.contains("failed") && line.contains("email"), "{r:?}");
    assert!(
        r.stdout
            .contains("users: 6 created, 0 updated, 0 unchanged, 0 skipped, 1 failed"),
        "{r:?}"
    );
    assert_eq!(app.core.store.count_users().await.unwrap(), 6);
}

fn librechat_args(fixture_files: &[String], extra: &[&str]) -> Vec<String> {
    let mut args: Vec<String> = vec!["migrate".into(), "librechat".into()];
    args.extend(fixture_files.iter().cloned());
    args.extend(extra.iter().map(|s| s.to_string()));
    args
}

fn librechat_files() -> Vec<String> {
    ["users.json", "balances.json", "transactions.json"]
        .iter()
        .map(|f| fixture_path(&format!("librechat/export/{f}")))
        .collect()
}

fn two_factor_users(fixture: &Value) -> Vec<Value> {
    fixture["users"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|u| u["twoFactorEnabled"] == true)
        .cloned()
        .collect()
}

/// With LibreChat's CREDS_KEY, every two-factor user (secret encrypted by LibreChat's
/// encryptV3, encryptV2, or plain) completes the second login step with a code of the
/// manifest's secret, natively and through LibreChat's flow, and with an unused imported
/// backup code once; the code used in LibreChat stays used. A dry run writes nothing; a
/// second run (the key from the environment) changes nothing.
async fn librechat_two_factor(backend: Backend) {
    let app = roster_testkit::or_skip!(app(backend).await);
    let fixture = manifest("librechat/manifest.json");
    let key = fixture["creds_key"].as_str().unwrap();
    let files = librechat_files();
    let users = two_factor_users(&fixture);
    assert_eq!(users.len(), 3);

    let dry = librechat_args(&files, &["--creds-key", key, "--dry-run"]);
    let r = roster(&app, &dry.iter().map(String::as_str).collect::<Vec<_>>());
    r.ok();
    assert!(r.stdout.contains("users: 6 created, 0 updated"), "{r:?}");
    assert!(!r.stdout.contains("two-factor"), "{r:?}");
    assert_eq!(app.core.store.count_users().await.unwrap(), 0);

    let args = librechat_args(&files, &["--creds-key", key]);
    let r = roster(&app, &args.iter().map(String::as_str).collect::<Vec<_>>());
    r.ok();
    assert!(
        r.stdout
            .contains("users: 6 created, 0 updated, 0 unchanged, 0 skipped, 0 failed"),
        "{r:?}"
    );
    assert!(!r.stdout.contains("two-factor"), "{r:?}");

    for u in &users {
        let (email, username, password) = (
            u["email"].as_str().unwrap(),
            u["username"].as_str().unwrap(),
            u["password"].as_str().unwrap(),
        );
        let secret = u["totp_secret"].as_str().unwrap();
        let user = app.core.store.find_user_by_login(email).await.unwrap();
        let status = app.core.two_factor_status(user.id).await.unwrap();
        assert!(status.enabled, "{email}");
        assert_eq!(status.backup_codes_remaining, 9, "{email}: one was used in LibreChat");
        let stored = app.core.store.get_two_factor(user.id).await.unwrap().unwrap();
        assert!(stored.sealed_secret.starts_with("rsb1."), "sealed");

        // Native: the password alone gives a challenge; a wrong code fails, the right one
        // gives a session.
        let challenge = native_challenge(&app, username, password).await;
        let now = totp(&app, secret, 0);
        let wrong = if now == "000000" { "111111" } else { "000000" };
        app.post(
            "/v1/auth/login/2fa",
            None,
            &json!({"challenge": challenge, "code": wrong}),
        )
        .await
        .assert_problem(401, "invalid_two_factor_code");
        let done = app
            .post(
                "/v1/auth/login/2fa",
                None,
                &json!({"challenge": challenge, "code": now}),
            )
            .await;
        done.assert_status(200);
        app.get("/v1/me", done.body["access_token"].as_str())
            .await
            .assert_status(200);

        // LibreChat's flow: twoFAPending, then verify-temp with the next step's code.
        let temp = librechat_temp_token(&app, email, password).await;
        let (status, body) = librechat_verify_temp(&app, &temp, json!({"token": now})).await;
        assert_eq!(
            (status, &body["message"]),
            (401, &json!("Invalid 2FA code or backup code")),
            "replay"
        );
        let (status, body) = librechat_verify_temp(&app, &temp, json!({"token": totp(&app, secret, 1)})).await;
        assert_eq!(status, 200, "{email}: {body}");
        assert_eq!(body["user"]["email"], email);
        assert_eq!(body["user"]["twoFactorEnabled"], true);
        assert!(body["token"].is_string());

        // An unused imported backup code: once.
        let backup = u["backup_code"].as_str().unwrap();
        let temp = librechat_temp_token(&app, email, password).await;
        let (status, body) = librechat_verify_temp(&app, &temp, json!({"backupCode": backup})).await;
        assert_eq!(status, 200, "{email}: {body}");
        let temp = librechat_temp_token(&app, email, password).await;
        let (status, _) = librechat_verify_temp(&app, &temp, json!({"backupCode": backup})).await;
        assert_eq!(status, 401, "{email}: a backup code serves once");
        // The one used in LibreChat is used here too.
        let used = u["used_backup_code"].as_str().unwrap();
        let (status, _) = librechat_verify_temp(&app, &temp, json!({"backupCode": used})).await;
        assert_eq!(status, 401, "{email}: used in LibreChat");
        let challenge = native_challenge(&app, email, password).await;
        app.post(
            "/v1/auth/login/2fa",
            None,
            &json!({"challenge": challenge, "backup_code": used}),
        )
        .await
        .assert_problem(401, "invalid_two_factor_code");
        assert_eq!(
            app.core
                .two_factor_status(user.id)
                .await
                .unwrap()
                .backup_codes_remaining,
            8
        );
    }

    // Again, the key from LibreChat's own variable: nothing changes, used codes stay used.
    let again = librechat_args(&files, &[]);
    let out = Command::new(BIN)
        .env_clear()
        .env("ROSTER_DATABASE_URL", &app.db.url)
        .env("ROSTER_DATA_DIR", app.files.path())
        .env("ROSTER_SECRET_KEY", roster_testkit::app::TEST_SECRET_KEY)
        .env("CREDS_KEY", key)
        .current_dir(std::env::temp_dir())
        .args(&again)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("users: 0 created, 0 updated, 6 unchanged, 0 skipped, 0 failed"),
        "{stdout}"
    );
    assert!(!stdout.contains("two-factor"), "{stdout}");
    for u in &users {
        let user = app
            .core
            .store
            .find_user_by_login(u["email"].as_str().unwrap())
            .await
            .unwrap();
        assert_eq!(
            app.core
                .two_factor_status(user.id)
                .await
                .unwrap()
                .backup_codes_remaining,
            8
        );
        let backup = u["backup_code"].as_str().unwrap();
        let temp = librechat_temp_token(&app, u["email"].as_str().unwrap(), u["password"].as_str().unwrap()).await;
        let (status, _) = librechat_verify_temp(&app, &temp, json!({"backupCode": backup})).await;
        assert_eq!(status, 401, "still used after the second run");
    }
}

/// A wrong CREDS_KEY is a note per encrypted secret, not a failure: those users sign in with
/// their password alone. A later run with the right key adds their two-factor authentication;
/// an account that has its own (`--on-conflict update`) keeps it.
async fn librechat_two_factor_wrong_key(backend: Backend) {
    let app = roster_testkit::or_skip!(app(backend).await);
    let fixture = manifest("librechat/manifest.json");
    let key = fixture["creds_key"].as_str().unwrap();
    let wrong: String = key
        .chars()
        .enumerate()
        .map(|(i, c)| if i == 0 { if c == '0' { '1' } else { '0' } } else { c })
        .collect();
    let files = librechat_files();

    // Peggy has an account of her own with two-factor authentication.
    roster(
        &app,
        &[
            "create-user",
            "peggy@example.org",
            "Peggy R",
            "peggy",
            "roster password",
        ],
    )
    .ok();
    let login = app.login("peggy@example.org", "roster password").await;
    login.assert_status(200);
    let token = login.body["access_token"].as_str().unwrap().to_string();
    let setup = app.post("/v1/me/2fa/setup", Some(&token), &json!({})).await;
    setup.assert_status(200);
    let own_secret = setup.body["secret"].as_str().unwrap().to_string();
    app.post(
        "/v1/me/2fa/confirm",
        Some(&token),
        &json!({"code": totp(&app, &own_secret, 0)}),
    )
    .await
    .assert_status(200);
    app.advance(time::Duration::seconds(30));

    let args = librechat_args(&files, &["--creds-key", &wrong, "--on-conflict", "update"]);
    let r = roster(&app, &args.iter().map(String::as_str).collect::<Vec<_>>());
    r.ok();
    assert!(
        r.stdout
            .contains("users: 5 created, 1 updated, 0 unchanged, 0 skipped, 0 failed"),
        "{r:?}"
    );
    let oscar = r.stdout.lines().find(|l| l.contains("oscar@example.org")).unwrap();
    assert!(
        oscar.contains("two-factor not carried over: totpSecret (v3) does not decrypt") && oscar.contains("wrong key?"),
        "{r:?}"
    );
    // Oscar: the password alone.
    let native = app.login("oscar@example.org", "oscar-two-fa-4").await;
    native.assert_status(200);
    assert!(native.body["access_token"].is_string(), "{}", native.text);

    // The right key: Oscar's is added (an update), Peggy keeps her own, Trent's is unchanged.
    let args = librechat_args(&files, &["--creds-key", key, "--on-conflict", "update"]);
    let r = roster(&app, &args.iter().map(String::as_str).collect::<Vec<_>>());
    r.ok();
    assert!(
        r.stdout
            .contains("users: 0 created, 1 updated, 5 unchanged, 0 skipped, 0 failed"),
        "{r:?}"
    );
    let peggy = r.stdout.lines().find(|l| l.contains("peggy@example.org")).unwrap();
    assert!(
        peggy.contains("two-factor authentication in Roster differs from the source's and is kept"),
        "{r:?}"
    );
    let oscar = fixture["users"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["username"] == "oscar")
        .unwrap();
    let challenge = native_challenge(&app, "oscar", "oscar-two-fa-4").await;
    app.post(
        "/v1/auth/login/2fa",
        None,
        &json!({"challenge": challenge, "code": totp(&app, oscar["totp_secret"].as_str().unwrap(), 0)}),
    )
    .await
    .assert_status(200);
    let peggy = fixture["users"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["username"] == "peggy")
        .unwrap();
    let temp = librechat_temp_token(&app, "peggy@example.org", "peggy-two-fa-5").await;
    let (status, _) = librechat_verify_temp(
        &app,
        &temp,
        json!({"backupCode": peggy["backup_code"].as_str().unwrap()}),
    )
    .await;
    assert_eq!(status, 401, "LibreChat's backup codes were not added to Peggy's own");
    let (status, body) = librechat_verify_temp(&app, &temp, json!({"token": totp(&app, &own_secret, 0)})).await;
    assert_eq!(status, 200, "{body}");
}

/// Every imported user signs in through every dialect with the source's password: Roster's
/// native API, LibreChat, Open WebUI, Langflow, and Plexichat (which signs in through the
/// native API and then serves the user with that token). The dialect that checks the source's
/// hash first changes from user to user; after it the hash is Roster's Argon2id.
async fn imported_users_log_in_through_every_dialect(backend: Backend) {
    let app = roster_testkit::or_skip!(app(backend).await);
    let librechat: Vec<String> = ["users.json", "balances.json", "transactions.json"]
        .iter()
        .map(|f| fixture_path(&format!("librechat/export/{f}")))
        .collect();
    let mut args = vec!["migrate", "librechat"];
    args.extend(librechat.iter().map(String::as_str));
    roster(&app, &args).ok();
    roster(&app, &["migrate", "open-webui", &fixture_path("open-webui/webui.db")]).ok();
    roster(&app, &["migrate", "langflow", &fixture_path("langflow/langflow.db")]).ok();

    // (login, password, has an email) of every active user with a password and no 2FA.
    let mut users: Vec<(String, String, bool)> = Vec::new();
    for u in manifest("open-webui/users.json")["users"].as_array().unwrap() {
        if u["active"] == true && u["role"] != "pending" {
            users.push((
                u["email"].as_str().unwrap().into(),
                u["password"].as_str().unwrap().into(),
                true,
            ));
        }
    }
    for u in manifest("langflow/users.json")["users"].as_array().unwrap() {
        if u["is_active"] == true {
            users.push((
                u["username"].as_str().unwrap().into(),
                u["password"].as_str().unwrap().into(),
                false,
            ));
        }
    }
    for u in manifest("librechat/manifest.json")["users"].as_array().unwrap() {
        if let Some(password) = u["password"].as_str()
            && u["totp_format"].is_null()
        {
            users.push((u["email"].as_str().unwrap().into(), password.into(), true));
        }
    }
    assert!(users.len() >= 7, "{users:?}");
    const DIALECTS: [&str; 5] = ["native", "librechat", "openwebui", "langflow", "plexichat"];
    for (i, (login, password, has_email)) in users.iter().enumerate() {
        assert!(
            !stored_hash(&app, login)
                .await
                .starts_with("$argon2id$v=19$m=19456,t=2,p=1$")
        );
        for k in 0..DIALECTS.len() {
            let dialect = DIALECTS[(i + k) % DIALECTS.len()];
            // LibreChat's and Open WebUI's sign-in forms take an email only.
            if !has_email && matches!(dialect, "librechat" | "openwebui") {
                continue;
            }
            let (status, body) = match dialect {
                "native" => {
                    let r = app.login(login, password).await;
                    (r.status.as_u16(), r.body)
                }
                "librechat" => librechat_login(&app, login, password).await,
                "openwebui" => openwebui_signin(&app, login, password).await,
                "langflow" => langflow_login(&app, login, password).await,
                _ => {
                    let native = app.login(login, password).await;
                    native.assert_status(200);
                    let token = native.body["access_token"].as_str().unwrap();
                    let r = app.get("/plexichat/users/@me", Some(token)).await;
                    (r.status.as_u16(), r.body)
                }
            };
            assert_eq!(status, 200, "{login} through {dialect}: {body}");
            assert_current_argon2(&stored_hash(&app, login).await);
        }
    }
}

/// Two-factor records the reader or the core cannot carry over are notes, and the user comes
/// along without 2FA; a pending (unconfirmed) Roster enrolment is replaced by the source's.
async fn librechat_two_factor_edge_cases(backend: Backend) {
    let app = roster_testkit::or_skip!(app(backend).await);
    let hash = bcrypt::hash("edge-password-1", 4).unwrap();
    let secret = "JBSWY3DPEHPK3PXP"; // 80 bits
    let doc = |id: &str, email: &str, extra: Value| {
        let mut d = json!({"_id": {"$oid": id}, "email": email, "password": hash, "name": email, "provider": "local",
            "role": "USER", "emailVerified": true});
        d.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        d.to_string()
    };
    let lines = [
        doc(
            "65a1b2c3d4e5f60718293a01",
            "nosecret@example.org",
            json!({"twoFactorEnabled": true}),
        ),
        doc(
            "65a1b2c3d4e5f60718293a02",
            "unconfirmed@example.org",
            json!({"twoFactorEnabled": false, "totpSecret": secret}),
        ),
        doc(
            "65a1b2c3d4e5f60718293a03",
            "notbase32@example.org",
            json!({"twoFactorEnabled": true, "totpSecret": "NOT*BASE32!"}),
        ),
        doc(
            "65a1b2c3d4e5f60718293a04",
            "short@example.org",
            json!({"twoFactorEnabled": true, "totpSecret": "ABCDEFGH"}),
        ),
        doc(
            "65a1b2c3d4e5f60718293a05",
            "pat@example.org",
            json!({"twoFactorEnabled": true, "totpSecret": secret,
            "backupCodes": [{"codeHash": "not a digest", "used": false}]}),
        ),
    ];
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("users.json");
    std::fs::write(&path, lines.join("\n") + "\n").unwrap();

    // Pat already has an account in Roster with an enrolment begun and never confirmed (an
    // administrator exists first, so Pat is an ordinary user).
    app.admin().await;
    app.register("pat@example.org", "pat-own-password-2")
        .await
        .assert_status(201);
    let own = app.login("pat@example.org", "pat-own-password-2").await;
    let token = own.body["access_token"].as_str().unwrap();
    app.post("/v1/me/2fa/setup", Some(token), &json!({}))
        .await
        .assert_status(200);

    let r = roster(
        &app,
        &[
            "migrate",
            "librechat",
            path.to_str().unwrap(),
            "--on-conflict",
            "update",
        ],
    );
    r.ok();
    assert!(
        r.stdout
            .contains("users: 4 created, 1 updated, 0 unchanged, 0 skipped, 0 failed"),
        "{r:?}"
    );
    let line = |email: &str| r.stdout.lines().find(|l| l.contains(email)).unwrap().to_string();
    assert!(
        line("nosecret@").contains("twoFactorEnabled without a totpSecret"),
        "{r:?}"
    );
    assert!(
        line("unconfirmed@").contains("never confirmed in LibreChat is not carried over"),
        "{r:?}"
    );
    assert!(line("notbase32@").contains("totpSecret is not base32"), "{r:?}");
    assert!(line("short@").contains("totpSecret: 40 bits"), "{r:?}");
    assert!(line("pat@").contains("a pending Roster enrolment is replaced"), "{r:?}");
    assert!(
        line("pat@").contains("backupCodes[0]: codeHash is not a SHA-256 digest"),
        "{r:?}"
    );
    // Without a carried-over secret the password alone signs in.
    for email in [
        "nosecret@example.org",
        "unconfirmed@example.org",
        "notbase32@example.org",
        "short@example.org",
    ] {
        let r = app.login(email, "edge-password-1").await;
        r.assert_status(200);
        assert!(r.body["access_token"].is_string(), "{email}: {}", r.text);
    }
    // Pat's account took the source's password and its 2FA: a challenge, answered with a code
    // of the source's secret.
    let challenge = native_challenge(&app, "pat@example.org", "edge-password-1").await;
    let done = app
        .post(
            "/v1/auth/login/2fa",
            None,
            &json!({"challenge": challenge, "code": totp(&app, secret, 0)}),
        )
        .await;
    done.assert_status(200);
}

/// On a terminal the migration draws a progress bar (on standard error, cleared at the end);
/// piped, as in every other test here, it draws none.
async fn progress_bar_on_a_terminal(backend: Backend) {
    let app = roster_testkit::or_skip!(app(backend).await);
    let mut command = Command::new(BIN);
    command
        .env_clear()
        .env("ROSTER_DATABASE_URL", &app.db.url)
        .env("ROSTER_DATA_DIR", app.files.path())
        .env("ROSTER_SECRET_KEY", roster_testkit::app::TEST_SECRET_KEY)
        .env("TERM", "xterm")
        .current_dir(std::env::temp_dir())
        .args(["migrate", "open-webui", &fixture_path("open-webui/webui.db")]);
    let output = tokio::task::spawn_blocking(move || {
        let mut session = rexpect::session::spawn_command(command, Some(60_000)).unwrap();
        let output = session.exp_eof().unwrap();
        match session.process.wait().unwrap() {
            rexpect::process::wait::WaitStatus::Exited(_, 0) => output,
            other => panic!("{other:?}: {output}"),
        }
    })
    .await
    .unwrap();
    assert!(output.contains("records"), "no progress bar: {output:?}");
    assert!(
        output.contains("Migrated from open-webui: users: 5 created"),
        "{output:?}"
    );
    let piped = roster(
        &app,
        &[
            "migrate",
            "open-webui",
            &fixture_path("open-webui/webui.db"),
            "--dry-run",
        ],
    );
    piped.ok();
    assert!(
        !piped.stderr.contains("records") && !piped.stdout.contains("records ("),
        "{piped:?}"
    );
}

backend_tests!(
    imported_users_log_in_through_every_dialect,
    progress_bar_on_a_terminal,
    librechat_two_factor_edge_cases,
    open_webui,
    open_webui_conflicts,
    open_webui_from_postgres,
    langflow,
    langflow_from_postgres,
    librechat,
    librechat_bad_record,
    librechat_two_factor,
    librechat_two_factor_wrong_key
);
