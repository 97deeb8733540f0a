//! Two-factor authentication, shared instance settings and sealed user secrets (migration
//! 0008): the SQL and the store methods, expanded for each backend by `impl_two_factor!` as
//! inherent methods that `impl_store!` delegates to. No policy: the core decides.

pub(crate) const GET_INSTANCE_SETTING: &str = "SELECT value FROM instance_settings WHERE name = $1";
pub(crate) const INIT_INSTANCE_SETTING: &str =
    "INSERT INTO instance_settings (name, value, created_at) VALUES ($1, $2, $3) ON CONFLICT (name) DO NOTHING";
pub(crate) const UPDATE_SIGNING_KEY_PRIVATE: &str = "UPDATE signing_keys SET private_key = $2 WHERE kid = $1";

pub(crate) const GET_TWO_FACTOR: &str =
    "SELECT user_id, secret, enabled_at, last_used_step, created_at FROM two_factor WHERE user_id = $1";
/// Starts or restarts a pending enrolment; touches no row when 2FA is enabled.
pub(crate) const BEGIN_TWO_FACTOR: &str = "INSERT INTO two_factor (user_id, secret, enabled_at, last_used_step, \
     created_at) VALUES ($1, $2, NULL, NULL, $3) ON CONFLICT (user_id) DO UPDATE SET secret = excluded.secret, \
     last_used_step = NULL, created_at = excluded.created_at WHERE two_factor.enabled_at IS NULL";
pub(crate) const ENABLE_TWO_FACTOR: &str =
    "UPDATE two_factor SET enabled_at = $2, last_used_step = $3 WHERE user_id = $1 AND enabled_at IS NULL";
pub(crate) const USE_TWO_FACTOR_STEP: &str = "UPDATE two_factor SET last_used_step = $2 WHERE user_id = $1 \
     AND enabled_at IS NOT NULL AND (last_used_step IS NULL OR last_used_step < $2)";
pub(crate) const USE_BACKUP_CODE: &str = "UPDATE two_factor_backup_codes SET used_at = $3 WHERE user_id = $1 \
     AND digest = $2 AND used_at IS NULL \
     AND EXISTS (SELECT 1 FROM two_factor WHERE two_factor.user_id = $1 AND enabled_at IS NOT NULL)";
pub(crate) const LIST_BACKUP_CODES: &str =
    "SELECT digest, used_at FROM two_factor_backup_codes WHERE user_id = $1 ORDER BY digest";
/// Locks an enabled enrolment (PostgreSQL: the row) for a change of its backup codes.
pub(crate) const LOCK_ENABLED_TWO_FACTOR: &str =
    "UPDATE two_factor SET created_at = created_at WHERE user_id = $1 AND enabled_at IS NOT NULL";
pub(crate) const DELETE_BACKUP_CODES: &str = "DELETE FROM two_factor_backup_codes WHERE user_id = $1";
pub(crate) const INSERT_BACKUP_CODE: &str =
    "INSERT INTO two_factor_backup_codes (user_id, digest, used_at) VALUES ($1, $2, NULL) ON CONFLICT DO NOTHING";
/// A migrated, enabled enrolment: written when there is none or a pending one; touches no row
/// when one is enabled.
pub(crate) const MIGRATE_TWO_FACTOR: &str = "INSERT INTO two_factor (user_id, secret, enabled_at, last_used_step, \
     created_at) VALUES ($1, $2, $3, $4, $5) ON CONFLICT (user_id) DO UPDATE SET secret = excluded.secret, \
     enabled_at = excluded.enabled_at, last_used_step = excluded.last_used_step, created_at = excluded.created_at \
     WHERE two_factor.enabled_at IS NULL";
/// A migrated backup code, kept when already stored.
pub(crate) const MIGRATE_BACKUP_CODE: &str =
    "INSERT INTO two_factor_backup_codes (user_id, digest, used_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING";
/// Marks a stored, unused backup code used (a migrated code used in the source since).
pub(crate) const MARK_BACKUP_CODE_USED: &str =
    "UPDATE two_factor_backup_codes SET used_at = $3 WHERE user_id = $1 AND digest = $2 AND used_at IS NULL";
pub(crate) const DELETE_CHALLENGES_OF_USER: &str = "DELETE FROM two_factor_challenges WHERE user_id = $1";
pub(crate) const DELETE_TWO_FACTOR: &str = "DELETE FROM two_factor WHERE user_id = $1";
pub(crate) const DELETE_EXPIRED_CHALLENGES_OF_USER: &str =
    "DELETE FROM two_factor_challenges WHERE user_id = $1 AND expires_at <= $2";
