//! The webhook tables (migration 0010) and outbox reads, for both backends:
//! `impl_webhook_store!` expands to [`roster_core::webhooks::WebhookStore`] for a store. The
//! two backends differ in two places only: PostgreSQL claims rows with `FOR UPDATE SKIP
//! LOCKED` (many instances share the work), SQLite has one writer and a lease row that lets
//! one instance deliver. No policy: the core decides what is due and when to retry.

use roster_core::journal::OutboxEvent;
use roster_core::store::StoreResult;
use roster_core::webhooks::{Delivery, DeliveryStatus, Subscription};
use roster_core::{StoreError, UserId};
use sqlx::types::Json;

pub(crate) const INSERT_OUTBOX_EVENT: &str = "INSERT INTO outbox (id, event_type, subject_id, actor_id, occurred_at, payload) \
     VALUES ($1, $2, $3, $4, $5, $6)";
pub(crate) const LIST_OUTBOX_EVENTS: &str = "SELECT seq, id, event_type, subject_id, actor_id, occurred_at, payload \
     FROM outbox WHERE seq > $1 ORDER BY seq LIMIT $2";
pub(crate) const GET_OUTBOX_EVENT: &str =
    "SELECT seq, id, event_type, subject_id, actor_id, occurred_at, payload FROM outbox WHERE seq = $1";
pub(crate) const LIST_OUTBOX_EVENTS_OF_TYPE: &str = "SELECT seq, id, event_type, subject_id, actor_id, occurred_at, \
     payload FROM outbox WHERE event_type = $1 AND seq < $2 ORDER BY seq DESC LIMIT $3";
pub(crate) const LAST_OUTBOX_SEQ: &str = "SELECT COALESCE(MAX(seq), 0) FROM outbox";

pub(crate) const SUBSCRIPTION_COLUMNS: &str = "id, url, event_types, secret, required_for_deletion, description, \
     created_by, created_at, start_seq, fanned_out_seq";
pub(crate) const INSERT_SUBSCRIPTION: &str = "INSERT INTO webhook_subscriptions (id, url, event_types, secret, \
     required_for_deletion, description, created_by, created_at, start_seq, fanned_out_seq) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9)";
pub(crate) const DELETE_SUBSCRIPTION: &str = "DELETE FROM webhook_subscriptions WHERE id = $1";
pub(crate) const DELETE_DELIVERIES_OF_SUBSCRIPTION: &str = "DELETE FROM webhook_deliveries WHERE subscription_id = $1";
pub(crate) const ADVANCE_SUBSCRIPTION: &str = "UPDATE webhook_subscriptions SET fanned_out_seq = $2 WHERE id = $1";
pub(crate) const INSERT_DELIVERY: &str = "INSERT INTO webhook_deliveries (subscription_id, event_seq, event_id, \
     event_type, subject_id, status, attempts, next_attempt_at, created_at) \
     VALUES ($1, $2, $3, $4, $5, 'pending', 0, $6, $6) ON CONFLICT (subscription_id, event_seq) DO NOTHING";

pub(crate) const DELIVERY_COLUMNS: &str = "d.id, d.subscription_id, d.event_seq, d.event_id, d.event_type, \
     d.subject_id, d.status, d.attempts, d.next_attempt_at, d.last_attempt_at, d.last_status_code, d.last_error, \
     d.delivered_at, d.created_at";

/// Due, pending, unclaimed deliveries that are first in line for their (subscription, user),
/// leased to `$1` until `$3` (`$2` is now, `$4` the most to claim). `{lock}` is PostgreSQL's
/// `FOR UPDATE SKIP LOCKED` (empty on SQLite, whose single writer serialises claims).
pub(crate) fn claim_deliveries(lock: &str) -> String {
    format!(
        "UPDATE webhook_deliveries SET claimed_by = $1, claimed_until = $3 WHERE id IN (\
         SELECT d.id FROM webhook_deliveries d WHERE d.status = 'pending' AND d.next_attempt_at <= $2 \
         AND (d.claimed_until IS NULL OR d.claimed_until <= $2) \
         AND NOT EXISTS (SELECT 1 FROM webhook_deliveries e WHERE e.subscription_id = d.subscription_id \
         AND e.subject_id = d.subject_id AND e.status = 'pending' AND e.event_seq < d.event_seq) \
         ORDER BY d.event_seq LIMIT $4{lock}) RETURNING id"
    )
}

