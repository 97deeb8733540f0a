//! The credit ledger.

/// Implements [`roster_core::store::BalanceStore`] for `$store`, whose pools hold `$database` connections.
macro_rules! impl_balances {
    ($store:ty, $database:ty) => {
        const _: () = {
            use crate::capability::common::write_transaction;
            use crate::codec::to_ms;
            use crate::error::store_error;
            use crate::sql;
            use async_trait::async_trait;
            use roster_core::UserId;
            use roster_core::store::{BalanceKind, BalanceStore, BalanceTransaction, StoreError, StoreResult};

            #[async_trait]
            impl BalanceStore for $store {
                async fn insert_balance_transaction(&self, transaction: &BalanceTransaction) -> StoreResult<bool> {
                    let inserted = write_transaction!(self, |tx| {
                        Ok(sqlx::query(sql::INSERT_BALANCE_TRANSACTION)
                            .bind(transaction.id)
                            .bind(transaction.user_id.0)
                            .bind(transaction.kind.as_str())
                            .bind(transaction.amount)
                            .bind(to_ms(transaction.created_at))
                            .execute(&mut *tx)
                            .await?
                            .rows_affected())
                    })?;
                    Ok(inserted == 1)
                }

                async fn set_balance(&self, transaction: &BalanceTransaction, target: i64) -> StoreResult<i64> {
                    let amount = write_transaction!(self, |tx| {
                        // Serialise concurrent writers of this user's ledger on its user row.
                        let locked = sqlx::query(sql::LOCK_USER_FOR_LEDGER)
                            .bind(transaction.user_id.0)
                            .execute(&mut *tx)
                            .await?
                            .rows_affected();
                        if locked == 0 {
                            return Err(StoreError::NotFound.into());
                        }
                        let (balance, _): (i64, i64) = sqlx::query_as(sql::GET_BALANCE)
                            .bind(transaction.user_id.0)
                            .fetch_one(&mut *tx)
                            .await?;
                        let amount = target.saturating_sub(balance);
                        sqlx::query(sql::INSERT_BALANCE_TRANSACTION)
                            .bind(transaction.id)
                            .bind(transaction.user_id.0)
                            .bind(BalanceKind::Adjustment.as_str())
                            .bind(amount)
                            .bind(to_ms(transaction.created_at))
                            .execute(&mut *tx)
                            .await?;
                        Ok(amount)
                    })?;
                    Ok(amount)
                }

                async fn get_balance(&self, user: UserId) -> StoreResult<(i64, bool)> {
                    let (balance, grants): (i64, i64) = sqlx::query_as(sql::GET_BALANCE)
                        .bind(user.0)
                        .fetch_one(self.read_pool())
                        .await
                        .map_err(store_error)?;
                    Ok((balance, grants > 0))
                }
            }
        };
    };
}
pub(crate) use impl_balances;
