//! Instance settings and token signing keys.

/// Implements [`roster_core::store::InstanceStore`] for `$store`, whose pools hold `$database` connections.
macro_rules! impl_instance {
    ($store:ty, $database:ty) => {
        const _: () = {
            use crate::capability::common::write_transaction;
            use crate::codec::{SigningKeyRow, convert_all, to_ms};
            use crate::error::store_error;
            use crate::{sql, two_factor};
            use async_trait::async_trait;
            use roster_core::journal::Journal;
            use roster_core::store::{InstanceStore, StoreResult};
            use roster_core::token::SigningKeyRecord;
            use time::OffsetDateTime;

            #[async_trait]
            impl InstanceStore for $store {
                async fn get_instance_setting(&self, name: &str) -> StoreResult<Option<String>> {
                    sqlx::query_scalar(two_factor::GET_INSTANCE_SETTING)
                        .bind(name)
                        .fetch_optional(self.read_pool())
                        .await
                        .map_err(store_error)
                }

                async fn init_instance_setting(
                    &self,
                    name: &str,
                    value: &str,
                    at: OffsetDateTime,
                ) -> StoreResult<String> {
                    let stored = write_transaction!(self, |transaction| {
                        sqlx::query(two_factor::INIT_INSTANCE_SETTING)
                            .bind(name)
                            .bind(value)
                            .bind(to_ms(at))
                            .execute(&mut *transaction)
                            .await?;
                        let stored: String = sqlx::query_scalar(two_factor::GET_INSTANCE_SETTING)
                            .bind(name)
                            .fetch_one(&mut *transaction)
                            .await?;
                        Ok(stored)
                    })?;
                    Ok(stored)
                }

                async fn put_instance_setting(
                    &self,
                    name: &str,
                    value: &str,
                    at: OffsetDateTime,
                    journal: &Journal,
                ) -> StoreResult<()> {
                    write_transaction!(self, |transaction| {
                        sqlx::query(two_factor::PUT_INSTANCE_SETTING)
                            .bind(name)
                            .bind(value)
                            .bind(to_ms(at))
                            .execute(&mut *transaction)
                            .await?;
                        Self::write_journal(&mut transaction, journal).await?;
                        Ok(())
                    })
                    .map_err(Into::into)
                }

                async fn list_signing_keys(&self) -> StoreResult<Vec<SigningKeyRecord>> {
                    let rows = sqlx::query_as(sql::LIST_SIGNING_KEYS)
                        .fetch_all(self.read_pool())
                        .await
                        .map_err(store_error)?;
                    convert_all(rows, SigningKeyRow::into_record)
                }

                async fn insert_signing_key(&self, key: &SigningKeyRecord) -> StoreResult<bool> {
                    let inserted = write_transaction!(self, |transaction| {
                        let inserted = sqlx::query(sql::INSERT_SIGNING_KEY)
                            .bind(key.kid.as_str())
                            .bind(key.generation)
                            .bind(key.private_pkcs8.as_slice())
                            .bind(key.public_key.as_slice())
                            .bind(to_ms(key.created_at))
                            .execute(&mut *transaction)
                            .await?
                            .rows_affected();
                        Ok(inserted == 1)
                    })?;
                    Ok(inserted)
                }

                async fn update_signing_key_private(&self, kid: &str, private_key: &[u8]) -> StoreResult<()> {
                    self.write_one_row(
                        sqlx::query(two_factor::UPDATE_SIGNING_KEY_PRIVATE)
                            .bind(kid.to_string())
                            .bind(private_key.to_vec()),
                        &Journal::default(),
                    )
                    .await
                }
            }
        };
    };
}
pub(crate) use impl_instance;
