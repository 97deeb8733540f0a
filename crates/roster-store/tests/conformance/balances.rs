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

backend_tests!(balance_ledger_sums_and_grants_once,);
