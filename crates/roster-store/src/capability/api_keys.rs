//! API keys.

/// Implements [`roster_core::store::ApiKeyStore`] for `$store`, whose pools hold `$database` connections.
macro_rules! impl_api_keys {
    ($store:ty, $database:ty) => {
        const _: () = {
            use crate::capability::common::write_transaction;
            use crate::codec::{ApiKeyRow, ApiKeyWithUserRow, convert_all, to_ms};
            use crate::error::{TransactionError, store_error};
            use crate::sql;
            use async_trait::async_trait;
            use roster_core::journal::Journal;
            use roster_core::store::{ApiKey, ApiKeyStore, StoreResult};
            use roster_core::{ApiKeyId, User, UserId};
            use sqlx::Transaction;
            use sqlx::types::Json;
            use time::OffsetDateTime;

            type Db = $database;

            impl $store {
                /// Runs `statement` (`sql::INSERT_API_KEY` or a variant) for an API key of
                /// `user` inside `transaction`.
                async fn insert_api_key_row(
                    transaction: &mut Transaction<'static, Db>,
                    statement: &'static str,
                    key: &ApiKey,
                    user: UserId,
                    digest: &str,
                ) -> Result<(), TransactionError> {
                    sqlx::query(statement)
                        .bind(key.id.0)
                        .bind(user.0)
                        .bind(key.name.as_str())
                        .bind(key.prefix.as_str())
                        .bind(Json(key.scopes.clone()))
                        .bind(to_ms(key.created_at))
                        .bind(key.expires_at.map(to_ms))
                        .bind(key.last_used_at.map(to_ms))
                        .bind(digest)
                        .execute(&mut **transaction)
                        .await?;
                    Ok(())
                }
            }

            #[async_trait]
            impl ApiKeyStore for $store {
                async fn insert_api_key(&self, key: &ApiKey, digest: &str, journal: &Journal) -> StoreResult<()> {
                    write_transaction!(self, |transaction| {
                        Self::insert_api_key_row(&mut transaction, sql::INSERT_API_KEY, key, key.user_id, digest)
                            .await?;
                        Self::write_journal(&mut transaction, journal).await?;
                        Ok(())
                    })?;
                    Ok(())
                }

                async fn get_api_key_by_digest(&self, digest: &str) -> StoreResult<ApiKey> {
                    let row: ApiKeyRow = sqlx::query_as(sql::GET_API_KEY_BY_DIGEST)
                        .bind(digest)
                        .fetch_one(self.read_pool())
                        .await
                        .map_err(store_error)?;
                    row.into_api_key()
                }

                async fn get_api_key_with_user(&self, digest: &str) -> StoreResult<(ApiKey, User)> {
                    let row: ApiKeyWithUserRow = sqlx::query_as(sql::GET_API_KEY_WITH_USER)
                        .bind(digest)
                        .fetch_one(self.read_pool())
                        .await
                        .map_err(store_error)?;
                    row.into_pair()
                }

                async fn list_api_keys(&self, user: UserId) -> StoreResult<Vec<ApiKey>> {
                    let rows = sqlx::query_as(sql::LIST_API_KEYS)
                        .bind(user.0)
                        .fetch_all(self.read_pool())
                        .await
                        .map_err(store_error)?;
                    convert_all(rows, ApiKeyRow::into_api_key)
                }

                async fn delete_api_key(&self, user: UserId, id: ApiKeyId, journal: &Journal) -> StoreResult<()> {
                    self.write_one_row(sqlx::query(sql::DELETE_API_KEY).bind(id.0).bind(user.0), journal)
                        .await
                }

                async fn touch_api_key(&self, id: ApiKeyId, at: OffsetDateTime) -> StoreResult<()> {
                    self.touch_one_row(sqlx::query(sql::TOUCH_API_KEY).bind(id.0).bind(to_ms(at)))
                        .await
                }

                async fn delete_api_keys_of_user(&self, user: UserId, journal: &Journal) -> StoreResult<u64> {
                    let deleted = write_transaction!(self, |transaction| {
                        let deleted = sqlx::query(sql::DELETE_API_KEYS_OF_USER)
                            .bind(user.0)
                            .execute(&mut *transaction)
                            .await?
                            .rows_affected();
                        if deleted > 0 {
                            Self::write_journal(&mut transaction, journal).await?;
                        }
                        Ok(deleted)
                    })?;
                    Ok(deleted)
                }
            }
        };
    };
}
pub(crate) use impl_api_keys;
