//! Retention's batched deletes (`RetentionStore`); every kind's rules are exercised through
//! `roster purge` in the binary's tests (`tests/retention.rs`).

use crate::common::*;
use roster_core::store::PurgeKind;
use sqlx::Connection as _;

async fn exec(url: &str, sql: &str) {
    if url.starts_with("sqlite") {
        let mut c = sqlx::SqliteConnection::connect(url).await.unwrap();
        sqlx::raw_sql(sql).execute(&mut c).await.unwrap();
    } else {
        let mut c = sqlx::PgConnection::connect(url).await.unwrap();
        sqlx::raw_sql(sql).execute(&mut c).await.unwrap();
    }
}

async fn purges_in_batches_and_counts(backend: Backend) {
    let f = roster_testkit::or_skip!(fixture(backend).await);
    let now = now();
    let (old, young) = (ms(now - Duration::days(400)), ms(now - Duration::days(1)));
    let mut sql = String::new();
    for id in 1..=5 {
        sql.push_str(&format!(
            "INSERT INTO audit_log (id, at, action, details) VALUES ({id}, {old}, 'old', '{{}}');"
        ));
    }
    sql.push_str(&format!(
        "INSERT INTO audit_log (id, at, action, details) VALUES (6, {young}, 'young', '{{}}');"
    ));
    exec(&f.db.url, &sql).await;
    let cutoff = now - Duration::days(365);
    assert_eq!(f.store.count_purgeable(PurgeKind::Audit, cutoff).await.unwrap(), 5);
    let mut batches = Vec::new();
    loop {
        let n = f.store.purge_batch(PurgeKind::Audit, cutoff, 2).await.unwrap();
        batches.push(n);
        if n == 0 {
            break;
        }
    }
    assert_eq!(batches, vec![2, 2, 1, 0]);
    assert_eq!(f.store.count_purgeable(PurgeKind::Audit, cutoff).await.unwrap(), 0);
    let query = roster_core::journal::AuditQuery {
        limit: 100,
        ..Default::default()
    };
    let left = f.store.list_audit(&query).await.unwrap();
    assert_eq!(left.iter().map(|e| e.id).collect::<Vec<_>>(), vec![6]);
}

async fn the_newest_event_and_live_challenges_stay(backend: Backend) {
    let f = roster_testkit::or_skip!(fixture(backend).await);
    let user = f.insert(&f.user(Some("r@example.org"), None)).await;
    let now = now();
    let old = ms(now - Duration::days(40));
    let (expired, live) = (ms(now - Duration::minutes(1)), ms(now + Duration::minutes(5)));
    let u = user.id.0;
    exec(
        &f.db.url,
        &format!(
            "INSERT INTO outbox (seq, id, event_type, subject_id, occurred_at, payload) VALUES \
               (10, 10, 't', {u}, {old}, '{{}}'), (11, 11, 't', {u}, {old}, '{{}}'); \
             INSERT INTO two_factor_challenges (digest, user_id, created_at, expires_at, attempts) VALUES \
               ('gone', {u}, {old}, {expired}, 0), ('kept', {u}, {old}, {live}, 0);"
        ),
    )
    .await;
    let cutoff = now - Duration::days(30);
    // Event 11 is the newest: the next ones are numbered after it, so it stays.
    assert_eq!(f.store.count_purgeable(PurgeKind::Outbox, cutoff).await.unwrap(), 1);
    assert_eq!(f.store.purge_batch(PurgeKind::Outbox, cutoff, 100).await.unwrap(), 1);
    let left = f.store.list_outbox(0, 100).await.unwrap();
    assert_eq!(left.iter().map(|e| e.seq).collect::<Vec<_>>(), vec![11]);
    assert_eq!(
        f.store
            .purge_batch(PurgeKind::TwoFactorChallenges, now, 100)
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        f.store
            .purge_batch(PurgeKind::TwoFactorChallenges, now, 100)
            .await
            .unwrap(),
        0
    );
}

backend_tests!(purges_in_batches_and_counts, the_newest_event_and_live_challenges_stay);
