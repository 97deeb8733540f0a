//! The webhook tables on both backends: fan-out, claims racing from several connections
//! (each delivery claimed once, the earliest pending per user first), leases, replay, and the
//! pending-deletion query.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use roster_core::journal::OutboxEvent;
use roster_core::time::{Duration, OffsetDateTime};
use roster_core::webhooks::{AttemptRecord, DeliveryQuery, DeliveryStatus, Subscription};
use roster_core::{Store, UserId};
use roster_testkit::{Backend, TestDatabase, backend_tests};
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

fn subscription(id: i64, event_types: &[&str], required: bool) -> Subscription {
    Subscription {
        id,
        url: "http://127.0.0.1:9/hook".into(),
        event_types: event_types.iter().map(|s| s.to_string()).collect(),
        secret: "whsec_0123456789abcdef".into(),
        required_for_deletion: required,
        description: None,
        created_by: None,
        created_at: OffsetDateTime::now_utc(),
        start_seq: 0,
        fanned_out_seq: 0,
    }
}

fn event(id: i64, event_type: &str, subject: i64) -> OutboxEvent {
    OutboxEvent {
        seq: 0,
        id,
        event_type: event_type.into(),
        subject_id: UserId(subject),
        actor_id: None,
        occurred_at: OffsetDateTime::now_utc(),
        payload: serde_json::json!({}),
    }
}

fn delivered(now: OffsetDateTime) -> AttemptRecord {
    AttemptRecord {
        status: DeliveryStatus::Delivered,
        attempted_at: now,
        status_code: Some(200),
        error: None,
        next_attempt_at: now,
    }
}

