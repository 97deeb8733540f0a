//! A running Roster on a fresh database, with a client and typed helpers.

use crate::db::{Backend, TestDatabase};
use reqwest::{Method, StatusCode};
use roster_core::service::{AdminUserChanges, NewUser};
use roster_core::time::{Duration, OffsetDateTime};
use roster_core::{Core, CoreConfig, ManualClock, Role, User, UserId};
use roster_http::{AppState, HttpConfig};
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

/// A response, with its body parsed as JSON when it is JSON.
#[derive(Debug)]
pub struct TestResponse {
    pub status: StatusCode,
    pub headers: reqwest::header::HeaderMap,
    pub text: String,
    pub body: Value,
}

impl TestResponse {
    /// Asserts the status, showing the body when it differs.
    #[track_caller]
    pub fn assert_status(&self, expected: u16) -> &Self {
        assert_eq!(self.status.as_u16(), expected, "unexpected status; body: {}", self.text);
        self
    }

    /// Asserts a problem+json error with this status and code.
    #[track_caller]
    pub fn assert_problem(&self, status: u16, code: &str) -> &Self {
        self.assert_status(status);
        assert_eq!(
            self.headers.get("content-type").and_then(|v| v.to_str().ok()),
            Some("application/problem+json"),
            "body: {}",
            self.text
        );
        assert_eq!(self.body["code"], code, "body: {}", self.text);
        assert_eq!(self.body["status"], status, "body: {}", self.text);
        assert_eq!(self.body["type"], format!("urn:roster:problem:{code}"));
        self
    }
}

/// A user made for a test, with its password and (unless it cannot sign in) tokens.
#[derive(Debug, Clone)]
pub struct TestUser {
    pub id: UserId,
    pub email: String,
    pub username: String,
    pub password: String,
    pub access_token: String,
    pub refresh_token: String,
}

impl TestUser {
    /// The user's id as the native API renders it.
    pub fn id_str(&self) -> String {
        self.id.to_string()
    }
}

/// A Roster serving on a loopback port over a fresh database.
pub struct TestApp {
    /// `http://127.0.0.1:PORT`
    pub address: String,
    pub client: reqwest::Client,
    pub core: Arc<Core>,
    pub clock: Arc<ManualClock>,
    pub db: TestDatabase,
    /// Files the app writes (avatars), removed with the app.
    pub files: tempfile::TempDir,
    server: tokio::task::JoinHandle<()>,
    counter: AtomicU32,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.server.abort();
    }
}

/// The limits of test apps: the defaults, except that registrations and logins per client
/// address are not limited (every test client is 127.0.0.1, and many tests sign up and in
/// more often than a person would). Tests of those limits set them.
pub fn test_limits() -> roster_core::limit::LimitSettings {
    roster_core::limit::LimitSettings {
        login: roster_core::limit::Rate::UNLIMITED,
        register: roster_core::limit::Rate::UNLIMITED,
        two_factor: roster_core::limit::Rate::UNLIMITED,
        ..Default::default()
    }
}

/// Starts Roster with default settings on `backend`; None when that backend is skipped.
pub async fn spawn_app(backend: Backend) -> Option<TestApp> {
    spawn_app_with(backend, |_| {}).await
}

/// Starts Roster with settings adjusted by `configure`.
pub async fn spawn_app_with(backend: Backend, configure: impl FnOnce(&mut CoreConfig)) -> Option<TestApp> {
    spawn_app_with_http(backend, configure, HttpConfig::default()).await
}

/// Starts Roster with core settings adjusted by `configure` and the given transport
/// settings. Links in mail start with the app's address; avatars go to a temporary directory.
pub async fn spawn_app_with_http(
    backend: Backend,
    configure: impl FnOnce(&mut CoreConfig),
    http: HttpConfig,
) -> Option<TestApp> {
    let db = TestDatabase::new(backend).await?;
    Some(Box::pin(spawn_app_over(db, configure, http)).await)
}

/// Starts Roster on PostgreSQL with the credential cache's changes carried by Redis (the
/// test Redis, under a fresh prefix); None when PostgreSQL or Redis is skipped.
pub async fn spawn_app_with_redis_changes() -> Option<TestApp> {
    let redis = crate::redis::TestRedis::new().await?;
    let mut db = TestDatabase::new(crate::Backend::Postgres).await?;
    db.redis_changes = Some((redis.url.clone(), redis.prefix.clone()));
    Some(Box::pin(spawn_app_over(db, |_| {}, HttpConfig::default())).await)
}

