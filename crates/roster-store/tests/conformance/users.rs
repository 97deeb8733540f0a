//! Users: rows, login identifiers, the first administrator, updates at a revision, the
//! last-administrator guard, deletion, bulk inserts, bans, look-ups and counts, terms.

use crate::common::*;

async fn users_round_trip(backend: Backend) {
    let f = roster_testkit::or_skip!(fixture(backend).await);
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
    let f = roster_testkit::or_skip!(fixture(backend).await);
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
    let f = roster_testkit::or_skip!(fixture(backend).await);
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
    let f = roster_testkit::or_skip!(fixture(backend).await);
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
    let f = roster_testkit::or_skip!(fixture(backend).await);
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
    let f = roster_testkit::or_skip!(fixture(backend).await);
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
    let f = roster_testkit::or_skip!(fixture(backend).await);
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
    let f = roster_testkit::or_skip!(fixture(backend).await);
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
    let f = roster_testkit::or_skip!(fixture(backend).await);
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
    let f = roster_testkit::or_skip!(fixture(backend).await);
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
    let f = roster_testkit::or_skip!(fixture(backend).await);
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
    let f = roster_testkit::or_skip!(fixture(backend).await);
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
    let f = roster_testkit::or_skip!(fixture(backend).await);
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
    let f = roster_testkit::or_skip!(fixture(backend).await);
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

async fn bulk_insert_is_all_or_nothing(backend: Backend) {
    let f = roster_testkit::or_skip!(fixture(backend).await);
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

async fn bans_are_stored_listed_and_guarded(backend: Backend) {
    let f = roster_testkit::or_skip!(fixture(backend).await);
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

async fn look_ups_and_counts(backend: Backend) {
    let f = roster_testkit::or_skip!(fixture(backend).await);
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

async fn terms_acceptances_are_kept(backend: Backend) {
    let f = roster_testkit::or_skip!(fixture(backend).await);
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

/// The metrics' census: users per role and status, a ban counting only while in force.
async fn users_by_role_and_status_count_each_user_once(backend: Backend) {
    let f = roster_testkit::or_skip!(fixture(backend).await);
    let t = now();
    assert!(f.store.users_by_role_and_status(t).await.unwrap().is_empty());
    let mut admin = f.user(Some("admin@example.org"), Some("admin"));
    admin.role = Role::Admin;
    f.insert(&admin).await;
    f.insert(&f.user(Some("a@example.org"), Some("a"))).await;
    let mut inactive = f.user(Some("b@example.org"), Some("b"));
    inactive.active = false;
    f.insert(&inactive).await;
    for (email, until) in [
        ("c@example.org", t + Duration::hours(1)),
        ("d@example.org", t - Duration::hours(1)),
    ] {
        let user = f.insert(&f.user(Some(email), None)).await;
        f.store
            .set_user_ban(user.id, Some(until), None, false, t, &NO_JOURNAL)
            .await
            .unwrap();
    }
    let census = f.store.users_by_role_and_status(t).await.unwrap();
    let expected: Vec<(String, String, i64)> = [
        ("admin", "active", 1),
        ("user", "active", 2),
        ("user", "banned", 1),
        ("user", "inactive", 1),
    ]
    .iter()
    .map(|(r, s, n)| (r.to_string(), s.to_string(), *n))
    .collect();
    assert_eq!(census, expected);
}

/// A ban whose end has passed is cleared once, with its journal, by one of several callers
/// at once; a ban still in force, or renewed, is left alone.
async fn expired_bans_end_once(backend: Backend) {
    let f = roster_testkit::or_skip!(fixture(backend).await);
    let t = now();
    let ended = f.insert(&f.user(Some("ended@example.org"), None)).await;
    let running = f.insert(&f.user(Some("running@example.org"), None)).await;
    let never = f.insert(&f.user(Some("never@example.org"), None)).await;
    for (user, until) in [(&ended, t - Duration::seconds(1)), (&running, t + Duration::hours(1))] {
        f.store
            .set_user_ban(
                user.id,
                Some(until),
                Some("spam"),
                false,
                t - Duration::hours(2),
                &NO_JOURNAL,
            )
            .await
            .unwrap();
    }
    let before = f.store.list_outbox(0, 10_000).await.unwrap().len();
    let journal = |user: UserId| Journal {
        events: vec![roster_core::journal::OutboxEvent {
            seq: 0,
            id: user.0 + 1_000_000,
            event_type: "user.unbanned".into(),
            subject_id: user,
            actor_id: None,
            occurred_at: t,
            payload: json!({"expired": true}),
        }],
        ..Journal::default()
    };
    let (a, b) = tokio::join!(
        f.store.end_expired_bans(t, 10, &journal),
        f.store.end_expired_bans(t, 10, &journal)
    );
    let mut all = a.unwrap();
    all.extend(b.unwrap());
    assert_eq!(all, [ended.id], "ended once, by one caller");
    let cleared = f.store.get_user(ended.id).await.unwrap();
    assert_eq!(cleared.banned_until, None);
    assert_eq!(cleared.ban_reason, None);
    assert!(cleared.revision > ended.revision);
    assert!(f.store.get_user(running.id).await.unwrap().banned_until.is_some());
    assert_eq!(f.store.get_user(never.id).await.unwrap().banned_until, None);
    let events = f.store.list_outbox(0, 10_000).await.unwrap();
    assert_eq!(events.len(), before + 1, "one event, with the change");
    assert_eq!(events.last().unwrap().subject_id, ended.id);
    assert!(f.store.end_expired_bans(t, 10, &journal).await.unwrap().is_empty());
    // Later, the running one ends too.
    let later = t + Duration::hours(2);
    assert_eq!(
        f.store.end_expired_bans(later, 10, &journal).await.unwrap(),
        [running.id]
    );
}

/// A bulk load (past `BULK_LOAD_MIN_USERS`: PostgreSQL copies the rows, SQLite writes its
/// search index once after them instead of by its trigger row by row) stores what a single
/// insert stores and indexes it as the trigger does: every loaded user is found by a search
/// through the index, a later update or deletion keeps the index in step, the trigger works
/// again afterwards and after a load that failed, and on SQLite the index matches its table
/// (FTS5's own check).
async fn bulk_load_indexes_search_as_the_trigger_does(backend: Backend) {
    let f = roster_testkit::or_skip!(fixture(backend).await);
    let search = |term: &str| {
        let store = f.store.clone();
        let query = UserQuery {
            search: Some(term.into()),
            limit: 1000,
            ..Default::default()
        };
        async move {
            let found = store.list_users(&query).await.unwrap();
            found.into_iter().map(|u| u.id).collect::<BTreeSet<UserId>>()
        }
    };
    let alone = {
        let mut u = f.user(Some("alone@example.org"), Some("Alone"));
        u.name = Some("Solo Qvx0000".into());
        f.insert(&u).await
    };
    let mut users: Vec<User> = (0..300)
        .map(|i| {
            let mut u = f.user(Some(&format!("load{i}@example.org")), Some(&format!("Load_{i}")));
            u.name = Some(format!("Loaded Qvx{i:04}y ✓"));
            u
        })
        .collect();
    // Every column, and text that COPY's format escapes (tab, newline, backslash).
    let full = &mut users[1];
    full.email_verified = true;
    full.name = Some("Loaded Qvx0001y\ttab\tand\\slash".into());
    full.avatar = Some("https://example.org/a.png".into());
    full.bio = Some("Line one\nline two\r\nSays \"hi\"; \\N is not null".into());
    full.timezone = Some("Europe/Berlin".into());
    full.terms_version = Some("2024-01".into());
    full.terms_accepted_at = Some(now() - Duration::days(1));
    full.preferences = json!({"theme": "dark\t\\", "nested": {"list": [1, 2.5, null, "x\ny"]}, "ünï": true});
    full.last_login_at = Some(now() - Duration::hours(2));
    full.last_active_at = Some(now() - Duration::hours(1));
    full.provider = "oidc".into();
    full.role = Role::Admin;
    users[2].password_hash = None;
    users[2].username = None;
    assert_eq!(f.store.insert_users_bulk(&users, &NO_JOURNAL).await.unwrap(), 300);
    for user in &users[..3] {
        assert_eq!(&f.store.get_user(user.id).await.unwrap(), user);
    }
    assert_eq!(f.store.find_user_by_login("load_299").await.unwrap().id, users[299].id);
    assert_eq!(
        f.store.find_user_by_login("load0@example.org").await.unwrap().id,
        users[0].id
    );
    for i in [0, 1, 2, 150, 298, 299] {
        assert_eq!(
            search(&format!("qvx{i:04}y")).await,
            BTreeSet::from([users[i].id]),
            "user {i}"
        );
    }
    assert_eq!(search("qvx0000").await, BTreeSet::from([alone.id, users[0].id]));
    assert_eq!(search("load29").await.len(), 11, "load29 and load290..load299");
    assert_eq!(search("loaded qvx").await.len(), 300);

    // The index entries the load wrote follow later changes.
    let mut renamed = f.store.get_user(users[5].id).await.unwrap();
    renamed.name = Some("Renamed Zzt".into());
    f.store.update_user(&renamed, false, &NO_JOURNAL).await.unwrap();
    assert_eq!(search("qvx0005y").await, BTreeSet::new());
    assert_eq!(search("renamed zzt").await, BTreeSet::from([users[5].id]));
    f.store.delete_user(users[6].id, false, &NO_JOURNAL).await.unwrap();
    assert_eq!(search("qvx0006y").await, BTreeSet::new());
    // A change that keeps the search key keeps the entry (the update trigger skips it).
    let mut described = f.store.get_user(users[7].id).await.unwrap();
    described.bio = Some("A new bio".into());
    f.store.update_user(&described, false, &NO_JOURNAL).await.unwrap();
    assert_eq!(search("qvx0007y").await, BTreeSet::from([users[7].id]));

    // The trigger indexes single inserts again.
    let after = {
        let mut u = f.user(Some("after@example.org"), None);
        u.name = Some("After Qvx9999".into());
        f.insert(&u).await
    };
    assert_eq!(search("qvx9999").await, BTreeSet::from([after.id]));

    // A load that fails writes nothing, and the trigger is still there.
    let mut failing: Vec<User> = (0..150)
        .map(|i| {
            let mut u = f.user(Some(&format!("failed{i}@example.org")), None);
            u.name = Some(format!("Failedload {i}"));
            u
        })
        .collect();
    failing.push(f.user(Some("load7@example.org"), None));
    assert_conflict(f.store.insert_users_bulk(&failing, &NO_JOURNAL).await, "email");
    assert_eq!(search("failedload").await, BTreeSet::new());
    assert_eq!(f.store.count_users().await.unwrap(), 301);
    let last = {
        let mut u = f.user(Some("last@example.org"), None);
        u.name = Some("Last Qvx8888".into());
        f.insert(&u).await
    };
    assert_eq!(search("qvx8888").await, BTreeSet::from([last.id]));

    if backend == Backend::Sqlite {
        // FTS5 compares its index with the rows of `users` (rank 1: the external content too).
        raw_sql(
            &f,
            "INSERT INTO users_search (users_search, rank) VALUES ('integrity-check', 1)",
        )
        .await;
    }
}

backend_tests!(
    expired_bans_end_once,
    users_by_role_and_status_count_each_user_once,
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
    bulk_insert_is_all_or_nothing,
    bulk_load_indexes_search_as_the_trigger_does,
    bans_are_stored_listed_and_guarded,
    look_ups_and_counts,
    terms_acceptances_are_kept,
);
