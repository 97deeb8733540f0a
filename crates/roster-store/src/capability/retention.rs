//! Retention: batched deletes of what expired or is older than kept (see `retention.rs`).

/// Implements [`roster_core::store::RetentionStore`] for `$store`, whose pools hold `$database` connections.
macro_rules! impl_retention {
    ($store:ty, $database:ty) => {
        const _: () = {
            use crate::capability::common::write_transaction;
            use crate::codec::to_ms;
            use async_trait::async_trait;
            use roster_core::store::{PurgeKind, RetentionStore, StoreResult};
            use time::OffsetDateTime;

            #[async_trait]
            impl RetentionStore for $store {
                async fn purge_batch(&self, kind: PurgeKind, before: OffsetDateTime, limit: u32) -> StoreResult<u64> {
                    let sql = crate::retention::delete_batch(kind);
                    let deleted = write_transaction!(self, |transaction| {
                        let done = sqlx::query(&sql)
                            .bind(to_ms(before))
                            .bind(i64::from(limit))
                            .execute(&mut *transaction)
                            .await?;
                        Ok(done.rows_affected())
                    })?;
                    Ok(deleted)
                }

                async fn count_purgeable(&self, kind: PurgeKind, before: OffsetDateTime) -> StoreResult<u64> {
                    let n: i64 = sqlx::query_scalar(&crate::retention::count(kind))
                        .bind(to_ms(before))
                        .fetch_one(self.read_pool())
                        .await
                        .map_err(crate::error::store_error)?;
                    Ok(u64::try_from(n).unwrap_or(0))
                }
            }
        };
    };
}
pub(crate) use impl_retention;
