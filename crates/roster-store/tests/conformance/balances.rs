//! The credit ledger.

use crate::common::*;

async fn balance_ledger_sums_and_grants_once(backend: Backend) {
    use roster_core::store::{BalanceKind, BalanceTransaction};
    let f = roster_testkit::or_skip!(fixture(backend).await);
    let user = f.insert(&f.user(Some("b@example.org"), None)).await;
    let tx = |kind, amount| BalanceTransaction {
        id: f.ids.next_id(),
        user_id: user.id,
        kind,
        amount,
        created_at: now(),
    };
    assert_eq!(f.store.get_balance(user.id).await.unwrap(), (0, false));
    assert!(
        f.store
            .insert_balance_transaction(&tx(BalanceKind::StartGrant, 100))
            .await
            .unwrap()
    );
    assert!(
        !f.store
            .insert_balance_transaction(&tx(BalanceKind::StartGrant, 100))
            .await
            .unwrap()
    );
    assert!(
        f.store
            .insert_balance_transaction(&tx(BalanceKind::Spend, -30))
            .await
            .unwrap()
    );
    assert!(
        f.store
            .insert_balance_transaction(&tx(BalanceKind::Refill, 5))
            .await
            .unwrap()
    );
    assert_eq!(f.store.get_balance(user.id).await.unwrap(), (75, true));
    assert_eq!(
        f.store
            .set_balance(&tx(BalanceKind::Adjustment, 0), 1_000)
            .await
            .unwrap(),
        925
    );
    assert_eq!(f.store.get_balance(user.id).await.unwrap(), (1_000, true));
    let missing = BalanceTransaction {
        user_id: UserId(1),
        ..tx(BalanceKind::Adjustment, 0)
    };
    assert_not_found(f.store.set_balance(&missing, 5).await);
    // Deleting the user deletes its ledger, unless the history is kept.
    let keeper = f.insert(&f.user(Some("k@example.org"), None)).await;
    let grant = BalanceTransaction {
        user_id: keeper.id,
        ..tx(BalanceKind::StartGrant, 7)
    };
    f.store.insert_balance_transaction(&grant).await.unwrap();
    f.store
        .delete_user_keeping_transactions(keeper.id, false, &NO_JOURNAL)
        .await
        .unwrap();
    assert_not_found(f.store.get_user(keeper.id).await);
    assert_eq!(f.store.get_balance(keeper.id).await.unwrap(), (7, true));
    f.store.delete_user(user.id, false, &NO_JOURNAL).await.unwrap();
    assert_eq!(f.store.get_balance(user.id).await.unwrap(), (0, false));
}

