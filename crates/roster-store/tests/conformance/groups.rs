//! Groups and permission templates.

use crate::common::*;

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
    let f = roster_testkit::or_skip!(fixture(backend).await);
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
    let f = roster_testkit::or_skip!(fixture(backend).await);
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

async fn permission_templates_round_trip(backend: Backend) {
    let f = roster_testkit::or_skip!(fixture(backend).await);
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

// -- Groups with their members, at once. ----------------------------------------------------

async fn members_of_many_groups(backend: Backend) {
    let f = roster_testkit::or_skip!(fixture(backend).await);
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

async fn groups_of_many_users(backend: Backend) {
    let f = roster_testkit::or_skip!(fixture(backend).await);
    let u1 = f.insert(&f.user(Some("gu1@example.org"), None)).await;
    let lonely = f.insert(&f.user(Some("gu2@example.org"), None)).await;
    // Ids that name no user, enough to put the last user in a second `IN (...)` chunk.
    let ghosts: Vec<_> = (0..1200).map(|_| roster_core::UserId(f.ids.next_id())).collect();
    let u3 = f.insert(&f.user(Some("gu3@example.org"), None)).await;
    // Inserted in an order that is neither name nor id order.
    let (zeta, alpha, beta) = (
        group(&f, "zeta", json!({})),
        group(&f, "alpha", json!({})),
        group(&f, "beta", json!({"chat": {"edit": true}})),
    );
    for x in [&zeta, &alpha, &beta] {
        f.store.insert_group(x, &NO_JOURNAL).await.unwrap();
    }
    f.store
        .add_group_members(zeta.id, &[u1.id, u3.id], now(), &NO_JOURNAL)
        .await
        .unwrap();
    f.store
        .add_group_members(alpha.id, &[u1.id], now(), &NO_JOURNAL)
        .await
        .unwrap();
    f.store
        .add_group_members(beta.id, &[u3.id, u1.id], now(), &NO_JOURNAL)
        .await
        .unwrap();

    let mut asked = vec![u3.id, lonely.id];
    asked.extend(&ghosts);
    asked.extend([u1.id, u3.id]);
    let pairs = f.store.list_groups_of_users(&asked).await.unwrap();
    let mut expected = Vec::new();
    for user in [u1.id, u3.id] {
        for g in f.store.list_groups_of_user(user).await.unwrap() {
            expected.push((user, g));
        }
    }
    assert_eq!(pairs, expected);
    let names: Vec<_> = pairs.iter().map(|(u, g)| (*u, g.name.as_str())).collect();
    assert_eq!(
        names,
        [
            (u1.id, "alpha"),
            (u1.id, "beta"),
            (u1.id, "zeta"),
            (u3.id, "beta"),
            (u3.id, "zeta")
        ]
    );
    assert_eq!(pairs[1].1, beta);
    assert!(f.store.list_groups_of_users(&[]).await.unwrap().is_empty());
    assert!(f.store.list_groups_of_users(&[lonely.id]).await.unwrap().is_empty());
}

async fn group_and_members_written_at_once(backend: Backend) {
    use roster_core::journal::{AuditQuery, JournalBuilder};
    let f = roster_testkit::or_skip!(fixture(backend).await);
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

backend_tests!(
    groups_round_trip,
    group_membership,
    members_of_many_groups,
    groups_of_many_users,
    group_and_members_written_at_once,
    permission_templates_round_trip,
);
