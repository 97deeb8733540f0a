//! Token signing keys, and instance settings set by an administrator (the ones set once are
//! with two-factor authentication).

use crate::common::*;

async fn signing_keys_generation_conflict(backend: Backend) {
    let f = roster_testkit::or_skip!(fixture(backend).await);
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

/// A value set by an administrator replaces the stored one, with its audit entry in the same
/// transaction; `init_instance_setting` never overwrites it.
async fn instance_settings_are_replaced_with_their_journal(backend: Backend) {
    let f = roster_testkit::or_skip!(fixture(backend).await);
    let admin = f.admin("cfg@example.org").await;
    let audited = |action: &'static str| roster_core::journal::AuditQuery {
        action: Some(action.into()),
        limit: 100,
        ..Default::default()
    };
    let journal = |value: &str| {
        roster_core::journal::JournalBuilder::new(&f.ids, now(), Some(admin.id))
            .audit("instance_config.update", None, json!({ "value": value }))
            .build()
    };
    f.store
        .put_instance_setting("config.x", "{\"a\":1}", now(), &journal("1"))
        .await
        .unwrap();
    assert_eq!(
        f.store.get_instance_setting("config.x").await.unwrap().as_deref(),
        Some("{\"a\":1}")
    );
    f.store
        .put_instance_setting("config.x", "{\"a\":2}", now(), &journal("2"))
        .await
        .unwrap();
    assert_eq!(
        f.store.get_instance_setting("config.x").await.unwrap().as_deref(),
        Some("{\"a\":2}")
    );
    assert_eq!(
        f.store.init_instance_setting("config.x", "{}", now()).await.unwrap(),
        "{\"a\":2}"
    );
    assert_eq!(f.store.get_instance_setting("config.y").await.unwrap(), None);
    let entries = f.store.list_audit(&audited("instance_config.update")).await.unwrap();
    assert_eq!(entries.len(), 2);
    assert!(entries.iter().all(|e| e.actor_id == Some(admin.id)));
}

backend_tests!(
    signing_keys_generation_conflict,
    instance_settings_are_replaced_with_their_journal,
);
