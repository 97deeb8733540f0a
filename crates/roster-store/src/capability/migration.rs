//! `roster migrate` and imports: external references and migrated records, each in one transaction.

/// Implements [`roster_core::store::MigrationStore`] for `$store`, whose pools hold `$database` connections.
macro_rules! impl_migration {
    ($store:ty, $database:ty) => {
        const _: () = {
            use crate::capability::common::write_transaction;
            use crate::codec::{UserParams, UserRow, check_user_text, to_ms};
            use crate::error::{TransactionError, is_unique_violation, store_error};
            use crate::{codec, sql, two_factor};
            use async_trait::async_trait;
            use roster_core::journal::Journal;
            use roster_core::store::{
                AccountToken, BalanceKind, ExternalRef, Group, MigratedUser, MigrationStore, StoreError, StoreResult,
            };
            use roster_core::{User, UserId};
            use sqlx::QueryBuilder;
            use time::OffsetDateTime;

            type Db = $database;

            impl $store {
                /// Inserts users and claims their login keys inside `transaction` with multi-row
                /// inserts ([`sql::BULK_ROWS_PER_STATEMENT`] users a statement): Conflict
                /// (`email`) when another account, or another of these, holds one of their
                /// identifiers. Returns how many users were inserted.
                pub(crate) async fn insert_user_values(
                    transaction: &mut sqlx::Transaction<'static, Db>,
                    users: &[User],
                ) -> Result<u64, TransactionError> {
                    let mut inserted = 0;
                    for chunk in users.chunks(sql::BULK_ROWS_PER_STATEMENT) {
                        let mut insert = QueryBuilder::<Db>::new(sql::INSERT_USERS_HEAD);
                        insert.push_values(chunk, |mut row, user| {
                            let p = UserParams::new(user);
                            row.push_bind(p.id)
                                .push_bind(p.email)
                                .push_bind(p.email_verified)
                                .push_bind(p.username)
                                .push_bind(p.username_key)
                                .push_bind(p.name)
                                .push_bind(p.password_hash)
                                .push_bind(p.provider)
                                .push_bind(p.role)
                                .push_bind(p.active)
                                .push_bind(p.avatar)
                                .push_bind(p.bio)
                                .push_bind(p.timezone)
                                .push_bind(p.terms_version)
                                .push_bind(p.terms_accepted_at)
                                .push_bind(p.preferences)
                                .push_bind(p.created_at)
                                .push_bind(p.updated_at)
                                .push_bind(p.last_login_at)
                                .push_bind(p.last_active_at)
                                .push_bind(p.search_key)
                                .push_bind(user.revision);
                        });
                        inserted += insert.build().execute(&mut **transaction).await?.rows_affected();
                        let keys: Vec<(String, i64)> = chunk
                            .iter()
                            .flat_map(|user| {
                                codec::login_keys(user)
                                    .into_iter()
                                    .map(move |(key, _)| (key, user.id.0))
                            })
                            .collect();
                        if !keys.is_empty() {
                            let mut claim = QueryBuilder::<Db>::new(sql::CLAIM_LOGIN_KEYS_HEAD);
                            claim.push_values(&keys, |mut row, (key, id)| {
                                row.push_bind(key.as_str()).push_bind(*id);
                            });
                            claim.push(" ON CONFLICT (login_key) DO NOTHING");
                            if claim.build().execute(&mut **transaction).await?.rows_affected() < keys.len() as u64 {
                                // An identifier another account (or another of these) holds.
                                return Err(StoreError::Conflict { field: "email" }.into());
                            }
                        }
                    }
                    Ok(inserted)
                }
            }

            #[async_trait]
            impl MigrationStore for $store {
                async fn list_external_refs(&self, source: &str, kind: &str) -> StoreResult<Vec<ExternalRef>> {
                    let rows: Vec<(String, String, String, i64, Option<String>)> =
                        sqlx::query_as(sql::LIST_EXTERNAL_REFS)
                            .bind(source)
                            .bind(kind)
                            .fetch_all(self.read_pool())
                            .await
                            .map_err(store_error)?;
                    Ok(rows
                        .into_iter()
                        .map(|(source, kind, external_id, local_id, fingerprint)| ExternalRef {
                            source,
                            kind,
                            external_id,
                            local_id,
                            fingerprint,
                        })
                        .collect())
                }

                async fn write_migrated_user(&self, migrated: &MigratedUser) -> StoreResult<User> {
                    let user = &migrated.user;
                    let params = UserParams::checked(user)?;
                    let now = to_ms(OffsetDateTime::now_utc());
                    let result = write_transaction!(self, |transaction| {
                        let row: UserRow = if migrated.is_new {
                            sqlx::query(sql::CLAIM_FIRST_ACCOUNT)
                                .execute(&mut *transaction)
                                .await?;
                            Self::insert_user_row(&mut transaction, user, params).await?
                        } else {
                            let Some(row) =
                                Self::update_user_row(&mut transaction, user, migrated.keep_an_admin, None).await?
                            else {
                                return Err(StoreError::Stale.into());
                            };
                            row
                        };
                        sqlx::query(sql::PUT_EXTERNAL_REF)
                            .bind(&migrated.source)
                            .bind("user")
                            .bind(&migrated.external_id)
                            .bind(user.id.0)
                            .bind(migrated.fingerprint.as_deref())
                            .bind(now)
                            .execute(&mut *transaction)
                            .await?;
                        for (external_id, key, digest) in &migrated.api_keys {
                            let seen: i64 = sqlx::query_scalar(sql::COUNT_EXTERNAL_REF)
                                .bind(&migrated.source)
                                .bind("api_key")
                                .bind(external_id)
                                .fetch_one(&mut *transaction)
                                .await?;
                            if seen > 0 {
                                continue;
                            }
                            sqlx::query(sql::PUT_EXTERNAL_REF)
                                .bind(&migrated.source)
                                .bind("api_key")
                                .bind(external_id)
                                .bind(key.id.0)
                                .bind(None::<String>)
                                .bind(now)
                                .execute(&mut *transaction)
                                .await?;
                            let statement = sql::INSERT_API_KEY_IF_NEW;
                            Self::insert_api_key_row(&mut transaction, statement, key, user.id, digest).await?;
                        }
                        for (external_id, entry) in &migrated.transactions {
                            let seen: i64 = sqlx::query_scalar(sql::COUNT_EXTERNAL_REF)
                                .bind(&migrated.source)
                                .bind("transaction")
                                .bind(external_id)
                                .fetch_one(&mut *transaction)
                                .await?;
                            if seen > 0 {
                                continue;
                            }
                            sqlx::query(sql::INSERT_BALANCE_TRANSACTION)
                                .bind(entry.id)
                                .bind(user.id.0)
                                .bind(entry.kind.as_str())
                                .bind(entry.amount)
                                .bind(to_ms(entry.created_at))
                                .execute(&mut *transaction)
                                .await?;
                            sqlx::query(sql::PUT_EXTERNAL_REF)
                                .bind(&migrated.source)
                                .bind("transaction")
                                .bind(external_id)
                                .bind(entry.id)
                                .bind(None::<String>)
                                .bind(now)
                                .execute(&mut *transaction)
                                .await?;
                        }
                        if let Some(balance) = &migrated.balance {
                            // The imported balance replaces the start grant: mark it taken.
                            sqlx::query(sql::INSERT_BALANCE_TRANSACTION)
                                .bind(balance.grant_id)
                                .bind(user.id.0)
                                .bind(BalanceKind::StartGrant.as_str())
                                .bind(0_i64)
                                .bind(to_ms(balance.at))
                                .execute(&mut *transaction)
                                .await?;
                            let (current, _): (i64, i64) = sqlx::query_as(sql::GET_BALANCE)
                                .bind(user.id.0)
                                .fetch_one(&mut *transaction)
                                .await?;
                            let amount = balance.target.saturating_sub(current);
                            if amount != 0 {
                                sqlx::query(sql::INSERT_BALANCE_TRANSACTION)
                                    .bind(balance.adjustment_id)
                                    .bind(user.id.0)
                                    .bind(BalanceKind::Adjustment.as_str())
                                    .bind(amount)
                                    .bind(to_ms(balance.at))
                                    .execute(&mut *transaction)
                                    .await?;
                            }
                        }
                        if let Some(two_factor) = &migrated.two_factor {
                            if let Some(enrolment) = &two_factor.enrolment {
                                let written = sqlx::query(two_factor::MIGRATE_TWO_FACTOR)
                                    .bind(user.id.0)
                                    .bind(enrolment.sealed_secret.as_str())
                                    .bind(enrolment.enabled_at.map(to_ms))
                                    .bind(enrolment.last_used_step)
                                    .bind(to_ms(enrolment.created_at))
                                    .execute(&mut *transaction)
                                    .await?
                                    .rows_affected();
                                if written == 0 {
                                    // Enabled in Roster since the plan was made.
                                    return Err(StoreError::Stale.into());
                                }
                                // A pending enrolment's codes go with it.
                                sqlx::query(two_factor::DELETE_BACKUP_CODES)
                                    .bind(user.id.0)
                                    .execute(&mut *transaction)
                                    .await?;
                            }
                            for code in &two_factor.backup_codes {
                                sqlx::query(two_factor::MIGRATE_BACKUP_CODE)
                                    .bind(user.id.0)
                                    .bind(code.digest.as_str())
                                    .bind(code.used_at.map(to_ms))
                                    .execute(&mut *transaction)
                                    .await?;
                                if let Some(at) = code.used_at {
                                    sqlx::query(two_factor::MARK_BACKUP_CODE_USED)
                                        .bind(user.id.0)
                                        .bind(code.digest.as_str())
                                        .bind(to_ms(at))
                                        .execute(&mut *transaction)
                                        .await?;
                                }
                            }
                        }
                        Self::write_journal(&mut transaction, &migrated.journal).await?;
                        Ok(row)
                    });
                    match result {
                        Ok(row) => row.into_user(),
                        Err(error) => Err(self.user_write_error(error, user).await),
                    }
                }

                async fn write_migrated_group(
                    &self,
                    source: &str,
                    external_id: &str,
                    group: &Group,
                    is_new: bool,
                    members: &[UserId],
                ) -> StoreResult<()> {
                    write_transaction!(self, |transaction| {
                        if is_new {
                            Self::insert_group_row(&mut transaction, group).await?;
                        } else {
                            Self::update_group_row(&mut transaction, group).await?;
                        }
                        for member in members {
                            sqlx::query(sql::INSERT_GROUP_MEMBER)
                                .bind(group.id.0)
                                .bind(member.0)
                                .bind(to_ms(group.updated_at))
                                .execute(&mut *transaction)
                                .await?;
                        }
                        sqlx::query(sql::PUT_EXTERNAL_REF)
                            .bind(source)
                            .bind("group")
                            .bind(external_id)
                            .bind(group.id.0)
                            .bind(None::<String>)
                            .bind(to_ms(OffsetDateTime::now_utc()))
                            .execute(&mut *transaction)
                            .await?;
                        Ok(())
                    })
                    .map_err(Into::into)
                }

                async fn insert_users_with_tokens(
                    &self,
                    users: &[User],
                    tokens: &[(AccountToken, String)],
                    journal: &Journal,
                ) -> StoreResult<u64> {
                    for user in users {
                        check_user_text(user)?;
                    }
                    let inserted = write_transaction!(self, |transaction| {
                        sqlx::query(sql::CLAIM_FIRST_ACCOUNT)
                            .execute(&mut *transaction)
                            .await?;
                        let inserted = Self::bulk_insert_users(&mut transaction, users).await?;
                        for (token, digest) in tokens {
                            Self::insert_account_token_row(&mut transaction, token, digest).await?;
                        }
                        Self::write_journal(&mut transaction, journal).await?;
                        Ok(inserted)
                    });
                    inserted.map_err(|e| match e {
                        TransactionError::Database(e) if is_unique_violation(&e) => {
                            StoreError::Conflict { field: "email" }
                        }
                        other => other.into(),
                    })
                }
            }
        };
    };
}
pub(crate) use impl_migration;
