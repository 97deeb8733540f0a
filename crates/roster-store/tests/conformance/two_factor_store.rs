//! Two-factor authentication, instance settings and sealed user secrets (migration 0008).

use crate::common::*;

fn two_factor_record(user: UserId, secret: &str) -> roster_core::two_factor::TwoFactorRecord {
    roster_core::two_factor::TwoFactorRecord {
        user_id: user,
        sealed_secret: secret.into(),
        enabled_at: None,
        last_used_step: None,
        created_at: now(),
    }
}

async fn two_factor_enrolment_steps_and_codes(backend: Backend) {
    let f = roster_testkit::or_skip!(fixture(backend).await);
    let user = f.insert(&f.user(Some("tf@example.org"), None)).await;
    let store = &f.store;
    assert_eq!(store.get_two_factor(user.id).await.unwrap(), None);
    let codes = vec!["d1".to_string(), "d2".to_string()];
    assert!(
        store
            .begin_two_factor(&two_factor_record(user.id, "s1"), &codes)
            .await
            .unwrap()
    );
    // Restarting a pending enrolment replaces the secret and the codes.
    let codes = vec!["d3".to_string(), "d4".to_string()];
    assert!(
        store
            .begin_two_factor(&two_factor_record(user.id, "s2"), &codes)
            .await
            .unwrap()
    );
    let pending = store.get_two_factor(user.id).await.unwrap().unwrap();
    assert_eq!(pending.sealed_secret, "s2");
    assert_eq!(pending.enabled_at, None);
    let listed: Vec<String> = store
        .list_backup_codes(user.id)
        .await
        .unwrap()
        .into_iter()
        .map(|c| c.digest)
        .collect();
    assert_eq!(listed, codes);
    // Pending: no step and no backup code is accepted, backup codes cannot be replaced.
    assert!(!store.use_two_factor_step(user.id, 5).await.unwrap());
    assert!(!store.use_backup_code(user.id, "d3", now()).await.unwrap());
    assert!(
        !store
            .replace_backup_codes(user.id, &["x".into()], &NO_JOURNAL)
            .await
            .unwrap()
    );

    let at = now();
    assert!(store.enable_two_factor(user.id, 10, at, &NO_JOURNAL).await.unwrap());
    assert!(
        !store.enable_two_factor(user.id, 11, at, &NO_JOURNAL).await.unwrap(),
        "once"
    );
    let enabled = store.get_two_factor(user.id).await.unwrap().unwrap();
    assert_eq!(enabled.enabled_at, Some(at));
    assert_eq!(enabled.last_used_step, Some(10));
    // Enabled: a new enrolment is refused, writing nothing.
    assert!(
        !store
            .begin_two_factor(&two_factor_record(user.id, "s3"), &[])
            .await
            .unwrap()
    );
    assert_eq!(
        store.get_two_factor(user.id).await.unwrap().unwrap().sealed_secret,
        "s2"
    );
    // Steps only move forward.
    assert!(!store.use_two_factor_step(user.id, 10).await.unwrap());
    assert!(!store.use_two_factor_step(user.id, 9).await.unwrap());
    assert!(store.use_two_factor_step(user.id, 12).await.unwrap());
    assert!(!store.use_two_factor_step(user.id, 11).await.unwrap());
    // Backup codes: once each; replaced together.
    assert!(store.use_backup_code(user.id, "d3", at).await.unwrap());
    assert!(!store.use_backup_code(user.id, "d3", at).await.unwrap());
    assert!(!store.use_backup_code(user.id, "unknown", at).await.unwrap());
    let used = store.list_backup_codes(user.id).await.unwrap();
    assert_eq!(used[0].used_at, Some(at));
    assert_eq!(used[1].used_at, None);
    assert!(
        store
            .replace_backup_codes(user.id, &["d5".into()], &NO_JOURNAL)
            .await
            .unwrap()
    );
    assert_eq!(store.list_backup_codes(user.id).await.unwrap().len(), 1);
    assert!(!store.use_backup_code(user.id, "d4", at).await.unwrap());
    // Another user's codes are not this user's.
    let other = f.insert(&f.user(Some("tf2@example.org"), None)).await;
    assert!(!store.use_backup_code(other.id, "d5", at).await.unwrap());

    // Disabling removes everything; the user's deletion does too.
    assert!(store.delete_two_factor(user.id, &NO_JOURNAL).await.unwrap());
    assert!(!store.delete_two_factor(user.id, &NO_JOURNAL).await.unwrap());
    assert_eq!(store.get_two_factor(user.id).await.unwrap(), None);
    assert!(store.list_backup_codes(user.id).await.unwrap().is_empty());
    assert!(
        store
            .begin_two_factor(&two_factor_record(other.id, "s"), &["o1".into()])
            .await
            .unwrap()
    );
    store.delete_user(other.id, false, &NO_JOURNAL).await.unwrap();
    assert_eq!(store.get_two_factor(other.id).await.unwrap(), None);
    assert!(store.list_backup_codes(other.id).await.unwrap().is_empty());
}

