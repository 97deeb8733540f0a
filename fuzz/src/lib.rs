//! What the stateful fuzz targets share: one Roster (core and router) over a SQLite file in a
//! temporary directory, built once per fuzzing process, with an administrator (API key), a
//! user (access token) and a group to aim requests at.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use roster_core::service::{NewApiKey, NewGroup, NewUser};
use roster_core::time::Duration;
use roster_core::{Core, CoreConfig, GroupId, Role, SystemClock, UserId};
use roster_http::{AppState, HttpConfig};
use std::sync::{Arc, Mutex, OnceLock};

/// The single-threaded runtime every target runs its futures on.
pub fn runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime")
    })
}

/// A user the fuzzer acts as, re-created when a request took its credential away.
#[derive(Debug, Clone)]
pub struct Member {
    pub id: UserId,
    pub email: String,
    pub token: String,
}

/// The shared Roster.
pub struct Fixture {
    pub core: Arc<Core>,
    pub router: axum::Router,
    pub admin_id: UserId,
    /// The administrator's API key (never offered to the fuzzer as a path id, so it stays).
    pub admin_key: String,
    pub user: Mutex<Member>,
    pub group: GroupId,
    _dir: tempfile::TempDir,
}

const PASSWORD: &str = "fuzz-password-1";

impl Fixture {
    /// Creates (and signs in) a fresh ordinary user.
    pub async fn new_member(&self) -> Member {
        new_member(&self.core).await
    }
}

async fn new_member(core: &Core) -> Member {
    static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let email = format!("member{n}@fuzz.example");
    let user = core
        .create_user(
            core.operator(),
            NewUser {
                email: Some(email.clone()),
                password: Some(PASSWORD.into()),
                role: Some(Role::User),
                ..NewUser::default()
            },
        )
        .await
        .expect("member created");
    let outcome = core
        .login(&email, PASSWORD, &Default::default())
        .await
        .expect("member signs in");
    Member {
        id: user.id,
        email,
        token: outcome.tokens.expect("tokens").access_token,
    }
}

/// The fixture, built on first use.
pub fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| runtime().block_on(build()))
}

async fn build() -> Fixture {
    let dir = tempfile::tempdir().expect("temporary directory");
    let store = roster_store::open(&format!("sqlite://{}", dir.path().join("fuzz.db").display()))
        .await
        .expect("store opens");
    let config = CoreConfig {
        access_token_ttl: Duration::days(7),
        avatar_dir: dir.path().join("avatars"),
        ..CoreConfig::default()
    };
    let core = Arc::new(Core::new(store, Arc::new(SystemClock), config).await.expect("core"));
    let admin = core
        .create_user(
            core.operator(),
            NewUser {
                email: Some("admin@fuzz.example".into()),
                password: Some(PASSWORD.into()),
                role: Some(Role::Admin),
                ..NewUser::default()
            },
        )
        .await
        .expect("admin created");
    let outcome = core
        .login("admin@fuzz.example", PASSWORD, &Default::default())
        .await
        .expect("admin signs in");
    let actor = core
        .authenticate_bearer(&outcome.tokens.expect("tokens").access_token)
        .await
        .expect("admin token works");
    let key = core
        .create_api_key(
            &actor,
            NewApiKey {
                name: "fuzz".into(),
                expires_at: None,
                scopes: vec![],
            },
        )
        .await
        .expect("admin key");
    let group = core
        .create_group(
            &actor,
            NewGroup {
                name: "fuzzers".into(),
                description: None,
                permissions: None,
            },
        )
        .await
        .expect("group");
    let user = new_member(&core).await;
    let router = roster_http::app(AppState::new(core.clone(), HttpConfig::default()));
    Fixture {
        core,
        router,
        admin_id: admin.id,
        admin_key: key.secret,
        user: Mutex::new(user),
        group: group.id,
        _dir: dir,
    }
}
