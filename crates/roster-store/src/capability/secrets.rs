//! Users' sealed secrets (migration 0008).

/// Implements [`roster_core::store::UserSecretStore`] for `$store`, whose pools hold `$database` connections.
macro_rules! impl_secrets {
    ($store:ty, $database:ty) => {
        const _: () = {
            use crate::capability::common::write_transaction;
            use crate::codec::to_ms;
            use crate::error::store_error;
            use crate::two_factor;
            use async_trait::async_trait;
            use roster_core::UserId;
            use roster_core::store::{StoreError, StoreResult, UserSecretStore};
            use sqlx::QueryBuilder;
            use time::OffsetDateTime;

            type Db = $database;

            #[async_trait]
            impl UserSecretStore for $store {
                async fn get_user_secret(&self, user: UserId, name: &str) -> StoreResult<Option<String>> {
                    sqlx::query_scalar(two_factor::GET_USER_SECRET)
                        .bind(user.0)
                        .bind(name)
                        .fetch_optional(self.read_pool())
                        .await
                        .map_err(store_error)
                }

                async fn list_user_secrets(&self, users: &[UserId], name: &str) -> StoreResult<Vec<(UserId, String)>> {
                    if users.is_empty() {
                        return Ok(Vec::new());
                    }
                    let mut query = QueryBuilder::<Db>::new(two_factor::LIST_USER_SECRETS_HEAD);
                    query.push_bind(name.to_string()).push(" AND user_id IN (");
                    let mut ids = query.separated(", ");
                    for user in users {
                        ids.push_bind(user.0);
                    }
                    query.push(")");
                    let rows: Vec<(i64, String)> = query
                        .build_query_as()
                        .fetch_all(self.read_pool())
                        .await
                        .map_err(store_error)?;
                    Ok(rows.into_iter().map(|(id, value)| (UserId(id), value)).collect())
                }

                async fn put_user_secret(
                    &self,
                    user: UserId,
                    name: &str,
                    value: Option<&str>,
                    at: OffsetDateTime,
                ) -> StoreResult<()> {
                    write_transaction!(self, |transaction| {
                        let users: i64 = sqlx::query_scalar(two_factor::COUNT_USER)
                            .bind(user.0)
                            .fetch_one(&mut *transaction)
                            .await?;
                        if users == 0 {
                            return Err(StoreError::NotFound.into());
                        }
                        match value {
                            Some(value) => {
                                sqlx::query(two_factor::PUT_USER_SECRET)
                                    .bind(user.0)
                                    .bind(name)
                                    .bind(value)
                                    .bind(to_ms(at))
                                    .execute(&mut *transaction)
                                    .await?;
                            }
                            None => {
                                sqlx::query(two_factor::DELETE_USER_SECRET)
                                    .bind(user.0)
                                    .bind(name)
                                    .execute(&mut *transaction)
                                    .await?;
                            }
                        }
                        Ok(())
                    })?;
                    Ok(())
                }
            }
        };
    };
}
pub(crate) use impl_secrets;
