//! SCIM push targets and their delivery log (migration 0036). The log is claimed, recorded,
//! listed and replayed by the same statements as the webhooks' (`capability/webhooks.rs`).

/// Implements [`roster_core::store::ScimPushStore`] for `$store`, whose pools hold `$database` connections.
macro_rules! impl_scim_push {
    ($store:ty, $database:ty) => {
        const _: () = {
            use crate::capability::common::write_transaction;
            use crate::codec::{convert_all, to_ms};
            use crate::error::store_error;
            use crate::journal;
            use crate::scim_push::{self, ClaimedScimRow, TargetRow};
            use crate::webhooks::SCIM_LOG;
            use async_trait::async_trait;
            use roster_core::GroupId;
            use roster_core::journal::Journal;
            use roster_core::store::{ClaimedScimDelivery, ScimPushStore, ScimTarget, StoreError, StoreResult};
            use roster_core::webhooks::{AttemptRecord, Delivery, DeliveryQuery};
            use time::OffsetDateTime;

            #[async_trait]
            impl ScimPushStore for $store {
                async fn insert_scim_target(&self, target: &ScimTarget, journal: &Journal) -> StoreResult<ScimTarget> {
                    let start: i64 = write_transaction!(self, |transaction| {
                        Self::sequence_outbox(&mut transaction).await?;
                        let start: i64 = sqlx::query_scalar(journal::LAST_OUTBOX_SEQ)
                            .fetch_one(&mut *transaction)
                            .await?;
                        sqlx::query(scim_push::INSERT_TARGET)
                            .bind(target.id)
                            .bind(&target.name)
                            .bind(&target.url)
                            .bind(&target.token)
                            .bind(target.push_groups)
                            .bind(target.deactivate_on_delete)
                            .bind(target.created_by.map(|u| u.0))
                            .bind(to_ms(target.created_at))
                            .bind(start)
                            .execute(&mut *transaction)
                            .await?;
                        Self::write_journal(&mut transaction, journal).await?;
                        Ok(start)
                    })
                    .map_err(|e| match StoreError::from(e) {
                        // The id is a fresh snowflake: a taken name is the only unique key left.
                        StoreError::Conflict { .. } => StoreError::Conflict { field: "name" },
                        other => other,
                    })?;
                    Ok(ScimTarget {
                        start_seq: start,
                        fanned_out_seq: start,
                        ..target.clone()
                    })
                }

                async fn list_scim_targets(&self) -> StoreResult<Vec<ScimTarget>> {
                    let rows: Vec<TargetRow> = sqlx::query_as(&format!(
                        "SELECT {} FROM scim_targets t ORDER BY t.name",
                        scim_push::TARGET_COLUMNS
                    ))
                    .fetch_all(self.read_pool())
                    .await
                    .map_err(store_error)?;
                    convert_all(rows, TargetRow::into_target)
                }

                async fn get_scim_target(&self, name: &str) -> StoreResult<ScimTarget> {
                    let row: TargetRow = sqlx::query_as(&format!(
                        "SELECT {} FROM scim_targets t WHERE t.name = $1",
                        scim_push::TARGET_COLUMNS
                    ))
                    .bind(name)
                    .fetch_one(self.read_pool())
                    .await
                    .map_err(store_error)?;
                    row.into_target()
                }

                async fn update_scim_target(&self, target: &ScimTarget, journal: &Journal) -> StoreResult<()> {
                    write_transaction!(self, |transaction| {
                        let updated = sqlx::query(scim_push::UPDATE_TARGET)
                            .bind(target.id)
                            .bind(&target.url)
                            .bind(&target.token)
                            .bind(target.push_groups)
                            .bind(target.deactivate_on_delete)
                            .execute(&mut *transaction)
                            .await?
                            .rows_affected();
                        if updated == 0 {
                            return Err(StoreError::NotFound.into());
                        }
                        Self::write_journal(&mut transaction, journal).await?;
                        Ok(())
                    })
                    .map_err(Into::into)
                }

                async fn delete_scim_target(&self, id: i64, journal: &Journal) -> StoreResult<()> {
                    write_transaction!(self, |transaction| {
                        sqlx::query(scim_push::DELETE_DELIVERIES_OF_TARGET)
                            .bind(id)
                            .execute(&mut *transaction)
                            .await?;
                        sqlx::query(scim_push::DELETE_GROUPS_OF_TARGET)
                            .bind(id)
                            .execute(&mut *transaction)
                            .await?;
                        let deleted = sqlx::query(scim_push::DELETE_TARGET)
                            .bind(id)
                            .execute(&mut *transaction)
                            .await?
                            .rows_affected();
                        if deleted == 0 {
                            return Err(StoreError::NotFound.into());
                        }
                        Self::write_journal(&mut transaction, journal).await?;
                        Ok(())
                    })
                    .map_err(Into::into)
                }

                async fn fan_out_scim(
                    &self,
                    now: OffsetDateTime,
                    user_events: &[&str],
                    group_events: &[&str],
                ) -> StoreResult<u64> {
                    let statement = scim_push::fan_out(user_events, group_events);
                    Ok(write_transaction!(quiet self, |transaction| {
                        Self::sequence_outbox(&mut transaction).await?;
                        let last: i64 = sqlx::query_scalar(journal::LAST_OUTBOX_SEQ)
                            .fetch_one(&mut *transaction)
                            .await?;
                        let queued = sqlx::query(&statement)
                            .bind(to_ms(now))
                            .bind(last)
                            .execute(&mut *transaction)
                            .await?
                            .rows_affected();
                        sqlx::query(scim_push::ADVANCE_TARGETS)
                            .bind(last)
                            .execute(&mut *transaction)
                            .await?;
                        Ok(queued)
                    })?)
                }

                async fn claim_scim_deliveries(
                    &self,
                    owner: &str,
                    now: OffsetDateTime,
                    lease_until: OffsetDateTime,
                    limit: u32,
                ) -> StoreResult<Vec<ClaimedScimDelivery>> {
                    let rows: Vec<ClaimedScimRow> = self
                        .claim_from_log(
                            SCIM_LOG,
                            &scim_push::claimed_head(),
                            owner,
                            now,
                            lease_until,
                            limit,
                        )
                        .await?;
                    convert_all(rows, ClaimedScimRow::into_claimed)
                }

                async fn record_scim_attempt(
                    &self,
                    id: i64,
                    owner: &str,
                    attempt: &AttemptRecord,
                ) -> StoreResult<bool> {
                    self.record_log_attempt(SCIM_LOG.table, id, owner, attempt).await
                }

                async fn list_scim_deliveries(&self, query: &DeliveryQuery) -> StoreResult<Vec<Delivery>> {
                    self.list_log(SCIM_LOG, query).await
                }

                async fn replay_scim_delivery(
                    &self,
                    target: i64,
                    id: i64,
                    now: OffsetDateTime,
                ) -> StoreResult<Delivery> {
                    if self.get_log_delivery(SCIM_LOG, id).await?.subscription_id != target {
                        return Err(StoreError::NotFound);
                    }
                    self.replay_in_log(SCIM_LOG, id, now).await
                }

                async fn get_scim_target_group(&self, target: i64, group: GroupId) -> StoreResult<Option<String>> {
                    sqlx::query_scalar(scim_push::GET_TARGET_GROUP)
                        .bind(target)
                        .bind(group.0)
                        .fetch_optional(self.read_pool())
                        .await
                        .map_err(store_error)
                }

                async fn put_scim_target_group(
                    &self,
                    target: i64,
                    group: GroupId,
                    remote_id: &str,
                    delivery: i64,
                    owner: &str,
                ) -> StoreResult<bool> {
                    // The delivery worker's bookkeeping: no credential changes.
                    let written = write_transaction!(quiet self, |transaction| {
                        Ok(sqlx::query(scim_push::PUT_TARGET_GROUP)
                            .bind(target)
                            .bind(group.0)
                            .bind(remote_id)
                            .bind(delivery)
                            .bind(owner)
                            .execute(&mut *transaction)
                            .await?
                            .rows_affected())
                    })?;
                    Ok(written == 1)
                }

                async fn forget_scim_target_group(&self, target: i64, group: GroupId) -> StoreResult<()> {
                    write_transaction!(quiet self, |transaction| {
                        sqlx::query(scim_push::DELETE_TARGET_GROUP)
                            .bind(target)
                            .bind(group.0)
                            .execute(&mut *transaction)
                            .await?;
                        Ok(())
                    })?;
                    Ok(())
                }
            }
        };
    };
}
pub(crate) use impl_scim_push;