pub(crate) const CLAIMED_HEAD: &str = "SELECT d.id, d.subscription_id, d.event_seq, d.event_id, d.event_type, \
     d.subject_id, d.status, d.attempts, d.next_attempt_at, d.last_attempt_at, d.last_status_code, d.last_error, \
     d.delivered_at, d.created_at, o.seq AS o_seq, o.id AS o_id, o.event_type AS o_event_type, \
     o.subject_id AS o_subject_id, o.actor_id AS o_actor_id, o.occurred_at AS o_occurred_at, \
     o.payload AS o_payload, s.url, s.secret FROM webhook_deliveries d \
     JOIN outbox o ON o.seq = d.event_seq JOIN webhook_subscriptions s ON s.id = d.subscription_id \
     WHERE d.id IN ";

pub(crate) const RECORD_ATTEMPT: &str = "UPDATE webhook_deliveries SET status = $3, attempts = attempts + 1, \
     last_attempt_at = $4, last_status_code = $5, last_error = $6, next_attempt_at = $7, \
     delivered_at = COALESCE($8, delivered_at), claimed_by = NULL, claimed_until = NULL \
     WHERE id = $1 AND claimed_by = $2";
pub(crate) const REPLAY_DELIVERY: &str = "UPDATE webhook_deliveries SET status = 'pending', attempts = 0, \
     next_attempt_at = $2, claimed_by = NULL, claimed_until = NULL \
     WHERE id = $1 AND (claimed_until IS NULL OR claimed_until <= $2)";
pub(crate) const COUNT_DELIVERY: &str = "SELECT COUNT(*) FROM webhook_deliveries WHERE id = $1";

/// `$1` the deletion event type, `$2` the most to return.
pub(crate) const LIST_PENDING_DELETIONS: &str = "SELECT o.seq, o.id, o.event_type, o.subject_id, o.actor_id, \
     o.occurred_at, o.payload FROM outbox o WHERE o.event_type = $1 AND EXISTS (\
     SELECT 1 FROM webhook_subscriptions s WHERE s.required_for_deletion = TRUE AND s.start_seq < o.seq \
     AND NOT EXISTS (SELECT 1 FROM webhook_deliveries d WHERE d.subscription_id = s.id \
     AND d.event_seq = o.seq AND d.status = 'delivered')) ORDER BY o.seq LIMIT $2";

pub(crate) const ACQUIRE_LEASE: &str = "INSERT INTO webhook_leases (name, holder, until) VALUES ($1, $2, $4) \
     ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, until = excluded.until \
     WHERE webhook_leases.holder = excluded.holder OR webhook_leases.until <= $3";
pub(crate) const RELEASE_LEASE: &str = "DELETE FROM webhook_leases WHERE name = $1 AND holder = $2";

/// An `outbox` row.
#[derive(sqlx::FromRow)]
pub(crate) struct OutboxRow {
    pub(crate) seq: i64,
    id: i64,
    event_type: String,
    subject_id: i64,
    actor_id: Option<i64>,
    occurred_at: i64,
    payload: Json<serde_json::Value>,
}

impl OutboxRow {
    pub(crate) fn into_event(self) -> StoreResult<OutboxEvent> {
        Ok(OutboxEvent {
            seq: self.seq,
            id: self.id,
            event_type: self.event_type,
            subject_id: UserId(self.subject_id),
            actor_id: self.actor_id.map(UserId),
            occurred_at: crate::codec::from_ms(self.occurred_at)?,
            payload: self.payload.0,
        })
    }
}

/// A `webhook_subscriptions` row.
#[derive(sqlx::FromRow)]
pub(crate) struct SubscriptionRow {
    id: i64,
    url: String,
    event_types: Json<Vec<String>>,
    secret: String,
    required_for_deletion: bool,
    description: Option<String>,
    created_by: Option<i64>,
    created_at: i64,
    start_seq: i64,
    fanned_out_seq: i64,
}

impl SubscriptionRow {
    pub(crate) fn into_subscription(self) -> StoreResult<Subscription> {
        Ok(Subscription {
            id: self.id,
            url: self.url,
            event_types: self.event_types.0,
            secret: self.secret,
            required_for_deletion: self.required_for_deletion,
            description: self.description,
            created_by: self.created_by.map(UserId),
            created_at: crate::codec::from_ms(self.created_at)?,
            start_seq: self.start_seq,
            fanned_out_seq: self.fanned_out_seq,
        })
    }
}

