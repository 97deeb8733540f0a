//! Token signing keys (the instance settings are with two-factor authentication).

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

backend_tests!(signing_keys_generation_conflict,);