async fn refill_overrides_are_kept_and_cleared_with_the_user(backend: Backend) {
    use roster_core::journal::{AuditQuery, JournalBuilder};
    use roster_core::store::{BalanceKind, BalanceTransaction, RefillOverrides, RefillUnit};
    let f = roster_testkit::or_skip!(fixture(backend).await);
    let user = f.insert(&f.user(Some("ro@example.org"), None)).await;
    // An empty ledger: no settings, no time.
    let record = f.store.get_balance_record(user.id).await.unwrap();
    assert_eq!((record.credits, record.granted, record.last_refill), (0, false, None));
    assert_eq!(record.overrides, RefillOverrides::default());
    // The ledger's first entry stands for the last refill until there is one.
    let began = at_ms(ms(now()) - 86_400_000);
    let grant = BalanceTransaction {
        id: f.ids.next_id(),
        user_id: user.id,
        kind: BalanceKind::StartGrant,
        amount: 40,
        created_at: began,
    };
    f.store.insert_balance_transaction(&grant).await.unwrap();
    let later = BalanceTransaction {
        id: f.ids.next_id(),
        kind: BalanceKind::Adjustment,
        amount: 2,
        created_at: now(),
        ..grant.clone()
    };
    f.store.insert_balance_transaction(&later).await.unwrap();
    let record = f.store.get_balance_record(user.id).await.unwrap();
    assert_eq!(
        (record.credits, record.granted, record.last_refill),
        (42, true, Some(began))
    );

    let overrides = RefillOverrides {
        enabled: Some(true),
        interval_value: Some(2),
        interval_unit: Some(RefillUnit::Months),
        amount: None,
    };
    let journal = JournalBuilder::new(&f.ids, now(), None)
        .audit("balance.refill_settings", Some(user.id), json!({}))
        .build();
    f.store
        .set_refill_overrides(user.id, &overrides, &journal)
        .await
        .unwrap();
    let record = f.store.get_balance_record(user.id).await.unwrap();
    assert_eq!(record.overrides, overrides);
    assert_eq!(
        record.last_refill,
        Some(began),
        "the overrides leave the last refill alone"
    );
    let audited = f
        .store
        .list_audit(&AuditQuery {
            action: Some("balance.refill_settings".into()),
            limit: 10,
            ..AuditQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(audited.len(), 1);
    // Replaced as a whole: None fields go back to the default.
    let fewer = RefillOverrides {
        amount: Some(9),
        ..RefillOverrides::default()
    };
    f.store
        .set_refill_overrides(user.id, &fewer, &NO_JOURNAL)
        .await
        .unwrap();
    assert_eq!(f.store.get_balance_record(user.id).await.unwrap().overrides, fewer);
    assert_not_found(f.store.set_refill_overrides(UserId(1), &overrides, &NO_JOURNAL).await);
    // The settings go with the user, also when its ledger is kept.
    f.store
        .delete_user_keeping_transactions(user.id, false, &NO_JOURNAL)
        .await
        .unwrap();
    let record = f.store.get_balance_record(user.id).await.unwrap();
    assert_eq!(record.overrides, RefillOverrides::default());
    assert_eq!(record.credits, 42);
}

async fn a_spend_writes_its_refill_and_stamps_it(backend: Backend) {
    use roster_core::journal::{AuditQuery, JournalBuilder};
    use roster_core::store::{BalanceKind, BalanceRecord, BalanceTransaction, SpendPlan};
    let f = roster_testkit::or_skip!(fixture(backend).await);
    let user = f.insert(&f.user(Some("sp@example.org"), None)).await;
    let tx = |kind, amount, created_at| BalanceTransaction {
        id: f.ids.next_id(),
        user_id: user.id,
        kind,
        amount,
        created_at,
    };
    let began = at_ms(ms(now()) - 3_600_000);
    f.store
        .insert_balance_transaction(&tx(BalanceKind::StartGrant, 10, began))
        .await
        .unwrap();
    let at = now();
    let seen = std::sync::Mutex::new(None);
    let planner = |record: &BalanceRecord| {
        *seen.lock().unwrap() = Some(record.clone());
        SpendPlan {
            refill: Some(tx(BalanceKind::Refill, 100, at)),
            spend: Some(tx(BalanceKind::Spend, -25, at)),
            journal: JournalBuilder::new(&f.ids, at, None)
                .audit("balance.refill", Some(user.id), json!({"amount": 100}))
                .build(),
        }
    };
    let (plan, after) = f.store.spend_balance(user.id, &planner).await.unwrap();
    let before = seen.lock().unwrap().clone().unwrap();
    assert_eq!((before.credits, before.last_refill), (10, Some(began)));
    assert_eq!(plan.refill.unwrap().amount, 100);
    assert_eq!((after.credits, after.last_refill), (85, Some(at)));
    assert_eq!(f.store.get_balance_record(user.id).await.unwrap(), after);
    let audited = f
        .store
        .list_audit(&AuditQuery {
            action: Some("balance.refill".into()),
            limit: 10,
            ..AuditQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(audited.len(), 1);
    // A plan without a refill leaves the stamp; without a spend it writes nothing.
    let spend_only = |_: &BalanceRecord| SpendPlan {
        spend: Some(tx(BalanceKind::Spend, -5, now())),
        ..SpendPlan::default()
    };
    let (_, after) = f.store.spend_balance(user.id, &spend_only).await.unwrap();
    assert_eq!((after.credits, after.last_refill), (80, Some(at)));
    let nothing = |_: &BalanceRecord| SpendPlan::default();
    let (_, after) = f.store.spend_balance(user.id, &nothing).await.unwrap();
    assert_eq!(after.credits, 80);
    assert_not_found(f.store.spend_balance(UserId(1), &nothing).await);
}

async fn concurrent_spends_refill_once(backend: Backend) {
    use roster_core::store::{BalanceKind, BalanceRecord, BalanceTransaction, SpendPlan};
    let f = roster_testkit::or_skip!(fixture(backend).await);
    let user = f.insert(&f.user(Some("cc@example.org"), None)).await;
    let began = at_ms(ms(now()) - 3_600_000);
    let grant = BalanceTransaction {
        id: f.ids.next_id(),
        user_id: user.id,
        kind: BalanceKind::StartGrant,
        amount: 0,
        created_at: began,
    };
    f.store.insert_balance_transaction(&grant).await.unwrap();
    let at = now();
    let ids = Arc::new(IdGenerator::new(9));
    let spends = (0..8).map(|_| {
        let store = f.store.clone();
        let ids = ids.clone();
        tokio::spawn(async move {
            // Refill when the last refill is older than `at`, then spend 1: as the core's rule
            // does, decided on the record read under the lock.
            let planner = |record: &BalanceRecord| {
                let tx = |kind, amount| BalanceTransaction {
                    id: ids.next_id(),
                    user_id: user.id,
                    kind,
                    amount,
                    created_at: at,
                };
                SpendPlan {
                    refill: record
                        .last_refill
                        .is_some_and(|t| t < at)
                        .then(|| tx(BalanceKind::Refill, 100)),
                    spend: Some(tx(BalanceKind::Spend, -1)),
                    journal: Journal::default(),
                }
            };
            store
                .spend_balance(user.id, &planner)
                .await
                .map(|(plan, _)| plan.refill.is_some())
        })
    });
    let mut refills = 0;
    for spend in spends.collect::<Vec<_>>() {
        refills += usize::from(spend.await.unwrap().unwrap());
    }
    assert_eq!(refills, 1);
    let record = f.store.get_balance_record(user.id).await.unwrap();
    assert_eq!((record.credits, record.last_refill), (92, Some(at)));
}

async fn the_ledger_pages_newest_first(backend: Backend) {
    use roster_core::store::{BalanceKind, BalanceTransaction};
    let f = roster_testkit::or_skip!(fixture(backend).await);
    let user = f.insert(&f.user(Some("p@example.org"), None)).await;
    let t = now();
    // Two at the same millisecond: the id orders them.
    for (i, minutes) in [0, 1, 1, 2, 3].into_iter().enumerate() {
        let tx = BalanceTransaction {
            id: f.ids.next_id(),
            user_id: user.id,
            kind: BalanceKind::Refill,
            amount: i as i64 + 1,
            created_at: t + Duration::minutes(minutes),
        };
        f.store.insert_balance_transaction(&tx).await.unwrap();
    }
    let amounts = |page: &[BalanceTransaction]| page.iter().map(|x| x.amount).collect::<Vec<_>>();
    let first = f
        .store
        .list_balance_transactions_before(user.id, None, 2)
        .await
        .unwrap();
    assert_eq!(amounts(&first), [5, 4]);
    let last = first.last().unwrap();
    let second = f
        .store
        .list_balance_transactions_before(user.id, Some((last.created_at, last.id)), 2)
        .await
        .unwrap();
    assert_eq!(amounts(&second), [3, 2]);
    let last = second.last().unwrap();
    let third = f
        .store
        .list_balance_transactions_before(user.id, Some((last.created_at, last.id)), 2)
        .await
        .unwrap();
    assert_eq!(amounts(&third), [1]);
    assert_eq!(
        amounts(&f.store.list_balance_transactions(user.id, 10).await.unwrap()),
        [5, 4, 3, 2, 1]
    );
}

backend_tests!(
    the_ledger_pages_newest_first,
    balance_ledger_sums_and_grants_once,
    refill_overrides_are_kept_and_cleared_with_the_user,
    a_spend_writes_its_refill_and_stamps_it,
    concurrent_spends_refill_once,
);
