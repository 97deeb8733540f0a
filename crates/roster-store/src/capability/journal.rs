//! The audit trail and the outbox, read (each change writes its own journal: `write_journal`).

/// Implements [`roster_core::store::JournalStore`] for `$store`, whose pools hold `$database` connections.
macro_rules! impl_journal {
    ($store:ty, $database:ty) => {
        const _: () = {
            use crate::capability::common::write_transaction;
            use crate::codec::from_ms;
            use crate::codec::{convert_all, to_ms};
            use crate::error::store_error;
            use crate::journal;
            use crate::journal::{AuditRow, OutboxRow};
            use async_trait::async_trait;
            use roster_core::journal::{AuditEntry, AuditQuery, Journal, OutboxEvent};
            use roster_core::store::{ActivityReport, JournalStore, OutboxLag, StoreResult, SubscriptionLag};
            use sqlx::QueryBuilder;

            type Db = $database;

            #[async_trait]
            impl JournalStore for $store {
                async fn append_journal(&self, journal: &Journal) -> StoreResult<()> {
                    if journal.is_empty() {
                        return Ok(());
                    }
                    write_transaction!(self, |transaction| {
                        Self::write_journal(&mut transaction, journal).await?;
                        Ok(())
                    })?;
                    Ok(())
                }

                async fn list_audit(&self, query: &AuditQuery) -> StoreResult<Vec<AuditEntry>> {
                    let mut select = QueryBuilder::<Db>::new(journal::AUDIT_COLUMNS);
                    select.push(" WHERE 1 = 1");
                    if let Some(actor) = query.actor {
                        select.push(" AND actor_id = ").push_bind(actor.0);
                    }
                    if let Some(target) = query.target {
                        select.push(" AND target_id = ").push_bind(target.0);
                    }
                    if let Some(action) = &query.action {
                        select.push(" AND action = ").push_bind(action.clone());
                    }
                    if let Some(since) = query.since {
                        select.push(" AND at >= ").push_bind(to_ms(since));
                    }
                    if let Some(until) = query.until {
                        select.push(" AND at < ").push_bind(to_ms(until));
                    }
                    if let Some(before) = query.before_id {
                        select.push(" AND id < ").push_bind(before);
                    }
                    select
                        .push(" ORDER BY id DESC LIMIT ")
                        .push_bind(i64::from(query.limit));
                    let rows = select
                        .build_query_as::<AuditRow>()
                        .fetch_all(self.read_pool())
                        .await
                        .map_err(store_error)?;
                    convert_all(rows, AuditRow::into_entry)
                }

                async fn list_outbox(&self, after_seq: i64, limit: u32) -> StoreResult<Vec<OutboxEvent>> {
                    self.sequence_outbox_now().await?;
                    let rows = sqlx::query_as(journal::LIST_OUTBOX)
                        .bind(after_seq)
                        .bind(i64::from(limit))
                        .fetch_all(self.read_pool())
                        .await
                        .map_err(store_error)?;
                    convert_all(rows, OutboxRow::into_event)
                }

                async fn activity_report(&self, since_hour: i64, cap: i64) -> StoreResult<ActivityReport> {
                    let pool = self.read_pool();
                    let counts: Vec<(String, i64, i64)> = sqlx::query_as(journal::LIST_ACTIVITY)
                        .bind(since_hour)
                        .fetch_all(pool)
                        .await
                        .map_err(store_error)?;
                    let positions: Vec<(i64, String, i64)> = sqlx::query_as(journal::SUBSCRIPTION_POSITIONS)
                        .fetch_all(pool)
                        .await
                        .map_err(store_error)?;
                    let (unsequenced,): (i64,) = sqlx::query_as(journal::COUNT_OUTBOX_UNSEQUENCED)
                        .bind(cap)
                        .fetch_one(pool)
                        .await
                        .map_err(store_error)?;
                    let (oldest_unsequenced,): (Option<i64>,) = sqlx::query_as(journal::OLDEST_OUTBOX_UNSEQUENCED)
                        .fetch_one(pool)
                        .await
                        .map_err(store_error)?;
                    let mut subscriptions = Vec::with_capacity(positions.len());
                    for (id, url, fanned_out_seq) in positions {
                        let (unfanned,): (i64,) = sqlx::query_as(journal::COUNT_OUTBOX_AFTER)
                            .bind(fanned_out_seq)
                            .bind(cap)
                            .fetch_one(pool)
                            .await
                            .map_err(store_error)?;
                        let (pending,): (i64,) = sqlx::query_as(journal::COUNT_PENDING_DELIVERIES)
                            .bind(id)
                            .bind(cap)
                            .fetch_one(pool)
                            .await
                            .map_err(store_error)?;
                        let (oldest,): (Option<i64>,) = sqlx::query_as(journal::OLDEST_PENDING_DELIVERY)
                            .bind(id)
                            .fetch_one(pool)
                            .await
                            .map_err(store_error)?;
                        subscriptions.push((
                            fanned_out_seq,
                            SubscriptionLag {
                                subscription_id: id,
                                url,
                                unfanned: (unfanned + unsequenced).min(cap),
                                pending,
                                oldest_pending_at: oldest.map(from_ms).transpose()?,
                            },
                        ));
                    }
                    // The outbox's slowest reader: the subscription with the lowest position.
                    let outbox = match subscriptions.iter().min_by_key(|(seq, _)| *seq) {
                        None => None,
                        Some((seq, lag)) => {
                            let first: Option<(i64,)> = sqlx::query_as(journal::FIRST_OUTBOX_AFTER)
                                .bind(*seq)
                                .fetch_optional(pool)
                                .await
                                .map_err(store_error)?;
                            let oldest = [first.map(|(at,)| at), oldest_unsequenced]
                                .into_iter()
                                .flatten()
                                .min();
                            Some(OutboxLag {
                                backlog: lag.unfanned,
                                oldest_at: oldest.map(from_ms).transpose()?,
                            })
                        }
                    };
                    Ok(ActivityReport {
                        counts,
                        outbox,
                        subscriptions: subscriptions.into_iter().map(|(_, lag)| lag).collect(),
                    })
                }
            }
        };
    };
}
pub(crate) use impl_journal;
