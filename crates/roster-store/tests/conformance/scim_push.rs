//! SCIM push targets and their delivery log (migration 0036): a taken name, fan-out of user
//! events to every target and of group events to targets that push groups only, claims in
//! order per (target, subject), attempts, replay of another target's delivery refused, and
//! removal with the log.

use crate::common::*;
use roster_core::GroupId;
use roster_core::journal::OutboxEvent;
use roster_core::store::ScimTarget;
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

async fn scim_targets_fan_out_claim_in_order_and_replay(backend: Backend) {
    let f = roster_testkit::or_skip!(fixture(backend).await);
    let store = &f.store;
    store
        .append_outbox_events(&[event(1, "user.created", 100)])
        .await
        .unwrap();
    let users_only = store
        .insert_scim_target(&target(1, "a", false), &NO_JOURNAL)
        .await
        .unwrap();
    assert!(users_only.start_seq >= 1, "starts after the events already there");
    store
        .insert_scim_target(&target(2, "b", true), &NO_JOURNAL)
        .await
        .unwrap();
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
    store
        .append_outbox_events(&[
            event(2, "user.created", 200),
            event(3, "user.updated", 200),
            event(4, "group.created", 300),
            event(5, "session.revoked", 200),
        ])
        .await
        .unwrap();
    let t = now();
    assert_eq!(store.fan_out_scim(t, USERS, GROUPS).await.unwrap(), 5);
    assert_eq!(store.fan_out_scim(t, USERS, GROUPS).await.unwrap(), 0, "queued once");
    // The first of each (target, subject) only: user 200's update waits for its creation.
    let lease = t + Duration::seconds(30);
    let claimed = store.claim_scim_deliveries("w1", t, lease, 10).await.unwrap();
    let mut got: Vec<(i64, i64)> = claimed.iter().map(|c| (c.target.id, c.event.id)).collect();
    got.sort();
    assert_eq!(got, [(1, 2), (2, 2), (2, 4)]);
    assert!(
        store
            .claim_scim_deliveries("w2", t, lease, 10)
            .await
            .unwrap()
            .is_empty()
    );
    let first = claimed.iter().find(|c| c.target.id == 1).unwrap();
    assert_eq!(first.target.name, "a");
    let record = AttemptRecord {
        status: DeliveryStatus::Failed,
        attempted_at: t,
        status_code: Some(403),
        error: Some("HTTP 403".into()),
        next_attempt_at: t,
    };
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
    let next = store.claim_scim_deliveries("w1", t, lease, 10).await.unwrap();
    assert_eq!(next.iter().map(|c| c.event.id).collect::<Vec<_>>(), [3]);
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
    let store = &f.store;
    store
        .insert_scim_target(&target(11, "g", true), &NO_JOURNAL)
        .await
        .unwrap();
    let (group, alice, bob, carol) = (900, 901, 902, 903);
    store
        .append_outbox_events(&[
            group_event(21, "group.created", group, group),
            group_event(22, "group.member_added", alice, group),
            group_event(23, "group.member_added", bob, group),
            event(24, "user.created", carol),
            group_event(25, "group.renamed", group, group),
        ])
        .await
        .unwrap();
    let t = now();
    let users: &[&str] = &["user.created"];
    let groups: &[&str] = &["group.created", "group.member_added", "group.renamed"];
    assert_eq!(store.fan_out_scim(t, users, groups).await.unwrap(), 5);
    let lease = t + Duration::seconds(30);
    fn ids(claimed: &[roster_core::store::ClaimedScimDelivery]) -> Vec<i64> {
        let mut ids: Vec<i64> = claimed.iter().map(|c| c.event.id).collect();
        ids.sort();
        ids
    }
    // The group's creation and Carol's: the memberships wait for the group.
    let first = store.claim_scim_deliveries("w1", t, lease, 10).await.unwrap();
    assert_eq!(ids(&first), [21, 24]);
    assert!(
        store
            .claim_scim_deliveries("w2", t, lease, 10)
            .await
            .unwrap()
            .is_empty()
    );
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
    let delivered = AttemptRecord {
        status: DeliveryStatus::Delivered,
        attempted_at: t,
        status_code: Some(201),
        error: None,
        next_attempt_at: t,
    };
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
        let next = store.claim_scim_deliveries("w1", t, lease, 10).await.unwrap();
        assert_eq!(ids(&next), [expected]);
        assert!(
            store
                .claim_scim_deliveries("w2", t, lease, 10)
                .await
                .unwrap()
                .is_empty()
        );
        assert!(
            store
                .record_scim_attempt(next[0].delivery.id, "w1", &delivered)
                .await
                .unwrap()
        );
    }
    assert!(
        store
            .claim_scim_deliveries("w1", t, lease, 10)
            .await
            .unwrap()
            .is_empty()
    );
    store.forget_scim_target_group(11, GroupId(group)).await.unwrap();
    assert_eq!(store.get_scim_target_group(11, GroupId(group)).await.unwrap(), None);
}

backend_tests!(
    scim_targets_fan_out_claim_in_order_and_replay,
    scim_group_pushes_go_one_at_a_time_and_keep_the_target_id
);
