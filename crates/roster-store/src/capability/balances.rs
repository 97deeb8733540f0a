//! The credit ledger.

/// Implements [`roster_core::store::BalanceStore`] for `$store`, whose pools hold `$database` connections.
macro_rules! impl_balances {
    ($store:ty, $database:ty) => {
        const _: () = {
            use crate::capability::common::write_transaction;
            use crate::codec::{from_ms, to_ms};
            use crate::error::store_error;
            use crate::sql;
            use async_trait::async_trait;
            use roster_core::UserId;
            use roster_core::journal::Journal;
            use roster_core::store::{
                BalanceKind, BalanceRecord, BalanceStore, BalanceTransaction, RefillOverrides, RefillUnit, SpendPlan,
                SpendPlanner, StoreError, StoreResult,
            };
            use time::OffsetDateTime;

            /// The ledger's sums and the settings row of a user, as read.
            type LedgerRow = (i64, i64, Option<i64>);
            type SettingsRow = (
                Option<bool>,
                Option<i64>,
                Option<String>,
                Option<i64>,
                Option<i64>,
            );

            fn balance_record(ledger: LedgerRow, settings: Option<SettingsRow>) -> StoreResult<BalanceRecord> {
                let (credits, grants, first) = ledger;
                let (enabled, interval_value, unit, amount, last) = settings.unwrap_or_default();
                let interval_unit = match unit {
                    Some(u) => Some(RefillUnit::parse(&u).ok_or_else(|| {
                        StoreError::Other(anyhow::anyhow!("stored refill interval unit {u:?} is unknown"))
                    })?),
                    None => None,
                };
                Ok(BalanceRecord {
                    credits,
                    granted: grants > 0,
                    overrides: RefillOverrides {
                        enabled,
                        interval_value,
                        interval_unit,
                        amount,
                    },
                    last_refill: last.or(first).map(from_ms).transpose()?,
                })
            }

            fn insert_transaction<'q>(
                t: &'q BalanceTransaction,
            ) -> sqlx::query::Query<'q, $database, <$database as sqlx::Database>::Arguments<'q>> {
                sqlx::query(sql::INSERT_BALANCE_TRANSACTION)
                    .bind(t.id)
                    .bind(t.user_id.0)
                    .bind(t.kind.as_str())
                    .bind(t.amount)
                    .bind(to_ms(t.created_at))
            }

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

                async fn list_balance_transactions(
                    &self,
                    user: UserId,
                    limit: i64,
                ) -> StoreResult<Vec<BalanceTransaction>> {
                    self.list_balance_transactions_before(user, None, limit).await
                }

                async fn list_balance_transactions_before(
                    &self,
                    user: UserId,
                    before: Option<(OffsetDateTime, i64)>,
                    limit: i64,
                ) -> StoreResult<Vec<BalanceTransaction>> {
                    let query = match before {
                        None => sqlx::query_as(sql::LIST_BALANCE_TRANSACTIONS)
                            .bind(user.0)
                            .bind(limit.max(0)),
                        Some((at, id)) => sqlx::query_as(sql::LIST_BALANCE_TRANSACTIONS_BEFORE)
                            .bind(user.0)
                            .bind(to_ms(at))
                            .bind(id)
                            .bind(limit.max(0)),
                    };
                    let rows: Vec<(i64, String, i64, i64)> =
                        query.fetch_all(self.read_pool()).await.map_err(store_error)?;
                    rows.into_iter()
                        .map(|(id, kind, amount, at)| {
                            Ok(BalanceTransaction {
                                id,
                                user_id: user,
                                kind: BalanceKind::parse(&kind).ok_or_else(|| {
                                    StoreError::Other(anyhow::anyhow!("stored transaction kind {kind:?} is unknown"))
                                })?,
                                amount,
                                created_at: from_ms(at)?,
                            })
                        })
                        .collect()
                }

                async fn get_balance_record(&self, user: UserId) -> StoreResult<BalanceRecord> {
                    let ledger: LedgerRow = sqlx::query_as(sql::GET_BALANCE_LEDGER)
                        .bind(user.0)
                        .fetch_one(self.read_pool())
                        .await
                        .map_err(store_error)?;
                    let settings: Option<SettingsRow> = sqlx::query_as(sql::GET_BALANCE_SETTINGS)
                        .bind(user.0)
                        .fetch_optional(self.read_pool())
                        .await
                        .map_err(store_error)?;
                    balance_record(ledger, settings)
                }

                async fn set_refill_overrides(
                    &self,
                    user: UserId,
                    overrides: &RefillOverrides,
                    journal: &Journal,
                ) -> StoreResult<()> {
                    write_transaction!(self, |tx| {
                        let locked = sqlx::query(sql::LOCK_USER_FOR_LEDGER)
                            .bind(user.0)
                            .execute(&mut *tx)
                            .await?
                            .rows_affected();
                        if locked == 0 {
                            return Err(StoreError::NotFound.into());
                        }
                        sqlx::query(sql::PUT_REFILL_OVERRIDES)
                            .bind(user.0)
                            .bind(overrides.enabled)
                            .bind(overrides.interval_value)
                            .bind(overrides.interval_unit.map(RefillUnit::as_str))
                            .bind(overrides.amount)
                            .execute(&mut *tx)
                            .await?;
                        Self::write_journal(&mut tx, journal).await?;
                        Ok(())
                    })?;
                    Ok(())
                }

                async fn spend_balance(
                    &self,
                    user: UserId,
                    plan: SpendPlanner<'_>,
                ) -> StoreResult<(SpendPlan, BalanceRecord)> {
                    let outcome = write_transaction!(self, |tx| {
                        // Concurrent spends of one user take turns on its user row, so each
                        // sees the refill of the one before.
                        let locked = sqlx::query(sql::LOCK_USER_FOR_LEDGER)
                            .bind(user.0)
                            .execute(&mut *tx)
                            .await?
                            .rows_affected();
                        if locked == 0 {
                            return Err(StoreError::NotFound.into());
                        }
                        let ledger: LedgerRow = sqlx::query_as(sql::GET_BALANCE_LEDGER)
                            .bind(user.0)
                            .fetch_one(&mut *tx)
                            .await?;
                        let settings: Option<SettingsRow> = sqlx::query_as(sql::GET_BALANCE_SETTINGS)
                            .bind(user.0)
                            .fetch_optional(&mut *tx)
                            .await?;
                        let mut record = balance_record(ledger, settings)?;
                        let decided = plan(&record);
                        if let Some(refill) = &decided.refill {
                            insert_transaction(refill).execute(&mut *tx).await?;
                            sqlx::query(sql::STAMP_LAST_REFILL)
                                .bind(user.0)
                                .bind(to_ms(refill.created_at))
                                .execute(&mut *tx)
                                .await?;
                            record.credits = record.credits.saturating_add(refill.amount);
                            record.last_refill = Some(from_ms(to_ms(refill.created_at))?);
                        }
                        if let Some(spend) = &decided.spend {
                            insert_transaction(spend).execute(&mut *tx).await?;
                            record.credits = record.credits.saturating_add(spend.amount);
                        }
                        Self::write_journal(&mut tx, &decided.journal).await?;
                        Ok((decided, record))
                    })?;
                    Ok(outcome)
                }
            }
        };
    };
}
pub(crate) use impl_balances;
