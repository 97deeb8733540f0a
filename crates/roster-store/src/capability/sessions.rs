//! Login sessions and their refresh tokens.

/// Implements [`roster_core::store::SessionStore`] for `$store`, whose pools hold `$database` connections.
macro_rules! impl_sessions {
    ($store:ty, $database:ty) => {
        const _: () = {
            use crate::capability::common::write_transaction;
            use crate::codec::{
                BrowserSessionWithUserRow, RefreshTokenRow, SessionRow, SessionWithUserRow, convert_all, to_ms,
            };
            use crate::error::store_error;
            use crate::sql;
            use async_trait::async_trait;
            use roster_core::journal::Journal;
            use roster_core::store::{
                BrowserSessionRecord, RefreshTokenRecord, Session, SessionStore, StoreError, StoreResult,
            };
            use roster_core::{SessionId, User, UserId};
            use time::OffsetDateTime;

            #[async_trait]
            impl SessionStore for $store {
                async fn insert_session(&self, session: &Session, refresh_digest: &str) -> StoreResult<()> {
                    write_transaction!(self, |transaction| {
                        sqlx::query(sql::INSERT_SESSION)
                            .bind(session.id.0)
                            .bind(session.user_id.0)
                            .bind(to_ms(session.created_at))
                            .bind(to_ms(session.last_used_at))
                            .bind(to_ms(session.expires_at))
                            .bind(session.user_agent.as_deref())
                            .bind(session.ip.as_deref())
                            .execute(&mut *transaction)
                            .await?;
                        sqlx::query(sql::INSERT_REFRESH_TOKEN)
                            .bind(refresh_digest)
                            .bind(session.id.0)
                            .bind(to_ms(session.created_at))
                            .execute(&mut *transaction)
                            .await?;
                        Ok(())
                    })?;
                    Ok(())
                }

                async fn insert_browser_session(
                    &self,
                    session: &Session,
                    cookie_digest: &str,
                    auth_time: OffsetDateTime,
                    amr: &[String],
                ) -> StoreResult<()> {
                    write_transaction!(self, |transaction| {
                        sqlx::query(sql::INSERT_SESSION)
                            .bind(session.id.0)
                            .bind(session.user_id.0)
                            .bind(to_ms(session.created_at))
                            .bind(to_ms(session.last_used_at))
                            .bind(to_ms(session.expires_at))
                            .bind(session.user_agent.as_deref())
                            .bind(session.ip.as_deref())
                            .execute(&mut *transaction)
                            .await?;
                        sqlx::query(sql::INSERT_BROWSER_SESSION)
                            .bind(session.id.0)
                            .bind(cookie_digest)
                            .bind(to_ms(auth_time))
                            .bind(amr.join(" "))
                            .execute(&mut *transaction)
                            .await?;
                        Ok(())
                    })?;
                    Ok(())
                }

                async fn get_browser_session(&self, cookie_digest: &str) -> StoreResult<(BrowserSessionRecord, User)> {
                    let row: BrowserSessionWithUserRow = sqlx::query_as(sql::GET_BROWSER_SESSION_WITH_USER)
                        .bind(cookie_digest)
                        .fetch_one(self.read_pool())
                        .await
                        .map_err(store_error)?;
                    row.into_pair()
                }

                async fn get_session(&self, id: SessionId) -> StoreResult<Session> {
                    let row: SessionRow = sqlx::query_as(sql::GET_SESSION)
                        .bind(id.0)
                        .fetch_one(self.read_pool())
                        .await
                        .map_err(store_error)?;
                    row.into_session()
                }

                async fn get_session_with_user(&self, id: SessionId) -> StoreResult<(Session, User)> {
                    let row: SessionWithUserRow = sqlx::query_as(sql::GET_SESSION_WITH_USER)
                        .bind(id.0)
                        .fetch_one(self.read_pool())
                        .await
                        .map_err(store_error)?;
                    row.into_pair()
                }

                async fn get_refresh_token(&self, digest: &str) -> StoreResult<RefreshTokenRecord> {
                    let row: RefreshTokenRow = sqlx::query_as(sql::GET_REFRESH_TOKEN)
                        .bind(digest)
                        .fetch_one(self.read_pool())
                        .await
                        .map_err(store_error)?;
                    row.into_record()
                }

                async fn rotate_refresh_token(
                    &self,
                    session: SessionId,
                    old_digest: &str,
                    new_digest: &str,
                    now: OffsetDateTime,
                ) -> StoreResult<bool> {
                    let now = to_ms(now);
                    let rotated = write_transaction!(self, |transaction| {
                        let used = sqlx::query(sql::USE_REFRESH_TOKEN)
                            .bind(old_digest)
                            .bind(session.0)
                            .bind(now)
                            .execute(&mut *transaction)
                            .await?
                            .rows_affected();
                        if used == 0 {
                            return Ok(false);
                        }
                        sqlx::query(sql::INSERT_REFRESH_TOKEN)
                            .bind(new_digest)
                            .bind(session.0)
                            .bind(now)
                            .execute(&mut *transaction)
                            .await?;
                        sqlx::query(sql::TOUCH_SESSION)
                            .bind(session.0)
                            .bind(now)
                            .execute(&mut *transaction)
                            .await?;
                        Ok(true)
                    })?;
                    Ok(rotated)
                }

                async fn touch_session(&self, id: SessionId, at: OffsetDateTime) -> StoreResult<()> {
                    self.touch_one_row(sqlx::query(sql::TOUCH_SESSION).bind(id.0).bind(to_ms(at)))
                        .await
                }

                async fn list_sessions(&self, user: UserId) -> StoreResult<Vec<Session>> {
                    let rows = sqlx::query_as(sql::LIST_SESSIONS)
                        .bind(user.0)
                        .fetch_all(self.read_pool())
                        .await
                        .map_err(store_error)?;
                    convert_all(rows, SessionRow::into_session)
                }

                async fn delete_session(&self, user: UserId, id: SessionId, journal: &Journal) -> StoreResult<()> {
                    write_transaction!(self, |transaction| {
                        sqlx::query(sql::DELETE_REFRESH_TOKENS_OF_SESSION)
                            .bind(id.0)
                            .bind(user.0)
                            .execute(&mut *transaction)
                            .await?;
                        let deleted = sqlx::query(sql::DELETE_SESSION)
                            .bind(id.0)
                            .bind(user.0)
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

                async fn delete_sessions_of_user(
                    &self,
                    user: UserId,
                    keep: Option<SessionId>,
                    journal: &Journal,
                ) -> StoreResult<u64> {
                    // Ids are positive, so 0 keeps nothing.
                    let keep = keep.map_or(0, |s| s.0);
                    let deleted = write_transaction!(self, |transaction| {
                        sqlx::query(sql::DELETE_REFRESH_TOKENS_OF_OTHER_SESSIONS)
                            .bind(user.0)
                            .bind(keep)
                            .execute(&mut *transaction)
                            .await?;
                        let deleted = sqlx::query(sql::DELETE_OTHER_SESSIONS)
                            .bind(user.0)
                            .bind(keep)
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
pub(crate) use impl_sessions;
