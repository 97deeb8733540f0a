//! What every conformance module uses: the fixture (a migrated database of either backend and
//! its store), its record builders, the assertions, and the imports the modules share.

pub use roster_core::journal::Journal;
pub use roster_core::store::{ApiKey, Session, SortKey, StoreError, UserQuery, UserSort};
pub use roster_core::token::SigningKeyRecord;
pub use roster_core::user::PasswordHash;
pub use roster_core::{ApiKeyId, IdGenerator, Role, SessionId, Store, User, UserId};
pub use roster_testkit::{Backend, TestDatabase, backend_tests};
pub use serde_json::json;
pub use std::collections::{BTreeSet, HashSet};
pub use std::sync::Arc;
pub use time::{Duration, OffsetDateTime};

/// No records: the store tests exercise the changes themselves (the journal has its own).
pub const NO_JOURNAL: Journal = Journal {
    audit: Vec::new(),
    events: Vec::new(),
    scim_records: Vec::new(),
};

/// A migrated database, its store, and ids.
pub struct Fixture {
    pub store: Arc<dyn Store>,
    pub ids: IdGenerator,
    pub db: TestDatabase,
}

pub async fn fixture(backend: Backend) -> Option<Fixture> {
    let db = TestDatabase::new(backend).await?;
    let store = db.store().await;
    Some(Fixture {
        store,
        ids: IdGenerator::new(7),
        db,
    })
}

/// Now, at the millisecond precision the stores keep.
pub fn now() -> OffsetDateTime {
    at_ms(OffsetDateTime::now_utc().unix_timestamp_nanos() as i64 / 1_000_000)
}

pub fn at_ms(ms: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000).unwrap()
}

pub fn ms(at: OffsetDateTime) -> i64 {
    (at.unix_timestamp_nanos() / 1_000_000) as i64
}

impl Fixture {
    /// A plain active user with a password; not yet stored.
    pub fn user(&self, email: Option<&str>, username: Option<&str>) -> User {
        let now = now();
        User {
            id: UserId(self.ids.next_id()),
            email: email.map(str::to_string),
            email_verified: false,
            username: username.map(str::to_string),
            name: None,
            password_hash: Some(PasswordHash("$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".into())),
            provider: "local".into(),
            role: Role::User,
            active: true,
            avatar: None,
            bio: None,
            timezone: None,
            terms_version: None,
            terms_accepted_at: None,
            preferences: json!({}),
            created_at: now,
            updated_at: now,
            last_login_at: None,
            last_active_at: None,
            revision: 0,
            banned_until: None,
            ban_reason: None,
        }
    }

    /// Stores a user (without claiming the first-admin marker unless it is the first).
    pub async fn insert(&self, user: &User) -> User {
        self.store.insert_user(user, false, &NO_JOURNAL).await.unwrap()
    }

    pub async fn admin(&self, email: &str) -> User {
        let mut user = self.user(Some(email), None);
        user.role = Role::Admin;
        self.insert(&user).await
    }

    pub fn session(&self, user: UserId, created_at: OffsetDateTime) -> Session {
        Session {
            id: SessionId(self.ids.next_id()),
            user_id: user,
            created_at,
            last_used_at: created_at,
            expires_at: created_at + Duration::days(30),
            user_agent: Some("conformance/1.0".into()),
            ip: Some("192.0.2.1".into()),
        }
    }

    pub fn api_key(&self, user: UserId, name: &str) -> ApiKey {
        ApiKey {
            id: ApiKeyId(self.ids.next_id()),
            user_id: user,
            name: name.into(),
            prefix: format!("rk_{name}"),
            scopes: vec!["users:read".into(), "me".into()],
            created_at: now(),
            expires_at: None,
            last_used_at: None,
        }
    }

    pub async fn active_admins(&self) -> usize {
        let query = UserQuery {
            role: Some(Role::Admin),
            active: Some(true),
            limit: 1000,
            ..UserQuery::default()
        };
        self.store.list_users(&query).await.unwrap().len()
    }
}

#[track_caller]
pub fn assert_conflict<T: std::fmt::Debug>(result: Result<T, StoreError>, expected: &str) {
    match result {
        Err(StoreError::Conflict { field }) => assert_eq!(field, expected),
        other => panic!("expected a conflict on {expected}, got {other:?}"),
    }
}

#[track_caller]
pub fn assert_not_found<T: std::fmt::Debug>(result: Result<T, StoreError>) {
    assert!(
        matches!(result, Err(StoreError::NotFound)),
        "expected NotFound, got {result:?}"
    );
}