/// Starts Roster over the fresh database `db`, as [`spawn_app_with_http`] does.
async fn spawn_app_over(db: TestDatabase, configure: impl FnOnce(&mut CoreConfig), http: HttpConfig) -> TestApp {
    let store = db.store().await;
    let clock = Arc::new(ManualClock::new(OffsetDateTime::now_utc()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let address = format!("http://{}", listener.local_addr().expect("address"));
    let files = tempfile::tempdir().expect("temporary directory");
    let mut config = CoreConfig {
        hash_concurrency: 4,
        public_url: address.clone(),
        avatar_dir: files.path().join("avatars"),
        limits: test_limits(),
        ..CoreConfig::default()
    };
    configure(&mut config);
    let core = Arc::new(Core::new(store, clock.clone(), config).await.expect("core starts"));
    watch_changes(&core).await;
    let state = AppState::new(core.clone(), http);
    let server = tokio::spawn(async move {
        let _ = roster_http::server::serve(listener, state, std::future::pending()).await;
    });
    TestApp {
        address,
        client: test_client(),
        core,
        clock,
        db,
        files,
        server,
        counter: AtomicU32::new(0),
    }
}

/// Starts Roster with default settings over an existing database, e.g. one that admin
/// commands (the `roster` binary) also use. Its clock starts at the real time.
/// The secret key of apps made by [`spawn_app_on`], for `roster` commands run against the same
/// database (`ROSTER_SECRET_KEY`): one key per deployment, as in production.
pub const TEST_SECRET_KEY: &str = "cm9zdGVyLXRlc3Qtc2VjcmV0LWtleS0zMi1ieXRlcyE=";

pub async fn spawn_app_on(db: TestDatabase) -> TestApp {
    spawn_app_on_with(db, |_| {}).await
}

/// As [`spawn_app_on`], with settings adjusted by `configure`.
pub async fn spawn_app_on_with(db: TestDatabase, configure: impl FnOnce(&mut CoreConfig)) -> TestApp {
    let store = db.store().await;
    let clock = Arc::new(ManualClock::new(OffsetDateTime::now_utc()));
    let files = tempfile::tempdir().expect("temporary directory");
    let mut config = CoreConfig {
        hash_concurrency: 4,
        avatar_dir: files.path().join("avatars"),
        secret_key: Some(roster_core::secret::SecretKey::from_base64(TEST_SECRET_KEY).expect("a valid key")),
        limits: test_limits(),
        ..CoreConfig::default()
    };
    configure(&mut config);
    let core = Arc::new(Core::new(store, clock.clone(), config).await.expect("core starts"));
    watch_changes(&core).await;
    let state = AppState::new(core.clone(), HttpConfig::default());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let address = format!("http://{}", listener.local_addr().expect("address"));
    let server = tokio::spawn(async move {
        let _ = roster_http::server::serve(listener, state, std::future::pending()).await;
    });
    TestApp {
        address,
        client: test_client(),
        core,
        clock,
        db,
        files,
        server,
        counter: AtomicU32::new(0),
    }
}

/// The HTTP client of a test app. Its pooled connections idle at most 5 s: the server closes
/// a connection that waits longer than `header_read_timeout` (10 s) for the next request, and a
/// request sent on it at that moment fails ("connection closed before message completed").
fn test_client() -> reqwest::Client {
    reqwest::Client::builder()
        .pool_idle_timeout(std::time::Duration::from_secs(5))
        .build()
        .expect("an HTTP client")
}

impl TestApp {
    /// Sends a request with an optional JSON body and bearer token.
    pub async fn request(&self, method: Method, path: &str, token: Option<&str>, body: Option<&Value>) -> TestResponse {
        let mut request = self.client.request(method, format!("{}{}", self.address, path));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        Self::read(request.send().await.expect("request sent")).await
    }

    /// Turns a reqwest response into a [`TestResponse`].
    pub async fn read(response: reqwest::Response) -> TestResponse {
        let status = response.status();
        let headers = response.headers().clone();
        let text = response.text().await.expect("body read");
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        TestResponse {
            status,
            headers,
            text,
            body,
        }
    }

    pub async fn get(&self, path: &str, token: Option<&str>) -> TestResponse {
        self.request(Method::GET, path, token, None).await
    }

    pub async fn post(&self, path: &str, token: Option<&str>, body: &Value) -> TestResponse {
        self.request(Method::POST, path, token, Some(body)).await
    }

    pub async fn patch(&self, path: &str, token: Option<&str>, body: &Value) -> TestResponse {
        self.request(Method::PATCH, path, token, Some(body)).await
    }

    pub async fn delete(&self, path: &str, token: Option<&str>) -> TestResponse {
        self.request(Method::DELETE, path, token, None).await
    }

    /// The newest entries of the audit trail (up to 500), newest first.
    pub async fn audit(&self) -> Vec<roster_core::journal::AuditEntry> {
        self.core
            .store
            .list_audit(&roster_core::journal::AuditQuery {
                limit: 500,
                ..Default::default()
            })
            .await
            .expect("the audit trail")
    }

    /// Moves the clock forward.
    pub fn advance(&self, by: Duration) {
        self.clock.advance(by);
    }

    fn unique(&self, prefix: &str) -> String {
        format!("{prefix}{}", self.counter.fetch_add(1, Ordering::Relaxed))
    }

    /// Registers through the API and returns the response.
    pub async fn register(&self, email: &str, password: &str) -> TestResponse {
        self.post(
            "/v1/auth/register",
            None,
            &json!({ "email": email, "password": password }),
        )
        .await
    }

    /// Logs in through the API and returns the response.
    pub async fn login(&self, login: &str, password: &str) -> TestResponse {
        self.post("/v1/auth/login", None, &json!({ "login": login, "password": password }))
            .await
    }

    /// Creates a user with `role` through the core and signs it in through the API. The
    /// first user created in a test becomes admin whatever `role` says, as the rules require,
    /// so create the admin first.
    pub async fn user(&self, role: Role) -> TestUser {
        let username = self.unique(&format!("{role}"));
        let email = format!("{username}@example.org");
        let password = format!("password-{username}");
        let created = self
            .core
            .create_user(
                self.core.operator(),
                NewUser {
                    email: Some(email.clone()),
                    username: Some(username.clone()),
                    name: Some(format!("Test {username}")),
                    password: Some(password.clone()),
                    role: Some(if role == Role::Pending { Role::User } else { role }),
                    ..NewUser::default()
                },
            )
            .await
            .expect("user created");
        let login = self.login(&email, &password).await;
        login.assert_status(200);
        if role == Role::Pending {
            self.set_user(
                created.id,
                AdminUserChanges {
                    role: Some(Role::Pending),
                    ..Default::default()
                },
            )
            .await;
        }
        TestUser {
            id: created.id,
            email,
            username,
            password,
            access_token: login.body["access_token"].as_str().expect("access token").to_string(),
            refresh_token: login.body["refresh_token"].as_str().expect("refresh token").to_string(),
        }
    }

    /// An admin (the first user of the test).
    pub async fn admin(&self) -> TestUser {
        self.user(Role::Admin).await
    }

    /// A user that signed in and was then deactivated (its tokens must stop working).
    pub async fn deactivated_user(&self) -> TestUser {
        let user = self.user(Role::User).await;
        self.set_user(
            user.id,
            AdminUserChanges {
                active: Some(false),
                ..Default::default()
            },
        )
        .await;
        user
    }

    /// Changes a user directly through the core.
    pub async fn set_user(&self, id: UserId, changes: AdminUserChanges) -> User {
        self.core
            .admin_update_user(self.core.operator(), id, changes)
            .await
            .expect("user updated")
    }

    /// Creates an API key for a user through the API and returns its secret.
    pub async fn api_key(&self, user: &TestUser, scopes: &[&str]) -> String {
        let r = self
            .post(
                "/v1/me/api-keys",
                Some(&user.access_token),
                &json!({ "name": "test key", "scopes": scopes }),
            )
            .await;
        r.assert_status(201);
        r.body["secret"].as_str().expect("secret").to_string()
    }
}

/// Runs the credential cache's change watcher, as `roster serve` does, and waits (a few
/// seconds at most) for its first heartbeat, so that requests use the cache from the start.
async fn watch_changes(core: &Arc<Core>) {
    tokio::spawn(core.watch_changes());
    for _ in 0..300 {
        if core.credential_cache_live() {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
}
