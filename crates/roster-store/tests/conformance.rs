//! The store conformance suite: every `Store` method, the same tests on SQLite and on
//! PostgreSQL, plus the migration-parity checks that keep the two schemas in step.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use roster_core::journal::Journal;
use roster_core::store::{ApiKey, Session, SortKey, StoreError, UserQuery, UserSort};
use roster_core::token::SigningKeyRecord;
use roster_core::user::PasswordHash;
use roster_core::{ApiKeyId, IdGenerator, Role, SessionId, Store, User, UserId};
use roster_testkit::{Backend, TestDatabase, backend_tests};
use serde_json::json;
use std::collections::{BTreeSet, HashSet};
use std::sync::Arc;
use time::{Duration, OffsetDateTime};

#[path = "conformance/chat.rs"]
mod chat;
/// No records: the store tests below exercise the changes themselves (the journal has its own).
const NO_JOURNAL: Journal = Journal {
    audit: Vec::new(),
    events: Vec::new(),
};

// ---------------------------------------------------------------------------------------
// Helpers

/// A migrated database, its store, and ids.
struct Fixture {
    store: Arc<dyn Store>,
    ids: IdGenerator,
    db: TestDatabase,
}

async fn fixture(backend: Backend) -> Option<Fixture> {
    let db = TestDatabase::new(backend).await?;
    let store = db.store().await;
    Some(Fixture {
        store,
        ids: IdGenerator::new(7),
        db,
    })
}

/// Now, at the millisecond precision the stores keep.
fn now() -> OffsetDateTime {
    at_ms(OffsetDateTime::now_utc().unix_timestamp_nanos() as i64 / 1_000_000)
}

fn at_ms(ms: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000).unwrap()
}

fn ms(at: OffsetDateTime) -> i64 {
    (at.unix_timestamp_nanos() / 1_000_000) as i64
}

