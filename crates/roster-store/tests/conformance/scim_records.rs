//! SCIM records of users and groups (migration 0035).

use crate::common::*;
use roster_core::store::{ScimKind, ScimRecord};

fn record(id: i64, external: Option<&str>, attributes: serde_json::Value) -> ScimRecord {
    ScimRecord {
        local_id: id,
        external_id: external.map(str::to_string),
        attributes,
        updated_at: at_ms(ms(now())),
    }
}

async fn scim_records_round_trip_and_go_with_their_owner(backend: Backend) {
    let f = roster_testkit::or_skip!(fixture(backend).await);
    let a = f.insert(&f.user(Some("scim-a@example.org"), None)).await;
    let b = f.insert(&f.user(Some("scim-b@example.org"), None)).await;
    let first = record(
        a.id.0,
        Some("Ext-A"),
        json!({"title": "Lead", "name": {"givenName": "A"}}),
    );
    f.store
        .put_scim_record(ScimKind::User, &first, first.updated_at, &NO_JOURNAL)
        .await
        .unwrap();
    let other = record(b.id.0, Some("ext-b"), json!({}));
    f.store
        .put_scim_record(ScimKind::User, &other, other.updated_at, &NO_JOURNAL)
        .await
        .unwrap();
    let got = f
        .store
        .get_scim_records(ScimKind::User, &[b.id.0, a.id.0, 42])
        .await
        .unwrap();
    let mut expected = vec![first.clone(), other.clone()];
    expected.sort_by_key(|r| r.local_id);
    assert_eq!(got, expected, "in id order, the unknown id left out");
    // externalId is exact, with case
    assert_eq!(
        f.store.find_scim_external_id(ScimKind::User, "Ext-A").await.unwrap(),
        vec![a.id.0]
    );
    assert!(
        f.store
            .find_scim_external_id(ScimKind::User, "ext-a")
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        f.store
            .find_scim_external_id(ScimKind::Group, "Ext-A")
            .await
            .unwrap()
            .is_empty()
    );
    // a second write replaces
    let later = at_ms(ms(now()) + 1000);
    let mut replaced = record(a.id.0, None, json!({"title": "Boss"}));
    replaced.updated_at = later;
    f.store
        .put_scim_record(ScimKind::User, &replaced, later, &NO_JOURNAL)
        .await
        .unwrap();
    assert_eq!(
        f.store.get_scim_records(ScimKind::User, &[a.id.0]).await.unwrap(),
        vec![replaced]
    );
    // no owner: NotFound, nothing written
    assert_not_found(
        f.store
            .put_scim_record(ScimKind::Group, &record(a.id.0, None, json!({})), now(), &NO_JOURNAL)
            .await,
    );
    assert!(
        f.store
            .get_scim_records(ScimKind::Group, &[a.id.0])
            .await
            .unwrap()
            .is_empty()
    );
    // the record goes with its user
    f.store.delete_user(b.id, false, &NO_JOURNAL).await.unwrap();
    assert!(
        f.store
            .get_scim_records(ScimKind::User, &[b.id.0])
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        f.store
            .find_scim_external_id(ScimKind::User, "ext-b")
            .await
            .unwrap()
            .is_empty()
    );
}

/// A record in a change's journal is written in the change's transaction: with a user
/// created or updated, and, when its owner does not exist, the whole change is refused.
async fn scim_records_in_a_journal_go_with_the_change(backend: Backend) {
    let f = roster_testkit::or_skip!(fixture(backend).await);
    let user = f.user(Some("scim-j@example.org"), None);
    let journal = |id: i64, external: &str| Journal {
        scim_records: vec![(ScimKind::User, record(id, Some(external), json!({"title": "T"})))],
        ..Journal::default()
    };
    let stored = f
        .store
        .insert_user(&user, false, &journal(user.id.0, "ext-1"))
        .await
        .unwrap();
    let got = f.store.get_scim_records(ScimKind::User, &[user.id.0]).await.unwrap();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].external_id.as_deref(), Some("ext-1"));
    // The record of a user that does not exist: the update is refused and rolled back.
    let renamed = User {
        name: Some("Renamed".into()),
        ..stored.clone()
    };
    let refused = f.store.update_user(&renamed, false, &journal(42, "ext-2")).await;
    assert!(matches!(refused, Err(StoreError::NotFound)), "{refused:?}");
    assert_eq!(f.store.get_user(user.id).await.unwrap().name, stored.name);
    assert!(
        f.store
            .get_scim_records(ScimKind::User, &[42])
            .await
            .unwrap()
            .is_empty()
    );
    // With its own user: both written.
    f.store
        .update_user(&renamed, false, &journal(user.id.0, "ext-2"))
        .await
        .unwrap();
    assert_eq!(
        f.store.get_user(user.id).await.unwrap().name.as_deref(),
        Some("Renamed")
    );
    let got = f.store.get_scim_records(ScimKind::User, &[user.id.0]).await.unwrap();
    assert_eq!(got[0].external_id.as_deref(), Some("ext-2"));
}

backend_tests!(
    scim_records_round_trip_and_go_with_their_owner,
    scim_records_in_a_journal_go_with_the_change
);
