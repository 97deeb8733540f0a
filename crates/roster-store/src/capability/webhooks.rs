//! The webhook tables (migration 0010) and outbox reads. The backends differ in two places
//! only: PostgreSQL claims rows with `FOR UPDATE SKIP LOCKED` (`CLAIM_LOCK`: many instances
//! share the work), SQLite has one writer and a lease row that lets one instance deliver
//! (`SINGLE_DELIVERER`).

/// Implements [`roster_core::webhooks::WebhookStore`] for `$store`, whose pools hold `$database` connections.
macro_rules! impl_webhooks {
    ($store:ty, $database:ty) => {
        const _: () = {
            use crate::capability::common::write_transaction;
            use crate::codec::{convert_all, to_ms};
            use crate::error::store_error;
            use crate::journal::OutboxRow;
            use crate::webhooks::{ClaimedRow, DeliveryLog, DeliveryRow, SubscriptionRow, WEBHOOK_LOG};
            use crate::{journal, webhooks};
            use async_trait::async_trait;
            use roster_core::journal::OutboxEvent;
            use roster_core::store::{StoreError, StoreResult};
            use roster_core::webhooks::{
                AttemptRecord, ClaimedDelivery, Delivery, DeliveryQuery, Subscription, USER_DELETED, WebhookStore,
            };
            use sqlx::QueryBuilder;
            use sqlx::types::Json;
            use time::OffsetDateTime;

            type Db = $database;

            impl $store {
                /// Claims the due deliveries of `log` (see [`DeliveryLog::claim`]) for `owner` and
                /// reads them, in outbox order, with `head` (a SELECT ending in `WHERE d.id IN `).
                pub(crate) async fn claim_from_log<R>(
                    &self,
                    log: DeliveryLog,
                    head: &str,
                    owner: &str,
                    now: OffsetDateTime,
                    lease_until: OffsetDateTime,
                    limit: u32,
                ) -> StoreResult<Vec<R>>
                where
                    R: for<'r> sqlx::FromRow<'r, <Db as sqlx::Database>::Row> + Send + Unpin,
                {
                    let claim = log.claim(Self::CLAIM_LOCK);
                    Ok(write_transaction!(quiet self, |transaction| {
                        let ids: Vec<i64> = sqlx::query_scalar(&claim)
                            .bind(owner)
                            .bind(to_ms(now))
                            .bind(to_ms(lease_until))
                            .bind(i64::from(limit))
                            .fetch_all(&mut *transaction)
                            .await?;
                        if ids.is_empty() {
                            return Ok(Vec::new());
                        }
                        let mut select = QueryBuilder::<Db>::new(head);
                        select.push("(");
                        let mut separated = select.separated(", ");
                        for id in &ids {
                            separated.push_bind(*id);
                        }
                        select.push(") ORDER BY d.event_seq");
                        Ok(select.build_query_as().fetch_all(&mut *transaction).await?)
                    })?)
                }

                /// Records an attempt on a claimed row of `table` (see [`webhooks::record_attempt`]).
                pub(crate) async fn record_log_attempt(
                    &self,
                    table: &str,
                    id: i64,
                    owner: &str,
                    attempt: &AttemptRecord,
                ) -> StoreResult<bool> {
                    let statement = webhooks::record_attempt(table);
                    let updated = write_transaction!(quiet self, |transaction| {
                        Ok(Self::bind_attempt(sqlx::query(&statement), id, owner, attempt)
                            .execute(&mut *transaction)
                            .await?
                            .rows_affected())
                    })?;
                    Ok(updated == 1)
                }

                /// A page of `log`, newest first.
                pub(crate) async fn list_log(
                    &self,
                    log: DeliveryLog,
                    query: &DeliveryQuery,
                ) -> StoreResult<Vec<Delivery>> {
                    let mut select = QueryBuilder::<Db>::new(format!(
                        "SELECT {} FROM {} d WHERE 1 = 1",
                        log.columns(),
                        log.table
                    ));
                    if let Some(receiver) = query.subscription_id {
                        select
                            .push(format!(" AND d.{} = ", log.receiver))
                            .push_bind(receiver);
                    }
                    if let Some(status) = query.status {
                        select.push(" AND d.status = ").push_bind(status.as_str());
                    }
                    if let Some(subject) = query.subject_id {
                        select.push(" AND d.subject_id = ").push_bind(subject.0);
                    }
                    if let Some(before) = query.before {
                        select.push(" AND d.id < ").push_bind(before);
                    }
                    select
                        .push(" ORDER BY d.id DESC LIMIT ")
                        .push_bind(i64::from(query.limit));
                    let rows: Vec<DeliveryRow> = select
                        .build_query_as()
                        .fetch_all(self.read_pool())
                        .await
                        .map_err(store_error)?;
                    convert_all(rows, DeliveryRow::into_delivery)
                }

                /// One delivery of `log`.
                pub(crate) async fn get_log_delivery(&self, log: DeliveryLog, id: i64) -> StoreResult<Delivery> {
                    let row: DeliveryRow = sqlx::query_as(&format!(
                        "SELECT {} FROM {} d WHERE d.id = $1",
                        log.columns(),
                        log.table
                    ))
                    .bind(id)
                    .fetch_one(self.read_pool())
                    .await
                    .map_err(store_error)?;
                    row.into_delivery()
                }

                /// Makes a delivery of `log` pending again, due at `now`; NotFound if absent,
                /// Stale while it is claimed.
                pub(crate) async fn replay_in_log(
                    &self,
                    log: DeliveryLog,
                    id: i64,
                    now: OffsetDateTime,
                ) -> StoreResult<Delivery> {
                    let (replay, count) = (log.replay(), log.count());
                    write_transaction!(quiet self, |transaction| {
                        let updated = sqlx::query(&replay)
                            .bind(id)
                            .bind(to_ms(now))
                            .execute(&mut *transaction)
                            .await?
                            .rows_affected();
                        if updated == 0 {
                            let exists: i64 = sqlx::query_scalar(&count)
                                .bind(id)
                                .fetch_one(&mut *transaction)
                                .await?;
                            return Err(if exists == 0 {
                                StoreError::NotFound
                            } else {
                                StoreError::Stale
                            }
                            .into());
                        }
                        Ok(())
                    })?;
                    self.get_log_delivery(log, id).await
                }
            }

            #[async_trait]
            impl WebhookStore for $store {
                async fn append_outbox_events(&self, events: &[OutboxEvent]) -> StoreResult<()> {
                    write_transaction!(self, |transaction| {
                        Self::write_outbox_events(&mut transaction, events).await
                    })
                    .map_err(Into::into)
                }

                async fn get_outbox_event(&self, seq: i64) -> StoreResult<OutboxEvent> {
                    let row: OutboxRow = sqlx::query_as(journal::GET_OUTBOX_EVENT)
                        .bind(seq)
                        .fetch_one(self.read_pool())
                        .await
                        .map_err(store_error)?;
                    row.into_event()
                }

                async fn list_outbox_events_of_type(
                    &self,
                    event_type: &str,
                    before: Option<i64>,
                    limit: u32,
                ) -> StoreResult<Vec<OutboxEvent>> {
                    self.sequence_outbox_now().await?;
                    let rows: Vec<OutboxRow> = sqlx::query_as(journal::LIST_OUTBOX_EVENTS_OF_TYPE)
                        .bind(event_type)
                        .bind(before.unwrap_or(i64::MAX))
                        .bind(i64::from(limit))
                        .fetch_all(self.read_pool())
                        .await
                        .map_err(store_error)?;
                    convert_all(rows, OutboxRow::into_event)
                }

                async fn insert_subscription(&self, subscription: &Subscription) -> StoreResult<Subscription> {
                    let start: i64 = write_transaction!(self, |transaction| {
                        Self::sequence_outbox(&mut transaction).await?;
                        let start: i64 = sqlx::query_scalar(journal::LAST_OUTBOX_SEQ)
                            .fetch_one(&mut *transaction)
                            .await?;
                        sqlx::query(webhooks::INSERT_SUBSCRIPTION)
                            .bind(subscription.id)
                            .bind(&subscription.url)
                            .bind(Json(&subscription.event_types))
                            .bind(&subscription.secret)
                            .bind(subscription.required_for_deletion)
                            .bind(subscription.description.as_deref())
                            .bind(subscription.created_by.map(|u| u.0))
                            .bind(to_ms(subscription.created_at))
                            .bind(start)
                            .execute(&mut *transaction)
                            .await?;
                        Ok(start)
                    })?;
                    Ok(Subscription {
                        start_seq: start,
                        fanned_out_seq: start,
                        ..subscription.clone()
                    })
                }

                async fn get_subscription(&self, id: i64) -> StoreResult<Subscription> {
                    let row: SubscriptionRow = sqlx::query_as(&format!(
                        "SELECT {} FROM webhook_subscriptions WHERE id = $1",
                        webhooks::SUBSCRIPTION_COLUMNS
                    ))
                    .bind(id)
                    .fetch_one(self.read_pool())
                    .await
                    .map_err(store_error)?;
                    row.into_subscription()
                }

                async fn list_subscriptions(&self) -> StoreResult<Vec<Subscription>> {
                    let rows: Vec<SubscriptionRow> = sqlx::query_as(&format!(
                        "SELECT {} FROM webhook_subscriptions ORDER BY id",
                        webhooks::SUBSCRIPTION_COLUMNS
                    ))
                    .fetch_all(self.read_pool())
                    .await
                    .map_err(store_error)?;
                    convert_all(rows, SubscriptionRow::into_subscription)
                }

                async fn update_subscription(&self, subscription: &Subscription) -> StoreResult<()> {
                    let updated = write_transaction!(self, |transaction| {
                        Ok(sqlx::query(webhooks::UPDATE_SUBSCRIPTION)
                            .bind(subscription.id)
                            .bind(&subscription.url)
                            .bind(Json(&subscription.event_types))
                            .bind(&subscription.secret)
                            .bind(subscription.required_for_deletion)
                            .bind(subscription.description.as_deref())
                            .execute(&mut *transaction)
                            .await?
                            .rows_affected())
                    })?;
                    if updated == 0 {
                        return Err(StoreError::NotFound);
                    }
                    Ok(())
                }

                async fn delete_subscription(&self, id: i64) -> StoreResult<()> {
                    let deleted = write_transaction!(self, |transaction| {
                        sqlx::query(webhooks::DELETE_DELIVERIES_OF_SUBSCRIPTION)
                            .bind(id)
                            .execute(&mut *transaction)
                            .await?;
                        Ok(sqlx::query(webhooks::DELETE_SUBSCRIPTION)
                            .bind(id)
                            .execute(&mut *transaction)
                            .await?
                            .rows_affected())
                    })?;
                    if deleted == 0 {
                        return Err(StoreError::NotFound);
                    }
                    Ok(())
                }

                async fn fan_out(&self, now: OffsetDateTime, batch: u32) -> StoreResult<u64> {
                    let queued = write_transaction!(quiet self, |transaction| {
                        Self::sequence_outbox(&mut transaction).await?;
                        let subscriptions: Vec<SubscriptionRow> = sqlx::query_as(&format!(
                            "SELECT {} FROM webhook_subscriptions ORDER BY id{}",
                            webhooks::SUBSCRIPTION_COLUMNS,
                            Self::CLAIM_LOCK
                        ))
                        .fetch_all(&mut *transaction)
                        .await?;
                        let mut queued = 0u64;
                        for row in subscriptions {
                            let subscription = row.into_subscription()?;
                            let rows: Vec<OutboxRow> = sqlx::query_as(journal::LIST_OUTBOX)
                                .bind(subscription.fanned_out_seq)
                                .bind(i64::from(batch))
                                .fetch_all(&mut *transaction)
                                .await?;
                            let Some(last) = rows.last().map(|r| r.seq) else {
                                continue;
                            };
                            for row in rows {
                                let event = row.into_event()?;
                                if !subscription.wants(&event.event_type) {
                                    continue;
                                }
                                queued += sqlx::query(webhooks::INSERT_DELIVERY)
                                    .bind(subscription.id)
                                    .bind(event.seq)
                                    .bind(event.id)
                                    .bind(&event.event_type)
                                    .bind(event.subject_id.0)
                                    .bind(to_ms(now))
                                    .execute(&mut *transaction)
                                    .await?
                                    .rows_affected();
                            }
                            sqlx::query(webhooks::ADVANCE_SUBSCRIPTION)
                                .bind(subscription.id)
                                .bind(last)
                                .execute(&mut *transaction)
                                .await?;
                        }
                        Ok(queued)
                    })?;
                    Ok(queued)
                }

                async fn claim_deliveries(
                    &self,
                    owner: &str,
                    now: OffsetDateTime,
                    lease_until: OffsetDateTime,
                    limit: u32,
                ) -> StoreResult<Vec<ClaimedDelivery>> {
                    let rows: Vec<ClaimedRow> = self
                        .claim_from_log(
                            WEBHOOK_LOG,
                            &webhooks::claimed_head(),
                            owner,
                            now,
                            lease_until,
                            limit,
                        )
                        .await?;
                    convert_all(rows, ClaimedRow::into_claimed)
                }

                async fn record_attempt(&self, id: i64, owner: &str, attempt: &AttemptRecord) -> StoreResult<bool> {
                    self.record_log_attempt(WEBHOOK_LOG.table, id, owner, attempt)
                        .await
                }

                async fn list_deliveries(&self, query: &DeliveryQuery) -> StoreResult<Vec<Delivery>> {
                    self.list_log(WEBHOOK_LOG, query).await
                }

                async fn get_delivery(&self, id: i64) -> StoreResult<Delivery> {
                    self.get_log_delivery(WEBHOOK_LOG, id).await
                }

                async fn list_deliveries_of_event(&self, event_seq: i64) -> StoreResult<Vec<Delivery>> {
                    let rows: Vec<DeliveryRow> = sqlx::query_as(&format!(
                        "SELECT {} FROM webhook_deliveries d WHERE d.event_seq = $1 ORDER BY d.subscription_id",
                        WEBHOOK_LOG.columns()
                    ))
                    .bind(event_seq)
                    .fetch_all(self.read_pool())
                    .await
                    .map_err(store_error)?;
                    convert_all(rows, DeliveryRow::into_delivery)
                }

                async fn replay_delivery(&self, id: i64, now: OffsetDateTime) -> StoreResult<Delivery> {
                    self.replay_in_log(WEBHOOK_LOG, id, now).await
                }

                async fn list_pending_deletions(&self, limit: u32) -> StoreResult<Vec<OutboxEvent>> {
                    self.sequence_outbox_now().await?;
                    let rows: Vec<OutboxRow> = sqlx::query_as(webhooks::LIST_PENDING_DELETIONS)
                        .bind(USER_DELETED)
                        .bind(i64::from(limit))
                        .fetch_all(self.read_pool())
                        .await
                        .map_err(store_error)?;
                    convert_all(rows, OutboxRow::into_event)
                }

                async fn acquire_lease(
                    &self,
                    name: &str,
                    holder: &str,
                    now: OffsetDateTime,
                    until: OffsetDateTime,
                ) -> StoreResult<bool> {
                    if !Self::SINGLE_DELIVERER {
                        return Ok(true);
                    }
                    let taken = write_transaction!(quiet self, |transaction| {
                        Ok(sqlx::query(webhooks::ACQUIRE_LEASE)
                            .bind(name)
                            .bind(holder)
                            .bind(to_ms(now))
                            .bind(to_ms(until))
                            .execute(&mut *transaction)
                            .await?
                            .rows_affected())
                    })?;
                    Ok(taken == 1)
                }

                async fn outbox_backlog(&self) -> StoreResult<roster_core::webhooks::OutboxBacklog> {
                    self.sequence_outbox_now().await?;
                    let (unqueued_events, pending_deliveries, oldest_undelivered_ms): (i64, i64, Option<i64>) =
                        sqlx::query_as(webhooks::OUTBOX_BACKLOG)
                            .fetch_one(self.read_pool())
                            .await
                            .map_err(store_error)?;
                    Ok(roster_core::webhooks::OutboxBacklog {
                        unqueued_events,
                        pending_deliveries,
                        oldest_undelivered_ms,
                    })
                }

                async fn release_lease(&self, name: &str, holder: &str) -> StoreResult<()> {
                    if !Self::SINGLE_DELIVERER {
                        return Ok(());
                    }
                    write_transaction!(quiet self, |transaction| {
                        sqlx::query(webhooks::RELEASE_LEASE)
                            .bind(name)
                            .bind(holder)
                            .execute(&mut *transaction)
                            .await?;
                        Ok(())
                    })
                    .map_err(Into::into)
                }
            }
        };
    };
}
pub(crate) use impl_webhooks;
