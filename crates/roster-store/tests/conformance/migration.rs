//! `roster migrate`: external references, a migrated user written in one transaction.

use crate::common::*;

async fn migrated_user_is_written_whole(backend: Backend) {
    use roster_core::store::{BalanceKind, BalanceTransaction, MigratedBalance, MigratedTwoFactor, MigratedUser};
    use roster_core::two_factor::{BackupCodeRecord, TwoFactorRecord};
    let f = roster_testkit::or_skip!(fixture(backend).await);
    let at = now();
    let user = f.user(Some("mig@example.org"), Some("mig"));
    let key = f.api_key(user.id, "imported");
    let spend = BalanceTransaction {
        id: f.ids.next_id(),
        user_id: user.id,
        kind: BalanceKind::Spend,
        amount: -300,
        created_at: at,
    };
    let migrated = MigratedUser {
        journal: NO_JOURNAL,
        source: "librechat".into(),
        external_id: "65a1".into(),
        user: user.clone(),
        is_new: true,
        keep_an_admin: false,
        fingerprint: Some("f1".into()),
        api_keys: vec![("k1".into(), key.clone(), "mig-digest".into())],
        transactions: vec![("t1".into(), spend.clone())],
        balance: Some(MigratedBalance {
            target: 1000,
            adjustment_id: f.ids.next_id(),
            grant_id: f.ids.next_id(),
            at,
        }),
        two_factor: Some(MigratedTwoFactor {
            enrolment: Some(TwoFactorRecord {
                user_id: user.id,
                sealed_secret: "rsb1.totp".into(),
                enabled_at: Some(at),
                last_used_step: None,
                created_at: at,
            }),
            backup_codes: vec![
                BackupCodeRecord {
                    digest: "sha256:unused".into(),
                    used_at: None,
                },
                BackupCodeRecord {
                    digest: "sha256:used".into(),
                    used_at: Some(at),
                },
            ],
        }),
    };
    let stored = f.store.write_migrated_user(&migrated).await.unwrap();
    let two_factor = f.store.get_two_factor(user.id).await.unwrap().unwrap();
    assert_eq!(
        (two_factor.sealed_secret.as_str(), two_factor.enabled_at.is_some()),
        ("rsb1.totp", true)
    );
    let codes = f.store.list_backup_codes(user.id).await.unwrap();
    assert_eq!(
        codes
            .iter()
            .map(|c| (c.digest.as_str(), c.used_at.is_some()))
            .collect::<Vec<_>>(),
        [("sha256:unused", false), ("sha256:used", true)]
    );
    // The imported codes are usable once.
    assert!(f.store.use_backup_code(user.id, "sha256:unused", at).await.unwrap());
    assert!(!f.store.use_backup_code(user.id, "sha256:unused", at).await.unwrap());
    assert!(!f.store.use_backup_code(user.id, "sha256:used", at).await.unwrap());
    assert_eq!(stored.email.as_deref(), Some("mig@example.org"));
    let refs = f.store.list_external_refs("librechat", "user").await.unwrap();
    assert_eq!(refs.len(), 1);
    assert_eq!(
        (refs[0].local_id, refs[0].fingerprint.as_deref()),
        (user.id.0, Some("f1"))
    );
    assert_eq!(
        f.store.get_api_key_by_digest("mig-digest").await.unwrap().user_id,
        user.id
    );
    // The balance is the target; the start grant is marked taken.
    assert_eq!(f.store.get_balance(user.id).await.unwrap(), (1000, true));
    assert_eq!(
        f.store
            .list_external_refs("librechat", "transaction")
            .await
            .unwrap()
            .len(),
        1
    );

    // Written again as an update: keys and transactions seen before are skipped.
    let again = MigratedUser {
        is_new: false,
        user: stored.clone(),
        api_keys: vec![("k1".into(), f.api_key(user.id, "again"), "other-digest".into())],
        transactions: vec![(
            "t1".into(),
            BalanceTransaction {
                id: f.ids.next_id(),
                ..spend.clone()
            },
        )],
        balance: Some(MigratedBalance {
            target: 1000,
            adjustment_id: f.ids.next_id(),
            grant_id: f.ids.next_id(),
            at,
        }),
        // Codes only: a used code stays used (given unused), a new one is added.
        two_factor: Some(MigratedTwoFactor {
            enrolment: None,
            backup_codes: vec![
                BackupCodeRecord {
                    digest: "sha256:unused".into(),
                    used_at: None,
                },
                BackupCodeRecord {
                    digest: "sha256:new".into(),
                    used_at: None,
                },
            ],
        }),
        ..migrated.clone()
    };
    f.store.write_migrated_user(&again).await.unwrap();
    let codes = f.store.list_backup_codes(user.id).await.unwrap();
    assert_eq!(
        codes
            .iter()
            .map(|c| (c.digest.as_str(), c.used_at.is_some()))
            .collect::<Vec<_>>(),
        [("sha256:new", false), ("sha256:unused", true), ("sha256:used", true)]
    );
    assert_eq!(f.store.get_two_factor(user.id).await.unwrap().unwrap(), two_factor);
    // An enrolment over an enabled one is stale and writes nothing.
    let over = MigratedUser {
        is_new: false,
        user: f.store.get_user(user.id).await.unwrap(),
        api_keys: vec![],
        transactions: vec![],
        balance: None,
        external_id: "65a1-other".into(),
        ..migrated.clone()
    };
    assert!(matches!(
        f.store.write_migrated_user(&over).await,
        Err(StoreError::Stale)
    ));
    assert_eq!(f.store.list_backup_codes(user.id).await.unwrap().len(), 3);
    assert_eq!(f.store.list_external_refs("librechat", "user").await.unwrap().len(), 1);
    assert_eq!(f.store.list_api_keys(user.id).await.unwrap().len(), 1);
    assert_eq!(f.store.get_balance(user.id).await.unwrap(), (1000, true));

    // A conflict writes nothing: no user, no reference, no key, no ledger.
    let twin = f.user(Some("mig@example.org"), None);
    let conflicting = MigratedUser {
        external_id: "65a2".into(),
        user: twin.clone(),
        is_new: true,
        api_keys: vec![("k2".into(), f.api_key(twin.id, "x"), "twin-digest".into())],
        transactions: vec![(
            "t2".into(),
            BalanceTransaction {
                id: f.ids.next_id(),
                user_id: twin.id,
                ..spend
            },
        )],
        ..migrated
    };
    assert_conflict(f.store.write_migrated_user(&conflicting).await, "email");
    assert_eq!(f.store.list_external_refs("librechat", "user").await.unwrap().len(), 1);
    assert_not_found(f.store.get_api_key_by_digest("twin-digest").await);
    assert_eq!(f.store.get_balance(twin.id).await.unwrap(), (0, false));
    assert_eq!(
        f.store
            .list_external_refs("librechat", "transaction")
            .await
            .unwrap()
            .len(),
        1
    );
    // A stale update is refused.
    let stale = MigratedUser {
        is_new: false,
        user: User {
            revision: stored.revision - 1,
            ..stored
        },
        api_keys: vec![],
        transactions: vec![],
        balance: None,
        ..again
    };
    assert!(matches!(
        f.store.write_migrated_user(&stale).await,
        Err(StoreError::Stale)
    ));
}