/// A `webhook_deliveries` row.
#[derive(sqlx::FromRow)]
pub(crate) struct DeliveryRow {
    id: i64,
    subscription_id: i64,
    event_seq: i64,
    event_id: i64,
    event_type: String,
    subject_id: i64,
    status: String,
    attempts: i64,
    next_attempt_at: i64,
    last_attempt_at: Option<i64>,
    last_status_code: Option<i64>,
    last_error: Option<String>,
    delivered_at: Option<i64>,
    created_at: i64,
}

impl DeliveryRow {
    pub(crate) fn into_delivery(self) -> StoreResult<Delivery> {
        let status = DeliveryStatus::parse(&self.status)
            .map_err(|_| StoreError::Other(anyhow::anyhow!("unknown delivery status {:?}", self.status)))?;
        let opt = |ms: Option<i64>| ms.map(crate::codec::from_ms).transpose();
        Ok(Delivery {
            id: self.id,
            subscription_id: self.subscription_id,
            event_seq: self.event_seq,
            event_id: self.event_id,
            event_type: self.event_type,
            subject_id: UserId(self.subject_id),
            status,
            attempts: self.attempts,
            next_attempt_at: crate::codec::from_ms(self.next_attempt_at)?,
            last_attempt_at: opt(self.last_attempt_at)?,
            last_status_code: self.last_status_code,
            last_error: self.last_error,
            delivered_at: opt(self.delivered_at)?,
            created_at: crate::codec::from_ms(self.created_at)?,
        })
    }
}

/// A claimed delivery joined with its event and subscription.
#[derive(sqlx::FromRow)]
pub(crate) struct ClaimedRow {
    #[sqlx(flatten)]
    delivery: DeliveryRow,
    o_seq: i64,
    o_id: i64,
    o_event_type: String,
    o_subject_id: i64,
    o_actor_id: Option<i64>,
    o_occurred_at: i64,
    o_payload: Json<serde_json::Value>,
    url: String,
    secret: String,
}

impl ClaimedRow {
    pub(crate) fn into_claimed(self) -> StoreResult<roster_core::webhooks::ClaimedDelivery> {
        let event = OutboxRow {
            seq: self.o_seq,
            id: self.o_id,
            event_type: self.o_event_type,
            subject_id: self.o_subject_id,
            actor_id: self.o_actor_id,
            occurred_at: self.o_occurred_at,
            payload: self.o_payload,
        }
        .into_event()?;
        Ok(roster_core::webhooks::ClaimedDelivery {
            delivery: self.delivery.into_delivery()?,
            event,
            url: self.url,
            secret: self.secret,
        })
    }
}