pub(crate) const INSERT_CHALLENGE: &str = "INSERT INTO two_factor_challenges (digest, user_id, created_at, \
     expires_at, attempts) VALUES ($1, $2, $3, $4, 0)";
pub(crate) const ATTEMPT_CHALLENGE: &str = "UPDATE two_factor_challenges SET attempts = attempts + 1 \
     WHERE digest = $1 AND expires_at > $2 AND attempts < $3 RETURNING user_id, created_at, expires_at, attempts";
pub(crate) const DELETE_CHALLENGE: &str = "DELETE FROM two_factor_challenges WHERE digest = $1";

pub(crate) const GET_USER_SECRET: &str = "SELECT value FROM user_secrets WHERE user_id = $1 AND name = $2";
pub(crate) const LIST_USER_SECRETS_HEAD: &str = "SELECT user_id, value FROM user_secrets WHERE name = ";
pub(crate) const COUNT_USER: &str = "SELECT COUNT(*) FROM users WHERE id = $1";
pub(crate) const PUT_USER_SECRET: &str = "INSERT INTO user_secrets (user_id, name, value, updated_at) \
     VALUES ($1, $2, $3, $4) ON CONFLICT (user_id, name) DO UPDATE SET value = excluded.value, \
     updated_at = excluded.updated_at";
pub(crate) const DELETE_USER_SECRET: &str = "DELETE FROM user_secrets WHERE user_id = $1 AND name = $2";

/// A `two_factor` row.
pub(crate) type TwoFactorRow = (i64, String, Option<i64>, Option<i64>, i64);

pub(crate) fn into_record(
    row: TwoFactorRow,
) -> roster_core::store::StoreResult<roster_core::two_factor::TwoFactorRecord> {
    let (user_id, sealed_secret, enabled_at, last_used_step, created_at) = row;
    Ok(roster_core::two_factor::TwoFactorRecord {
        user_id: roster_core::UserId(user_id),
        sealed_secret,
        enabled_at: enabled_at.map(crate::codec::from_ms).transpose()?,
        last_used_step,
        created_at: crate::codec::from_ms(created_at)?,
    })
}