async fn migrated_groups_and_refs(backend: Backend) {
    use roster_core::store::Group;
    let f = roster_testkit::or_skip!(fixture(backend).await);
    let ann = f.insert(&f.user(Some("ann@example.org"), None)).await;
    let ben = f.insert(&f.user(Some("ben@example.org"), None)).await;
    let at = now();
    let group = Group {
        id: roster_core::GroupId(f.ids.next_id()),
        name: "Researchers".into(),
        description: String::new(),
        permissions: json!({"workspace": {"models": true}}),
        created_by: None,
        created_at: at,
        updated_at: at,
    };
    f.store
        .write_migrated_group("open-webui", "g1", &group, true, &[ann.id])
        .await
        .unwrap();
    let renamed = Group {
        name: "Research".into(),
        ..group.clone()
    };
    f.store
        .write_migrated_group("open-webui", "g1", &renamed, false, &[ann.id, ben.id])
        .await
        .unwrap();
    assert_eq!(f.store.get_group(group.id).await.unwrap().name, "Research");
    assert_eq!(f.store.list_group_members(group.id).await.unwrap().len(), 2);
    let refs = f.store.list_external_refs("open-webui", "group").await.unwrap();
    assert_eq!(refs.len(), 1);
    assert_eq!((refs[0].external_id.as_str(), refs[0].local_id), ("g1", group.id.0));
    assert!(
        f.store
            .list_external_refs("langflow", "group")
            .await
            .unwrap()
            .is_empty()
    );
    // An update of a group that is gone writes nothing.
    let missing = Group {
        id: roster_core::GroupId(f.ids.next_id()),
        ..group
    };
    assert_not_found(
        f.store
            .write_migrated_group("open-webui", "g2", &missing, false, &[ann.id])
            .await,
    );
    assert_eq!(
        f.store.list_external_refs("open-webui", "group").await.unwrap().len(),
        1
    );
}

backend_tests!(migrated_user_is_written_whole, migrated_groups_and_refs,);
