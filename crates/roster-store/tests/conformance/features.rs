//! Users' synced settings and tiers (migration 0018), on both backends: the limit on the
//! number of settings, all-or-nothing writes with their journal, the seeded tiers, one
//! default, deleting a tier, assignments.

use crate::common::*;
use roster_core::journal::{AuditQuery, JournalBuilder};
use roster_core::tier::{TierAssignment, TierLimits};

fn journal(f: &Fixture, action: &str, target: Option<UserId>) -> Journal {
    JournalBuilder::new(&f.ids, now(), None)
        .audit(action, target, json!({}))
        .build()
}

async fn actions(f: &Fixture) -> Vec<String> {
    let mut entries = f
        .store
        .list_audit(&AuditQuery {
            limit: 1000,
            ..AuditQuery::default()
        })
        .await
        .unwrap();
    entries.reverse();
    entries.into_iter().map(|e| e.action).collect()
}

fn pairs(items: &[(&str, &str)]) -> Vec<(String, String)> {
    items.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

async fn settings_are_kept_per_user_within_the_limit(backend: Backend) {
    let f = roster_testkit::or_skip!(fixture(backend).await);
    let ann = f.insert(&f.user(Some("ann@example.org"), None)).await;
    let bob = f.insert(&f.user(Some("bob@example.org"), None)).await;
    let t = now();
    let stored = f
        .store
        .put_user_settings(
            ann.id,
            &pairs(&[("theme", "dark"), ("locale", "en-US")]),
            3,
            t,
            &journal(&f, "put", Some(ann.id)),
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        stored.iter().map(|s| s.key.as_str()).collect::<Vec<_>>(),
        ["theme", "locale"]
    );
    assert_eq!((stored[0].created_at, stored[0].updated_at), (t, t));
    // Another user's settings are their own.
    assert!(f.store.list_user_settings(bob.id).await.unwrap().is_empty());
    assert_eq!(f.store.get_user_setting(bob.id, "theme").await.unwrap(), None);

    // An update keeps created_at; a new key within the limit is added.
    let t2 = t + Duration::seconds(5);
    let again = f
        .store
        .put_user_settings(
            ann.id,
            &pairs(&[("theme", "light"), ("tz", "UTC")]),
            3,
            t2,
            &journal(&f, "put", Some(ann.id)),
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (again[0].value.as_str(), again[0].created_at, again[0].updated_at),
        ("light", t, t2)
    );
    let all = f.store.list_user_settings(ann.id).await.unwrap();
    assert_eq!(
        all.iter()
            .map(|s| (s.key.as_str(), s.value.as_str()))
            .collect::<Vec<_>>(),
        [("locale", "en-US"), ("theme", "light"), ("tz", "UTC")]
    );
    // At the limit: updating existing keys still works, a new key is refused, and a batch with
    // one new key writes nothing at all (nor its journal).
    let before = actions(&f).await.len();
    assert!(
        f.store
            .put_user_settings(
                ann.id,
                &pairs(&[("theme", "x"), ("new", "y")]),
                3,
                t2,
                &journal(&f, "put", Some(ann.id))
            )
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(
        f.store.get_user_setting(ann.id, "theme").await.unwrap().unwrap().value,
        "light"
    );
    assert_eq!(actions(&f).await.len(), before);
    assert!(
        f.store
            .put_user_settings(
                ann.id,
                &pairs(&[("theme", "dim")]),
                3,
                t2,
                &journal(&f, "put", Some(ann.id))
            )
            .await
            .unwrap()
            .is_some()
    );

    // Delete: true once, then false (and no journal).
    assert!(
        f.store
            .delete_user_setting(ann.id, "tz", &journal(&f, "delete", Some(ann.id)))
            .await
            .unwrap()
    );
    assert!(
        !f.store
            .delete_user_setting(ann.id, "tz", &journal(&f, "delete", Some(ann.id)))
            .await
            .unwrap()
    );
    assert_eq!(actions(&f).await, ["put", "put", "put", "delete"]);

    // NUL is refused by name, an unknown user is NotFound; the settings go with their user.
    assert!(matches!(
        f.store
            .put_user_settings(ann.id, &pairs(&[("k", "a\0b")]), 100, t, &NO_JOURNAL)
            .await,
        Err(StoreError::InvalidText { field: "value" })
    ));
    assert_not_found(
        f.store
            .put_user_settings(UserId(42), &pairs(&[("k", "v")]), 100, t, &NO_JOURNAL)
            .await,
    );
    f.store.delete_user(ann.id, false, &NO_JOURNAL).await.unwrap();
    assert!(f.store.list_user_settings(ann.id).await.unwrap().is_empty());
}

fn limits(items: &[(&str, i64)]) -> TierLimits {
    items.iter().map(|(k, v)| (k.to_string(), (*v).into())).collect()
}

async fn tiers_have_one_default(backend: Backend) {
    let f = roster_testkit::or_skip!(fixture(backend).await);
    // The migration seeds Plexichat's tiers, `standard` the default.
    let tiers = f.store.list_tiers().await.unwrap();
    assert_eq!(
        tiers
            .iter()
            .map(|t| (t.name.as_str(), t.is_default))
            .collect::<Vec<_>>(),
        [("alpha", false), ("premium", false), ("standard", true)]
    );
    let premium = f.store.get_tier("premium").await.unwrap().unwrap();
    assert_eq!(premium.limits["max_voice_minutes_per_day"], (-1).into());
    assert_eq!(premium.limits["multiplier"].as_f64(), Some(3.0));
    assert_eq!(premium.limits.len(), 10);

    // A new tier is not the default; making it the default moves the flag.
    let t = now();
    let gold = f
        .store
        .put_tier(
            "gold",
            Some(&limits(&[("max_servers", 900)])),
            false,
            t,
            &journal(&f, "tier.put", None),
        )
        .await
        .unwrap();
    assert_eq!((gold.is_default, gold.created_at), (false, t));
    assert_eq!(gold.limits, limits(&[("max_servers", 900)]));
    let gold = f
        .store
        .put_tier(
            "gold",
            None,
            true,
            t + Duration::seconds(1),
            &journal(&f, "tier.put", None),
        )
        .await
        .unwrap();
    assert!(gold.is_default);
    assert_eq!(gold.limits, limits(&[("max_servers", 900)]), "None keeps the limits");
    assert_eq!(f.store.default_tier().await.unwrap().unwrap().name, "gold");
    assert!(!f.store.get_tier("standard").await.unwrap().unwrap().is_default);
    assert_not_found(f.store.put_tier("nope", None, false, t, &NO_JOURNAL).await);

    // The default cannot be deleted; another tier can, and its assignments go with it.
    assert!(matches!(
        f.store.delete_tier("gold", &NO_JOURNAL).await,
        Err(StoreError::Conflict { field: "default" })
    ));
    let ann = f.insert(&f.user(Some("ann@example.org"), None)).await;
    let assignment = TierAssignment {
        user_id: ann.id,
        tier: "premium".into(),
        expires_at: Some(t + Duration::days(30)),
        granted_by: Some(UserId(7)),
        granted_at: t,
        notes: Some("beta".into()),
    };
    assert!(
        f.store
            .put_tier_assignment(&assignment, &journal(&f, "user.tier_set", Some(ann.id)))
            .await
            .unwrap()
    );
    assert_eq!(
        f.store.get_tier_assignment(ann.id).await.unwrap(),
        Some(assignment.clone())
    );
    assert!(
        f.store
            .delete_tier("premium", &journal(&f, "tier.delete", None))
            .await
            .unwrap()
    );
    assert!(
        !f.store
            .delete_tier("premium", &journal(&f, "tier.delete", None))
            .await
            .unwrap()
    );
    assert_eq!(f.store.get_tier_assignment(ann.id).await.unwrap(), None);
    assert_eq!(
        actions(&f).await,
        ["tier.put", "tier.put", "user.tier_set", "tier.delete"]
    );
}

async fn tier_assignments_are_replaced_and_removed(backend: Backend) {
    let f = roster_testkit::or_skip!(fixture(backend).await);
    let ann = f.insert(&f.user(Some("ann@example.org"), None)).await;
    let t = now();
    let mut assignment = TierAssignment {
        user_id: ann.id,
        tier: "alpha".into(),
        expires_at: None,
        granted_by: None,
        granted_at: t,
        notes: None,
    };
    assert_eq!(f.store.get_tier_assignment(ann.id).await.unwrap(), None);
    assert!(f.store.put_tier_assignment(&assignment, &NO_JOURNAL).await.unwrap());
    assignment.tier = "premium".into();
    assignment.expires_at = Some(t + Duration::hours(1));
    assert!(f.store.put_tier_assignment(&assignment, &NO_JOURNAL).await.unwrap());
    assert_eq!(
        f.store.get_tier_assignment(ann.id).await.unwrap(),
        Some(assignment.clone())
    );
    // An unknown tier writes nothing (nor the journal); an unknown user is NotFound.
    let unknown = TierAssignment {
        tier: "diamond".into(),
        ..assignment.clone()
    };
    assert!(
        !f.store
            .put_tier_assignment(&unknown, &journal(&f, "x", None))
            .await
            .unwrap()
    );
    assert_eq!(
        f.store.get_tier_assignment(ann.id).await.unwrap(),
        Some(assignment.clone())
    );
    assert_not_found(
        f.store
            .put_tier_assignment(
                &TierAssignment {
                    user_id: UserId(42),
                    ..assignment.clone()
                },
                &NO_JOURNAL,
            )
            .await,
    );
    assert!(
        f.store
            .delete_tier_assignment(ann.id, &journal(&f, "clear", Some(ann.id)))
            .await
            .unwrap()
    );
    assert!(
        !f.store
            .delete_tier_assignment(ann.id, &journal(&f, "clear", Some(ann.id)))
            .await
            .unwrap()
    );
    assert_eq!(actions(&f).await, ["clear"]);
    // The assignment goes with its user.
    assert!(f.store.put_tier_assignment(&assignment, &NO_JOURNAL).await.unwrap());
    f.store.delete_user(ann.id, false, &NO_JOURNAL).await.unwrap();
    assert_eq!(f.store.get_tier_assignment(ann.id).await.unwrap(), None);
}

backend_tests!(
    settings_are_kept_per_user_within_the_limit,
    tiers_have_one_default,
    tier_assignments_are_replaced_and_removed,
);