impl Fixture {
    /// A plain active user with a password; not yet stored.
    fn user(&self, email: Option<&str>, username: Option<&str>) -> User {
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
    async fn insert(&self, user: &User) -> User {
        self.store.insert_user(user, false, &NO_JOURNAL).await.unwrap()
    }

    async fn admin(&self, email: &str) -> User {
        let mut user = self.user(Some(email), None);
        user.role = Role::Admin;
        self.insert(&user).await
    }

    fn session(&self, user: UserId, created_at: OffsetDateTime) -> Session {
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

    fn api_key(&self, user: UserId, name: &str) -> ApiKey {
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

    async fn active_admins(&self) -> usize {
        let query = UserQuery {
            role: Some(Role::Admin),
            active: Some(true),
            limit: 1000,
            ..UserQuery::default()
        };
        self.store.list_users(&query).await.unwrap().len()
    }
}

macro_rules! fixture_or_skip {
    ($backend:expr) => {
        match fixture($backend).await {
            Some(f) => f,
            None => return,
        }
    };
}

#[track_caller]
fn assert_conflict<T: std::fmt::Debug>(result: Result<T, StoreError>, expected: &str) {
    match result {
        Err(StoreError::Conflict { field }) => assert_eq!(field, expected),
        other => panic!("expected a conflict on {expected}, got {other:?}"),
    }
}

#[track_caller]
fn assert_not_found<T: std::fmt::Debug>(result: Result<T, StoreError>) {
    assert!(
        matches!(result, Err(StoreError::NotFound)),
        "expected NotFound, got {result:?}"
    );
}

// ---------------------------------------------------------------------------------------
// Users

async fn users_round_trip(backend: Backend) {
    let f = fixture_or_skip!(backend);
    let mut full = f.user(Some("ann@example.org"), Some("Ann_Lee"));
    full.email_verified = true;
    full.name = Some("Ann Lee ✓".into());
    full.avatar = Some("https://example.org/a.png".into());
    full.bio = Some("Says \"hi\"; 'quotes' and \\ too".into());
    full.timezone = Some("Europe/Berlin".into());
    full.terms_version = Some("2024-01".into());
    full.terms_accepted_at = Some(now() - Duration::days(1));
    full.preferences = json!({"theme": "dark", "nested": {"list": [1, 2.5, null, "x"]}, "ünï": true});
    full.last_login_at = Some(now() - Duration::hours(2));
    full.last_active_at = Some(now() - Duration::hours(1));
    full.provider = "oidc".into();
    let stored = f.store.insert_user(&full, false, &NO_JOURNAL).await.unwrap();
    assert_eq!(stored, full);
    assert_eq!(f.store.get_user(full.id).await.unwrap(), full);

    let mut bare = f.user(None, Some("Łukasz"));
    bare.password_hash = None;
    assert_eq!(f.insert(&bare).await, bare);
    assert_eq!(f.store.get_user(bare.id).await.unwrap(), bare);

    assert_eq!(f.store.find_user_by_login("ann@example.org").await.unwrap().id, full.id);
    assert_eq!(f.store.find_user_by_login("ann_lee").await.unwrap().id, full.id);
    assert_eq!(f.store.find_user_by_login("łukasz").await.unwrap().id, bare.id);
    assert_not_found(f.store.find_user_by_login("nobody@example.org").await);
    assert_not_found(f.store.find_user_by_login("").await);
    assert_not_found(f.store.get_user(UserId(12345)).await);
    assert_eq!(f.store.count_users().await.unwrap(), 2);
}

/// Runs one statement on the test database outside the store (to stage what an older
/// Roster could have written).
async fn raw_sql(f: &Fixture, statement: &str) {
    match f.db.backend {
        Backend::Sqlite => {
            let pool = sqlx::SqlitePool::connect(&f.db.url).await.unwrap();
            sqlx::query(statement).execute(&pool).await.unwrap();
            pool.close().await;
        }
        Backend::Postgres => {
            let pool = sqlx::PgPool::connect(&f.db.url).await.unwrap();
            sqlx::query(statement).execute(&pool).await.unwrap();
            pool.close().await;
        }
    }
}

/// A login identifier names one account: an email may not be another account's username
/// (in any case or compatible spelling), nor a username another's email, whichever comes
/// first, on insert and on update.
async fn a_login_names_one_account(backend: Backend) {
    let f = fixture_or_skip!(backend);
    // A username-only account (Langflow's sign-up) whose username is an email address.
    let carol = f.insert(&f.user(None, Some("Carol@Corp.com"))).await;
    for email in ["carol@corp.com", "CAROL@CORP.COM", "\u{ff43}arol@corp.com"] {
        assert_conflict(
            f.store
                .insert_user(&f.user(Some(email), Some("mallory")), false, &NO_JOURNAL)
                .await,
            "email",
        );
    }
    // The other order: an email first, then a username equal to it.
    let dave = f.insert(&f.user(Some("dave@corp.com"), None)).await;
    assert_conflict(
        f.store
            .insert_user(&f.user(None, Some("DAVE@corp.com")), false, &NO_JOURNAL)
            .await,
        "username",
    );
    // By update: an existing account taking the other's identifier, either field.
    let mallory = f.insert(&f.user(Some("mallory@corp.com"), Some("mallory"))).await;
    let mut change = mallory.clone();
    change.email = Some("carol@corp.com".into());
    assert_conflict(f.store.update_user(&change, false, &NO_JOURNAL).await, "email");
    let mut change = f.store.get_user(mallory.id).await.unwrap();
    change.username = Some("Dave@Corp.com".into());
    assert_conflict(f.store.update_user(&change, false, &NO_JOURNAL).await, "username");
    // Nothing of the refused writes stayed.
    assert_eq!(f.store.get_user(mallory.id).await.unwrap(), mallory);
    // One account may have one identifier as both email and username.
    let erin = f.insert(&f.user(Some("erin@corp.com"), Some("Erin@corp.com"))).await;
    // Each login finds exactly its holder, in any case.
    for (login, id) in [
        ("CAROL@CORP.COM", carol.id),
        ("dave@corp.com", dave.id),
        ("MALLORY", mallory.id),
        ("mallory@corp.com", mallory.id),
        ("erin@corp.com", erin.id),
    ] {
        assert_eq!(f.store.find_user_by_login(login).await.unwrap().id, id, "{login}");
    }
    // A changed identifier is free for others, and no longer finds the account.
    let mut change = f.store.get_user(dave.id).await.unwrap();
    change.email = Some("david@corp.com".into());
    f.store.update_user(&change, false, &NO_JOURNAL).await.unwrap();
    let new_dave = f.insert(&f.user(None, Some("dave@corp.com"))).await;
    assert_eq!(
        f.store.find_user_by_login("dave@corp.com").await.unwrap().id,
        new_dave.id
    );
    assert_eq!(f.store.find_user_by_login("david@corp.com").await.unwrap().id, dave.id);
    // A deleted account's identifiers are free again.
    f.store.delete_user(carol.id, false, &NO_JOURNAL).await.unwrap();
    f.insert(&f.user(Some("carol@corp.com"), None)).await;
    // Bulk inserts (imports) follow the same rule.
    assert_conflict(
        f.store
            .insert_users_bulk(&[f.user(Some("x@corp.com"), Some("mallory@corp.com"))], &NO_JOURNAL)
            .await,
        "email",
    );
    assert_not_found(f.store.find_user_by_login("x@corp.com").await);
}

/// Two accounts racing for one identifier (one as its email, one as its username): exactly
/// one is written.
async fn colliding_identifiers_under_concurrency(backend: Backend) {
    let f = fixture_or_skip!(backend);
    f.insert(&f.user(Some("admin@corp.com"), None)).await;
    for round in 0..10 {
        let login = format!("race{round}@corp.com");
        let by_username = f.user(None, Some(&login.to_uppercase()));
        let by_email = f.user(Some(&login), Some(&format!("racer{round}")));
        let insert = |user: User| {
            let store = f.store.clone();
            tokio::spawn(async move { store.insert_user(&user, false, &NO_JOURNAL).await })
        };
        let (a, b) = (insert(by_username), insert(by_email));
        let (a, b) = (a.await.unwrap(), b.await.unwrap());
        assert!(a.is_ok() != b.is_ok(), "round {round}: {a:?} / {b:?}");
        for result in [a, b] {
            if let Err(e) = result {
                assert!(matches!(e, StoreError::Conflict { .. }), "{e:?}");
            }
        }
        assert!(f.store.find_user_by_login(&login).await.is_ok());
    }
}

/// The login keys of accounts stored before migration 0014 are filled on the first start,
/// oldest account first: of two old accounts sharing an identifier, the older keeps it.
async fn login_keys_of_older_accounts_are_filled(backend: Backend) {
    let f = fixture_or_skip!(backend);
    let t = now();
    let mut carol = f.user(None, Some("carol@corp.com"));
    carol.created_at = t - Duration::days(2);
    let carol = f.insert(&carol).await;
    let mut mallory = f.user(Some("mallory@corp.com"), Some("mallory"));
    mallory.created_at = t - Duration::days(1);
    let mallory = f.insert(&mallory).await;
    // What an older Roster allowed: the younger account's email is the older's username.
    f.store.close().await;
    raw_sql(
        &f,
        &format!("UPDATE users SET email = 'carol@corp.com' WHERE id = {}", mallory.id.0),
    )
    .await;
    raw_sql(&f, "DELETE FROM login_keys").await;
    raw_sql(&f, "DELETE FROM instance_state WHERE name = 'login_keys_filled'").await;
    let store = f.db.store().await;
    assert_eq!(store.find_user_by_login("carol@corp.com").await.unwrap().id, carol.id);
    assert_eq!(store.find_user_by_login("mallory").await.unwrap().id, mallory.id);
    // The younger account's other fields can still change; the shared email stays the older's.
    let mut change = store.get_user(mallory.id).await.unwrap();
    change.name = Some("Mallory".into());
    store.update_user(&change, false, &NO_JOURNAL).await.unwrap();
    assert_eq!(store.find_user_by_login("carol@corp.com").await.unwrap().id, carol.id);
    // Filled once: a later start changes nothing.
    store.close().await;
    let store = f.db.store().await;
    assert_eq!(store.find_user_by_login("carol@corp.com").await.unwrap().id, carol.id);
    store.close().await;
}

async fn unique_conflicts_name_the_field(backend: Backend) {
    let f = fixture_or_skip!(backend);
    let xavier = f.insert(&f.user(Some("x@example.org"), Some("Xavier"))).await;
    assert_conflict(
        f.store
            .insert_user(&f.user(Some("x@example.org"), None), false, &NO_JOURNAL)
            .await,
        "email",
    );
    assert_conflict(
        f.store
            .insert_user(&f.user(Some("other@example.org"), Some("XAVIER")), true, &NO_JOURNAL)
            .await,
        "username",
    );
    assert_conflict(
        f.store
            .insert_user(&f.user(None, Some("xavier")), false, &NO_JOURNAL)
            .await,
        "username",
    );

    let yvonne = f.insert(&f.user(Some("y@example.org"), Some("yvonne"))).await;
    let mut change = yvonne.clone();
    change.email = Some("x@example.org".into());
    assert_conflict(f.store.update_user(&change, false, &NO_JOURNAL).await, "email");
    let mut change = yvonne.clone();
    change.username = Some("xAvIeR".into());
    assert_conflict(f.store.update_user(&change, false, &NO_JOURNAL).await, "username");
    // Nothing was written, and a user does not conflict with itself.
    assert_eq!(f.store.get_user(yvonne.id).await.unwrap(), yvonne);
    let mut same = xavier.clone();
    same.username = Some("XAVIER".into());
    assert_eq!(
        f.store
            .update_user(&same, false, &NO_JOURNAL)
            .await
            .unwrap()
            .username
            .as_deref(),
        Some("XAVIER")
    );
    assert_eq!(f.store.count_users().await.unwrap(), 2);
}

async fn first_account_becomes_admin(backend: Backend) {
    let f = fixture_or_skip!(backend);
    let first = f
        .store
        .insert_user(&f.user(Some("first@example.org"), None), true, &NO_JOURNAL)
        .await
        .unwrap();
    assert_eq!(first.role, Role::Admin);
    assert_eq!(f.store.get_user(first.id).await.unwrap().role, Role::Admin);
    let second = f
        .store
        .insert_user(&f.user(Some("second@example.org"), None), true, &NO_JOURNAL)
        .await
        .unwrap();
    assert_eq!(second.role, Role::User);
    let mut pending = f.user(Some("third@example.org"), None);
    pending.role = Role::Pending;
    assert_eq!(
        f.store.insert_user(&pending, true, &NO_JOURNAL).await.unwrap().role,
        Role::Pending
    );
}

async fn first_account_without_claim_never_promotes(backend: Backend) {
    let f = fixture_or_skip!(backend);
    let first = f
        .store
        .insert_user(&f.user(Some("first@example.org"), None), false, &NO_JOURNAL)
        .await
        .unwrap();
    assert_eq!(first.role, Role::User);
    let second = f
        .store
        .insert_user(&f.user(Some("second@example.org"), None), true, &NO_JOURNAL)
        .await
        .unwrap();
    assert_eq!(second.role, Role::User);
    assert_eq!(f.active_admins().await, 0);
}

async fn first_admin_claim_under_concurrency(backend: Backend) {
    let f = fixture_or_skip!(backend);
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..20 {
        let store = f.store.clone();
        let user = f.user(Some(&format!("racer{i}@example.org")), Some(&format!("racer{i}")));
        tasks.spawn(async move { store.insert_user(&user, true, &NO_JOURNAL).await });
    }
    let mut admins = 0;
    while let Some(result) = tasks.join_next().await {
        if result.unwrap().unwrap().role == Role::Admin {
            admins += 1;
        }
    }
    assert_eq!(admins, 1);
    assert_eq!(f.active_admins().await, 1);
    assert_eq!(f.store.count_users().await.unwrap(), 20);
}

async fn update_user_writes_every_field(backend: Backend) {
    let f = fixture_or_skip!(backend);
    let before = f.insert(&f.user(Some("old@example.org"), Some("OldName"))).await;
    let t = now();
    let after = User {
        id: before.id,
        email: Some("new@example.org".into()),
        email_verified: true,
        username: Some("NewName".into()),
        name: Some("Nina New".into()),
        password_hash: Some(PasswordHash("$2b$12$abcdefghijklmnopqrstuv".into())),
        provider: "ldap".into(),
        role: Role::Pending,
        active: false,
        avatar: Some("/avatars/1.webp".into()),
        bio: Some("bio".into()),
        timezone: Some("UTC".into()),
        terms_version: Some("v2".into()),
        terms_accepted_at: Some(t),
        preferences: json!({"a": [1, {"b": "c"}]}),
        created_at: t - Duration::days(3),
        updated_at: t,
        last_login_at: Some(t - Duration::minutes(5)),
        last_active_at: Some(t - Duration::minutes(1)),
        revision: before.revision,
        // Bans are written by set_user_ban only.
        banned_until: None,
        ban_reason: None,
    };
    let stored = f.store.update_user(&after, false, &NO_JOURNAL).await.unwrap();
    assert_eq!(
        stored,
        User {
            revision: before.revision + 1,
            ..after.clone()
        }
    );
    assert_eq!(f.store.get_user(before.id).await.unwrap(), stored);
    // Derived columns follow: the old username no longer logs in, the new one does.
    assert_not_found(f.store.find_user_by_login("oldname").await);
    assert_not_found(f.store.find_user_by_login("old@example.org").await);
    assert_eq!(f.store.find_user_by_login("newname").await.unwrap().id, before.id);
    let search = UserQuery {
        search: Some("nina".into()),
        limit: 10,
        ..UserQuery::default()
    };
    assert_eq!(f.store.list_users(&search).await.unwrap().len(), 1);
    let search = UserQuery {
        search: Some("oldname".into()),
        limit: 10,
        ..UserQuery::default()
    };
    assert!(f.store.list_users(&search).await.unwrap().is_empty());
    // Clearing optional fields writes NULLs.
    let cleared = User {
        username: None,
        name: None,
        avatar: None,
        last_login_at: None,
        ..stored.clone()
    };
    let stored = f.store.update_user(&cleared, false, &NO_JOURNAL).await.unwrap();
    assert_eq!(
        stored,
        User {
            revision: cleared.revision + 1,
            ..cleared
        }
    );
}

async fn update_user_detects_stale_and_missing(backend: Backend) {
    let f = fixture_or_skip!(backend);
    let user = f.insert(&f.user(Some("u@example.org"), None)).await;
    let first = f
        .store
        .update_user(
            &User {
                name: Some("one".into()),
                ..user.clone()
            },
            false,
            &NO_JOURNAL,
        )
        .await
        .unwrap();
    assert_eq!(first.revision, user.revision + 1);
    // A writer that read before the first update loses.
    let stale = f
        .store
        .update_user(
            &User {
                name: Some("two".into()),
                ..user.clone()
            },
            false,
            &NO_JOURNAL,
        )
        .await;
    assert!(matches!(stale, Err(StoreError::Stale)), "{stale:?}");
    assert_eq!(f.store.get_user(user.id).await.unwrap(), first);
    let missing = f.user(Some("ghost@example.org"), None);
    assert_not_found(f.store.update_user(&missing, false, &NO_JOURNAL).await);
    assert_not_found(f.store.update_user(&missing, true, &NO_JOURNAL).await);
}

async fn last_admin_guard(backend: Backend) {
    let f = fixture_or_skip!(backend);
    let alice = f
        .store
        .insert_user(&f.user(Some("alice@example.org"), None), true, &NO_JOURNAL)
        .await
        .unwrap();
    let bob = f.insert(&f.user(Some("bob@example.org"), None)).await;
    assert_eq!(alice.role, Role::Admin);

    let demoted = User {
        role: Role::User,
        ..alice.clone()
    };
    assert!(matches!(
        f.store.update_user(&demoted, true, &NO_JOURNAL).await,
        Err(StoreError::LastAdmin)
    ));
    let deactivated = User {
        active: false,
        ..alice.clone()
    };
    assert!(matches!(
        f.store.update_user(&deactivated, true, &NO_JOURNAL).await,
        Err(StoreError::LastAdmin)
    ));
    assert!(matches!(
        f.store.delete_user(alice.id, true, &NO_JOURNAL).await,
        Err(StoreError::LastAdmin)
    ));
    assert_eq!(f.store.get_user(alice.id).await.unwrap(), alice, "nothing was written");

    // A second admin makes the first removable.
    let bob = f
        .store
        .update_user(
            &User {
                role: Role::Admin,
                ..bob
            },
            false,
            &NO_JOURNAL,
        )
        .await
        .unwrap();
    let alice = f.store.update_user(&demoted, true, &NO_JOURNAL).await.unwrap();
    assert_eq!(alice.role, Role::User);
    assert!(matches!(
        f.store.delete_user(bob.id, true, &NO_JOURNAL).await,
        Err(StoreError::LastAdmin)
    ));
    f.store.delete_user(alice.id, true, &NO_JOURNAL).await.unwrap();
    assert_not_found(f.store.delete_user(alice.id, true, &NO_JOURNAL).await);
    assert_not_found(f.store.delete_user(alice.id, false, &NO_JOURNAL).await);
    assert_eq!(f.active_admins().await, 1);
}

async fn concurrent_demotions_keep_one_admin(backend: Backend) {
    let f = fixture_or_skip!(backend);
    let a = f
        .store
        .insert_user(&f.user(Some("a@example.org"), None), true, &NO_JOURNAL)
        .await
        .unwrap();
    let b = f.admin("b@example.org").await;
    let (mut a, mut b) = (a, b);
    for round in 0..5 {
        assert_eq!(f.active_admins().await, 2);
        let (store_a, store_b) = (f.store.clone(), f.store.clone());
        // Alternate demotion and deactivation; both remove an active admin.
        let demote = |u: &User| {
            if round % 2 == 0 {
                User {
                    role: Role::User,
                    ..u.clone()
                }
            } else {
                User {
                    active: false,
                    ..u.clone()
                }
            }
        };
        let (change_a, change_b) = (demote(&a), demote(&b));
        let task_a = tokio::spawn(async move { store_a.update_user(&change_a, true, &NO_JOURNAL).await });
        let task_b = tokio::spawn(async move { store_b.update_user(&change_b, true, &NO_JOURNAL).await });
        let (result_a, result_b) = (task_a.await.unwrap(), task_b.await.unwrap());
        let succeeded = [&result_a, &result_b].iter().filter(|r| r.is_ok()).count();
        assert_eq!(succeeded, 1, "round {round}: {result_a:?} / {result_b:?}");
        for result in [&result_a, &result_b] {
            assert!(matches!(result, Ok(_) | Err(StoreError::LastAdmin)), "{result:?}");
        }
        assert_eq!(f.active_admins().await, 1);
        // Restore the demoted one.
        a = f.store.get_user(a.id).await.unwrap();
        b = f.store.get_user(b.id).await.unwrap();
        for user in [&mut a, &mut b] {
            if !user.is_active_admin() {
                *user = f
                    .store
                    .update_user(
                        &User {
                            role: Role::Admin,
                            active: true,
                            ..user.clone()
                        },
                        false,
                        &NO_JOURNAL,
                    )
                    .await
                    .unwrap();
            }
        }
    }
}

async fn delete_user_removes_everything(backend: Backend) {
    let f = fixture_or_skip!(backend);
    let keeper = f
        .store
        .insert_user(&f.user(Some("keeper@example.org"), None), true, &NO_JOURNAL)
        .await
        .unwrap();
    let leaver = f.insert(&f.user(Some("leaver@example.org"), None)).await;
    let t = now();
    let mut digests = Vec::new();
    for (owner, tag) in [(&leaver, "l1"), (&leaver, "l2"), (&keeper, "k1")] {
        let session = f.session(owner.id, t);
        f.store.insert_session(&session, &format!("{tag}-a")).await.unwrap();
        assert!(
            f.store
                .rotate_refresh_token(session.id, &format!("{tag}-a"), &format!("{tag}-b"), t)
                .await
                .unwrap()
        );
        f.store
            .insert_api_key(&f.api_key(owner.id, tag), &format!("{tag}-key"), &NO_JOURNAL)
            .await
            .unwrap();
        digests.push((owner.id, session.id, tag));
    }
    f.store.delete_user(leaver.id, false, &NO_JOURNAL).await.unwrap();
    assert_not_found(f.store.get_user(leaver.id).await);
    for (owner, session, tag) in digests {
        let gone = owner == leaver.id;
        for digest in [format!("{tag}-a"), format!("{tag}-b")] {
            assert_eq!(f.store.get_refresh_token(&digest).await.is_err(), gone, "{digest}");
        }
        assert_eq!(f.store.get_session(session).await.is_err(), gone);
        assert_eq!(
            f.store.get_api_key_by_digest(&format!("{tag}-key")).await.is_err(),
            gone
        );
    }
    assert!(f.store.list_sessions(leaver.id).await.unwrap().is_empty());
    assert!(f.store.list_api_keys(leaver.id).await.unwrap().is_empty());
    assert_eq!(f.store.list_sessions(keeper.id).await.unwrap().len(), 1);
    assert_not_found(f.store.delete_user(leaver.id, false, &NO_JOURNAL).await);
    assert_eq!(f.store.count_users().await.unwrap(), 1);
}

async fn record_login_updates_login_fields(backend: Backend) {
    let f = fixture_or_skip!(backend);
    let user = f.insert(&f.user(Some("login@example.org"), None)).await;
    let t1 = now() + Duration::seconds(1);
    f.store.record_login(user.id, t1, None, &NO_JOURNAL).await.unwrap();
    let after = f.store.get_user(user.id).await.unwrap();
    assert_eq!(after.last_login_at, Some(t1));
    assert_eq!(after.last_active_at, Some(t1));
    assert_eq!(after.password_hash, user.password_hash);
    assert_eq!(after.revision, user.revision + 1);
    let t2 = t1 + Duration::seconds(1);
    f.store
        .record_login(user.id, t2, Some("$argon2id$new"), &NO_JOURNAL)
        .await
        .unwrap();
    let after = f.store.get_user(user.id).await.unwrap();
    assert_eq!(after.last_login_at, Some(t2));
    assert_eq!(after.password_hash, Some(PasswordHash("$argon2id$new".into())));
    assert_eq!(after.revision, user.revision + 2);
    assert_not_found(f.store.record_login(UserId(424242), t2, None, &NO_JOURNAL).await);
}

// ---------------------------------------------------------------------------------------
// Listing

/// The key the core builds cursors from.
fn sort_key(sort: UserSort, user: &User) -> SortKey {
    match sort {
        UserSort::CreatedAt => SortKey::Int(ms(user.created_at)),
        UserSort::Email => SortKey::Text(user.email.clone().unwrap_or_default()),
        UserSort::Username => SortKey::Text(user.username.as_deref().unwrap_or_default().to_lowercase()),
        UserSort::Name => SortKey::Text(user.name.clone().unwrap_or_default()),
        UserSort::UpdatedAt => SortKey::Int(ms(user.updated_at)),
        UserSort::LastActiveAt => SortKey::Int(user.last_active_at.map_or(0, ms)),
        UserSort::Role => SortKey::Text(user.role.as_str().to_string()),
    }
}

fn key_order(a: &SortKey, b: &SortKey) -> std::cmp::Ordering {
    match (a, b) {
        (SortKey::Int(a), SortKey::Int(b)) => a.cmp(b),
        // Byte order, as SQLite's BINARY and PostgreSQL's "C" collation compare.
        (SortKey::Text(a), SortKey::Text(b)) => a.as_bytes().cmp(b.as_bytes()),
        _ => unreachable!(),
    }
}

/// A varied population: missing fields, ties, case and non-ASCII text.
async fn populate(f: &Fixture) -> Vec<User> {
    let names = [
        Some("adam"),
        Some("Adam"),
        Some("ADAM"),
        None,
        Some("Émile"),
        Some("zoë"),
        Some("Ωmega"),
        Some("bob"),
        Some("bob"),
        Some(""),
        Some("Zed"),
        Some("ändrea"),
    ];
    let base = ms(now()) - 100_000;
    let mut users = Vec::new();
    for i in 0..37usize {
        let email = (i % 5 != 0).then(|| format!("member{:02}@{}.example.org", (i * 7) % 37, ["b", "a", "c"][i % 3]));
        let username = (i % 4 != 1 || email.is_none())
            .then(|| format!("{}_{:02}", ["Kim", "kim", "LEE", "ßara", "Øle"][i % 5], (i * 11) % 37));
        let mut user = f.user(email.as_deref(), username.as_deref());
        user.name = names[i % names.len()].map(str::to_string);
        // Creation times with ties.
        user.created_at = at_ms(base + (i as i64 % 9) * 1000);
        user.updated_at = user.created_at;
        user.active = i % 6 != 0;
        user.role = if i % 7 == 0 { Role::Pending } else { Role::User };
        users.push(f.insert(&user).await);
    }
    users
}

fn expected_order(users: &[User], sort: UserSort, descending: bool) -> Vec<UserId> {
    let mut sorted: Vec<&User> = users.iter().collect();
    sorted.sort_by(|a, b| key_order(&sort_key(sort, a), &sort_key(sort, b)).then(a.id.cmp(&b.id)));
    if descending {
        sorted.reverse();
    }
    sorted.into_iter().map(|u| u.id).collect()
}

async fn walk(store: &dyn Store, base: &UserQuery, page_size: u32) -> Vec<UserId> {
    let mut seen = Vec::new();
    let mut after = None;
    loop {
        let query = UserQuery {
            after: after.clone(),
            limit: page_size,
            ..base.clone()
        };
        let page = store.list_users(&query).await.unwrap();
        assert!(page.len() <= page_size as usize);
        seen.extend(page.iter().map(|u| u.id));
        match page.last() {
            Some(last) if page.len() == page_size as usize => after = Some((sort_key(base.sort, last), last.id)),
            _ => break,
        }
    }
    seen
}

async fn list_users_pages_match_one_query(backend: Backend) {
    let f = fixture_or_skip!(backend);
    let users = populate(&f).await;
    for sort in [
        UserSort::CreatedAt,
        UserSort::Email,
        UserSort::Username,
        UserSort::Name,
        UserSort::UpdatedAt,
        UserSort::LastActiveAt,
        UserSort::Role,
    ] {
        for descending in [false, true] {
            let base = UserQuery {
                sort,
                descending,
                limit: 1000,
                ..UserQuery::default()
            };
            let expected = expected_order(&users, sort, descending);
            let all: Vec<UserId> = f.store.list_users(&base).await.unwrap().iter().map(|u| u.id).collect();
            assert_eq!(all, expected, "one query, sort {sort:?}, descending {descending}");
            for page_size in [1, 4, 7, 37, 50] {
                let walked = walk(f.store.as_ref(), &base, page_size).await;
                assert_eq!(
                    walked, expected,
                    "pages of {page_size}, sort {sort:?}, descending {descending}"
                );
                assert_eq!(
                    walked.iter().collect::<HashSet<_>>().len(),
                    users.len(),
                    "no duplicates"
                );
            }
            // Filters combine with pagination.
            let active = UserQuery {
                active: Some(true),
                ..base.clone()
            };
            let expected_active: Vec<UserId> = expected
                .iter()
                .copied()
                .filter(|id| users.iter().any(|u| u.id == *id && u.active))
                .collect();
            assert_eq!(walk(f.store.as_ref(), &active, 5).await, expected_active);
        }
    }
}

async fn list_users_filters_and_search(backend: Backend) {
    let f = fixture_or_skip!(backend);
    let admin = f
        .store
        .insert_user(&f.user(Some("root@example.org"), Some("root")), true, &NO_JOURNAL)
        .await
        .unwrap();
    let named = |email: &str, username: Option<&str>, name: &str| {
        let mut user = f.user(Some(email), username);
        user.name = Some(name.into());
        user
    };
    let percent = f.insert(&named("p@example.org", None, "100% Sure")).await;
    let underscore = f.insert(&named("u@example.org", Some("under_score"), "Under")).await;
    let backslash = f.insert(&named("b@example.org", None, r"back\slash")).await;
    let plain = f
        .insert(&named("plain@example.org", Some("PlainUser"), "Plain One"))
        .await;
    let mut pending = named("wait@example.org", None, "Waiting");
    pending.role = Role::Pending;
    let pending = f.insert(&pending).await;
    let mut inactive = named("off@example.org", None, "Switched Off");
    inactive.active = false;
    let inactive = f.insert(&inactive).await;

    let ids = |query: UserQuery| {
        let store = f.store.clone();
        async move {
            let query = UserQuery { limit: 100, ..query };
            store
                .list_users(&query)
                .await
                .unwrap()
                .into_iter()
                .map(|u| u.id)
                .collect::<BTreeSet<_>>()
        }
    };
    let search = |s: &str| UserQuery {
        search: Some(s.into()),
        ..UserQuery::default()
    };
    let set = |users: &[&User]| users.iter().map(|u| u.id).collect::<BTreeSet<_>>();

    assert_eq!(ids(search("%")).await, set(&[&percent]));
    assert_eq!(ids(search("_")).await, set(&[&underscore]));
    assert_eq!(ids(search("\\")).await, set(&[&backslash]));
    assert_eq!(ids(search("100%")).await, set(&[&percent]));
    assert_eq!(ids(search("r_s")).await, set(&[&underscore]));
    // Email, username (any case as stored) and name are all searched.
    assert_eq!(ids(search("plainuser")).await, set(&[&plain]));
    assert_eq!(ids(search("plain one")).await, set(&[&plain]));
    assert_eq!(ids(search("plain@")).await, set(&[&plain]));
    assert_eq!(ids(search("sure")).await, set(&[&percent]));
    assert_eq!(ids(search("nothing like this")).await, BTreeSet::new());
    assert_eq!(ids(search("example.org")).await.len(), 7);

    assert_eq!(
        ids(UserQuery {
            role: Some(Role::Admin),
            ..UserQuery::default()
        })
        .await,
        set(&[&admin])
    );
    assert_eq!(
        ids(UserQuery {
            role: Some(Role::Pending),
            ..UserQuery::default()
        })
        .await,
        set(&[&pending])
    );
    assert_eq!(
        ids(UserQuery {
            active: Some(false),
            ..UserQuery::default()
        })
        .await,
        set(&[&inactive])
    );
    assert_eq!(
        ids(UserQuery {
            active: Some(true),
            ..UserQuery::default()
        })
        .await
        .len(),
        6
    );
    // "n" is also in the pending "Waiting"; the filters drop it.
    let combined = UserQuery {
        search: Some("n".into()),
        role: Some(Role::User),
        active: Some(true),
        ..UserQuery::default()
    };
    assert_eq!(ids(combined).await, set(&[&underscore, &plain]));
    let combined = UserQuery {
        search: Some("wait".into()),
        role: Some(Role::User),
        ..UserQuery::default()
    };
    assert_eq!(ids(combined).await, BTreeSet::new());
    assert_eq!(f.store.count_users().await.unwrap(), 7);
    // Limits apply.
    let limited = UserQuery {
        limit: 2,
        ..UserQuery::default()
    };
    assert_eq!(f.store.list_users(&limited).await.unwrap().len(), 2);
}

// ---------------------------------------------------------------------------------------
// Sessions and refresh tokens

async fn refresh_tokens_rotate_once(backend: Backend) {
    let f = fixture_or_skip!(backend);
    let user = f.insert(&f.user(Some("s@example.org"), None)).await;
    let t0 = now();
    let session = f.session(user.id, t0);
    f.store.insert_session(&session, "d0").await.unwrap();
    assert_eq!(f.store.get_session(session.id).await.unwrap(), session);
    let record = f.store.get_refresh_token("d0").await.unwrap();
    assert_eq!((record.session_id, record.used_at), (session.id, None));

    let t1 = t0 + Duration::seconds(10);
    assert!(f.store.rotate_refresh_token(session.id, "d0", "d1", t1).await.unwrap());
    assert_eq!(f.store.get_refresh_token("d0").await.unwrap().used_at, Some(t1));
    assert_eq!(f.store.get_refresh_token("d1").await.unwrap().used_at, None);
    assert_eq!(f.store.get_session(session.id).await.unwrap().last_used_at, t1);

    // The same old token again: refused, nothing written.
    let t2 = t1 + Duration::seconds(10);
    assert!(!f.store.rotate_refresh_token(session.id, "d0", "d2", t2).await.unwrap());
    assert_not_found(f.store.get_refresh_token("d2").await);
    assert_eq!(f.store.get_session(session.id).await.unwrap().last_used_at, t1);
    assert_eq!(f.store.get_refresh_token("d0").await.unwrap().used_at, Some(t1));
    // A token of another session, or an unknown one: refused.
    assert!(
        !f.store
            .rotate_refresh_token(SessionId(999), "d1", "d3", t2)
            .await
            .unwrap()
    );
    assert!(
        !f.store
            .rotate_refresh_token(session.id, "unknown", "d4", t2)
            .await
            .unwrap()
    );
    assert_eq!(f.store.get_refresh_token("d1").await.unwrap().used_at, None);

    let t3 = t2 + Duration::seconds(10);
    f.store.touch_session(session.id, t3).await.unwrap();
    assert_eq!(f.store.get_session(session.id).await.unwrap().last_used_at, t3);
    assert_not_found(f.store.touch_session(SessionId(999), t3).await);
    assert_not_found(f.store.get_session(SessionId(999)).await);
    assert_not_found(f.store.get_refresh_token("nope").await);
    // A session needs its user.
    let orphan = f.session(UserId(31337), t0);
    assert!(f.store.insert_session(&orphan, "orphan").await.is_err());
    assert_not_found(f.store.get_refresh_token("orphan").await);
}

async fn refresh_rotation_under_concurrency(backend: Backend) {
    let f = fixture_or_skip!(backend);
    let user = f.insert(&f.user(Some("race@example.org"), None)).await;
    let session = f.session(user.id, now());
    f.store.insert_session(&session, "start").await.unwrap();
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..10 {
        let store = f.store.clone();
        tasks.spawn(async move {
            store
                .rotate_refresh_token(session.id, "start", &format!("next{i}"), now())
                .await
        });
    }
    let mut winners = 0;
    while let Some(result) = tasks.join_next().await {
        winners += usize::from(result.unwrap().unwrap());
    }
    assert_eq!(winners, 1);
    let mut issued = 0;
    for i in 0..10 {
        issued += usize::from(f.store.get_refresh_token(&format!("next{i}")).await.is_ok());
    }
    assert_eq!(issued, 1);
}

async fn sessions_listing_and_scoped_deletion(backend: Backend) {
    let f = fixture_or_skip!(backend);
    let ann = f.insert(&f.user(Some("ann@example.org"), None)).await;
    let ben = f.insert(&f.user(Some("ben@example.org"), None)).await;
    let t = now();
    let mut ann_sessions = Vec::new();
    for i in 0..4 {
        let session = Session {
            user_agent: None,
            ip: None,
            ..f.session(ann.id, t + Duration::seconds(i))
        };
        f.store.insert_session(&session, &format!("ann{i}")).await.unwrap();
        ann_sessions.push(session);
    }
    let ben_session = f.session(ben.id, t);
    f.store.insert_session(&ben_session, "ben0").await.unwrap();

    let listed = f.store.list_sessions(ann.id).await.unwrap();
    let newest_first: Vec<Session> = ann_sessions.iter().rev().cloned().collect();
    assert_eq!(listed, newest_first);

    assert_not_found(f.store.delete_session(ann.id, ben_session.id, &NO_JOURNAL).await);
    assert!(f.store.get_session(ben_session.id).await.is_ok());
    f.store
        .delete_session(ann.id, ann_sessions[0].id, &NO_JOURNAL)
        .await
        .unwrap();
    assert_not_found(f.store.delete_session(ann.id, ann_sessions[0].id, &NO_JOURNAL).await);
    assert_not_found(f.store.get_refresh_token("ann0").await);

    let keep = ann_sessions[2].id;
    assert_eq!(
        f.store
            .delete_sessions_of_user(ann.id, Some(keep), &NO_JOURNAL)
            .await
            .unwrap(),
        2
    );
    let left: Vec<SessionId> = f
        .store
        .list_sessions(ann.id)
        .await
        .unwrap()
        .iter()
        .map(|s| s.id)
        .collect();
    assert_eq!(left, vec![keep]);
    assert_not_found(f.store.get_refresh_token("ann1").await);
    assert!(f.store.get_refresh_token("ann2").await.is_ok());
    assert_not_found(f.store.get_refresh_token("ann3").await);
    assert_eq!(
        f.store
            .delete_sessions_of_user(ann.id, None, &NO_JOURNAL)
            .await
            .unwrap(),
        1
    );
    assert!(f.store.list_sessions(ann.id).await.unwrap().is_empty());
    assert_eq!(
        f.store
            .delete_sessions_of_user(ann.id, None, &NO_JOURNAL)
            .await
            .unwrap(),
        0
    );
    assert_eq!(f.store.list_sessions(ben.id).await.unwrap(), vec![ben_session]);
    assert!(f.store.get_refresh_token("ben0").await.is_ok());
}

// ---------------------------------------------------------------------------------------
// API keys and signing keys

async fn api_keys_round_trip(backend: Backend) {
    let f = fixture_or_skip!(backend);
    let ann = f.insert(&f.user(Some("ann@example.org"), None)).await;
    let ben = f.insert(&f.user(Some("ben@example.org"), None)).await;
    let mut keys = Vec::new();
    for i in 0..3 {
        let mut key = f.api_key(ann.id, &format!("key{i}"));
        if i == 1 {
            key.expires_at = Some(now() + Duration::days(7));
            key.scopes = vec![];
        }
        f.store
            .insert_api_key(&key, &format!("digest{i}"), &NO_JOURNAL)
            .await
            .unwrap();
        keys.push(key);
    }
    let ben_key = f.api_key(ben.id, "bens");
    f.store
        .insert_api_key(&ben_key, "ben-digest", &NO_JOURNAL)
        .await
        .unwrap();

    assert_eq!(f.store.get_api_key_by_digest("digest1").await.unwrap(), keys[1]);
    assert_not_found(f.store.get_api_key_by_digest("nope").await);
    let listed = f.store.list_api_keys(ann.id).await.unwrap();
    assert_eq!(listed, keys.iter().rev().cloned().collect::<Vec<_>>());

    let used = now() + Duration::minutes(1);
    f.store.touch_api_key(keys[0].id, used).await.unwrap();
    assert_eq!(
        f.store.get_api_key_by_digest("digest0").await.unwrap().last_used_at,
        Some(used)
    );
    assert_not_found(f.store.touch_api_key(ApiKeyId(5), used).await);

    assert_not_found(f.store.delete_api_key(ann.id, ben_key.id, &NO_JOURNAL).await);
    assert!(f.store.get_api_key_by_digest("ben-digest").await.is_ok());
    f.store.delete_api_key(ann.id, keys[0].id, &NO_JOURNAL).await.unwrap();
    assert_not_found(f.store.delete_api_key(ann.id, keys[0].id, &NO_JOURNAL).await);
    assert_not_found(f.store.get_api_key_by_digest("digest0").await);
    assert_eq!(f.store.list_api_keys(ann.id).await.unwrap().len(), 2);
    // A digest is unique.
    let duplicate = f.api_key(ann.id, "dup");
    assert!(matches!(
        f.store.insert_api_key(&duplicate, "digest1", &NO_JOURNAL).await,
        Err(StoreError::Conflict { .. })
    ));
}

async fn signing_keys_generation_conflict(backend: Backend) {
    let f = fixture_or_skip!(backend);
    assert!(f.store.list_signing_keys().await.unwrap().is_empty());
    let t = now();
    let first = SigningKeyRecord::generate(1, t).unwrap();
    assert!(f.store.insert_signing_key(&first).await.unwrap());
    // Another instance generating generation 1 at the same time loses.
    let rival = SigningKeyRecord::generate(1, t).unwrap();
    assert!(!f.store.insert_signing_key(&rival).await.unwrap());
    assert!(!f.store.insert_signing_key(&first).await.unwrap());
    let second = SigningKeyRecord::generate(2, t + Duration::days(1)).unwrap();
    assert!(f.store.insert_signing_key(&second).await.unwrap());
    let listed = f.store.list_signing_keys().await.unwrap();
    assert_eq!(listed.len(), 2);
    for (stored, expected) in listed.iter().zip([&first, &second]) {
        assert_eq!(stored.kid, expected.kid);
        assert_eq!(stored.generation, expected.generation);
        assert_eq!(stored.private_pkcs8, expected.private_pkcs8);
        assert_eq!(stored.public_key, expected.public_key);
        assert_eq!(stored.created_at, expected.created_at);
    }
}

// ---------------------------------------------------------------------------------------
// Opening, migrating, closing

async fn migrations_run_twice(backend: Backend) {
    let f = fixture_or_skip!(backend);
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
    let Some(db) = TestDatabase::new(backend).await else {
        return;
    };
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
    let f = fixture_or_skip!(backend);
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
    let f = fixture_or_skip!(backend);
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
    let f = fixture_or_skip!(backend);
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
    let f = fixture_or_skip!(backend);
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
    let f = fixture_or_skip!(backend);
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

async fn bulk_insert_is_all_or_nothing(backend: Backend) {
    let Some(f) = fixture(backend).await else { return };
    let users: Vec<User> = (0..2500)
        .map(|i| {
            let mut u = f.user(Some(&format!("bulk{i}@example.org")), Some(&format!("Bulk_{i}")));
            u.name = Some(format!("Bulk Person {i}"));
            u
        })
        .collect();
    assert_eq!(f.store.insert_users_bulk(&users, &NO_JOURNAL).await.unwrap(), 2500);
    assert_eq!(f.store.count_users().await.unwrap(), 2500);
    let stored = f.store.get_user(users[1234].id).await.unwrap();
    assert_eq!(stored.email.as_deref(), Some("bulk1234@example.org"));
    assert_eq!(
        f.store.find_user_by_login("bulk_2499").await.unwrap().id,
        users[2499].id
    );
    let found = f
        .store
        .list_users(&UserQuery {
            search: Some("person 123".into()),
            limit: 50,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(found.len(), 11, "1230..1239 and 123");
    // The first-account marker is taken: a later claiming insert is not promoted.
    let later = f
        .store
        .insert_user(&f.user(Some("later@example.org"), None), true, &NO_JOURNAL)
        .await
        .unwrap();
    assert_eq!(later.role, Role::User);
    // A batch with one taken email writes nothing.
    let mut batch: Vec<User> = (0..10)
        .map(|i| f.user(Some(&format!("new{i}@example.org")), None))
        .collect();
    batch.push(f.user(Some("bulk7@example.org"), None));
    assert!(matches!(
        f.store.insert_users_bulk(&batch, &NO_JOURNAL).await,
        Err(StoreError::Conflict { .. })
    ));
    assert_eq!(f.store.count_users().await.unwrap(), 2501);
    f.store.refresh_statistics().await.unwrap();
}

// ---------------------------------------------------------------------------------------
// Bans, account tokens, look-ups and counts (the admin command line)

async fn bans_are_stored_listed_and_guarded(backend: Backend) {
    let f = fixture_or_skip!(backend);
    let admin = f.admin("admin@example.org").await;
    let user = f.insert(&f.user(Some("u@example.org"), None)).await;
    let t = now();
    let banned = f
        .store
        .set_user_ban(
            user.id,
            Some(t + Duration::hours(1)),
            Some("spam"),
            false,
            t,
            &NO_JOURNAL,
        )
        .await
        .unwrap();
    assert_eq!(banned.banned_until, Some(t + Duration::hours(1)));
    assert_eq!(banned.ban_reason.as_deref(), Some("spam"));
    assert_eq!(banned.revision, user.revision + 1);
    assert_eq!(f.store.get_user(user.id).await.unwrap(), banned);
    let listed = f.store.list_banned_users(t).await.unwrap();
    assert_eq!(listed.iter().map(|u| u.id).collect::<Vec<_>>(), vec![user.id]);
    assert!(
        f.store
            .list_banned_users(t + Duration::hours(2))
            .await
            .unwrap()
            .is_empty()
    );
    // update_user never touches a ban.
    let renamed = f
        .store
        .update_user(
            &User {
                name: Some("N".into()),
                ..banned.clone()
            },
            false,
            &NO_JOURNAL,
        )
        .await
        .unwrap();
    assert_eq!(renamed.banned_until, banned.banned_until);
    // The only admin cannot be banned; a banned admin does not count as active.
    assert!(matches!(
        f.store
            .set_user_ban(admin.id, Some(t + Duration::hours(1)), None, true, t, &NO_JOURNAL)
            .await,
        Err(StoreError::LastAdmin)
    ));
    let second = f.admin("second@example.org").await;
    f.store
        .set_user_ban(second.id, Some(t + Duration::hours(1)), None, true, t, &NO_JOURNAL)
        .await
        .unwrap();
    assert!(matches!(
        f.store
            .update_user(
                &User {
                    role: Role::User,
                    ..f.store.get_user(admin.id).await.unwrap()
                },
                true,
                &NO_JOURNAL
            )
            .await,
        Err(StoreError::LastAdmin)
    ));
    let lifted = f
        .store
        .set_user_ban(user.id, None, None, false, t, &NO_JOURNAL)
        .await
        .unwrap();
    assert_eq!((lifted.banned_until, lifted.ban_reason), (None, None));
    assert_not_found(
        f.store
            .set_user_ban(UserId(f.ids.next_id()), None, None, false, t, &NO_JOURNAL)
            .await,
    );
}

async fn account_tokens_are_used_once(backend: Backend) {
    use roster_core::store::{AccountToken, AccountTokenKind};
    let f = fixture_or_skip!(backend);
    let user = f.insert(&f.user(Some("u@example.org"), None)).await;
    let t = now();
    let reset = AccountToken {
        kind: AccountTokenKind::PasswordReset,
        user_id: Some(user.id),
        email: None,
        role: None,
        created_at: t,
        expires_at: t + Duration::hours(1),
        used_at: None,
    };
    f.store.insert_account_token(&reset, "d-reset").await.unwrap();
    assert_eq!(f.store.get_account_token("d-reset").await.unwrap(), reset);
    // The wrong kind, an expired token, an unknown digest: nothing is used.
    assert_not_found(
        f.store
            .use_account_token("d-reset", AccountTokenKind::Invitation, t)
            .await,
    );
    assert_not_found(
        f.store
            .use_account_token("d-reset", AccountTokenKind::PasswordReset, t + Duration::hours(1))
            .await,
    );
    assert_not_found(
        f.store
            .use_account_token("nope", AccountTokenKind::PasswordReset, t)
            .await,
    );
    let used = f
        .store
        .use_account_token("d-reset", AccountTokenKind::PasswordReset, t)
        .await
        .unwrap();
    assert_eq!(used.used_at, Some(t));
    assert_not_found(
        f.store
            .use_account_token("d-reset", AccountTokenKind::PasswordReset, t)
            .await,
    );

    // An invitation and the user it creates: both or neither.
    let invitation = AccountToken {
        kind: AccountTokenKind::Invitation,
        user_id: None,
        email: Some("new@example.org".into()),
        role: Some(Role::Admin),
        created_at: t,
        expires_at: t + Duration::days(1),
        used_at: None,
    };
    f.store.insert_account_token(&invitation, "d-invite").await.unwrap();
    let taken = f.user(Some("u@example.org"), None);
    assert_conflict(
        f.store
            .insert_user_with_invitation(&taken, "d-invite", t, &NO_JOURNAL)
            .await,
        "email",
    );
    assert!(f.store.get_account_token("d-invite").await.unwrap().used_at.is_none());
    let mut new = f.user(Some("new@example.org"), None);
    new.role = Role::Admin;
    let created = f
        .store
        .insert_user_with_invitation(&new, "d-invite", t, &NO_JOURNAL)
        .await
        .unwrap();
    assert_eq!(created.role, Role::Admin);
    let again = f.user(Some("other@example.org"), None);
    assert_not_found(
        f.store
            .insert_user_with_invitation(&again, "d-invite", t, &NO_JOURNAL)
            .await,
    );
    assert_not_found(f.store.get_user(again.id).await);
    // Deleting a user deletes its tokens.
    f.store
        .insert_account_token(&AccountToken { used_at: None, ..reset }, "d-reset-2")
        .await
        .unwrap();
    f.store.delete_user(user.id, false, &NO_JOURNAL).await.unwrap();
    assert_not_found(f.store.get_account_token("d-reset-2").await);
}

async fn look_ups_and_counts(backend: Backend) {
    let f = fixture_or_skip!(backend);
    let t = now();
    let a = f.admin("a@example.org").await;
    let mut b = f.user(Some("b@example.org"), Some("Bee"));
    b.provider = "google".into();
    b.email_verified = true;
    b.last_active_at = Some(t - Duration::days(3));
    let b = f.insert(&b).await;
    let mut c = f.user(None, Some("cee"));
    c.active = false;
    c.created_at = t - Duration::days(40);
    let c = f.insert(&c).await;
    f.store
        .set_user_ban(c.id, Some(t + Duration::hours(1)), None, false, t, &NO_JOURNAL)
        .await
        .unwrap();
    let found = f
        .store
        .find_users_by_logins(&["b@example.org".into(), "zz@example.org".into(), "cee".into()])
        .await
        .unwrap();
    let mut ids: Vec<_> = found.iter().map(|u| u.id).collect();
    ids.sort();
    assert_eq!(ids, vec![b.id, c.id]);
    assert!(f.store.find_users_by_logins(&[]).await.unwrap().is_empty());
    assert_eq!(
        f.store.find_users_by_logins(&["a@example.org".into()]).await.unwrap()[0].id,
        a.id
    );

    let counts = f
        .store
        .user_counts(
            t,
            t - Duration::days(30),
            &[t - Duration::days(1), t - Duration::days(7)],
        )
        .await
        .unwrap();
    assert_eq!(counts.total, 3);
    assert_eq!(counts.email_verified, 1);
    assert_eq!(counts.active, 2);
    assert_eq!(counts.banned, 1);
    assert_eq!(counts.by_role, vec![("admin".to_string(), 1), ("user".to_string(), 2)]);
    assert_eq!(
        counts.by_provider,
        vec![("local".to_string(), 2), ("google".to_string(), 1)]
    );
    assert_eq!(counts.signups_by_day.iter().map(|(_, n)| n).sum::<i64>(), 2);
    assert_eq!(counts.active_since, vec![0, 1]);

    let key = f.api_key(b.id, "k");
    f.store.insert_api_key(&key, "digest-k", &NO_JOURNAL).await.unwrap();
    assert_eq!(f.store.delete_api_keys_of_user(b.id, &NO_JOURNAL).await.unwrap(), 1);
    assert!(f.store.list_api_keys(b.id).await.unwrap().is_empty());
}

// ---------------------------------------------------------------------------------------
// Groups and permission templates

fn group(f: &Fixture, name: &str, permissions: serde_json::Value) -> roster_core::store::Group {
    roster_core::store::Group {
        id: roster_core::GroupId(f.ids.next_id()),
        name: name.into(),
        description: format!("about {name}"),
        permissions,
        created_by: None,
        created_at: now(),
        updated_at: now(),
    }
}

async fn groups_round_trip(backend: Backend) {
    let Some(f) = fixture(backend).await else { return };
    let admin = f.insert(&f.user(Some("g-admin@example.org"), None)).await;
    let mut g = group(&f, "beta", json!({"chat": {"delete": true}}));
    g.created_by = Some(admin.id);
    f.store.insert_group(&g, &NO_JOURNAL).await.unwrap();
    let a = group(&f, "alpha", json!({}));
    f.store.insert_group(&a, &NO_JOURNAL).await.unwrap();
    assert_eq!(f.store.get_group(g.id).await.unwrap(), g);
    let names: Vec<String> = f
        .store
        .list_groups()
        .await
        .unwrap()
        .into_iter()
        .map(|g| g.name)
        .collect();
    assert_eq!(names, vec!["alpha", "beta"]);

    let mut changed = g.clone();
    changed.name = "gamma".into();
    changed.description = String::new();
    changed.permissions = json!({"features": {"api_keys": true}});
    changed.updated_at = at_ms(ms(now()) + 5);
    f.store.update_group(&changed, &NO_JOURNAL).await.unwrap();
    assert_eq!(f.store.get_group(g.id).await.unwrap(), changed);

    let missing = group(&f, "missing", json!({}));
    assert!(matches!(
        f.store.update_group(&missing, &NO_JOURNAL).await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(f.store.get_group(missing.id).await, Err(StoreError::NotFound)));
    assert!(matches!(
        f.store.delete_group(missing.id, &NO_JOURNAL).await,
        Err(StoreError::NotFound)
    ));
    f.store.delete_group(a.id, &NO_JOURNAL).await.unwrap();
    assert_eq!(f.store.list_groups().await.unwrap().len(), 1);
}

async fn group_membership(backend: Backend) {
    let Some(f) = fixture(backend).await else { return };
    let u1 = f.insert(&f.user(Some("m1@example.org"), None)).await;
    let u2 = f.insert(&f.user(Some("m2@example.org"), None)).await;
    let g = group(&f, "team", json!({}));
    let h = group(&f, "other", json!({}));
    f.store.insert_group(&g, &NO_JOURNAL).await.unwrap();
    f.store.insert_group(&h, &NO_JOURNAL).await.unwrap();

    f.store
        .add_group_members(g.id, &[u1.id, u2.id], now(), &NO_JOURNAL)
        .await
        .unwrap();
    // Adding again is harmless.
    f.store
        .add_group_members(g.id, &[u1.id], now(), &NO_JOURNAL)
        .await
        .unwrap();
    f.store
        .add_group_members(h.id, &[u1.id], now(), &NO_JOURNAL)
        .await
        .unwrap();
    let mut expected = vec![u1.id, u2.id];
    expected.sort();
    assert_eq!(f.store.list_group_members(g.id).await.unwrap(), expected);
    let of_u1: Vec<String> = f
        .store
        .list_groups_of_user(u1.id)
        .await
        .unwrap()
        .into_iter()
        .map(|g| g.name)
        .collect();
    assert_eq!(of_u1, vec!["other", "team"]);

    // An unknown user or group: nothing is written.
    let ghost = UserId(f.ids.next_id());
    assert!(matches!(
        f.store
            .add_group_members(h.id, &[u2.id, ghost], now(), &NO_JOURNAL)
            .await,
        Err(StoreError::NotFound)
    ));
    assert_eq!(f.store.list_group_members(h.id).await.unwrap(), vec![u1.id]);
    let no_group = roster_core::GroupId(f.ids.next_id());
    assert!(matches!(
        f.store.add_group_members(no_group, &[u1.id], now(), &NO_JOURNAL).await,
        Err(StoreError::NotFound)
    ));

    assert_eq!(
        f.store
            .remove_group_members(g.id, &[u2.id, ghost], &NO_JOURNAL)
            .await
            .unwrap(),
        1
    );
    assert_eq!(f.store.list_group_members(g.id).await.unwrap(), vec![u1.id]);

    // Deleting a user or a group removes its memberships.
    f.store.delete_user(u1.id, false, &NO_JOURNAL).await.unwrap();
    assert!(f.store.list_group_members(g.id).await.unwrap().is_empty());
    f.store
        .add_group_members(g.id, &[u2.id], now(), &NO_JOURNAL)
        .await
        .unwrap();
    f.store.delete_group(g.id, &NO_JOURNAL).await.unwrap();
    assert!(f.store.list_groups_of_user(u2.id).await.unwrap().is_empty());
}

// -- Groups with their members, at once. ----------------------------------------------------

async fn members_of_many_groups(backend: Backend) {
    let Some(f) = fixture(backend).await else { return };
    let u1 = f.insert(&f.user(Some("mm1@example.org"), None)).await;
    let u2 = f.insert(&f.user(Some("mm2@example.org"), None)).await;
    let (g, h, empty) = (
        group(&f, "g", json!({})),
        group(&f, "h", json!({})),
        group(&f, "e", json!({})),
    );
    for x in [&g, &h, &empty] {
        f.store.insert_group(x, &NO_JOURNAL).await.unwrap();
    }
    f.store
        .add_group_members(g.id, &[u2.id, u1.id], now(), &NO_JOURNAL)
        .await
        .unwrap();
    f.store
        .add_group_members(h.id, &[u2.id], now(), &NO_JOURNAL)
        .await
        .unwrap();
    let ghost = roster_core::GroupId(f.ids.next_id());
    let pairs = f
        .store
        .list_members_of_groups(&[h.id, empty.id, ghost, g.id])
        .await
        .unwrap();
    let mut expected = vec![(g.id, u1.id), (g.id, u2.id), (h.id, u2.id)];
    expected.sort();
    assert_eq!(pairs, expected);
    assert!(f.store.list_members_of_groups(&[]).await.unwrap().is_empty());
    assert!(f.store.list_members_of_groups(&[empty.id]).await.unwrap().is_empty());
}

async fn group_and_members_written_at_once(backend: Backend) {
    use roster_core::journal::{AuditQuery, JournalBuilder};
    let Some(f) = fixture(backend).await else { return };
    let u1 = f.insert(&f.user(Some("gw1@example.org"), None)).await;
    let u2 = f.insert(&f.user(Some("gw2@example.org"), None)).await;
    let audit_count = || async {
        let query = AuditQuery {
            limit: 10_000,
            ..AuditQuery::default()
        };
        f.store.list_audit(&query).await.unwrap().len()
    };
    let (audits, events) = (audit_count().await, f.store.list_outbox(0, 10_000).await.unwrap().len());
    let journal = |action: &str| {
        JournalBuilder::new(&f.ids, now(), None)
            .audit(action, None, json!({}))
            .event("group.member_added", u1.id, json!({}))
            .build()
    };

    // Created with its members and its journal.
    let mut g = group(&f, "team", json!({}));
    f.store
        .write_group_with_members(&g, true, &[u1.id, u2.id], &[], &journal("group.create"))
        .await
        .unwrap();
    assert_eq!(f.store.get_group(g.id).await.unwrap(), g);
    let mut both = vec![u1.id, u2.id];
    both.sort();
    assert_eq!(f.store.list_group_members(g.id).await.unwrap(), both);
    assert_eq!(audit_count().await, audits + 1);
    assert_eq!(f.store.list_outbox(0, 10_000).await.unwrap().len(), events + 1);

    // Updated, one member added again (harmless) and one removed.
    g.name = "renamed".into();
    g.updated_at = at_ms(ms(now()) + 5);
    f.store
        .write_group_with_members(&g, false, &[u1.id], &[u2.id], &journal("group.update"))
        .await
        .unwrap();
    assert_eq!(f.store.get_group(g.id).await.unwrap(), g);
    assert_eq!(f.store.list_group_members(g.id).await.unwrap(), vec![u1.id]);
    assert_eq!(audit_count().await, audits + 2);

    // An unknown user, or a group that is not there to update: nothing is written.
    let ghost = UserId(f.ids.next_id());
    let mut changed = g.clone();
    changed.name = "never".into();
    assert!(matches!(
        f.store
            .write_group_with_members(&changed, false, &[u2.id, ghost], &[u1.id], &journal("group.update"))
            .await,
        Err(StoreError::NotFound)
    ));
    let missing = group(&f, "missing", json!({}));
    assert!(matches!(
        f.store
            .write_group_with_members(&missing, false, &[u2.id], &[], &journal("group.update"))
            .await,
        Err(StoreError::NotFound)
    ));
    let fresh = group(&f, "fresh", json!({}));
    assert!(matches!(
        f.store
            .write_group_with_members(&fresh, true, &[ghost], &[], &journal("group.create"))
            .await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(f.store.get_group(fresh.id).await, Err(StoreError::NotFound)));
    assert!(matches!(f.store.get_group(missing.id).await, Err(StoreError::NotFound)));
    assert_eq!(f.store.get_group(g.id).await.unwrap(), g);
    assert_eq!(f.store.list_group_members(g.id).await.unwrap(), vec![u1.id]);
    assert_eq!(audit_count().await, audits + 2);
    assert_eq!(f.store.list_outbox(0, 10_000).await.unwrap().len(), events + 2);
}

// -- end of groups with their members. ------------------------------------------------------

async fn permission_templates_round_trip(backend: Backend) {
    let Some(f) = fixture(backend).await else { return };
    assert_eq!(f.store.get_permission_template("default").await.unwrap(), None);
    let first = json!({"chat": {"delete": false, "edit": true}});
    f.store
        .put_permission_template("default", &first, now(), &NO_JOURNAL)
        .await
        .unwrap();
    assert_eq!(f.store.get_permission_template("default").await.unwrap(), Some(first));
    let second = json!({"chat": {"delete": true}});
    f.store
        .put_permission_template("default", &second, now(), &NO_JOURNAL)
        .await
        .unwrap();
    assert_eq!(f.store.get_permission_template("default").await.unwrap(), Some(second));
    assert_eq!(f.store.get_permission_template("other").await.unwrap(), None);
}

async fn email_verifications_are_used_once(backend: Backend) {
    use roster_core::store::EmailVerification;
    let f = fixture_or_skip!(backend);
    let user = f.insert(&f.user(Some("v@example.org"), None)).await;
    let t = now();
    let record = |expires: OffsetDateTime| EmailVerification {
        user_id: user.id,
        email: "v@example.org".into(),
        created_at: t,
        expires_at: expires,
    };
    f.store
        .insert_email_verification(&record(t + Duration::minutes(15)), "d-old")
        .await
        .unwrap();
    // A new link replaces the old one.
    f.store
        .insert_email_verification(&record(t + Duration::minutes(15)), "d-new")
        .await
        .unwrap();
    assert_not_found(
        f.store
            .use_email_verification("d-old", None, None, t, &|_| Journal::default())
            .await,
    );
    assert_not_found(
        f.store
            .use_email_verification("d-new", None, None, t + Duration::minutes(16), &|_| Journal::default())
            .await,
    );
    assert!(!f.store.get_user(user.id).await.unwrap().email_verified);
    // Another address or user: nothing is used.
    assert_not_found(
        f.store
            .use_email_verification("d-new", Some("x@example.org"), None, t, &|_| Journal::default())
            .await,
    );
    assert_not_found(
        f.store
            .use_email_verification("d-new", None, Some(UserId(1)), t, &|_| Journal::default())
            .await,
    );
    let used = f
        .store
        .use_email_verification("d-new", Some("v@example.org"), Some(user.id), t, &|_| {
            Journal::default()
        })
        .await
        .unwrap();
    assert_eq!(used, record(t + Duration::minutes(15)));
    let stored = f.store.get_user(user.id).await.unwrap();
    assert!(stored.email_verified);
    assert_eq!(stored.revision, user.revision + 1);
    assert_not_found(
        f.store
            .use_email_verification("d-new", None, None, t, &|_| Journal::default())
            .await,
    );
    // A link for an address the user no longer has verifies nothing.
    let other = f.insert(&f.user(Some("w@example.org"), None)).await;
    let stale = EmailVerification {
        user_id: other.id,
        email: "old@example.org".into(),
        created_at: t,
        expires_at: t + Duration::minutes(15),
    };
    f.store.insert_email_verification(&stale, "d-stale").await.unwrap();
    f.store
        .use_email_verification("d-stale", None, None, t, &|_| Journal::default())
        .await
        .unwrap();
    assert!(!f.store.get_user(other.id).await.unwrap().email_verified);
}

async fn terms_acceptances_are_kept(backend: Backend) {
    let f = fixture_or_skip!(backend);
    let user = f.insert(&f.user(Some("t@example.org"), None)).await;
    let t = now();
    let stored = f
        .store
        .record_terms_acceptance(f.ids.next_id(), user.id, "1.0", t, &NO_JOURNAL)
        .await
        .unwrap();
    assert_eq!(stored.terms_version.as_deref(), Some("1.0"));
    assert_eq!(stored.terms_accepted_at, Some(t));
    let later = t + Duration::days(1);
    let stored = f
        .store
        .record_terms_acceptance(f.ids.next_id(), user.id, "2.0", later, &NO_JOURNAL)
        .await
        .unwrap();
    assert_eq!(stored.terms_version.as_deref(), Some("2.0"));
    let kept = f.store.list_terms_acceptances(user.id).await.unwrap();
    assert_eq!(
        kept.iter()
            .map(|a| (a.version.as_str(), a.accepted_at))
            .collect::<Vec<_>>(),
        [("2.0", later), ("1.0", t)]
    );
    assert_not_found(
        f.store
            .record_terms_acceptance(f.ids.next_id(), UserId(1), "1.0", t, &NO_JOURNAL)
            .await,
    );
}

async fn balance_ledger_sums_and_grants_once(backend: Backend) {
    use roster_core::store::{BalanceKind, BalanceTransaction};
    let f = fixture_or_skip!(backend);
    let user = f.insert(&f.user(Some("b@example.org"), None)).await;
    let tx = |kind, amount| BalanceTransaction {
        id: f.ids.next_id(),
        user_id: user.id,
        kind,
        amount,
        created_at: now(),
    };
    assert_eq!(f.store.get_balance(user.id).await.unwrap(), (0, false));
    assert!(
        f.store
            .insert_balance_transaction(&tx(BalanceKind::StartGrant, 100))
            .await
            .unwrap()
    );
    assert!(
        !f.store
            .insert_balance_transaction(&tx(BalanceKind::StartGrant, 100))
            .await
            .unwrap()
    );
    assert!(
        f.store
            .insert_balance_transaction(&tx(BalanceKind::Spend, -30))
            .await
            .unwrap()
    );
    assert!(
        f.store
            .insert_balance_transaction(&tx(BalanceKind::Refill, 5))
            .await
            .unwrap()
    );
    assert_eq!(f.store.get_balance(user.id).await.unwrap(), (75, true));
    assert_eq!(
        f.store
            .set_balance(&tx(BalanceKind::Adjustment, 0), 1_000)
            .await
            .unwrap(),
        925
    );
    assert_eq!(f.store.get_balance(user.id).await.unwrap(), (1_000, true));
    let missing = BalanceTransaction {
        user_id: UserId(1),
        ..tx(BalanceKind::Adjustment, 0)
    };
    assert_not_found(f.store.set_balance(&missing, 5).await);
    // Deleting the user deletes its ledger, unless the history is kept.
    let keeper = f.insert(&f.user(Some("k@example.org"), None)).await;
    let grant = BalanceTransaction {
        user_id: keeper.id,
        ..tx(BalanceKind::StartGrant, 7)
    };
    f.store.insert_balance_transaction(&grant).await.unwrap();
    f.store
        .delete_user_keeping_transactions(keeper.id, false, &NO_JOURNAL)
        .await
        .unwrap();
    assert_not_found(f.store.get_user(keeper.id).await);
    assert_eq!(f.store.get_balance(keeper.id).await.unwrap(), (7, true));
    f.store.delete_user(user.id, false, &NO_JOURNAL).await.unwrap();
    assert_eq!(f.store.get_balance(user.id).await.unwrap(), (0, false));
}

backend_tests!(
    email_verifications_are_used_once,
    terms_acceptances_are_kept,
    balance_ledger_sums_and_grants_once,
    groups_round_trip,
    group_membership,
    members_of_many_groups,
    group_and_members_written_at_once,
    permission_templates_round_trip,
    bans_are_stored_listed_and_guarded,
    account_tokens_are_used_once,
    look_ups_and_counts,
    bulk_insert_is_all_or_nothing,
    users_round_trip,
    a_login_names_one_account,
    colliding_identifiers_under_concurrency,
    login_keys_of_older_accounts_are_filled,
    unique_conflicts_name_the_field,
    first_account_becomes_admin,
    first_account_without_claim_never_promotes,
    first_admin_claim_under_concurrency,
    update_user_writes_every_field,
    update_user_detects_stale_and_missing,
    last_admin_guard,
    concurrent_demotions_keep_one_admin,
    delete_user_removes_everything,
    record_login_updates_login_fields,
    list_users_pages_match_one_query,
    list_users_filters_and_search,
    refresh_tokens_rotate_once,
    refresh_rotation_under_concurrency,
    sessions_listing_and_scoped_deletion,
    api_keys_round_trip,
    signing_keys_generation_conflict,
    migrations_run_twice,
    concurrent_open_on_fresh_database,
    newer_database_is_refused,
    ping_and_close,
    a_failed_transaction_leaves_the_pool_usable,
    readiness_needs_a_writable_database,
    nul_text_is_refused_alike,
    migrated_user_is_written_whole,
    migrated_groups_and_refs,
);

// ---------------------------------------------------------------------------------------
// Backend selection and migration parity (not per backend)

#[test]
fn urls_select_the_backend() {
    use roster_store::{BackendKind, backend_of};
    assert_eq!(backend_of("sqlite://data/roster.db").unwrap(), BackendKind::Sqlite);
    assert_eq!(backend_of("sqlite:roster.db").unwrap(), BackendKind::Sqlite);
    assert_eq!(backend_of("postgres://u@h/db").unwrap(), BackendKind::Postgres);
    assert_eq!(backend_of("postgresql://u@h/db").unwrap(), BackendKind::Postgres);
    let error = backend_of("mysql://u@h/db").unwrap_err().to_string();
    assert!(error.contains("`mysql`"), "{error}");
    assert!(backend_of("roster.db").is_err());
}

#[tokio::test]
async fn open_names_an_unknown_scheme() {
    let error = roster_store::open("mariadb://localhost/roster")
        .await
        .err()
        .expect("refused");
    assert!(error.to_string().contains("mariadb"), "{error}");
}

#[tokio::test]
async fn open_creates_the_sqlite_file_and_its_directory() {
    let db = TestDatabase::new(Backend::Sqlite).await.unwrap();
    let scratch = std::path::Path::new(db.url.strip_prefix("sqlite://").unwrap())
        .parent()
        .unwrap();
    let path = scratch.join("nested/deeper/roster.db");
    let store = roster_store::open(&format!("sqlite:{}", path.display())).await.unwrap();
    store.ping().await.unwrap();
    assert!(path.exists());
    store.close().await;
}

fn migration_files(backend: &str) -> Vec<String> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("migrations")
        .join(backend);
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn migration_directories_hold_the_same_files() {
    let sqlite = migration_files("sqlite");
    let postgres = migration_files("postgres");
    assert!(!sqlite.is_empty());
    assert_eq!(sqlite, postgres);
    for name in &sqlite {
        let (version, rest) = name.split_once('_').expect("NNNN_name.sql");
        assert!(
            version.len() == 4 && version.chars().all(|c| c.is_ascii_digit()),
            "{name}"
        );
        assert!(rest.ends_with(".sql"), "{name}");
    }
}

/// A column as both catalogues can describe it: table, column, NOT NULL, type class.
type Column = (String, String, bool, &'static str);
/// A key: table, column, `primary`/`unique`.
type Key = (String, String, String);
/// A foreign key: table, column, referenced table, on-delete action.
type ForeignKey = (String, String, String, String);

#[derive(Debug, PartialEq)]
struct Schema {
    columns: BTreeSet<Column>,
    keys: BTreeSet<Key>,
    foreign_keys: BTreeSet<ForeignKey>,
    indexes: BTreeSet<String>,
}

fn type_class(declared: &str) -> &'static str {
    match declared.to_ascii_lowercase().as_str() {
        "integer" | "bigint" => "integer",
        // JSON documents are TEXT in SQLite and JSONB in PostgreSQL.
        "text" | "jsonb" => "text",
        "boolean" => "boolean",
        "blob" | "bytea" => "bytes",
        other => panic!("unexpected column type {other}"),
    }
}

/// The schema as the parity test compares it. The search indexes differ by design (SQLite's
/// FTS5 table `users_search` and its shadow tables, PostgreSQL's pg_trgm `users_search_trgm_idx`)
/// and are left out; the conformance tests exercise both.
async fn sqlite_schema(url: &str) -> Schema {
    let pool = sqlx::SqlitePool::connect(url).await.unwrap();
    let rows: Vec<(String, String, bool, String, i64)> = sqlx::query_as(
        "SELECT m.name, p.name, p.\"notnull\", p.type, p.pk FROM sqlite_master m \
         JOIN pragma_table_info(m.name) p WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%' \
         AND m.name <> '_sqlx_migrations' AND m.name NOT LIKE 'users_search%'",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    let columns = rows
        .iter()
        // An INTEGER PRIMARY KEY is the rowid: never NULL, though not declared NOT NULL.
        .map(|(t, c, not_null, ty, pk)| {
            let rowid = *pk > 0 && ty.eq_ignore_ascii_case("INTEGER");
            (t.clone(), c.clone(), *not_null || rowid, type_class(ty))
        })
        .collect();
    let mut keys: BTreeSet<Key> = rows
        .iter()
        .filter(|r| r.4 > 0)
        .map(|(t, c, ..)| (t.clone(), c.clone(), "primary".to_string()))
        .collect();
    let unique: Vec<(String, String)> = sqlx::query_as(
        "SELECT m.name, ii.name FROM sqlite_master m JOIN pragma_index_list(m.name) il \
         JOIN pragma_index_info(il.name) ii WHERE m.type = 'table' AND il.\"unique\" = 1 AND il.origin = 'u'",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    keys.extend(unique.into_iter().map(|(t, c)| (t, c, "unique".to_string())));
    let foreign_keys: Vec<ForeignKey> = sqlx::query_as(
        "SELECT m.name, f.\"from\", f.\"table\", f.on_delete FROM sqlite_master m \
         JOIN pragma_foreign_key_list(m.name) f WHERE m.type = 'table'",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    let indexes: Vec<(String,)> =
        sqlx::query_as("SELECT name FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL")
            .fetch_all(&pool)
            .await
            .unwrap();
    pool.close().await;
    Schema {
        columns,
        keys,
        foreign_keys: foreign_keys.into_iter().collect(),
        indexes: indexes.into_iter().map(|(n,)| n).collect(),
    }
}

async fn postgres_schema(url: &str) -> Schema {
    let pool = sqlx::PgPool::connect(url).await.unwrap();
    let rows: Vec<(String, String, bool, String)> = sqlx::query_as(
        "SELECT table_name::text, column_name::text, is_nullable = 'NO', data_type::text \
         FROM information_schema.columns WHERE table_schema = 'public' AND table_name <> '_sqlx_migrations'",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    let columns = rows
        .into_iter()
        .map(|(t, c, not_null, ty)| (t, c, not_null, type_class(&ty)))
        .collect();
    let keys: Vec<Key> = sqlx::query_as(
        "SELECT cl.relname::text, a.attname::text, CASE c.contype WHEN 'p' THEN 'primary' ELSE 'unique' END \
         FROM pg_constraint c JOIN pg_class cl ON cl.oid = c.conrelid \
         JOIN pg_namespace n ON n.oid = cl.relnamespace \
         JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = ANY (c.conkey) \
         WHERE n.nspname = 'public' AND c.contype IN ('p', 'u') AND cl.relname <> '_sqlx_migrations'",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    let foreign_keys: Vec<ForeignKey> = sqlx::query_as(
        "SELECT cl.relname::text, a.attname::text, rc.relname::text, \
         CASE c.confdeltype WHEN 'c' THEN 'CASCADE' WHEN 'a' THEN 'NO ACTION' WHEN 'r' THEN 'RESTRICT' \
         WHEN 'n' THEN 'SET NULL' ELSE 'SET DEFAULT' END \
         FROM pg_constraint c JOIN pg_class cl ON cl.oid = c.conrelid JOIN pg_class rc ON rc.oid = c.confrelid \
         JOIN pg_namespace n ON n.oid = cl.relnamespace \
         JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = ANY (c.conkey) \
         WHERE n.nspname = 'public' AND c.contype = 'f'",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    // Indexes created by CREATE INDEX, not those backing a constraint.
    let indexes: Vec<(String,)> = sqlx::query_as(
        "SELECT i.indexname::text FROM pg_indexes i WHERE i.schemaname = 'public' \
         AND i.indexname <> 'users_search_trgm_idx' AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conname = i.indexname)",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    pool.close().await;
    Schema {
        columns,
        keys: keys.into_iter().collect(),
        foreign_keys: foreign_keys.into_iter().collect(),
        indexes: indexes.into_iter().map(|(n,)| n).collect(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrated_schemas_match() {
    let sqlite_db = TestDatabase::new(Backend::Sqlite).await.unwrap();
    sqlite_db.store().await.close().await;
    let sqlite = sqlite_schema(&sqlite_db.url).await;
    assert!(
        sqlite
            .columns
            .iter()
            .any(|(t, c, ..)| t == "users" && c == "search_key"),
        "{sqlite:#?}"
    );
    assert!(sqlite.indexes.contains("users_email_sort_idx"), "{sqlite:#?}");
    let Some(pg_db) = TestDatabase::new(Backend::Postgres).await else {
        return;
    };
    pg_db.store().await.close().await;
    let mut postgres = postgres_schema(&pg_db.url).await;
    let mut sqlite = sqlite;
    // By design (migration 0013): PostgreSQL gives `outbox.seq` after commit, so there it is
    // a nullable unique column with an index of the rows still without one; SQLite gives it
    // at insert (the row id).
    let outbox_seq = |t: &String, c: &String| t == "outbox" && c == "seq";
    assert!(
        postgres
            .columns
            .contains(&("outbox".into(), "seq".into(), false, "integer"))
    );
    assert!(
        postgres
            .keys
            .contains(&("outbox".into(), "seq".into(), "unique".into()))
    );
    assert!(postgres.indexes.remove("outbox_unsequenced_idx"));
    assert!(sqlite.keys.contains(&("outbox".into(), "seq".into(), "primary".into())));
    for schema in [&mut sqlite, &mut postgres] {
        schema.columns.retain(|(t, c, ..)| !outbox_seq(t, c));
        schema.keys.retain(|(t, c, _)| !outbox_seq(t, c));
    }
    assert_eq!(
        sqlite.columns, postgres.columns,
        "columns, nullability and type classes"
    );
    assert_eq!(sqlite.keys, postgres.keys, "primary and unique keys");
    assert_eq!(sqlite.foreign_keys, postgres.foreign_keys, "foreign keys");
    assert_eq!(sqlite.indexes, postgres.indexes, "index names");
}

// ---------------------------------------------------------------------------------------
// The journal: audit entries and outbox events are written with their change, or not at all.

mod journal {
    use super::*;
    use roster_core::journal::{AuditQuery, JournalBuilder, OutboxEvent};

    fn builder(f: &Fixture, actor: Option<UserId>, at: OffsetDateTime) -> JournalBuilder<'_> {
        JournalBuilder::new(&f.ids, at, actor)
    }

    async fn events(f: &Fixture) -> Vec<OutboxEvent> {
        f.store.list_outbox(0, 10_000).await.unwrap()
    }

    async fn audit_count(f: &Fixture) -> usize {
        f.store
            .list_audit(&AuditQuery {
                limit: 10_000,
                ..AuditQuery::default()
            })
            .await
            .unwrap()
            .len()
    }

    async fn assert_nothing_journaled(f: &Fixture, context: &str) {
        assert!(events(f).await.is_empty(), "{context}: no event");
        assert_eq!(audit_count(f).await, 0, "{context}: no audit entry");
    }

    pub(super) async fn a_committed_change_has_exactly_its_records(backend: Backend) {
        let f = fixture_or_skip!(backend);
        let t = now();
        let admin = f.admin("root@example.org").await;
        let user = f.user(Some("ann@example.org"), None);
        let journal = builder(&f, Some(admin.id), t)
            .event("user.created", user.id, json!({"role": "user"}))
            .audit("user.create", Some(user.id), json!({"role": "user"}))
            .build();
        f.store.insert_user(&user, false, &journal).await.unwrap();

        let stored = events(&f).await;
        assert_eq!(stored.len(), 1);
        let mut expected = journal.events[0].clone();
        expected.seq = stored[0].seq;
        assert!(expected.seq > 0);
        assert_eq!(stored[0], expected);
        let audit = f
            .store
            .list_audit(&AuditQuery {
                limit: 10,
                ..AuditQuery::default()
            })
            .await
            .unwrap();
        assert_eq!(audit, journal.audit);

        // Each mutating method writes the journal it is given.
        let changed = User {
            name: Some("Ann".into()),
            ..f.store.get_user(user.id).await.unwrap()
        };
        let j = builder(&f, Some(admin.id), t)
            .event("user.updated", user.id, json!({"fields": ["name"]}))
            .build();
        f.store.update_user(&changed, false, &j).await.unwrap();
        let j = builder(&f, Some(admin.id), t)
            .event("user.banned", user.id, json!({}))
            .build();
        f.store
            .set_user_ban(user.id, Some(t + Duration::hours(1)), None, true, t, &j)
            .await
            .unwrap();
        let session = f.session(user.id, t);
        f.store.insert_session(&session, "journal-d0").await.unwrap();
        let j = builder(&f, Some(admin.id), t)
            .event("session.revoked", user.id, json!({}))
            .build();
        assert_eq!(f.store.delete_sessions_of_user(user.id, None, &j).await.unwrap(), 1);
        let key = f.api_key(user.id, "k");
        let j = builder(&f, Some(user.id), t)
            .event("api_key.created", user.id, json!({}))
            .build();
        f.store.insert_api_key(&key, "journal-k", &j).await.unwrap();
        let j = builder(&f, Some(user.id), t)
            .event("api_key.revoked", user.id, json!({}))
            .build();
        f.store.delete_api_key(user.id, key.id, &j).await.unwrap();
        let j = builder(&f, Some(user.id), t)
            .audit("login.success", Some(user.id), json!({}))
            .build();
        f.store.record_login(user.id, t, None, &j).await.unwrap();
        let j = builder(&f, Some(admin.id), t)
            .event("user.deleted", user.id, json!({}))
            .build();
        f.store.delete_user(user.id, false, &j).await.unwrap();
        let j = builder(&f, None, t)
            .audit("login.failure", None, json!({"login": "x"}))
            .build();
        f.store.append_journal(&j).await.unwrap();

        let types: Vec<String> = events(&f).await.into_iter().map(|e| e.event_type).collect();
        assert_eq!(
            types,
            [
                "user.created",
                "user.updated",
                "user.banned",
                "session.revoked",
                "api_key.created",
                "api_key.revoked",
                "user.deleted"
            ]
        );
        let seqs: Vec<i64> = events(&f).await.into_iter().map(|e| e.seq).collect();
        assert!(seqs.windows(2).all(|w| w[0] < w[1]), "{seqs:?}");
        // Paging after a seq.
        let later = f.store.list_outbox(seqs[4], 10).await.unwrap();
        assert_eq!(later.len(), 2);
        assert_eq!(later[0].event_type, "api_key.revoked");
        assert_eq!(f.store.list_outbox(seqs[0], 2).await.unwrap().len(), 2);
        assert_eq!(audit_count(&f).await, 3);
    }

    pub(super) async fn a_failed_change_leaves_no_records(backend: Backend) {
        let f = fixture_or_skip!(backend);
        let t = now();
        let admin = f.admin("root@example.org").await;
        let ann = f.insert(&f.user(Some("ann@example.org"), Some("ann"))).await;
        let records = |subject: UserId| {
            builder(&f, Some(admin.id), t)
                .event("user.changed", subject, json!({}))
                .audit("user.change", Some(subject), json!({}))
                .build()
        };

        // A unique conflict.
        let twin = f.user(Some("ann@example.org"), None);
        assert!(matches!(
            f.store.insert_user(&twin, false, &records(twin.id)).await,
            Err(StoreError::Conflict { field: "email" })
        ));
        let renamed = User {
            username: Some("ANN".into()),
            email: Some("other@example.org".into()),
            ..admin.clone()
        };
        assert!(matches!(
            f.store.update_user(&renamed, false, &records(admin.id)).await,
            Err(StoreError::Conflict { .. })
        ));
        assert!(matches!(
            f.store
                .insert_users_bulk(&[f.user(Some("ann@example.org"), None)], &records(ann.id))
                .await,
            Err(StoreError::Conflict { .. })
        ));
        // The last-admin guard.
        let demoted = User {
            role: Role::User,
            ..admin.clone()
        };
        assert!(matches!(
            f.store.update_user(&demoted, true, &records(admin.id)).await,
            Err(StoreError::LastAdmin)
        ));
        assert!(matches!(
            f.store.delete_user(admin.id, true, &records(admin.id)).await,
            Err(StoreError::LastAdmin)
        ));
        assert!(matches!(
            f.store
                .set_user_ban(
                    admin.id,
                    Some(t + Duration::hours(1)),
                    None,
                    true,
                    t,
                    &records(admin.id)
                )
                .await,
            Err(StoreError::LastAdmin)
        ));
        // A stale revision.
        let stale = User {
            name: Some("x".into()),
            revision: ann.revision + 5,
            ..ann.clone()
        };
        assert!(matches!(
            f.store.update_user(&stale, false, &records(ann.id)).await,
            Err(StoreError::Stale)
        ));
        // Nothing there to change.
        let ghost = UserId(f.ids.next_id());
        assert!(matches!(
            f.store.delete_user(ghost, false, &records(ghost)).await,
            Err(StoreError::NotFound)
        ));
        assert!(matches!(
            f.store.record_login(ghost, t, None, &records(ghost)).await,
            Err(StoreError::NotFound)
        ));
        assert!(matches!(
            f.store.delete_api_key(ann.id, ApiKeyId(1), &records(ann.id)).await,
            Err(StoreError::NotFound)
        ));
        assert!(matches!(
            f.store.delete_session(ann.id, SessionId(1), &records(ann.id)).await,
            Err(StoreError::NotFound)
        ));
        assert_eq!(
            f.store
                .delete_sessions_of_user(ann.id, None, &records(ann.id))
                .await
                .unwrap(),
            0
        );
        assert_eq!(
            f.store.delete_api_keys_of_user(ann.id, &records(ann.id)).await.unwrap(),
            0
        );
        assert!(matches!(
            f.store
                .add_group_members(roster_core::GroupId(1), &[ann.id], t, &records(ann.id))
                .await,
            Err(StoreError::NotFound)
        ));
        assert_nothing_journaled(&f, "failed changes").await;
        assert!(f.store.append_journal(&NO_JOURNAL).await.is_ok());
        assert_nothing_journaled(&f, "an empty journal").await;
    }

    pub(super) async fn the_first_admin_is_journaled_with_its_stored_role(backend: Backend) {
        let f = fixture_or_skip!(backend);
        let t = now();
        let first = f.user(Some("first@example.org"), None);
        let journal = builder(&f, None, t).user_created(&first, Some("user.create")).build();
        assert_eq!(journal.events[0].payload["role"], "user");
        let stored = f.store.insert_user(&first, true, &journal).await.unwrap();
        assert_eq!(stored.role, Role::Admin);
        let event = &events(&f).await[0];
        assert_eq!(event.event_type, "user.created");
        assert_eq!(event.payload["role"], "admin");
        let audit = f
            .store
            .list_audit(&AuditQuery {
                limit: 10,
                ..AuditQuery::default()
            })
            .await
            .unwrap();
        assert_eq!(audit[0].details["role"], "admin");
    }

    pub(super) async fn large_journals_are_written_whole(backend: Backend) {
        let f = fixture_or_skip!(backend);
        let t = now();
        let users: Vec<User> = (0..1203)
            .map(|i| f.user(Some(&format!("bulk{i}@example.org")), None))
            .collect();
        let mut journal = builder(&f, None, t);
        for user in &users {
            journal = journal.user_created(user, Some("user.import"));
        }
        let journal = journal.build();
        assert_eq!(f.store.insert_users_bulk(&users, &journal).await.unwrap(), 1203);
        let stored = events(&f).await;
        assert_eq!(stored.len(), 1203);
        let subjects: Vec<UserId> = stored.iter().map(|e| e.subject_id).collect();
        assert_eq!(subjects, users.iter().map(|u| u.id).collect::<Vec<_>>(), "in order");
        assert_eq!(audit_count(&f).await, 1203);
    }

    pub(super) async fn audit_filters_and_pages(backend: Backend) {
        let f = fixture_or_skip!(backend);
        let base = now();
        let (a, b, c) = (UserId(11), UserId(12), UserId(13));
        // Six entries, a minute apart: actor a on b and c, actor b on c, an anonymous one.
        let rows = [
            (Some(a), "user.update", Some(b)),
            (Some(a), "user.ban", Some(c)),
            (Some(b), "user.update", Some(c)),
            (None, "login.failure", None),
            (Some(a), "user.update", Some(c)),
            (Some(c), "login.success", Some(c)),
        ];
        let mut written = Vec::new();
        for (i, (actor, action, target)) in rows.iter().enumerate() {
            let j = builder(&f, *actor, base + Duration::minutes(i as i64))
                .audit(action, *target, json!({"i": i}))
                .build();
            f.store.append_journal(&j).await.unwrap();
            written.push(j.audit[0].clone());
        }
        let query = |q: AuditQuery| {
            let store = f.store.clone();
            async move {
                store
                    .list_audit(&AuditQuery {
                        limit: if q.limit == 0 { 100 } else { q.limit },
                        ..q
                    })
                    .await
                    .unwrap()
                    .into_iter()
                    .map(|e| e.details["i"].as_i64().unwrap())
                    .collect::<Vec<_>>()
            }
        };
        assert_eq!(query(AuditQuery::default()).await, [5, 4, 3, 2, 1, 0], "newest first");
        assert_eq!(
            query(AuditQuery {
                actor: Some(a),
                ..AuditQuery::default()
            })
            .await,
            [4, 1, 0]
        );
        assert_eq!(
            query(AuditQuery {
                target: Some(c),
                ..AuditQuery::default()
            })
            .await,
            [5, 4, 2, 1]
        );
        assert_eq!(
            query(AuditQuery {
                action: Some("user.update".into()),
                target: Some(c),
                ..AuditQuery::default()
            })
            .await,
            [4, 2]
        );
        assert_eq!(
            query(AuditQuery {
                since: Some(base + Duration::minutes(2)),
                until: Some(base + Duration::minutes(4)),
                ..AuditQuery::default()
            })
            .await,
            [3, 2]
        );
        assert_eq!(
            query(AuditQuery {
                limit: 2,
                ..AuditQuery::default()
            })
            .await,
            [5, 4]
        );
        assert_eq!(
            query(AuditQuery {
                before_id: Some(written[4].id),
                limit: 2,
                ..AuditQuery::default()
            })
            .await,
            [3, 2]
        );
        let anonymous = f
            .store
            .list_audit(&AuditQuery {
                action: Some("login.failure".into()),
                limit: 5,
                ..AuditQuery::default()
            })
            .await
            .unwrap();
        assert_eq!(anonymous, [written[3].clone()]);
        assert_eq!(anonymous[0].actor_id, None);
    }

    /// Concurrent writers: `seq` follows commit order, so a reader paging by `seq` while
    /// writes go on never skips an event that commits late.
    pub(super) async fn outbox_readers_never_skip(backend: Backend) {
        let f = fixture_or_skip!(backend);
        let f = Arc::new(f);
        let mut writers = tokio::task::JoinSet::new();
        for w in 0..4 {
            let f = f.clone();
            writers.spawn(async move {
                for i in 0..15 {
                    let j = JournalBuilder::new(&f.ids, now(), None)
                        .event("test.event", UserId(1000 + w), json!({"i": i}))
                        .build();
                    f.store.append_journal(&j).await.unwrap();
                }
            });
        }
        let mut seen = Vec::new();
        let mut after = 0;
        while seen.len() < 60 {
            for e in f.store.list_outbox(after, 7).await.unwrap() {
                after = e.seq;
                seen.push(e.id);
            }
            tokio::task::yield_now().await;
        }
        while writers.join_next().await.is_some() {}
        let all: Vec<i64> = f
            .store
            .list_outbox(0, 1000)
            .await
            .unwrap()
            .into_iter()
            .map(|e| e.id)
            .collect();
        assert_eq!(seen, all, "the pager saw every event, in seq order");
        // Per subject, events keep the order they were written in.
        for w in 0..4 {
            let order: Vec<i64> = f
                .store
                .list_outbox(0, 1000)
                .await
                .unwrap()
                .into_iter()
                .filter(|e| e.subject_id == UserId(1000 + w))
                .map(|e| e.payload["i"].as_i64().unwrap())
                .collect();
            assert_eq!(order, (0..15).collect::<Vec<_>>());
        }
    }

    /// A password change (or a lost right to sign in) and the end of the user's other
    /// sessions are one write: with a stale revision neither happens; the sessions' event is
    /// written only when a session ended.
    pub(super) async fn a_user_update_ends_sessions_in_its_transaction(backend: Backend) {
        let f = fixture_or_skip!(backend);
        let t = now();
        let ann = f.insert(&f.user(Some("ann@example.org"), None)).await;
        let ben = f.insert(&f.user(Some("ben@example.org"), None)).await;
        let mut sessions = Vec::new();
        for i in 0..3 {
            let session = f.session(ann.id, t + Duration::seconds(i));
            f.store.insert_session(&session, &format!("ann{i}")).await.unwrap();
            sessions.push(session.id);
        }
        f.store.insert_session(&f.session(ben.id, t), "ben0").await.unwrap();
        let changed = User {
            password_hash: Some(PasswordHash("$argon2id$v=19$m=19456,t=2,p=1$bmV3$bmV3".into())),
            ..ann.clone()
        };
        // Each write gets journals of its own (event ids are unique).
        let journals = || {
            (
                builder(&f, Some(ann.id), t)
                    .event("user.password_changed", ann.id, json!({}))
                    .build(),
                builder(&f, Some(ann.id), t)
                    .event("session.revoked", ann.id, json!({"all": true}))
                    .build(),
            )
        };
        let (update, ended) = journals();

        // Stale: nothing written, no session ended, nothing journaled.
        let stale = User {
            revision: ann.revision + 1,
            ..changed.clone()
        };
        assert!(matches!(
            f.store
                .update_user_ending_sessions(&stale, false, Some(sessions[1]), &update, &ended)
                .await,
            Err(StoreError::Stale)
        ));
        assert_eq!(f.store.list_sessions(ann.id).await.unwrap().len(), 3);
        assert_nothing_journaled(&f, "stale").await;

        let (stored, n) = f
            .store
            .update_user_ending_sessions(&changed, false, Some(sessions[1]), &update, &ended)
            .await
            .unwrap();
        assert_eq!(n, 2);
        assert_eq!(stored.password_hash, changed.password_hash);
        let left: Vec<SessionId> = f
            .store
            .list_sessions(ann.id)
            .await
            .unwrap()
            .iter()
            .map(|s| s.id)
            .collect();
        assert_eq!(left, vec![sessions[1]]);
        assert_not_found(f.store.get_refresh_token("ann0").await);
        assert!(f.store.get_refresh_token("ann1").await.is_ok());
        assert_eq!(
            f.store.list_sessions(ben.id).await.unwrap().len(),
            1,
            "another user's sessions stay"
        );
        let kinds: Vec<String> = events(&f).await.into_iter().map(|e| e.event_type).collect();
        assert_eq!(kinds, ["user.password_changed", "session.revoked"]);

        // Nothing left to end (all but the kept one): the sessions' event is not written.
        let again = User {
            name: Some("Ann".into()),
            ..stored.clone()
        };
        let (update, ended) = journals();
        let (_, n) = f
            .store
            .update_user_ending_sessions(&again, false, Some(sessions[1]), &update, &ended)
            .await
            .unwrap();
        assert_eq!(n, 0);
        assert_eq!(events(&f).await.len(), 3);
        // Without a session to keep, every session ends.
        let last = User {
            active: false,
            ..f.store.get_user(ann.id).await.unwrap()
        };
        let (update, ended) = journals();
        let (_, n) = f
            .store
            .update_user_ending_sessions(&last, false, None, &update, &ended)
            .await
            .unwrap();
        assert_eq!(n, 1);
        assert!(f.store.list_sessions(ann.id).await.unwrap().is_empty());
    }

    /// PostgreSQL writers take no lock: a row that commits after a reader paged past newer
    /// rows is numbered after them, and a change that waited for another's row lock is
    /// numbered after it. Made deterministic with two raw connections.
    pub(super) async fn late_commits_are_numbered_after_what_was_read(backend: Backend) {
        use sqlx::{Connection, Executor};
        let f = fixture_or_skip!(backend);
        if backend != Backend::Postgres {
            return; // SQLite gives `seq` at insert, one writer at a time
        }
        let insert = |id: i64, subject: i64| {
            format!(
                "INSERT INTO outbox (id, event_type, subject_id, actor_id, occurred_at, payload) \
                 VALUES ({id}, 'test.event', {subject}, NULL, 0, '{{}}')"
            )
        };
        let mut late = sqlx::PgConnection::connect(&f.db.url).await.unwrap();
        let mut early = sqlx::PgConnection::connect(&f.db.url).await.unwrap();
        // The late writer writes first but has not committed when the reader pages.
        late.execute("BEGIN").await.unwrap();
        late.execute(insert(1, 10).as_str()).await.unwrap();
        early.execute(insert(2, 20).as_str()).await.unwrap();
        let page = f.store.list_outbox(0, 10).await.unwrap();
        assert_eq!(page.iter().map(|e| e.id).collect::<Vec<_>>(), [2]);
        let after = page[0].seq;
        late.execute("COMMIT").await.unwrap();
        let next = f.store.list_outbox(after, 10).await.unwrap();
        assert_eq!(next.iter().map(|e| e.id).collect::<Vec<_>>(), [1], "not skipped");
        assert!(next[0].seq > after);

        // One row, two writers: the second waits for the first's lock and is numbered after
        // it, though its transaction began (and took its id) first.
        sqlx::query("CREATE TABLE lock_probe (k INT PRIMARY KEY)")
            .execute(&mut early)
            .await
            .unwrap();
        sqlx::query("INSERT INTO lock_probe VALUES (1)")
            .execute(&mut early)
            .await
            .unwrap();
        early.execute("BEGIN").await.unwrap();
        early.execute(insert(3, 30).as_str()).await.unwrap(); // an unrelated first write
        late.execute("BEGIN").await.unwrap();
        late.execute("UPDATE lock_probe SET k = k WHERE k = 1").await.unwrap();
        late.execute(insert(4, 30).as_str()).await.unwrap();
        let waiting = tokio::spawn(async move {
            early.execute("UPDATE lock_probe SET k = k WHERE k = 1").await.unwrap();
            early.execute(insert(5, 30).as_str()).await.unwrap();
            early.execute("COMMIT").await.unwrap();
        });
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        late.execute("COMMIT").await.unwrap();
        waiting.await.unwrap();
        let rest: Vec<i64> = f
            .store
            .list_outbox(next[0].seq, 10)
            .await
            .unwrap()
            .iter()
            .map(|e| e.id)
            .collect();
        let position = |id: i64| rest.iter().position(|&r| r == id).unwrap();
        assert!(position(4) < position(5), "{rest:?}");
    }

    backend_tests!(
        late_commits_are_numbered_after_what_was_read,
        a_user_update_ends_sessions_in_its_transaction,
        a_committed_change_has_exactly_its_records,
        a_failed_change_leaves_no_records,
        the_first_admin_is_journaled_with_its_stored_role,
        large_journals_are_written_whole,
        audit_filters_and_pages,
        outbox_readers_never_skip,
    );
}

// ---------------------------------------------------------------------------------------
// Two-factor authentication, instance settings and sealed user secrets (migration 0008)

mod two_factor_store {
    use super::*;

    fn two_factor_record(user: UserId, secret: &str) -> roster_core::two_factor::TwoFactorRecord {
        roster_core::two_factor::TwoFactorRecord {
            user_id: user,
            sealed_secret: secret.into(),
            enabled_at: None,
            last_used_step: None,
            created_at: now(),
        }
    }

    async fn two_factor_enrolment_steps_and_codes(backend: Backend) {
        let Some(f) = fixture(backend).await else { return };
        let user = f.insert(&f.user(Some("tf@example.org"), None)).await;
        let store = &f.store;
        assert_eq!(store.get_two_factor(user.id).await.unwrap(), None);
        let codes = vec!["d1".to_string(), "d2".to_string()];
        assert!(
            store
                .begin_two_factor(&two_factor_record(user.id, "s1"), &codes)
                .await
                .unwrap()
        );
        // Restarting a pending enrolment replaces the secret and the codes.
        let codes = vec!["d3".to_string(), "d4".to_string()];
        assert!(
            store
                .begin_two_factor(&two_factor_record(user.id, "s2"), &codes)
                .await
                .unwrap()
        );
        let pending = store.get_two_factor(user.id).await.unwrap().unwrap();
        assert_eq!(pending.sealed_secret, "s2");
        assert_eq!(pending.enabled_at, None);
        let listed: Vec<String> = store
            .list_backup_codes(user.id)
            .await
            .unwrap()
            .into_iter()
            .map(|c| c.digest)
            .collect();
        assert_eq!(listed, codes);
        // Pending: no step and no backup code is accepted, backup codes cannot be replaced.
        assert!(!store.use_two_factor_step(user.id, 5).await.unwrap());
        assert!(!store.use_backup_code(user.id, "d3", now()).await.unwrap());
        assert!(
            !store
                .replace_backup_codes(user.id, &["x".into()], &NO_JOURNAL)
                .await
                .unwrap()
        );

        let at = now();
        assert!(store.enable_two_factor(user.id, 10, at, &NO_JOURNAL).await.unwrap());
        assert!(
            !store.enable_two_factor(user.id, 11, at, &NO_JOURNAL).await.unwrap(),
            "once"
        );
        let enabled = store.get_two_factor(user.id).await.unwrap().unwrap();
        assert_eq!(enabled.enabled_at, Some(at));
        assert_eq!(enabled.last_used_step, Some(10));
        // Enabled: a new enrolment is refused, writing nothing.
        assert!(
            !store
                .begin_two_factor(&two_factor_record(user.id, "s3"), &[])
                .await
                .unwrap()
        );
        assert_eq!(
            store.get_two_factor(user.id).await.unwrap().unwrap().sealed_secret,
            "s2"
        );
        // Steps only move forward.
        assert!(!store.use_two_factor_step(user.id, 10).await.unwrap());
        assert!(!store.use_two_factor_step(user.id, 9).await.unwrap());
        assert!(store.use_two_factor_step(user.id, 12).await.unwrap());
        assert!(!store.use_two_factor_step(user.id, 11).await.unwrap());
        // Backup codes: once each; replaced together.
        assert!(store.use_backup_code(user.id, "d3", at).await.unwrap());
        assert!(!store.use_backup_code(user.id, "d3", at).await.unwrap());
        assert!(!store.use_backup_code(user.id, "unknown", at).await.unwrap());
        let used = store.list_backup_codes(user.id).await.unwrap();
        assert_eq!(used[0].used_at, Some(at));
        assert_eq!(used[1].used_at, None);
        assert!(
            store
                .replace_backup_codes(user.id, &["d5".into()], &NO_JOURNAL)
                .await
                .unwrap()
        );
        assert_eq!(store.list_backup_codes(user.id).await.unwrap().len(), 1);
        assert!(!store.use_backup_code(user.id, "d4", at).await.unwrap());
        // Another user's codes are not this user's.
        let other = f.insert(&f.user(Some("tf2@example.org"), None)).await;
        assert!(!store.use_backup_code(other.id, "d5", at).await.unwrap());

        // Disabling removes everything; the user's deletion does too.
        assert!(store.delete_two_factor(user.id, &NO_JOURNAL).await.unwrap());
        assert!(!store.delete_two_factor(user.id, &NO_JOURNAL).await.unwrap());
        assert_eq!(store.get_two_factor(user.id).await.unwrap(), None);
        assert!(store.list_backup_codes(user.id).await.unwrap().is_empty());
        assert!(
            store
                .begin_two_factor(&two_factor_record(other.id, "s"), &["o1".into()])
                .await
                .unwrap()
        );
        store.delete_user(other.id, false, &NO_JOURNAL).await.unwrap();
        assert_eq!(store.get_two_factor(other.id).await.unwrap(), None);
        assert!(store.list_backup_codes(other.id).await.unwrap().is_empty());
    }

    async fn two_factor_challenges_count_attempts_and_expire(backend: Backend) {
        use roster_core::two_factor::TwoFactorChallengeRecord;
        let Some(f) = fixture(backend).await else { return };
        let user = f.insert(&f.user(Some("ch@example.org"), None)).await;
        let store = &f.store;
        let start = now();
        let record = TwoFactorChallengeRecord {
            user_id: user.id,
            created_at: start,
            expires_at: start + Duration::minutes(5),
            attempts: 0,
        };
        store.insert_two_factor_challenge(&record, "c1").await.unwrap();
        for n in 1..=3 {
            let counted = store.attempt_two_factor_challenge("c1", start, 3).await.unwrap();
            assert_eq!(counted.attempts, n);
            assert_eq!(counted.user_id, user.id);
            assert_eq!(counted.expires_at, record.expires_at);
        }
        assert!(matches!(
            store.attempt_two_factor_challenge("c1", start, 3).await,
            Err(StoreError::NotFound)
        ));
        store.insert_two_factor_challenge(&record, "c2").await.unwrap();
        assert!(matches!(
            store
                .attempt_two_factor_challenge("c2", start + Duration::minutes(5), 3)
                .await,
            Err(StoreError::NotFound)
        ));
        assert!(matches!(
            store.attempt_two_factor_challenge("unknown", start, 3).await,
            Err(StoreError::NotFound)
        ));
        // A new challenge removes the user's expired ones.
        let later = TwoFactorChallengeRecord {
            created_at: start + Duration::minutes(6),
            expires_at: start + Duration::minutes(11),
            ..record.clone()
        };
        store.insert_two_factor_challenge(&later, "c3").await.unwrap();
        assert!(
            !store.delete_two_factor_challenge("c2").await.unwrap(),
            "expired, removed"
        );
        assert!(store.delete_two_factor_challenge("c3").await.unwrap());
        assert!(!store.delete_two_factor_challenge("c3").await.unwrap());
    }

    async fn instance_settings_and_user_secrets(backend: Backend) {
        let Some(f) = fixture(backend).await else { return };
        let store = &f.store;
        assert_eq!(store.get_instance_setting("k").await.unwrap(), None);
        assert_eq!(store.init_instance_setting("k", "first", now()).await.unwrap(), "first");
        assert_eq!(
            store.init_instance_setting("k", "second", now()).await.unwrap(),
            "first"
        );
        assert_eq!(store.get_instance_setting("k").await.unwrap().as_deref(), Some("first"));

        let a = f.insert(&f.user(Some("sa@example.org"), None)).await;
        let b = f.insert(&f.user(Some("sb@example.org"), None)).await;
        store.put_user_secret(a.id, "n", Some("va"), now()).await.unwrap();
        store.put_user_secret(a.id, "n", Some("va2"), now()).await.unwrap();
        store.put_user_secret(b.id, "n", Some("vb"), now()).await.unwrap();
        store.put_user_secret(b.id, "other", Some("x"), now()).await.unwrap();
        assert_eq!(store.get_user_secret(a.id, "n").await.unwrap().as_deref(), Some("va2"));
        let mut listed = store.list_user_secrets(&[a.id, b.id], "n").await.unwrap();
        listed.sort_by_key(|(id, _)| id.0);
        assert_eq!(listed, vec![(a.id, "va2".to_string()), (b.id, "vb".to_string())]);
        assert!(store.list_user_secrets(&[], "n").await.unwrap().is_empty());
        store.put_user_secret(a.id, "n", None, now()).await.unwrap();
        assert_eq!(store.get_user_secret(a.id, "n").await.unwrap(), None);
        assert!(matches!(
            store.put_user_secret(UserId(424242), "n", Some("v"), now()).await,
            Err(StoreError::NotFound)
        ));
        store.delete_user(b.id, false, &NO_JOURNAL).await.unwrap();
        assert!(store.list_user_secrets(&[b.id], "n").await.unwrap().is_empty());

        // A signing key's private part can be replaced (sealed in place).
        let key = SigningKeyRecord::generate(1, now()).unwrap();
        store.insert_signing_key(&key).await.unwrap();
        store
            .update_signing_key_private(&key.kid, b"rsb1.sealed")
            .await
            .unwrap();
        let stored = store.list_signing_keys().await.unwrap();
        assert_eq!(stored[0].private_pkcs8, b"rsb1.sealed");
        assert!(matches!(
            store.update_signing_key_private("nope", b"x").await,
            Err(StoreError::NotFound)
        ));
    }

    backend_tests!(
        two_factor_enrolment_steps_and_codes,
        two_factor_challenges_count_attempts_and_expire,
        instance_settings_and_user_secrets,
    );
}

// ---------------------------------------------------------------------------------------
// `roster migrate`: external references, a migrated user written in one transaction.

async fn migrated_user_is_written_whole(backend: Backend) {
    use roster_core::store::{BalanceKind, BalanceTransaction, MigratedBalance, MigratedTwoFactor, MigratedUser};
    use roster_core::two_factor::{BackupCodeRecord, TwoFactorRecord};
    let f = fixture_or_skip!(backend);
    let at = now();
    let user = f.user(Some("mig@example.org"), Some("mig"));
    let key = f.api_key(user.id, "imported");
    let spend = BalanceTransaction {
        id: f.ids.next_id(),
        user_id: user.id,
        kind: BalanceKind::Spend,
        amount: -300,
        created_at: at,
    };
    let migrated = MigratedUser {
        journal: NO_JOURNAL,
        source: "librechat".into(),
        external_id: "65a1".into(),
        user: user.clone(),
        is_new: true,
        keep_an_admin: false,
        fingerprint: Some("f1".into()),
        api_keys: vec![("k1".into(), key.clone(), "mig-digest".into())],
        transactions: vec![("t1".into(), spend.clone())],
        balance: Some(MigratedBalance {
            target: 1000,
            adjustment_id: f.ids.next_id(),
            grant_id: f.ids.next_id(),
            at,
        }),
        two_factor: Some(MigratedTwoFactor {
            enrolment: Some(TwoFactorRecord {
                user_id: user.id,
                sealed_secret: "rsb1.totp".into(),
                enabled_at: Some(at),
                last_used_step: None,
                created_at: at,
            }),
            backup_codes: vec![
                BackupCodeRecord {
                    digest: "sha256:unused".into(),
                    used_at: None,
                },
                BackupCodeRecord {
                    digest: "sha256:used".into(),
                    used_at: Some(at),
                },
            ],
        }),
    };
    let stored = f.store.write_migrated_user(&migrated).await.unwrap();
    let two_factor = f.store.get_two_factor(user.id).await.unwrap().unwrap();
    assert_eq!(
        (two_factor.sealed_secret.as_str(), two_factor.enabled_at.is_some()),
        ("rsb1.totp", true)
    );
    let codes = f.store.list_backup_codes(user.id).await.unwrap();
    assert_eq!(
        codes
            .iter()
            .map(|c| (c.digest.as_str(), c.used_at.is_some()))
            .collect::<Vec<_>>(),
        [("sha256:unused", false), ("sha256:used", true)]
    );
    // The imported codes are usable once.
    assert!(f.store.use_backup_code(user.id, "sha256:unused", at).await.unwrap());
    assert!(!f.store.use_backup_code(user.id, "sha256:unused", at).await.unwrap());
    assert!(!f.store.use_backup_code(user.id, "sha256:used", at).await.unwrap());
    assert_eq!(stored.email.as_deref(), Some("mig@example.org"));
    let refs = f.store.list_external_refs("librechat", "user").await.unwrap();
    assert_eq!(refs.len(), 1);
    assert_eq!(
        (refs[0].local_id, refs[0].fingerprint.as_deref()),
        (user.id.0, Some("f1"))
    );
    assert_eq!(
        f.store.get_api_key_by_digest("mig-digest").await.unwrap().user_id,
        user.id
    );
    // The balance is the target; the start grant is marked taken.
    assert_eq!(f.store.get_balance(user.id).await.unwrap(), (1000, true));
    assert_eq!(
        f.store
            .list_external_refs("librechat", "transaction")
            .await
            .unwrap()
            .len(),
        1
    );

    // Written again as an update: keys and transactions seen before are skipped.
    let again = MigratedUser {
        is_new: false,
        user: stored.clone(),
        api_keys: vec![("k1".into(), f.api_key(user.id, "again"), "other-digest".into())],
        transactions: vec![(
            "t1".into(),
            BalanceTransaction {
                id: f.ids.next_id(),
                ..spend.clone()
            },
        )],
        balance: Some(MigratedBalance {
            target: 1000,
            adjustment_id: f.ids.next_id(),
            grant_id: f.ids.next_id(),
            at,
        }),
        // Codes only: a used code stays used (given unused), a new one is added.
        two_factor: Some(MigratedTwoFactor {
            enrolment: None,
            backup_codes: vec![
                BackupCodeRecord {
                    digest: "sha256:unused".into(),
                    used_at: None,
                },
                BackupCodeRecord {
                    digest: "sha256:new".into(),
                    used_at: None,
                },
            ],
        }),
        ..migrated.clone()
    };
    f.store.write_migrated_user(&again).await.unwrap();
    let codes = f.store.list_backup_codes(user.id).await.unwrap();
    assert_eq!(
        codes
            .iter()
            .map(|c| (c.digest.as_str(), c.used_at.is_some()))
            .collect::<Vec<_>>(),
        [("sha256:new", false), ("sha256:unused", true), ("sha256:used", true)]
    );
    assert_eq!(f.store.get_two_factor(user.id).await.unwrap().unwrap(), two_factor);
    // An enrolment over an enabled one is stale and writes nothing.
    let over = MigratedUser {
        is_new: false,
        user: f.store.get_user(user.id).await.unwrap(),
        api_keys: vec![],
        transactions: vec![],
        balance: None,
        external_id: "65a1-other".into(),
        ..migrated.clone()
    };
    assert!(matches!(
        f.store.write_migrated_user(&over).await,
        Err(StoreError::Stale)
    ));
    assert_eq!(f.store.list_backup_codes(user.id).await.unwrap().len(), 3);
    assert_eq!(f.store.list_external_refs("librechat", "user").await.unwrap().len(), 1);
    assert_eq!(f.store.list_api_keys(user.id).await.unwrap().len(), 1);
    assert_eq!(f.store.get_balance(user.id).await.unwrap(), (1000, true));

    // A conflict writes nothing: no user, no reference, no key, no ledger.
    let twin = f.user(Some("mig@example.org"), None);
    let conflicting = MigratedUser {
        external_id: "65a2".into(),
        user: twin.clone(),
        is_new: true,
        api_keys: vec![("k2".into(), f.api_key(twin.id, "x"), "twin-digest".into())],
        transactions: vec![(
            "t2".into(),
            BalanceTransaction {
                id: f.ids.next_id(),
                user_id: twin.id,
                ..spend
            },
        )],
        ..migrated
    };
    assert_conflict(f.store.write_migrated_user(&conflicting).await, "email");
    assert_eq!(f.store.list_external_refs("librechat", "user").await.unwrap().len(), 1);
    assert_not_found(f.store.get_api_key_by_digest("twin-digest").await);
    assert_eq!(f.store.get_balance(twin.id).await.unwrap(), (0, false));
    assert_eq!(
        f.store
            .list_external_refs("librechat", "transaction")
            .await
            .unwrap()
            .len(),
        1
    );
    // A stale update is refused.
    let stale = MigratedUser {
        is_new: false,
        user: User {
            revision: stored.revision - 1,
            ..stored
        },
        api_keys: vec![],
        transactions: vec![],
        balance: None,
        ..again
    };
    assert!(matches!(
        f.store.write_migrated_user(&stale).await,
        Err(StoreError::Stale)
    ));
}

async fn migrated_groups_and_refs(backend: Backend) {
    use roster_core::store::Group;
    let f = fixture_or_skip!(backend);
    let ann = f.insert(&f.user(Some("ann@example.org"), None)).await;
    let ben = f.insert(&f.user(Some("ben@example.org"), None)).await;
    let at = now();
    let group = Group {
        id: roster_core::GroupId(f.ids.next_id()),
        name: "Researchers".into(),
        description: String::new(),
        permissions: json!({"workspace": {"models": true}}),
        created_by: None,
        created_at: at,
        updated_at: at,
    };
    f.store
        .write_migrated_group("open-webui", "g1", &group, true, &[ann.id])
        .await
        .unwrap();
    let renamed = Group {
        name: "Research".into(),
        ..group.clone()
    };
    f.store
        .write_migrated_group("open-webui", "g1", &renamed, false, &[ann.id, ben.id])
        .await
        .unwrap();
    assert_eq!(f.store.get_group(group.id).await.unwrap().name, "Research");
    assert_eq!(f.store.list_group_members(group.id).await.unwrap().len(), 2);
    let refs = f.store.list_external_refs("open-webui", "group").await.unwrap();
    assert_eq!(refs.len(), 1);
    assert_eq!((refs[0].external_id.as_str(), refs[0].local_id), ("g1", group.id.0));
    assert!(
        f.store
            .list_external_refs("langflow", "group")
            .await
            .unwrap()
            .is_empty()
    );
    // An update of a group that is gone writes nothing.
    let missing = Group {
        id: roster_core::GroupId(f.ids.next_id()),
        ..group
    };
    assert_not_found(
        f.store
            .write_migrated_group("open-webui", "g2", &missing, false, &[ann.id])
            .await,
    );
    assert_eq!(
        f.store.list_external_refs("open-webui", "group").await.unwrap().len(),
        1
    );
}

// ---------------------------------------------------------------------------------------
// Crash consistency (issue 9): writes that must be one transaction.

mod one_transaction {
    use super::*;
    use roster_core::store::{AccountToken, AccountTokenKind};

    fn reset_link(user: UserId, t: OffsetDateTime) -> AccountToken {
        AccountToken {
            kind: AccountTokenKind::PasswordReset,
            user_id: Some(user),
            email: None,
            role: None,
            created_at: t,
            expires_at: t + Duration::hours(1),
            used_at: None,
        }
    }

    async fn users_are_written_with_their_links(backend: Backend) {
        let f = fixture_or_skip!(backend);
        let t = now();
        let mut a = f.user(Some("a@example.org"), None);
        a.password_hash = None;
        let b = f.user(Some("b@example.org"), None);
        let link = reset_link(a.id, t);
        assert_eq!(
            f.store
                .insert_users_with_tokens(&[a.clone(), b.clone()], &[(link.clone(), "d-a".into())], &NO_JOURNAL)
                .await
                .unwrap(),
            2
        );
        assert_eq!(f.store.get_account_token("d-a").await.unwrap(), link);
        assert!(f.store.get_user(b.id).await.is_ok());
        // A conflict writes nothing: neither the new user nor its link.
        let c = f.user(Some("c@example.org"), None);
        let twin = f.user(Some("a@example.org"), None);
        let result = f
            .store
            .insert_users_with_tokens(&[c.clone(), twin], &[(reset_link(c.id, t), "d-c".into())], &NO_JOURNAL)
            .await;
        assert!(matches!(result, Err(StoreError::Conflict { .. })), "{result:?}");
        assert!(f.store.get_user(c.id).await.is_err());
        assert!(f.store.get_account_token("d-c").await.is_err());
    }

    async fn a_password_is_set_with_its_link_and_revocations(backend: Backend) {
        let f = fixture_or_skip!(backend);
        let t = now();
        let user = f.insert(&f.user(Some("u@example.org"), None)).await;
        let other = f.insert(&f.user(Some("o@example.org"), None)).await;
        for owner in [user.id, other.id] {
            f.store
                .insert_session(&f.session(owner, t), &format!("r-{owner}"))
                .await
                .unwrap();
            f.store
                .insert_api_key(&f.api_key(owner, "k"), &format!("k-{owner}"), &NO_JOURNAL)
                .await
                .unwrap();
        }
        f.store
            .insert_account_token(&reset_link(other.id, t), "d-other")
            .await
            .unwrap();
        f.store
            .insert_account_token(&reset_link(user.id, t), "d-user")
            .await
            .unwrap();
        let new = PasswordHash("$argon2id$v=19$m=19456,t=2,p=1$bmV3$bmV3".into());
        // Another user's link, an unknown user: NotFound, nothing written.
        for (id, link) in [(user.id, Some("d-other")), (UserId(f.ids.next_id()), None)] {
            assert!(matches!(
                f.store.set_password_hash(id, &new, link, true, t, &NO_JOURNAL).await,
                Err(StoreError::NotFound)
            ));
        }
        assert_eq!(
            f.store.get_user(user.id).await.unwrap().password_hash,
            user.password_hash
        );
        assert!(f.store.get_account_token("d-other").await.unwrap().used_at.is_none());
        assert_eq!(f.store.list_sessions(user.id).await.unwrap().len(), 1);
        // The user's own link: all at once, and only once.
        assert_eq!(
            f.store
                .set_password_hash(user.id, &new, Some("d-user"), false, t, &NO_JOURNAL)
                .await
                .unwrap(),
            (1, 0)
        );
        let stored = f.store.get_user(user.id).await.unwrap();
        assert_eq!(stored.password_hash, Some(new.clone()));
        assert!(stored.revision > user.revision);
        assert!(f.store.get_account_token("d-user").await.unwrap().used_at.is_some());
        assert!(f.store.list_sessions(user.id).await.unwrap().is_empty());
        assert_eq!(f.store.list_api_keys(user.id).await.unwrap().len(), 1);
        assert!(matches!(
            f.store
                .set_password_hash(user.id, &new, Some("d-user"), false, t, &NO_JOURNAL)
                .await,
            Err(StoreError::NotFound)
        ));
        // Without a link, revoking keys too; the other user is untouched throughout.
        assert_eq!(
            f.store
                .set_password_hash(user.id, &new, None, true, t, &NO_JOURNAL)
                .await
                .unwrap(),
            (0, 1)
        );
        assert_eq!(f.store.list_sessions(other.id).await.unwrap().len(), 1);
        assert_eq!(f.store.list_api_keys(other.id).await.unwrap().len(), 1);
    }

    backend_tests!(
        users_are_written_with_their_links,
        a_password_is_set_with_its_link_and_revocations
    );
}
