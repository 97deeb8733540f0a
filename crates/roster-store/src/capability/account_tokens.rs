//! Single-use account tokens (invitations, password resets) and email verifications.

/// Implements [`roster_core::store::AccountTokenStore`] for `$store`, whose pools hold `$database` connections.
macro_rules! impl_account_tokens {
    ($store:ty, $database:ty) => {
        const _: () = {
            use crate::capability::common::write_transaction;
            use crate::codec::{AccountTokenRow, InvitationRow, UserParams, from_ms, to_ms};
            use crate::error::{TransactionError, store_error};
            use crate::sql;
            use async_trait::async_trait;
            use roster_core::journal::{Journal, JournalFor};
            use roster_core::store::{
                AccountToken, AccountTokenKind, AccountTokenStore, EmailChange, EmailVerification, InvitationPosition,
                StoreError, StoreResult, StoredInvitation,
            };
            use roster_core::{Role, User, UserId};
            use sqlx::Transaction;
            use time::OffsetDateTime;

            type Db = $database;

            /// An `email_changes` row as read.
            fn email_change((user, new_email, created, expires): (i64, String, i64, i64)) -> StoreResult<EmailChange> {
                Ok(EmailChange {
                    user_id: UserId(user),
                    new_email,
                    created_at: from_ms(created)?,
                    expires_at: from_ms(expires)?,
                })
            }

            impl $store {
                /// Stores an account token (the secret as a digest) inside `transaction`.
                async fn insert_account_token_row(
                    transaction: &mut Transaction<'static, Db>,
                    token: &AccountToken,
                    digest: &str,
                ) -> Result<(), TransactionError> {
                    sqlx::query(sql::INSERT_ACCOUNT_TOKEN)
                        .bind(digest)
                        .bind(token.kind.as_str())
                        .bind(token.user_id.map(|u| u.0))
                        .bind(token.email.as_deref())
                        .bind(token.role.map(Role::as_str))
                        .bind(to_ms(token.created_at))
                        .bind(to_ms(token.expires_at))
                        .bind(token.used_at.map(to_ms))
                        .execute(&mut **transaction)
                        .await?;
                    Ok(())
                }
            }

            #[async_trait]
            impl AccountTokenStore for $store {
                async fn insert_account_token(&self, token: &AccountToken, digest: &str) -> StoreResult<()> {
                    write_transaction!(self, |transaction| {
                        Self::insert_account_token_row(&mut transaction, token, digest).await
                    })?;
                    Ok(())
                }

                async fn insert_account_token_journaled(
                    &self,
                    token: &AccountToken,
                    digest: &str,
                    journal: &Journal,
                ) -> StoreResult<()> {
                    write_transaction!(self, |transaction| {
                        Self::insert_account_token_row(&mut transaction, token, digest).await?;
                        Self::write_journal(&mut transaction, journal).await?;
                        Ok(())
                    })?;
                    Ok(())
                }

                async fn get_account_token(&self, digest: &str) -> StoreResult<AccountToken> {
                    let row: AccountTokenRow = sqlx::query_as(sql::GET_ACCOUNT_TOKEN)
                        .bind(digest)
                        .fetch_one(self.read_pool())
                        .await
                        .map_err(store_error)?;
                    row.into_token()
                }

                async fn list_invitations(
                    &self,
                    after: Option<&InvitationPosition>,
                    limit: i64,
                ) -> StoreResult<Vec<StoredInvitation>> {
                    let query = match after {
                        None => sqlx::query_as::<Db, InvitationRow>(sql::LIST_INVITATIONS).bind(limit),
                        Some(after) => sqlx::query_as::<Db, InvitationRow>(sql::LIST_INVITATIONS_AFTER)
                            .bind(to_ms(after.created_at))
                            .bind(after.id.as_str())
                            .bind(limit),
                    };
                    let rows: Vec<InvitationRow> = query.fetch_all(self.read_pool()).await.map_err(store_error)?;
                    rows.into_iter()
                        .map(|row| {
                            Ok(StoredInvitation {
                                id: row.digest,
                                token: row.token.into_token()?,
                            })
                        })
                        .collect()
                }

                async fn delete_pending_invitation(
                    &self,
                    id: &str,
                    now: OffsetDateTime,
                    journal: &Journal,
                ) -> StoreResult<()> {
                    write_transaction!(self, |transaction| {
                        let deleted = sqlx::query(sql::DELETE_PENDING_INVITATION)
                            .bind(id)
                            .bind(to_ms(now))
                            .execute(&mut *transaction)
                            .await?
                            .rows_affected();
                        if deleted == 0 {
                            return Err(StoreError::NotFound.into());
                        }
                        Self::write_journal(&mut transaction, journal).await?;
                        Ok(())
                    })?;
                    Ok(())
                }

                async fn use_account_token(
                    &self,
                    digest: &str,
                    kind: AccountTokenKind,
                    now: OffsetDateTime,
                ) -> StoreResult<AccountToken> {
                    let row = write_transaction!(self, |transaction| {
                        let row: Option<AccountTokenRow> = sqlx::query_as(sql::USE_ACCOUNT_TOKEN)
                            .bind(digest)
                            .bind(kind.as_str())
                            .bind(to_ms(now))
                            .fetch_optional(&mut *transaction)
                            .await?;
                        row.ok_or_else(|| StoreError::NotFound.into())
                    })?;
                    row.into_token()
                }

                async fn insert_user_with_invitation(
                    &self,
                    user: &User,
                    digest: &str,
                    now: OffsetDateTime,
                    journal: &Journal,
                ) -> StoreResult<User> {
                    let params = UserParams::checked(user)?;
                    let result = write_transaction!(self, |transaction| {
                        let used = sqlx::query(sql::USE_ACCOUNT_TOKEN)
                            .bind(digest)
                            .bind(AccountTokenKind::Invitation.as_str())
                            .bind(to_ms(now))
                            .execute(&mut *transaction)
                            .await?
                            .rows_affected();
                        if used == 0 {
                            return Err(StoreError::NotFound.into());
                        }
                        Self::insert_new_user(&mut transaction, user, params, true, journal).await
                    });
                    match result {
                        Ok(user) => Ok(user),
                        Err(error) => Err(self.user_write_error(error, user).await),
                    }
                }

                async fn put_email_change(
                    &self,
                    change: &EmailChange,
                    digest: &str,
                    journal: &Journal,
                ) -> StoreResult<()> {
                    write_transaction!(self, |transaction| {
                        sqlx::query(sql::PUT_EMAIL_CHANGE)
                            .bind(change.user_id.0)
                            .bind(digest)
                            .bind(change.new_email.as_str())
                            .bind(to_ms(change.created_at))
                            .bind(to_ms(change.expires_at))
                            .execute(&mut *transaction)
                            .await?;
                        Self::write_journal(&mut transaction, journal).await?;
                        Ok(())
                    })?;
                    Ok(())
                }

                async fn get_email_change_by_digest(&self, digest: &str) -> StoreResult<EmailChange> {
                    let row: Option<(i64, String, i64, i64)> = sqlx::query_as(sql::GET_EMAIL_CHANGE_BY_DIGEST)
                        .bind(digest)
                        .fetch_optional(self.read_pool())
                        .await
                        .map_err(store_error)?;
                    email_change(row.ok_or(StoreError::NotFound)?)
                }

                async fn get_email_change(&self, user: UserId) -> StoreResult<Option<EmailChange>> {
                    let row: Option<(i64, String, i64, i64)> = sqlx::query_as(sql::GET_EMAIL_CHANGE)
                        .bind(user.0)
                        .fetch_optional(self.read_pool())
                        .await
                        .map_err(store_error)?;
                    row.map(email_change).transpose()
                }

                async fn delete_email_change(
                    &self,
                    user: UserId,
                    digest: Option<&str>,
                    journal: &Journal,
                ) -> StoreResult<bool> {
                    let deleted = write_transaction!(self, |transaction| {
                        let deleted = sqlx::query(sql::DELETE_EMAIL_CHANGE)
                            .bind(user.0)
                            .bind(digest)
                            .execute(&mut *transaction)
                            .await?
                            .rows_affected();
                        if deleted > 0 {
                            Self::write_journal(&mut transaction, journal).await?;
                        }
                        Ok(deleted)
                    })?;
                    Ok(deleted > 0)
                }

                async fn insert_email_verification(&self, record: &EmailVerification, digest: &str) -> StoreResult<()> {
                    write_transaction!(self, |transaction| {
                        sqlx::query(sql::DELETE_EMAIL_VERIFICATIONS_OF_USER)
                            .bind(record.user_id.0)
                            .execute(&mut *transaction)
                            .await?;
                        sqlx::query(sql::INSERT_EMAIL_VERIFICATION)
                            .bind(digest)
                            .bind(record.user_id.0)
                            .bind(record.email.as_str())
                            .bind(to_ms(record.created_at))
                            .bind(to_ms(record.expires_at))
                            .execute(&mut *transaction)
                            .await?;
                        Ok(())
                    })?;
                    Ok(())
                }

                async fn use_email_verification(
                    &self,
                    digest: &str,
                    email: Option<&str>,
                    user: Option<UserId>,
                    now: OffsetDateTime,
                    journal: JournalFor<'_>,
                ) -> StoreResult<EmailVerification> {
                    let (user_id, email, created_at, expires_at) = write_transaction!(self, |transaction| {
                        let row: Option<(i64, String, i64, i64)> = sqlx::query_as(sql::USE_EMAIL_VERIFICATION)
                            .bind(digest)
                            .bind(to_ms(now))
                            .bind(email)
                            .bind(user.map(|u| u.0))
                            .fetch_optional(&mut *transaction)
                            .await?;
                        let Some(row) = row else {
                            return Err(StoreError::NotFound.into());
                        };
                        let marked = sqlx::query(sql::MARK_EMAIL_VERIFIED)
                            .bind(row.0)
                            .bind(row.1.as_str())
                            .bind(to_ms(now))
                            .execute(&mut *transaction)
                            .await?
                            .rows_affected();
                        if marked > 0 {
                            Self::write_journal(&mut transaction, &journal(UserId(row.0))).await?;
                        }
                        Ok(row)
                    })?;
                    Ok(EmailVerification {
                        user_id: UserId(user_id),
                        email,
                        created_at: from_ms(created_at)?,
                        expires_at: from_ms(expires_at)?,
                    })
                }
            }
        };
    };
}
pub(crate) use impl_account_tokens;
