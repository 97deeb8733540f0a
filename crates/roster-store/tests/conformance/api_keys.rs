//! API keys.

use crate::common::*;

async fn api_keys_round_trip(backend: Backend) {
    let f = roster_testkit::or_skip!(fixture(backend).await);
    let ann = f.insert(&f.user(Some("ann@example.org"), None)).await;
    let ben = f.insert(&f.user(Some("ben@example.org"), None)).await;
    let mut keys = Vec::new();
    for i in 0..3 {
        let mut key = f.api_key(ann.id, &format!("key{i}"));
        if i == 1 {
            key.expires_at = Some(now() + Duration::days(7));
            key.scopes = vec![];
        }
        f.store
            .insert_api_key(&key, &format!("digest{i}"), &NO_JOURNAL)
            .await
            .unwrap();
        keys.push(key);
    }
    let ben_key = f.api_key(ben.id, "bens");
    f.store
        .insert_api_key(&ben_key, "ben-digest", &NO_JOURNAL)
        .await
        .unwrap();

    assert_eq!(f.store.get_api_key_by_digest("digest1").await.unwrap(), keys[1]);
    assert_not_found(f.store.get_api_key_by_digest("nope").await);
    let listed = f.store.list_api_keys(ann.id).await.unwrap();
    assert_eq!(listed, keys.iter().rev().cloned().collect::<Vec<_>>());

    let used = now() + Duration::minutes(1);
    f.store.touch_api_key(keys[0].id, used).await.unwrap();
    assert_eq!(
        f.store.get_api_key_by_digest("digest0").await.unwrap().last_used_at,
        Some(used)
    );
    assert_not_found(f.store.touch_api_key(ApiKeyId(5), used).await);

    assert_not_found(f.store.delete_api_key(ann.id, ben_key.id, &NO_JOURNAL).await);
    assert!(f.store.get_api_key_by_digest("ben-digest").await.is_ok());
    f.store.delete_api_key(ann.id, keys[0].id, &NO_JOURNAL).await.unwrap();
    assert_not_found(f.store.delete_api_key(ann.id, keys[0].id, &NO_JOURNAL).await);
    assert_not_found(f.store.get_api_key_by_digest("digest0").await);
    assert_eq!(f.store.list_api_keys(ann.id).await.unwrap().len(), 2);
    // A digest is unique.
    let duplicate = f.api_key(ann.id, "dup");
    assert!(matches!(
        f.store.insert_api_key(&duplicate, "digest1", &NO_JOURNAL).await,
        Err(StoreError::Conflict { .. })
    ));
}

backend_tests!(api_keys_round_trip,);
