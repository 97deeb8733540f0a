//! SCIM push targets and their delivery log (migration 0036): a taken name, fan-out of user
//! events to every target and of group events to targets that push groups only, claims in
//! order per (target, subject), attempts, replay of another target's delivery refused, and
//! removal with the log.

use crate::common::*;
use roster_core::GroupId;
use roster_core::journal::OutboxEvent;
use roster_core::store::{ClaimedScimDelivery, ScimTarget};
use roster_core::webhooks::{AttemptRecord, DeliveryQuery, DeliveryStatus};

fn target(id: i64, name: &str, push_groups: bool) -> ScimTarget {
    ScimTarget {
        id,
        name: name.into(),
        url: "http://127.0.0.1:9/api/v1/scim/v2".into(),
        token: "sealed".into(),
        push_groups,
        deactivate_on_delete: false,
        created_by: None,
        created_at: now(),
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
        occurred_at: now(),
        payload: json!({}),
    }
}

const USERS: &[&str] = &["user.created", "user.updated"];
const GROUPS: &[&str] = &["group.created"];

/// Adds a target (no journal); the target as stored.
async fn add_target(store: &dyn Store, target: &ScimTarget) -> ScimTarget {
    store.insert_scim_target(target, &NO_JOURNAL).await.unwrap()
}

/// Appends `events` and fans them out now (`users` and `groups`: the event types pushed);
/// the time, and the deliveries queued.
async fn queue(store: &dyn Store, events: &[OutboxEvent], users: &[&str], groups: &[&str]) -> (OffsetDateTime, u64) {
    store.append_outbox_events(events).await.unwrap();
    let t = now();
    (t, store.fan_out_scim(t, users, groups).await.unwrap())
}

/// What `worker` claims at `t` (ten at most, for thirty seconds).
async fn claim(store: &dyn Store, worker: &str, t: OffsetDateTime) -> Vec<ClaimedScimDelivery> {
    store
        .claim_scim_deliveries(worker, t, t + Duration::seconds(30), 10)
        .await
        .unwrap()
}

/// The claimed deliveries' event ids, sorted.
fn ids(claimed: &[ClaimedScimDelivery]) -> Vec<i64> {
    let mut ids: Vec<i64> = claimed.iter().map(|c| c.event.id).collect();
    ids.sort();
    ids
}

/// An attempt at `t` that ended as `status`.
fn attempt(status: DeliveryStatus, t: OffsetDateTime, status_code: i64, error: Option<&str>) -> AttemptRecord {
    AttemptRecord {
        status,
        attempted_at: t,
        status_code: Some(status_code),
        error: error.map(str::to_string),
        next_attempt_at: t,
    }
}

async fn scim_targets_fan_out_claim_in_order_and_replay(backend: Backend) {
    let f = roster_testkit::or_skip!(fixture(backend).await);
    let store = &*f.store;
    store
        .append_outbox_events(&[event(1, "user.created", 100)])
        .await
        .unwrap();
    let users_only = add_target(store, &target(1, "a", false)).await;
    assert!(users_only.start_seq >= 1, "starts after the events already there");
    add_target(store, &target(2, "b", true)).await;
    assert!(matches!(
        store.insert_scim_target(&target(3, "a", true), &NO_JOURNAL).await,
        Err(StoreError::Conflict { field: "name" })
    ));
    let names: Vec<String> = store
        .list_scim_targets()
        .await
        .unwrap()
        .into_iter()
        .map(|t| t.name)
        .collect();
    assert_eq!(names, ["a", "b"]);
    let events = [
        event(2, "user.created", 200),
        event(3, "user.updated", 200),
        event(4, "group.created", 300),
        event(5, "session.revoked", 200),
    ];
    let (t, queued) = queue(store, &events, USERS, GROUPS).await;
    assert_eq!(queued, 5);
    assert_eq!(store.fan_out_scim(t, USERS, GROUPS).await.unwrap(), 0, "queued once");
    // The first of each (target, subject) only: user 200's update waits for its creation.
    let claimed = claim(store, "w1", t).await;
    let mut got: Vec<(i64, i64)> = claimed.iter().map(|c| (c.target.id, c.event.id)).collect();
    got.sort();
    assert_eq!(got, [(1, 2), (2, 2), (2, 4)]);
    assert!(claim(store, "w2", t).await.is_empty());
    let first = claimed.iter().find(|c| c.target.id == 1).unwrap();
    assert_eq!(first.target.name, "a");
    let record = attempt(DeliveryStatus::Failed, t, 403, Some("HTTP 403"));
    assert!(
        !store
            .record_scim_attempt(first.delivery.id, "w2", &record)
            .await
            .unwrap()
    );
    assert!(
        store
            .record_scim_attempt(first.delivery.id, "w1", &record)
            .await
            .unwrap()
    );
    // Failed: the next one of that user goes on.
    assert_eq!(ids(&claim(store, "w1", t).await), [3]);
    let failed = store
        .list_scim_deliveries(&DeliveryQuery {
            subscription_id: Some(1),
            status: Some(DeliveryStatus::Failed),
            limit: 10,
            ..DeliveryQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0].last_status_code, Some(403));
    assert!(matches!(
        store.replay_scim_delivery(2, failed[0].id, t).await,
        Err(StoreError::NotFound)
    ));
    let replayed = store.replay_scim_delivery(1, failed[0].id, t).await.unwrap();
    assert_eq!(replayed.status, DeliveryStatus::Pending);
    assert_eq!(replayed.attempts, 0);
    store.delete_scim_target(1, &NO_JOURNAL).await.unwrap();
    assert!(matches!(
        store.delete_scim_target(1, &NO_JOURNAL).await,
        Err(StoreError::NotFound)
    ));
    let left = store
        .list_scim_deliveries(&DeliveryQuery {
            limit: 10,
            ..DeliveryQuery::default()
        })
        .await
        .unwrap();
    assert!(left.iter().all(|d| d.subscription_id == 2), "{left:?}");
}