async fn two_factor_challenges_count_attempts_and_expire(backend: Backend) {
    use roster_core::two_factor::TwoFactorChallengeRecord;
    let f = roster_testkit::or_skip!(fixture(backend).await);
    let user = f.insert(&f.user(Some("ch@example.org"), None)).await;
    let store = &f.store;
    let start = now();
    let record = TwoFactorChallengeRecord {
        user_id: user.id,
        created_at: start,
        expires_at: start + Duration::minutes(5),
        attempts: 0,
    };
    store.insert_two_factor_challenge(&record, "c1").await.unwrap();
    for n in 1..=3 {
        let counted = store.attempt_two_factor_challenge("c1", start, 3).await.unwrap();
        assert_eq!(counted.attempts, n);
        assert_eq!(counted.user_id, user.id);
        assert_eq!(counted.expires_at, record.expires_at);
    }
    assert!(matches!(
        store.attempt_two_factor_challenge("c1", start, 3).await,
        Err(StoreError::NotFound)
    ));
    store.insert_two_factor_challenge(&record, "c2").await.unwrap();
    assert!(matches!(
        store
            .attempt_two_factor_challenge("c2", start + Duration::minutes(5), 3)
            .await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        store.attempt_two_factor_challenge("unknown", start, 3).await,
        Err(StoreError::NotFound)
    ));
    // A new challenge removes the user's expired ones.
    let later = TwoFactorChallengeRecord {
        created_at: start + Duration::minutes(6),
        expires_at: start + Duration::minutes(11),
        ..record.clone()
    };
    store.insert_two_factor_challenge(&later, "c3").await.unwrap();
    assert!(
        !store.delete_two_factor_challenge("c2").await.unwrap(),
        "expired, removed"
    );
    assert!(store.delete_two_factor_challenge("c3").await.unwrap());
    assert!(!store.delete_two_factor_challenge("c3").await.unwrap());
}

async fn instance_settings_and_user_secrets(backend: Backend) {
    let f = roster_testkit::or_skip!(fixture(backend).await);
    let store = &f.store;
    assert_eq!(store.get_instance_setting("k").await.unwrap(), None);
    assert_eq!(store.init_instance_setting("k", "first", now()).await.unwrap(), "first");
    assert_eq!(
        store.init_instance_setting("k", "second", now()).await.unwrap(),
        "first"
    );
    assert_eq!(store.get_instance_setting("k").await.unwrap().as_deref(), Some("first"));

    let a = f.insert(&f.user(Some("sa@example.org"), None)).await;
    let b = f.insert(&f.user(Some("sb@example.org"), None)).await;
    store.put_user_secret(a.id, "n", Some("va"), now()).await.unwrap();
    store.put_user_secret(a.id, "n", Some("va2"), now()).await.unwrap();
    store.put_user_secret(b.id, "n", Some("vb"), now()).await.unwrap();
    store.put_user_secret(b.id, "other", Some("x"), now()).await.unwrap();
    assert_eq!(store.get_user_secret(a.id, "n").await.unwrap().as_deref(), Some("va2"));
    let mut listed = store.list_user_secrets(&[a.id, b.id], "n").await.unwrap();
    listed.sort_by_key(|(id, _)| id.0);
    assert_eq!(listed, vec![(a.id, "va2".to_string()), (b.id, "vb".to_string())]);
    assert!(store.list_user_secrets(&[], "n").await.unwrap().is_empty());
    store.put_user_secret(a.id, "n", None, now()).await.unwrap();
    assert_eq!(store.get_user_secret(a.id, "n").await.unwrap(), None);
    assert!(matches!(
        store.put_user_secret(UserId(424242), "n", Some("v"), now()).await,
        Err(StoreError::NotFound)
    ));
    store.delete_user(b.id, false, &NO_JOURNAL).await.unwrap();
    assert!(store.list_user_secrets(&[b.id], "n").await.unwrap().is_empty());

    // A signing key's private part can be replaced (sealed in place).
    let key = SigningKeyRecord::generate(1, now()).unwrap();
    store.insert_signing_key(&key).await.unwrap();
    store
        .update_signing_key_private(&key.kid, b"rsb1.sealed")
        .await
        .unwrap();
    let stored = store.list_signing_keys().await.unwrap();
    assert_eq!(stored[0].private_pkcs8, b"rsb1.sealed");
    assert!(matches!(
        store.update_signing_key_private("nope", b"x").await,
        Err(StoreError::NotFound)
    ));
}

backend_tests!(
    two_factor_enrolment_steps_and_codes,
    two_factor_challenges_count_attempts_and_expire,
    instance_settings_and_user_secrets,
);