async fn racing_claims_take_each_delivery_once_in_order_per_user(backend: Backend) {
    let db = roster_testkit::or_skip!(TestDatabase::new(backend).await);
    let store = db.store().await;
    let webhooks = &store;
    webhooks
        .insert_subscription(&subscription(1, &[], false))
        .await
        .unwrap();
    let events: Vec<OutboxEvent> = (0..120).map(|i| event(1000 + i, "user.updated", 10 + i % 12)).collect();
    webhooks.append_outbox_events(&events).await.unwrap();
    let now = OffsetDateTime::now_utc();
    assert_eq!(webhooks.fan_out(now, 1000).await.unwrap(), 120);
    assert_eq!(webhooks.fan_out(now, 1000).await.unwrap(), 0, "queued once");

    // Four instances (each with its own pool) claim and complete at once.
    let claimed: Arc<Mutex<Vec<(i64, i64, i64)>>> = Arc::default();
    let mut tasks = Vec::new();
    for worker in 0..4 {
        let store: Arc<dyn Store> = db.store().await;
        let claimed = claimed.clone();
        tasks.push(tokio::spawn(async move {
            let owner = format!("worker-{worker}");
            let mut idle = 0;
            while idle < 20 {
                let now = OffsetDateTime::now_utc();
                let batch = store
                    .claim_deliveries(&owner, now, now + Duration::seconds(30), 5)
                    .await
                    .unwrap();
                if batch.is_empty() {
                    idle += 1;
                    tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                    continue;
                }
                idle = 0;
                for c in batch {
                    claimed
                        .lock()
                        .unwrap()
                        .push((c.delivery.id, c.event.subject_id.0, c.event.seq));
                    assert_eq!(c.url, "http://127.0.0.1:9/hook");
                    let recorded = store
                        .record_attempt(c.delivery.id, &owner, &delivered(OffsetDateTime::now_utc()))
                        .await
                        .unwrap();
                    assert!(recorded);
                }
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let claimed = claimed.lock().unwrap().clone();
    let ids: HashSet<i64> = claimed.iter().map(|c| c.0).collect();
    assert_eq!(ids.len(), claimed.len(), "no delivery was claimed twice");
    assert_eq!(ids.len(), 120);
    let mut last: HashMap<i64, i64> = HashMap::new();
    for (_, subject, seq) in &claimed {
        let previous = last.insert(*subject, *seq).unwrap_or(0);
        assert!(*seq > previous, "user {subject}: {seq} claimed after {previous}");
    }
    let log = webhooks
        .list_deliveries(&DeliveryQuery {
            status: Some(DeliveryStatus::Delivered),
            limit: 500,
            ..DeliveryQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(log.len(), 120);
    assert!(log.iter().all(|d| d.attempts == 1 && d.delivered_at.is_some()));
}

async fn claims_lapse_replays_reset_and_deletions_wait(backend: Backend) {
    let db = roster_testkit::or_skip!(TestDatabase::new(backend).await);
    let store = db.store().await;
    let webhooks = &store;
    // Events before a subscription are not its business.
    webhooks
        .append_outbox_events(&[event(1, "user.deleted", 5)])
        .await
        .unwrap();
    let s = webhooks
        .insert_subscription(&subscription(7, &["user.deleted"], true))
        .await
        .unwrap();
    assert!(s.start_seq >= 1 && s.fanned_out_seq == s.start_seq);
    webhooks
        .append_outbox_events(&[
            event(2, "user.created", 6),
            event(3, "user.deleted", 6),
            event(4, "user.deleted", 8),
        ])
        .await
        .unwrap();
    let now = OffsetDateTime::now_utc();
    assert_eq!(
        webhooks.fan_out(now, 1000).await.unwrap(),
        2,
        "only user.deleted, only after it"
    );
    let pending = webhooks.list_pending_deletions(10).await.unwrap();
    assert_eq!(pending.iter().map(|e| e.id).collect::<Vec<_>>(), vec![3, 4]);

    let first = webhooks
        .claim_deliveries("a", now, now + Duration::seconds(5), 10)
        .await
        .unwrap();
    assert_eq!(first.len(), 2);
    // Claimed: nobody else gets them until the lease lapses.
    assert!(
        webhooks
            .claim_deliveries("b", now, now + Duration::seconds(5), 10)
            .await
            .unwrap()
            .is_empty()
    );
    let later = now + Duration::seconds(6);
    let retaken = webhooks
        .claim_deliveries("b", later, later + Duration::seconds(5), 10)
        .await
        .unwrap();
    assert_eq!(retaken.len(), 2);
    // The first owner's outcome no longer counts.
    let id = retaken[0].delivery.id;
    assert!(!webhooks.record_attempt(id, "a", &delivered(later)).await.unwrap());
    // Given up after a failure: no longer pending, its error kept.
    let failure = AttemptRecord {
        status: DeliveryStatus::Failed,
        attempted_at: later,
        status_code: Some(500),
        error: Some("HTTP 500".into()),
        next_attempt_at: later,
    };
    assert!(webhooks.record_attempt(id, "b", &failure).await.unwrap());
    let d = webhooks.get_delivery(id).await.unwrap();
    assert_eq!(
        (d.status, d.attempts, d.last_status_code),
        (DeliveryStatus::Failed, 1, Some(500))
    );
    assert_eq!(d.last_error.as_deref(), Some("HTTP 500"));
    // Replaying a delivery still claimed by a live lease is refused; this one is free.
    let other = retaken[1].delivery.id;
    assert!(matches!(
        webhooks.replay_delivery(other, later).await,
        Err(roster_core::StoreError::Stale)
    ));
    assert!(matches!(
        webhooks.replay_delivery(99_999, later).await,
        Err(roster_core::StoreError::NotFound)
    ));
    let replayed = webhooks.replay_delivery(id, later).await.unwrap();
    assert_eq!((replayed.status, replayed.attempts), (DeliveryStatus::Pending, 0));
    let again = webhooks
        .claim_deliveries("c", later, later + Duration::seconds(5), 10)
        .await
        .unwrap();
    assert_eq!(again.len(), 1);
    assert!(webhooks.record_attempt(id, "c", &delivered(later)).await.unwrap());
    assert!(webhooks.record_attempt(other, "b", &delivered(later)).await.unwrap());
    assert!(webhooks.list_pending_deletions(10).await.unwrap().is_empty());
    assert_eq!(
        webhooks
            .list_deliveries_of_event(again[0].event.seq)
            .await
            .unwrap()
            .len(),
        1
    );
    // Removing the subscription removes its log.
    webhooks.delete_subscription(7).await.unwrap();
    assert!(matches!(
        webhooks.delete_subscription(7).await,
        Err(roster_core::StoreError::NotFound)
    ));
    assert!(
        webhooks
            .list_deliveries(&DeliveryQuery {
                limit: 10,
                ..DeliveryQuery::default()
            })
            .await
            .unwrap()
            .is_empty()
    );
}

async fn one_sqlite_instance_holds_the_delivery_lease(backend: Backend) {
    let db = roster_testkit::or_skip!(TestDatabase::new(backend).await);
    let store = db.store().await;
    let webhooks = &store;
    let now = OffsetDateTime::now_utc();
    let until = now + Duration::seconds(10);
    assert!(webhooks.acquire_lease("delivery", "a", now, until).await.unwrap());
    assert!(
        webhooks.acquire_lease("delivery", "a", now, until).await.unwrap(),
        "renewed"
    );
    let b = webhooks.acquire_lease("delivery", "b", now, until).await.unwrap();
    match backend {
        // SQLite: one instance delivers; PostgreSQL shares the work row by row.
        Backend::Sqlite => assert!(!b),
        Backend::Postgres => assert!(b),
    }
    let later = until + Duration::seconds(1);
    assert!(
        webhooks
            .acquire_lease("delivery", "b", later, later + Duration::seconds(10))
            .await
            .unwrap()
    );
    webhooks.release_lease("delivery", "b").await.unwrap();
    assert!(webhooks.acquire_lease("delivery", "a", now, until).await.unwrap());
}

/// The metrics' backlog: events not yet queued, pending deliveries, and the oldest event owed.
async fn the_backlog_counts_what_receivers_are_owed(backend: Backend) {
    let db = roster_testkit::or_skip!(TestDatabase::new(backend).await);
    let store = db.store().await;
    let none = store.outbox_backlog().await.unwrap();
    assert_eq!(none.unqueued_events, 0);
    assert_eq!(none.pending_deliveries, 0);
    assert_eq!(none.oldest_undelivered_ms, None);
    store.insert_subscription(&subscription(1, &[], false)).await.unwrap();
    let mut first = event(2000, "user.updated", 10);
    first.occurred_at = OffsetDateTime::now_utc() - Duration::minutes(5);
    let first_ms = (first.occurred_at.unix_timestamp_nanos() / 1_000_000) as i64;
    store
        .append_outbox_events(&[first, event(2001, "user.updated", 11), event(2002, "user.updated", 12)])
        .await
        .unwrap();
    let unqueued = store.outbox_backlog().await.unwrap();
    assert_eq!(unqueued.unqueued_events, 3);
    assert_eq!(unqueued.pending_deliveries, 0);
    assert_eq!(unqueued.oldest_undelivered_ms, Some(first_ms));
    let now = OffsetDateTime::now_utc();
    assert_eq!(store.fan_out(now, 1000).await.unwrap(), 3);
    let queued = store.outbox_backlog().await.unwrap();
    assert_eq!((queued.unqueued_events, queued.pending_deliveries), (0, 3));
    assert_eq!(queued.oldest_undelivered_ms, Some(first_ms));
    let claimed = store
        .claim_deliveries("w", now, now + Duration::seconds(30), 10)
        .await
        .unwrap();
    for c in &claimed {
        assert!(store.record_attempt(c.delivery.id, "w", &delivered(now)).await.unwrap());
    }
    let done = store.outbox_backlog().await.unwrap();
    assert_eq!((done.unqueued_events, done.pending_deliveries), (0, 0));
    assert_eq!(done.oldest_undelivered_ms, None);
}

async fn a_subscription_changes_in_place_and_keeps_its_position(backend: Backend) {
    let db = roster_testkit::or_skip!(TestDatabase::new(backend).await);
    let store = db.store().await;
    store
        .append_outbox_events(&[event(500, "user.updated", 3)])
        .await
        .unwrap();
    let made = store.insert_subscription(&subscription(4, &[], false)).await.unwrap();
    let changed = Subscription {
        url: "https://example.org/other".into(),
        event_types: vec!["user.deleted".into()],
        secret: "sealed-other".into(),
        required_for_deletion: true,
        description: Some("billing".into()),
        ..made.clone()
    };
    store.update_subscription(&changed).await.unwrap();
    let read = store.get_subscription(4).await.unwrap();
    assert_eq!(read.url, changed.url);
    assert_eq!(read.event_types, changed.event_types);
    assert_eq!(read.secret, changed.secret);
    assert!(read.required_for_deletion);
    assert_eq!(read.description.as_deref(), Some("billing"));
    assert_eq!(
        (read.start_seq, read.fanned_out_seq),
        (made.start_seq, made.fanned_out_seq)
    );
    let missing = Subscription { id: 99, ..changed };
    assert!(matches!(
        store.update_subscription(&missing).await,
        Err(roster_core::store::StoreError::NotFound)
    ));
}

backend_tests!(
    a_subscription_changes_in_place_and_keeps_its_position,
    the_backlog_counts_what_receivers_are_owed,
    racing_claims_take_each_delivery_once_in_order_per_user,
    claims_lapse_replays_reset_and_deletions_wait,
    one_sqlite_instance_holds_the_delivery_lease,
);