fn group_event(id: i64, event_type: &str, subject: i64, group: i64) -> OutboxEvent {
    OutboxEvent {
        payload: json!({ "group_id": group.to_string() }),
        ..event(id, event_type, subject)
    }
}

/// A membership push waits for the earlier pushes of its user and of its group, so pushes
/// that touch one group go one at a time, in commit order; the target's id of a group is
/// kept only under the claim of the delivery that found or made it.
async fn scim_group_pushes_go_one_at_a_time_and_keep_the_target_id(backend: Backend) {
    let f = roster_testkit::or_skip!(fixture(backend).await);
    let store = &*f.store;
    add_target(store, &target(11, "g", true)).await;
    let (group, alice, bob, carol) = (900, 901, 902, 903);
    let events = [
        group_event(21, "group.created", group, group),
        group_event(22, "group.member_added", alice, group),
        group_event(23, "group.member_added", bob, group),
        event(24, "user.created", carol),
        group_event(25, "group.renamed", group, group),
    ];
    let users: &[&str] = &["user.created"];
    let groups: &[&str] = &["group.created", "group.member_added", "group.renamed"];
    let (t, queued) = queue(store, &events, users, groups).await;
    assert_eq!(queued, 5);
    // The group's creation and Carol's: the memberships wait for the group.
    let first = claim(store, "w1", t).await;
    assert_eq!(ids(&first), [21, 24]);
    assert!(claim(store, "w2", t).await.is_empty());
    let created = first.iter().find(|c| c.event.id == 21).unwrap();
    // Kept under the claim only.
    assert!(
        !store
            .put_scim_target_group(11, GroupId(group), "remote-1", created.delivery.id, "w2")
            .await
            .unwrap()
    );
    assert_eq!(store.get_scim_target_group(11, GroupId(group)).await.unwrap(), None);
    assert!(
        store
            .put_scim_target_group(11, GroupId(group), "remote-1", created.delivery.id, "w1")
            .await
            .unwrap()
    );
    assert_eq!(
        store
            .get_scim_target_group(11, GroupId(group))
            .await
            .unwrap()
            .as_deref(),
        Some("remote-1")
    );
    let delivered = attempt(DeliveryStatus::Delivered, t, 201, None);
    for c in &first {
        assert!(
            store
                .record_scim_attempt(c.delivery.id, "w1", &delivered)
                .await
                .unwrap()
        );
    }
    // One membership at a time, then the rename.
    for expected in [22, 23, 25] {
        let next = claim(store, "w1", t).await;
        assert_eq!(ids(&next), [expected]);
        assert!(claim(store, "w2", t).await.is_empty());
        assert!(
            store
                .record_scim_attempt(next[0].delivery.id, "w1", &delivered)
                .await
                .unwrap()
        );
    }
    assert!(claim(store, "w1", t).await.is_empty());
    store.forget_scim_target_group(11, GroupId(group)).await.unwrap();
    assert_eq!(store.get_scim_target_group(11, GroupId(group)).await.unwrap(), None);
}

backend_tests!(
    scim_targets_fan_out_claim_in_order_and_replay,
    scim_group_pushes_go_one_at_a_time_and_keep_the_target_id
);