/// Implements the inherent `tf_*` methods of `$store`, whose pools hold `$database`
/// connections.
macro_rules! impl_two_factor {
    ($store:ty, $database:ty) => {
        impl $store {
            pub(crate) async fn tf_get_instance_setting(
                &self,
                name: &str,
            ) -> roster_core::store::StoreResult<Option<String>> {
                sqlx::query_scalar($crate::two_factor::GET_INSTANCE_SETTING)
                    .bind(name)
                    .fetch_optional(self.read_pool())
                    .await
                    .map_err($crate::error::store_error)
            }

            pub(crate) async fn tf_init_instance_setting(
                &self,
                name: &str,
                value: &str,
                at: time::OffsetDateTime,
            ) -> roster_core::store::StoreResult<String> {
                let stored = $crate::shared::write_transaction!(self, transaction => {
                    sqlx::query($crate::two_factor::INIT_INSTANCE_SETTING)
                        .bind(name)
                        .bind(value)
                        .bind($crate::codec::to_ms(at))
                        .execute(&mut *transaction)
                        .await?;
                    let stored: String = sqlx::query_scalar($crate::two_factor::GET_INSTANCE_SETTING)
                        .bind(name)
                        .fetch_one(&mut *transaction)
                        .await?;
                    Ok(stored)
                })?;
                Ok(stored)
            }

            pub(crate) async fn tf_update_signing_key_private(
                &self,
                kid: &str,
                private_key: &[u8],
            ) -> roster_core::store::StoreResult<()> {
                self.write_one_row(
                    sqlx::query($crate::two_factor::UPDATE_SIGNING_KEY_PRIVATE).bind(kid.to_string()).bind(private_key.to_vec()),
                    &roster_core::journal::Journal::default(),
                )
                .await
            }

            pub(crate) async fn tf_get_two_factor(
                &self,
                user: roster_core::UserId,
            ) -> roster_core::store::StoreResult<Option<roster_core::two_factor::TwoFactorRecord>> {
                let row: Option<$crate::two_factor::TwoFactorRow> = sqlx::query_as($crate::two_factor::GET_TWO_FACTOR)
                    .bind(user.0)
                    .fetch_optional(self.read_pool())
                    .await
                    .map_err($crate::error::store_error)?;
                row.map($crate::two_factor::into_record).transpose()
            }

            pub(crate) async fn tf_begin_two_factor(
                &self,
                record: &roster_core::two_factor::TwoFactorRecord,
                digests: &[String],
            ) -> roster_core::store::StoreResult<bool> {
                let begun = $crate::shared::write_transaction!(self, transaction => {
                    let written = sqlx::query($crate::two_factor::BEGIN_TWO_FACTOR)
                        .bind(record.user_id.0)
                        .bind(record.sealed_secret.as_str())
                        .bind($crate::codec::to_ms(record.created_at))
                        .execute(&mut *transaction)
                        .await?
                        .rows_affected();
                    if written == 0 {
                        return Ok(false);
                    }
                    sqlx::query($crate::two_factor::DELETE_BACKUP_CODES)
                        .bind(record.user_id.0)
                        .execute(&mut *transaction)
                        .await?;
                    for digest in digests {
                        sqlx::query($crate::two_factor::INSERT_BACKUP_CODE)
                            .bind(record.user_id.0)
                            .bind(digest.as_str())
                            .execute(&mut *transaction)
                            .await?;
                    }
                    Ok(true)
                })?;
                Ok(begun)
            }

            pub(crate) async fn tf_enable_two_factor(
                &self,
                user: roster_core::UserId,
                step: i64,
                at: time::OffsetDateTime,
                journal: &roster_core::journal::Journal,
            ) -> roster_core::store::StoreResult<bool> {
                let enabled = $crate::shared::write_transaction!(self, transaction => {
                    let enabled = sqlx::query($crate::two_factor::ENABLE_TWO_FACTOR)
                        .bind(user.0)
                        .bind($crate::codec::to_ms(at))
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

            pub(crate) async fn tf_use_two_factor_step(
                &self,
                user: roster_core::UserId,
                step: i64,
            ) -> roster_core::store::StoreResult<bool> {
                let used = $crate::shared::write_transaction!(self, transaction => {
                    Ok(sqlx::query($crate::two_factor::USE_TWO_FACTOR_STEP)
                        .bind(user.0)
                        .bind(step)
                        .execute(&mut *transaction)
                        .await?
                        .rows_affected())
                })?;
                Ok(used == 1)
            }

            pub(crate) async fn tf_use_backup_code(
                &self,
                user: roster_core::UserId,
                digest: &str,
                at: time::OffsetDateTime,
            ) -> roster_core::store::StoreResult<bool> {
                let used = $crate::shared::write_transaction!(self, transaction => {
                    Ok(sqlx::query($crate::two_factor::USE_BACKUP_CODE)
                        .bind(user.0)
                        .bind(digest)
                        .bind($crate::codec::to_ms(at))
                        .execute(&mut *transaction)
                        .await?
                        .rows_affected())
                })?;
                Ok(used == 1)
            }

            pub(crate) async fn tf_list_backup_codes(
                &self,
                user: roster_core::UserId,
            ) -> roster_core::store::StoreResult<Vec<roster_core::two_factor::BackupCodeRecord>> {
                let rows: Vec<(String, Option<i64>)> = sqlx::query_as($crate::two_factor::LIST_BACKUP_CODES)
                    .bind(user.0)
                    .fetch_all(self.read_pool())
                    .await
                    .map_err($crate::error::store_error)?;
                rows.into_iter()
                    .map(|(digest, used_at)| {
                        Ok(roster_core::two_factor::BackupCodeRecord {
                            digest,
                            used_at: used_at.map($crate::codec::from_ms).transpose()?,
                        })
                    })
                    .collect()
            }

            pub(crate) async fn tf_replace_backup_codes(
                &self,
                user: roster_core::UserId,
                digests: &[String],
                journal: &roster_core::journal::Journal,
            ) -> roster_core::store::StoreResult<bool> {
                let replaced = $crate::shared::write_transaction!(self, transaction => {
                    let enabled = sqlx::query($crate::two_factor::LOCK_ENABLED_TWO_FACTOR)
                        .bind(user.0)
                        .execute(&mut *transaction)
                        .await?
                        .rows_affected();
                    if enabled == 0 {
                        return Ok(false);
                    }
                    sqlx::query($crate::two_factor::DELETE_BACKUP_CODES)
                        .bind(user.0)
                        .execute(&mut *transaction)
                        .await?;
                    for digest in digests {
                        sqlx::query($crate::two_factor::INSERT_BACKUP_CODE)
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

            pub(crate) async fn tf_delete_two_factor(
                &self,
                user: roster_core::UserId,
                journal: &roster_core::journal::Journal,
            ) -> roster_core::store::StoreResult<bool> {
                let deleted = $crate::shared::write_transaction!(self, transaction => {
                    for statement in [
                        $crate::two_factor::DELETE_CHALLENGES_OF_USER,
                        $crate::two_factor::DELETE_BACKUP_CODES,
                    ] {
                        sqlx::query(statement).bind(user.0).execute(&mut *transaction).await?;
                    }
                    let deleted = sqlx::query($crate::two_factor::DELETE_TWO_FACTOR)
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

            pub(crate) async fn tf_insert_two_factor_challenge(
                &self,
                challenge: &roster_core::two_factor::TwoFactorChallengeRecord,
                digest: &str,
            ) -> roster_core::store::StoreResult<()> {
                $crate::shared::write_transaction!(self, transaction => {
                    sqlx::query($crate::two_factor::DELETE_EXPIRED_CHALLENGES_OF_USER)
                        .bind(challenge.user_id.0)
                        .bind($crate::codec::to_ms(challenge.created_at))
                        .execute(&mut *transaction)
                        .await?;
                    sqlx::query($crate::two_factor::INSERT_CHALLENGE)
                        .bind(digest)
                        .bind(challenge.user_id.0)
                        .bind($crate::codec::to_ms(challenge.created_at))
                        .bind($crate::codec::to_ms(challenge.expires_at))
                        .execute(&mut *transaction)
                        .await?;
                    Ok(())
                })?;
                Ok(())
            }

            pub(crate) async fn tf_attempt_two_factor_challenge(
                &self,
                digest: &str,
                now: time::OffsetDateTime,
                max_attempts: i32,
            ) -> roster_core::store::StoreResult<roster_core::two_factor::TwoFactorChallengeRecord> {
                let row = $crate::shared::write_transaction!(self, transaction => {
                    let row: Option<(i64, i64, i64, i32)> = sqlx::query_as($crate::two_factor::ATTEMPT_CHALLENGE)
                        .bind(digest)
                        .bind($crate::codec::to_ms(now))
                        .bind(max_attempts)
                        .fetch_optional(&mut *transaction)
                        .await?;
                    row.ok_or_else(|| roster_core::StoreError::NotFound.into())
                })?;
                let (user_id, created_at, expires_at, attempts) = row;
                Ok(roster_core::two_factor::TwoFactorChallengeRecord {
                    user_id: roster_core::UserId(user_id),
                    created_at: $crate::codec::from_ms(created_at)?,
                    expires_at: $crate::codec::from_ms(expires_at)?,
                    attempts,
                })
            }

            pub(crate) async fn tf_delete_two_factor_challenge(
                &self,
                digest: &str,
            ) -> roster_core::store::StoreResult<bool> {
                let deleted = $crate::shared::write_transaction!(self, transaction => {
                    Ok(sqlx::query($crate::two_factor::DELETE_CHALLENGE)
                        .bind(digest)
                        .execute(&mut *transaction)
                        .await?
                        .rows_affected())
                })?;
                Ok(deleted == 1)
            }

            pub(crate) async fn tf_get_user_secret(
                &self,
                user: roster_core::UserId,
                name: &str,
            ) -> roster_core::store::StoreResult<Option<String>> {
                sqlx::query_scalar($crate::two_factor::GET_USER_SECRET)
                    .bind(user.0)
                    .bind(name)
                    .fetch_optional(self.read_pool())
                    .await
                    .map_err($crate::error::store_error)
            }

            pub(crate) async fn tf_list_user_secrets(
                &self,
                users: &[roster_core::UserId],
                name: &str,
            ) -> roster_core::store::StoreResult<Vec<(roster_core::UserId, String)>> {
                if users.is_empty() {
                    return Ok(Vec::new());
                }
                let mut query = sqlx::QueryBuilder::<$database>::new($crate::two_factor::LIST_USER_SECRETS_HEAD);
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
                    .map_err($crate::error::store_error)?;
                Ok(rows.into_iter().map(|(id, value)| (roster_core::UserId(id), value)).collect())
            }

            pub(crate) async fn tf_put_user_secret(
                &self,
                user: roster_core::UserId,
                name: &str,
                value: Option<&str>,
                at: time::OffsetDateTime,
            ) -> roster_core::store::StoreResult<()> {
                $crate::shared::write_transaction!(self, transaction => {
                    let users: i64 = sqlx::query_scalar($crate::two_factor::COUNT_USER)
                        .bind(user.0)
                        .fetch_one(&mut *transaction)
                        .await?;
                    if users == 0 {
                        return Err(roster_core::StoreError::NotFound.into());
                    }
                    match value {
                        Some(value) => {
                            sqlx::query($crate::two_factor::PUT_USER_SECRET)
                                .bind(user.0)
                                .bind(name)
                                .bind(value)
                                .bind($crate::codec::to_ms(at))
                                .execute(&mut *transaction)
                                .await?;
                        }
                        None => {
                            sqlx::query($crate::two_factor::DELETE_USER_SECRET)
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
}
pub(crate) use impl_two_factor;
