//! The journal: audit entries and outbox events are written with their change, or not at all.

use crate::common::*;
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
    let f = roster_testkit::or_skip!(fixture(backend).await);
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
    let f = roster_testkit::or_skip!(fixture(backend).await);
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
    let f = roster_testkit::or_skip!(fixture(backend).await);
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
    let f = roster_testkit::or_skip!(fixture(backend).await);
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
    let f = roster_testkit::or_skip!(fixture(backend).await);
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
    let f = roster_testkit::or_skip!(fixture(backend).await);
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
    let f = roster_testkit::or_skip!(fixture(backend).await);
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
    let f = roster_testkit::or_skip!(fixture(backend).await);
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

async fn activity_is_counted_by_the_hour_with_the_audit_trail(backend: Backend) {
    let f = roster_testkit::or_skip!(fixture(backend).await);
    let user = f.insert(&f.user(Some("c@example.org"), None)).await;
    let hour = 490_000_i64;
    let at = at_ms(hour * 3_600_000 + 60_000);
    let j = builder(&f, Some(user.id), at)
        .audit("login.success", Some(user.id), json!({}))
        .audit("login.success", Some(user.id), json!({}))
        .audit("user.update", Some(user.id), json!({}))
        .build();
    f.store.append_journal(&j).await.unwrap();
    let j = builder(&f, None, at + Duration::hours(1))
        .audit("login.failure", None, json!({"login": "x", "reason": "throttled"}))
        .audit(
            "login.failure",
            None,
            json!({"login": "x", "reason": "invalid_credentials"}),
        )
        .build();
    f.store.append_journal(&j).await.unwrap();
    // A change that rolls back counts nothing.
    let j = builder(&f, Some(user.id), at)
        .audit("login.success", Some(user.id), json!({}))
        .build();
    let mut taken = f.user(Some("c@example.org"), None);
    taken.id = UserId(f.ids.next_id());
    assert!(f.store.insert_user(&taken, false, &j).await.is_err());
    // A later change adds to the hour's count (one upsert of the rows a journal raises).
    let j = builder(&f, Some(user.id), at + Duration::minutes(5))
        .audit("login.success", Some(user.id), json!({}))
        .build();
    f.store.append_journal(&j).await.unwrap();

    let report = f.store.activity_report(hour, 100).await.unwrap();
    let mut counts = report.counts.clone();
    counts.sort();
    assert_eq!(
        counts,
        [
            ("login".to_string(), hour, 3),
            ("login_failure".to_string(), hour + 1, 2),
            ("login_throttled".to_string(), hour + 1, 1),
        ]
    );
    assert!(f.store.activity_report(hour + 1, 100).await.unwrap().counts.len() == 2);
    assert_eq!(report.outbox, None, "no subscription reads the outbox");
    assert!(report.subscriptions.is_empty());
}

backend_tests!(
    activity_is_counted_by_the_hour_with_the_audit_trail,
    late_commits_are_numbered_after_what_was_read,
    a_user_update_ends_sessions_in_its_transaction,
    a_committed_change_has_exactly_its_records,
    a_failed_change_leaves_no_records,
    the_first_admin_is_journaled_with_its_stored_role,
    large_journals_are_written_whole,
    audit_filters_and_pages,
    outbox_readers_never_skip,
);
