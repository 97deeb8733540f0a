//! Two-factor authentication: enrolments, backup codes and login challenges (migration 0008).

/// Implements [`roster_core::store::TwoFactorStore`] for `$store`, whose pools hold `$database` connections.
macro_rules! impl_two_factor {
    ($store:ty, $database:ty) => {
        const _: () = {
            use crate::capability::common::write_transaction;
            use crate::codec::{from_ms, to_ms};
            use crate::error::store_error;
            use crate::two_factor;
            use crate::two_factor::TwoFactorRow;
            use async_trait::async_trait;
            use roster_core::UserId;
            use roster_core::journal::Journal;
            use roster_core::store::{StoreError, StoreResult, TwoFactorStore};
            use roster_core::two_factor::{BackupCodeRecord, TwoFactorChallengeRecord, TwoFactorRecord};
            use time::OffsetDateTime;

            #[async_trait]
            impl TwoFactorStore for $store {
                async fn get_two_factor(&self, user: UserId) -> StoreResult<Option<TwoFactorRecord>> {
                    let row: Option<TwoFactorRow> = sqlx::query_as(two_factor::GET_TWO_FACTOR)
                        .bind(user.0)
                        .fetch_optional(self.read_pool())
                        .await
                        .map_err(store_error)?;
                    row.map(two_factor::into_record).transpose()
                }

                async fn begin_two_factor(&self, record: &TwoFactorRecord, digests: &[String]) -> StoreResult<bool> {
                    let begun = write_transaction!(self, |transaction| {
                        let written = sqlx::query(two_factor::BEGIN_TWO_FACTOR)
                            .bind(record.user_id.0)
                            .bind(record.sealed_secret.as_str())
                            .bind(to_ms(record.created_at))
                            .execute(&mut *transaction)
                            .await?
                            .rows_affected();
                        if written == 0 {
                            return Ok(false);
                        }
                        sqlx::query(two_factor::DELETE_BACKUP_CODES)
                            .bind(record.user_id.0)
                            .execute(&mut *transaction)
                            .await?;
                        for digest in digests {
                            sqlx::query(two_factor::INSERT_BACKUP_CODE)
                                .bind(record.user_id.0)
                                .bind(digest.as_str())
                                .execute(&mut *transaction)
                                .await?;
                        }
                        Ok(true)
                    })?;
                    Ok(begun)
                }

                async fn enable_two_factor(
                    &self,
                    user: UserId,
                    step: i64,
                    at: OffsetDateTime,
                    journal: &Journal,
                ) -> StoreResult<bool> {
                    let enabled = write_transaction!(self, |transaction| {
                        let enabled = sqlx::query(two_factor::ENABLE_TWO_FACTOR)
                            .bind(user.0)
                            .bind(to_ms(at))
                            .bind(step)
                            .execute(&mut *transaction)
                            .await?
                            .rows_affected();
                        if enabled == 1 {
                            Self::write_journal(&mut transaction, journal).await?;
                        }
                        Ok(enabled)
                    })?;
                    Ok(enabled == 1)
                }

                async fn use_two_factor_step(&self, user: UserId, step: i64) -> StoreResult<bool> {
                    let used = write_transaction!(self, |transaction| {
                        Ok(sqlx::query(two_factor::USE_TWO_FACTOR_STEP)
                            .bind(user.0)
                            .bind(step)
                            .execute(&mut *transaction)
                            .await?
                            .rows_affected())
                    })?;
                    Ok(used == 1)
                }

                async fn use_backup_code(&self, user: UserId, digest: &str, at: OffsetDateTime) -> StoreResult<bool> {
                    let used = write_transaction!(self, |transaction| {
                        Ok(sqlx::query(two_factor::USE_BACKUP_CODE)
                            .bind(user.0)
                            .bind(digest)
                            .bind(to_ms(at))
                            .execute(&mut *transaction)
                            .await?
                            .rows_affected())
                    })?;
                    Ok(used == 1)
                }

                async fn list_backup_codes(&self, user: UserId) -> StoreResult<Vec<BackupCodeRecord>> {
                    let rows: Vec<(String, Option<i64>)> = sqlx::query_as(two_factor::LIST_BACKUP_CODES)
                        .bind(user.0)
                        .fetch_all(self.read_pool())
                        .await
                        .map_err(store_error)?;
                    rows.into_iter()
                        .map(|(digest, used_at)| {
                            Ok(BackupCodeRecord {
                                digest,
                                used_at: used_at.map(from_ms).transpose()?,
                            })
                        })
                        .collect()
                }

                async fn replace_backup_codes(
                    &self,
                    user: UserId,
                    digests: &[String],
                    journal: &Journal,
                ) -> StoreResult<bool> {
                    let replaced = write_transaction!(self, |transaction| {
                        let enabled = sqlx::query(two_factor::LOCK_ENABLED_TWO_FACTOR)
                            .bind(user.0)
                            .execute(&mut *transaction)
                            .await?
                            .rows_affected();
                        if enabled == 0 {
                            return Ok(false);
                        }
                        sqlx::query(two_factor::DELETE_BACKUP_CODES)
                            .bind(user.0)
                            .execute(&mut *transaction)
                            .await?;
                        for digest in digests {
                            sqlx::query(two_factor::INSERT_BACKUP_CODE)
                                .bind(user.0)
                                .bind(digest.as_str())
                                .execute(&mut *transaction)
                                .await?;
                        }
                        Self::write_journal(&mut transaction, journal).await?;
                        Ok(true)
                    })?;
                    Ok(replaced)
                }

                async fn delete_two_factor(&self, user: UserId, journal: &Journal) -> StoreResult<bool> {
                    let deleted = write_transaction!(self, |transaction| {
                        for statement in [
                            two_factor::DELETE_CHALLENGES_OF_USER,
                            two_factor::DELETE_BACKUP_CODES,
                        ] {
                            sqlx::query(statement)
                                .bind(user.0)
                                .execute(&mut *transaction)
                                .await?;
                        }
                        let deleted = sqlx::query(two_factor::DELETE_TWO_FACTOR)
                            .bind(user.0)
                            .execute(&mut *transaction)
                            .await?
                            .rows_affected();
                        if deleted == 1 {
                            Self::write_journal(&mut transaction, journal).await?;
                        }
                        Ok(deleted)
                    })?;
                    Ok(deleted == 1)
                }

                async fn insert_two_factor_challenge(
                    &self,
                    challenge: &TwoFactorChallengeRecord,
                    digest: &str,
                ) -> StoreResult<()> {
                    write_transaction!(self, |transaction| {
                        sqlx::query(two_factor::DELETE_EXPIRED_CHALLENGES_OF_USER)
                            .bind(challenge.user_id.0)
                            .bind(to_ms(challenge.created_at))
                            .execute(&mut *transaction)
                            .await?;
                        sqlx::query(two_factor::INSERT_CHALLENGE)
                            .bind(digest)
                            .bind(challenge.user_id.0)
                            .bind(to_ms(challenge.created_at))
                            .bind(to_ms(challenge.expires_at))
                            .execute(&mut *transaction)
                            .await?;
                        Ok(())
                    })?;
                    Ok(())
                }

                async fn attempt_two_factor_challenge(
                    &self,
                    digest: &str,
                    now: OffsetDateTime,
                    max_attempts: i32,
                ) -> StoreResult<TwoFactorChallengeRecord> {
                    let row = write_transaction!(self, |transaction| {
                        let row: Option<(i64, i64, i64, i32)> = sqlx::query_as(two_factor::ATTEMPT_CHALLENGE)
                            .bind(digest)
                            .bind(to_ms(now))
                            .bind(max_attempts)
                            .fetch_optional(&mut *transaction)
                            .await?;
                        row.ok_or_else(|| StoreError::NotFound.into())
                    })?;
                    let (user_id, created_at, expires_at, attempts) = row;
                    Ok(TwoFactorChallengeRecord {
                        user_id: UserId(user_id),
                        created_at: from_ms(created_at)?,
                        expires_at: from_ms(expires_at)?,
                        attempts,
                    })
                }

                async fn delete_two_factor_challenge(&self, digest: &str) -> StoreResult<bool> {
                    let deleted = write_transaction!(self, |transaction| {
                        Ok(sqlx::query(two_factor::DELETE_CHALLENGE)
                            .bind(digest)
                            .execute(&mut *transaction)
                            .await?
                            .rows_affected())
                    })?;
                    Ok(deleted == 1)
                }
            }
        };
    };
}
pub(crate) use impl_two_factor;