/// Implements `WebhookStore` for `$store` (pools of `$database`). `$lock` is appended to the
/// claiming sub-select (`FOR UPDATE SKIP LOCKED` on PostgreSQL); `$single_deliverer` says
/// whether one instance at a time delivers (the `delivery` lease; SQLite).
macro_rules! impl_webhook_store {
    ($store:ty, $database:ty, lock = $lock:expr, single_deliverer = $single:expr) => {
        #[async_trait::async_trait]
        impl roster_core::webhooks::WebhookStore for $store {
            async fn append_outbox_events(
                &self,
                events: &[roster_core::journal::OutboxEvent],
            ) -> roster_core::store::StoreResult<()> {
                $crate::shared::write_transaction!(self, transaction => {
                    for event in events {
                        sqlx::query($crate::webhooks::INSERT_OUTBOX_EVENT)
                            .bind(event.id)
                            .bind(&event.event_type)
                            .bind(event.subject_id.0)
                            .bind(event.actor_id.map(|a| a.0))
                            .bind($crate::codec::to_ms(event.occurred_at))
                            .bind(sqlx::types::Json(&event.payload))
                            .execute(&mut *transaction)
                            .await?;
                    }
                    Ok(())
                })
                .map_err(Into::into)
            }

            async fn get_outbox_event(
                &self,
                seq: i64,
            ) -> roster_core::store::StoreResult<roster_core::journal::OutboxEvent> {
                let row: $crate::webhooks::OutboxRow = sqlx::query_as($crate::webhooks::GET_OUTBOX_EVENT)
                    .bind(seq)
                    .fetch_one(self.read_pool())
                    .await
                    .map_err($crate::error::store_error)?;
                row.into_event()
            }

            async fn list_outbox_events_of_type(
                &self,
                event_type: &str,
                before: Option<i64>,
                limit: u32,
            ) -> roster_core::store::StoreResult<Vec<roster_core::journal::OutboxEvent>> {
                self.sequence_outbox_now().await?;
                let rows: Vec<$crate::webhooks::OutboxRow> =
                    sqlx::query_as($crate::webhooks::LIST_OUTBOX_EVENTS_OF_TYPE)
                        .bind(event_type)
                        .bind(before.unwrap_or(i64::MAX))
                        .bind(i64::from(limit))
                        .fetch_all(self.read_pool())
                        .await
                        .map_err($crate::error::store_error)?;
                $crate::codec::convert_all(rows, $crate::webhooks::OutboxRow::into_event)
            }

            async fn insert_subscription(
                &self,
                subscription: &roster_core::webhooks::Subscription,
            ) -> roster_core::store::StoreResult<roster_core::webhooks::Subscription> {
                let start: i64 = $crate::shared::write_transaction!(self, transaction => {
                    Self::sequence_outbox(&mut transaction).await?;
                    let start: i64 = sqlx::query_scalar($crate::webhooks::LAST_OUTBOX_SEQ)
                        .fetch_one(&mut *transaction)
                        .await?;
                    sqlx::query($crate::webhooks::INSERT_SUBSCRIPTION)
                        .bind(subscription.id)
                        .bind(&subscription.url)
                        .bind(sqlx::types::Json(&subscription.event_types))
                        .bind(&subscription.secret)
                        .bind(subscription.required_for_deletion)
                        .bind(subscription.description.as_deref())
                        .bind(subscription.created_by.map(|u| u.0))
                        .bind($crate::codec::to_ms(subscription.created_at))
                        .bind(start)
                        .execute(&mut *transaction)
                        .await?;
                    Ok(start)
                })?;
                Ok(roster_core::webhooks::Subscription {
                    start_seq: start,
                    fanned_out_seq: start,
                    ..subscription.clone()
                })
            }

            async fn get_subscription(
                &self,
                id: i64,
            ) -> roster_core::store::StoreResult<roster_core::webhooks::Subscription> {
                let row: $crate::webhooks::SubscriptionRow = sqlx::query_as(&format!(
                    "SELECT {} FROM webhook_subscriptions WHERE id = $1",
                    $crate::webhooks::SUBSCRIPTION_COLUMNS
                ))
                .bind(id)
                .fetch_one(self.read_pool())
                .await
                .map_err($crate::error::store_error)?;
                row.into_subscription()
            }

            async fn list_subscriptions(
                &self,
            ) -> roster_core::store::StoreResult<Vec<roster_core::webhooks::Subscription>> {
                let rows: Vec<$crate::webhooks::SubscriptionRow> = sqlx::query_as(&format!(
                    "SELECT {} FROM webhook_subscriptions ORDER BY id",
                    $crate::webhooks::SUBSCRIPTION_COLUMNS
                ))
                .fetch_all(self.read_pool())
                .await
                .map_err($crate::error::store_error)?;
                $crate::codec::convert_all(rows, $crate::webhooks::SubscriptionRow::into_subscription)
            }

            async fn delete_subscription(&self, id: i64) -> roster_core::store::StoreResult<()> {
                let deleted = $crate::shared::write_transaction!(self, transaction => {
                    sqlx::query($crate::webhooks::DELETE_DELIVERIES_OF_SUBSCRIPTION)
                        .bind(id)
                        .execute(&mut *transaction)
                        .await?;
                    Ok(sqlx::query($crate::webhooks::DELETE_SUBSCRIPTION)
                        .bind(id)
                        .execute(&mut *transaction)
                        .await?
                        .rows_affected())
                })?;
                if deleted == 0 {
                    return Err(roster_core::StoreError::NotFound);
                }
                Ok(())
            }

            async fn fan_out(&self, now: time::OffsetDateTime, batch: u32) -> roster_core::store::StoreResult<u64> {
                let queued = $crate::shared::write_transaction!(self, transaction => {
                    Self::sequence_outbox(&mut transaction).await?;
                    let subscriptions: Vec<$crate::webhooks::SubscriptionRow> = sqlx::query_as(&format!(
                        "SELECT {} FROM webhook_subscriptions ORDER BY id{}",
                        $crate::webhooks::SUBSCRIPTION_COLUMNS,
                        $lock
                    ))
                    .fetch_all(&mut *transaction)
                    .await?;
                    let mut queued = 0u64;
                    for row in subscriptions {
                        let subscription = row.into_subscription()?;
                        let rows: Vec<$crate::webhooks::OutboxRow> =
                            sqlx::query_as($crate::webhooks::LIST_OUTBOX_EVENTS)
                                .bind(subscription.fanned_out_seq)
                                .bind(i64::from(batch))
                                .fetch_all(&mut *transaction)
                                .await?;
                        let Some(last) = rows.last().map(|r| r.seq) else { continue };
                        for row in rows {
                            let event = row.into_event()?;
                            if !subscription.wants(&event.event_type) {
                                continue;
                            }
                            queued += sqlx::query($crate::webhooks::INSERT_DELIVERY)
                                .bind(subscription.id)
                                .bind(event.seq)
                                .bind(event.id)
                                .bind(&event.event_type)
                                .bind(event.subject_id.0)
                                .bind($crate::codec::to_ms(now))
                                .execute(&mut *transaction)
                                .await?
                                .rows_affected();
                        }
                        sqlx::query($crate::webhooks::ADVANCE_SUBSCRIPTION)
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
                now: time::OffsetDateTime,
                lease_until: time::OffsetDateTime,
                limit: u32,
            ) -> roster_core::store::StoreResult<Vec<roster_core::webhooks::ClaimedDelivery>> {
                let rows: Vec<$crate::webhooks::ClaimedRow> = $crate::shared::write_transaction!(self, transaction => {
                    let ids: Vec<i64> = sqlx::query_scalar(&$crate::webhooks::claim_deliveries($lock))
                        .bind(owner)
                        .bind($crate::codec::to_ms(now))
                        .bind($crate::codec::to_ms(lease_until))
                        .bind(i64::from(limit))
                        .fetch_all(&mut *transaction)
                        .await?;
                    if ids.is_empty() {
                        return Ok(Vec::new());
                    }
                    let mut select = sqlx::QueryBuilder::<$database>::new($crate::webhooks::CLAIMED_HEAD);
                    select.push("(");
                    let mut separated = select.separated(", ");
                    for id in &ids {
                        separated.push_bind(*id);
                    }
                    select.push(") ORDER BY d.event_seq");
                    Ok(select.build_query_as().fetch_all(&mut *transaction).await?)
                })?;
                $crate::codec::convert_all(rows, $crate::webhooks::ClaimedRow::into_claimed)
            }

            async fn record_attempt(
                &self,
                id: i64,
                owner: &str,
                attempt: &roster_core::webhooks::AttemptRecord,
            ) -> roster_core::store::StoreResult<bool> {
                let delivered = attempt.status == roster_core::webhooks::DeliveryStatus::Delivered;
                let updated = $crate::shared::write_transaction!(self, transaction => {
                    Ok(sqlx::query($crate::webhooks::RECORD_ATTEMPT)
                        .bind(id)
                        .bind(owner)
                        .bind(attempt.status.as_str())
                        .bind($crate::codec::to_ms(attempt.attempted_at))
                        .bind(attempt.status_code)
                        .bind(attempt.error.as_deref())
                        .bind($crate::codec::to_ms(attempt.next_attempt_at))
                        .bind(delivered.then(|| $crate::codec::to_ms(attempt.attempted_at)))
                        .execute(&mut *transaction)
                        .await?
                        .rows_affected())
                })?;
                Ok(updated == 1)
            }

            async fn list_deliveries(
                &self,
                query: &roster_core::webhooks::DeliveryQuery,
            ) -> roster_core::store::StoreResult<Vec<roster_core::webhooks::Delivery>> {
                let mut select = sqlx::QueryBuilder::<$database>::new(format!(
                    "SELECT {} FROM webhook_deliveries d WHERE 1 = 1",
                    $crate::webhooks::DELIVERY_COLUMNS
                ));
                if let Some(subscription) = query.subscription_id {
                    select.push(" AND d.subscription_id = ").push_bind(subscription);
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
                select.push(" ORDER BY d.id DESC LIMIT ").push_bind(i64::from(query.limit));
                let rows: Vec<$crate::webhooks::DeliveryRow> = select
                    .build_query_as()
                    .fetch_all(self.read_pool())
                    .await
                    .map_err($crate::error::store_error)?;
                $crate::codec::convert_all(rows, $crate::webhooks::DeliveryRow::into_delivery)
            }

            async fn get_delivery(&self, id: i64) -> roster_core::store::StoreResult<roster_core::webhooks::Delivery> {
                let row: $crate::webhooks::DeliveryRow = sqlx::query_as(&format!(
                    "SELECT {} FROM webhook_deliveries d WHERE d.id = $1",
                    $crate::webhooks::DELIVERY_COLUMNS
                ))
                .bind(id)
                .fetch_one(self.read_pool())
                .await
                .map_err($crate::error::store_error)?;
                row.into_delivery()
            }

            async fn list_deliveries_of_event(
                &self,
                event_seq: i64,
            ) -> roster_core::store::StoreResult<Vec<roster_core::webhooks::Delivery>> {
                let rows: Vec<$crate::webhooks::DeliveryRow> = sqlx::query_as(&format!(
                    "SELECT {} FROM webhook_deliveries d WHERE d.event_seq = $1 ORDER BY d.subscription_id",
                    $crate::webhooks::DELIVERY_COLUMNS
                ))
                .bind(event_seq)
                .fetch_all(self.read_pool())
                .await
                .map_err($crate::error::store_error)?;
                $crate::codec::convert_all(rows, $crate::webhooks::DeliveryRow::into_delivery)
            }

            async fn replay_delivery(
                &self,
                id: i64,
                now: time::OffsetDateTime,
            ) -> roster_core::store::StoreResult<roster_core::webhooks::Delivery> {
                let updated = $crate::shared::write_transaction!(self, transaction => {
                    let updated = sqlx::query($crate::webhooks::REPLAY_DELIVERY)
                        .bind(id)
                        .bind($crate::codec::to_ms(now))
                        .execute(&mut *transaction)
                        .await?
                        .rows_affected();
                    if updated == 0 {
                        let exists: i64 = sqlx::query_scalar($crate::webhooks::COUNT_DELIVERY)
                            .bind(id)
                            .fetch_one(&mut *transaction)
                            .await?;
                        return Err(if exists == 0 {
                            roster_core::StoreError::NotFound
                        } else {
                            roster_core::StoreError::Stale
                        }
                        .into());
                    }
                    Ok(updated)
                })?;
                debug_assert_eq!(updated, 1);
                self.get_delivery(id).await
            }

            async fn list_pending_deletions(
                &self,
                limit: u32,
            ) -> roster_core::store::StoreResult<Vec<roster_core::journal::OutboxEvent>> {
                self.sequence_outbox_now().await?;
                let rows: Vec<$crate::webhooks::OutboxRow> = sqlx::query_as($crate::webhooks::LIST_PENDING_DELETIONS)
                    .bind(roster_core::webhooks::USER_DELETED)
                    .bind(i64::from(limit))
                    .fetch_all(self.read_pool())
                    .await
                    .map_err($crate::error::store_error)?;
                $crate::codec::convert_all(rows, $crate::webhooks::OutboxRow::into_event)
            }

            async fn acquire_lease(
                &self,
                name: &str,
                holder: &str,
                now: time::OffsetDateTime,
                until: time::OffsetDateTime,
            ) -> roster_core::store::StoreResult<bool> {
                if !$single {
                    return Ok(true);
                }
                let taken = $crate::shared::write_transaction!(self, transaction => {
                    Ok(sqlx::query($crate::webhooks::ACQUIRE_LEASE)
                        .bind(name)
                        .bind(holder)
                        .bind($crate::codec::to_ms(now))
                        .bind($crate::codec::to_ms(until))
                        .execute(&mut *transaction)
                        .await?
                        .rows_affected())
                })?;
                Ok(taken == 1)
            }

            async fn release_lease(&self, name: &str, holder: &str) -> roster_core::store::StoreResult<()> {
                if !$single {
                    return Ok(());
                }
                $crate::shared::write_transaction!(self, transaction => {
                    sqlx::query($crate::webhooks::RELEASE_LEASE)
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
}
pub(crate) use impl_webhook_store;
