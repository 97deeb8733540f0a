//! The OpenID Connect provider: signing keys, clients, grants, codes, refresh tokens.

/// Implements [`roster_core::store::OidcStore`] for `$store`, whose pools hold `$database` connections.
macro_rules! impl_oidc {
    ($store:ty, $database:ty) => {
        const _: () = {
            use crate::capability::common::write_transaction;
            use crate::codec::{convert_all, to_ms};
            use crate::error::{is_unique_violation, store_error};
            use crate::oidc::{self, ClientRow, CodeRow, GrantProfileRow, GrantRow, KeyRow, LogoutRow, list_text};
            use async_trait::async_trait;
            use roster_core::journal::Journal;
            use roster_core::store::{
                CodeRedemption, OidcClient, OidcCode, OidcGrant, OidcGrantProfile, OidcKeyRecord, OidcLogout,
                OidcStore, RefreshRotation, StoreError, StoreResult, UserStore,
            };
            use roster_core::webhooks::{AttemptRecord, DeliveryStatus};
            use roster_core::{User, UserId};
            use sqlx::Database;
            use sqlx::QueryBuilder;
            use sqlx::query::Query;
            use time::OffsetDateTime;

            type Db = $database;

            impl $store {
                /// Binds a client's columns as `$1`..`$18` (the order of `CLIENT_COLUMNS`).
                fn bind_oidc_client<'q>(
                    query: Query<'q, Db, <Db as Database>::Arguments<'q>>,
                    c: &OidcClient,
                ) -> Query<'q, Db, <Db as Database>::Arguments<'q>> {
                    query
                        .bind(c.client_id.clone())
                        .bind(c.name.clone())
                        .bind(c.secret_digest.clone())
                        .bind(list_text(&c.redirect_uris))
                        .bind(list_text(&c.post_logout_redirect_uris))
                        .bind(list_text(&c.scopes))
                        .bind(list_text(&c.grant_types))
                        .bind(c.audience.clone())
                        .bind(c.first_party)
                        .bind(c.backchannel_logout_uri.clone())
                        .bind(c.signing_alg.clone())
                        .bind(c.access_token_ttl)
                        .bind(c.id_token_ttl)
                        .bind(c.refresh_token_ttl)
                        .bind(c.roles_claim.clone())
                        .bind(c.groups_claim.clone())
                        .bind(to_ms(c.created_at))
                        .bind(to_ms(c.updated_at))
                }

                async fn oidc_grant_with_user(&self, id: i64) -> StoreResult<(OidcGrant, User)> {
                    let row: GrantRow = sqlx::query_as(&oidc::get_grant())
                        .bind(id)
                        .fetch_one(self.read_pool())
                        .await
                        .map_err(store_error)?;
                    let grant = row.into_grant()?;
                    let user = self.get_user(grant.user_id).await?;
                    Ok((grant, user))
                }
            }

            #[async_trait]
            impl OidcStore for $store {
                async fn list_oidc_keys(&self) -> StoreResult<Vec<OidcKeyRecord>> {
                    let rows = sqlx::query_as(oidc::LIST_KEYS)
                        .fetch_all(self.read_pool())
                        .await
                        .map_err(store_error)?;
                    convert_all(rows, KeyRow::into_record)
                }

                async fn insert_oidc_key(&self, key: &OidcKeyRecord, journal: &Journal) -> StoreResult<bool> {
                    let inserted = write_transaction!(self, |transaction| {
                        let inserted = sqlx::query(oidc::INSERT_KEY)
                            .bind(key.kid.as_str())
                            .bind(key.alg.as_str())
                            .bind(key.generation)
                            .bind(key.private_key.as_slice())
                            .bind(key.public_key.as_slice())
                            .bind(to_ms(key.created_at))
                            .execute(&mut *transaction)
                            .await?
                            .rows_affected()
                            == 1;
                        if inserted {
                            Self::write_journal(&mut transaction, journal).await?;
                        }
                        Ok(inserted)
                    })?;
                    Ok(inserted)
                }

                async fn delete_oidc_keys(&self, kids: &[String]) -> StoreResult<()> {
                    write_transaction!(self, |transaction| {
                        for kid in kids {
                            sqlx::query(oidc::DELETE_KEY)
                                .bind(kid.as_str())
                                .execute(&mut *transaction)
                                .await?;
                        }
                        Ok(())
                    })?;
                    Ok(())
                }

                async fn insert_oidc_client(&self, client: &OidcClient, journal: &Journal) -> StoreResult<()> {
                    let statement = oidc::insert_client();
                    write_transaction!(self, |transaction| {
                        match Self::bind_oidc_client(sqlx::query(&statement), client)
                            .execute(&mut *transaction)
                            .await
                        {
                            Ok(_) => {}
                            Err(e) if is_unique_violation(&e) => {
                                return Err(StoreError::Conflict { field: "client_id" }.into());
                            }
                            Err(e) => return Err(e.into()),
                        }
                        Self::write_journal(&mut transaction, journal).await?;
                        Ok(())
                    })?;
                    Ok(())
                }

                async fn get_oidc_client(&self, client_id: &str) -> StoreResult<OidcClient> {
                    let row: ClientRow = sqlx::query_as(&oidc::get_client())
                        .bind(client_id)
                        .fetch_one(self.read_pool())
                        .await
                        .map_err(store_error)?;
                    row.into_client()
                }

                async fn list_oidc_clients(&self) -> StoreResult<Vec<OidcClient>> {
                    let rows = sqlx::query_as(&oidc::list_clients())
                        .fetch_all(self.read_pool())
                        .await
                        .map_err(store_error)?;
                    convert_all(rows, ClientRow::into_client)
                }

                async fn update_oidc_client(&self, client: &OidcClient, journal: &Journal) -> StoreResult<()> {
                    self.write_one_row(
                        Self::bind_oidc_client(sqlx::query(oidc::UPDATE_CLIENT), client),
                        journal,
                    )
                    .await
                }

                async fn delete_oidc_client(&self, client_id: &str, journal: &Journal) -> StoreResult<()> {
                    self.write_one_row(
                        sqlx::query(oidc::DELETE_CLIENT).bind(client_id.to_string()),
                        journal,
                    )
                    .await
                }

                async fn insert_oidc_grant(
                    &self,
                    grant: &OidcGrant,
                    code_digest: &str,
                    code: &OidcCode,
                    journal: &Journal,
                ) -> StoreResult<()> {
                    write_transaction!(self, |transaction| {
                        sqlx::query(oidc::QUIET_EXPIRED_GRANTS)
                            .bind(grant.user_id.0)
                            .bind(to_ms(grant.created_at))
                            .execute(&mut *transaction)
                            .await?;
                        sqlx::query(oidc::DELETE_EXPIRED_GRANTS)
                            .bind(grant.user_id.0)
                            .bind(to_ms(grant.created_at))
                            .execute(&mut *transaction)
                            .await?;
                        if grant.offline {
                            let live: i64 = sqlx::query_scalar(oidc::COUNT_SESSION_OF_USER)
                                .bind(grant.sid.0)
                                .bind(grant.user_id.0)
                                .fetch_one(&mut *transaction)
                                .await?;
                            if live == 0 {
                                return Err(StoreError::NotFound.into());
                            }
                            sqlx::query(oidc::INSERT_OFFLINE_SESSION)
                                .bind(grant.session_id.0)
                                .bind(grant.user_id.0)
                                .bind(to_ms(grant.created_at))
                                .bind(to_ms(grant.expires_at))
                                .bind(format!("offline access: {}", grant.client_id))
                                .execute(&mut *transaction)
                                .await?;
                        }
                        sqlx::query(oidc::INSERT_GRANT)
                            .bind(grant.id)
                            .bind(grant.client_id.as_str())
                            .bind(grant.user_id.0)
                            .bind(grant.session_id.0)
                            .bind(grant.scope.as_str())
                            .bind(to_ms(grant.auth_time))
                            .bind(list_text(&grant.amr))
                            .bind(to_ms(grant.created_at))
                            .bind(to_ms(grant.expires_at))
                            .bind(grant.sid.0)
                            .bind(grant.offline)
                            .execute(&mut *transaction)
                            .await?;
                        sqlx::query(oidc::INSERT_CODE)
                            .bind(code_digest)
                            .bind(grant.id)
                            .bind(code.redirect_uri.as_str())
                            .bind(code.nonce.as_deref())
                            .bind(code.code_challenge.as_deref())
                            .bind(to_ms(code.created_at))
                            .bind(to_ms(code.expires_at))
                            .execute(&mut *transaction)
                            .await?;
                        Self::write_journal(&mut transaction, journal).await?;
                        Ok(())
                    })?;
                    Ok(())
                }

                async fn get_oidc_grant(&self, id: i64) -> StoreResult<(OidcGrant, User)> {
                    self.oidc_grant_with_user(id).await
                }

                async fn get_oidc_grant_profile(&self, id: i64) -> StoreResult<OidcGrantProfile> {
                    let rows: Vec<GrantProfileRow> = sqlx::query_as(crate::sql::GET_OIDC_GRANT_PROFILE)
                        .bind(id)
                        .fetch_all(self.read_pool())
                        .await
                        .map_err(store_error)?;
                    oidc::grant_profile(rows)
                }

                async fn redeem_oidc_code(&self, digest: &str, now: OffsetDateTime) -> StoreResult<CodeRedemption> {
                    let used = write_transaction!(self, |transaction| {
                        let used = sqlx::query(oidc::USE_CODE)
                            .bind(digest)
                            .bind(to_ms(now))
                            .execute(&mut *transaction)
                            .await?
                            .rows_affected()
                            == 1;
                        let row: Option<CodeRow> = sqlx::query_as(oidc::GET_CODE)
                            .bind(digest)
                            .fetch_optional(&mut *transaction)
                            .await?;
                        Ok((used, row))
                    })?;
                    match used {
                        (_, None) => Ok(CodeRedemption::Unknown),
                        (false, Some(row)) => Ok(CodeRedemption::Replayed {
                            grant_id: row.into_code()?.grant_id,
                        }),
                        (true, Some(row)) => {
                            let code = row.into_code()?;
                            match self.oidc_grant_with_user(code.grant_id).await {
                                Ok((grant, user)) => Ok(CodeRedemption::Redeemed(Box::new((code, grant, user)))),
                                Err(StoreError::NotFound) => Ok(CodeRedemption::Unknown),
                                Err(e) => Err(e),
                            }
                        }
                    }
                }

                async fn insert_oidc_refresh_token(
                    &self,
                    grant_id: i64,
                    digest: &str,
                    now: OffsetDateTime,
                ) -> StoreResult<()> {
                    write_transaction!(self, |transaction| {
                        sqlx::query(oidc::INSERT_REFRESH)
                            .bind(digest)
                            .bind(grant_id)
                            .bind(to_ms(now))
                            .execute(&mut *transaction)
                            .await?;
                        Ok(())
                    })?;
                    Ok(())
                }

                async fn rotate_oidc_refresh_token(
                    &self,
                    old_digest: &str,
                    new_digest: &str,
                    now: OffsetDateTime,
                ) -> StoreResult<RefreshRotation> {
                    let outcome = write_transaction!(self, |transaction| {
                        let grant: Option<i64> = sqlx::query_scalar(oidc::GRANT_OF_REFRESH)
                            .bind(old_digest)
                            .fetch_optional(&mut *transaction)
                            .await?;
                        let Some(grant) = grant else {
                            return Ok(None);
                        };
                        let used = sqlx::query(oidc::USE_REFRESH)
                            .bind(old_digest)
                            .bind(to_ms(now))
                            .execute(&mut *transaction)
                            .await?
                            .rows_affected()
                            == 1;
                        if used {
                            sqlx::query(oidc::INSERT_REFRESH)
                                .bind(new_digest)
                                .bind(grant)
                                .bind(to_ms(now))
                                .execute(&mut *transaction)
                                .await?;
                        }
                        Ok(Some((grant, used)))
                    })?;
                    match outcome {
                        None => Ok(RefreshRotation::Unknown),
                        Some((grant_id, false)) => Ok(RefreshRotation::Reused { grant_id }),
                        Some((grant_id, true)) => match self.oidc_grant_with_user(grant_id).await {
                            Ok(pair) => Ok(RefreshRotation::Rotated(Box::new(pair))),
                            Err(StoreError::NotFound) => Ok(RefreshRotation::Unknown),
                            Err(e) => Err(e),
                        },
                    }
                }

                async fn get_oidc_refresh_token(&self, digest: &str) -> StoreResult<Option<(i64, bool)>> {
                    let row: Option<(i64, Option<i64>)> = sqlx::query_as(oidc::GET_REFRESH)
                        .bind(digest)
                        .fetch_optional(self.read_pool())
                        .await
                        .map_err(store_error)?;
                    Ok(row.map(|(grant, used)| (grant, used.is_some())))
                }

                async fn delete_oidc_grant(&self, id: i64, journal: &Journal) -> StoreResult<bool> {
                    let deleted = write_transaction!(self, |transaction| {
                        let deleted = sqlx::query(oidc::DELETE_GRANT)
                            .bind(id)
                            .execute(&mut *transaction)
                            .await?
                            .rows_affected()
                            == 1;
                        if deleted {
                            Self::write_journal(&mut transaction, journal).await?;
                        }
                        Ok(deleted)
                    })?;
                    Ok(deleted)
                }

                async fn list_oidc_grants_of_user(
                    &self,
                    user: UserId,
                    now: OffsetDateTime,
                ) -> StoreResult<Vec<OidcGrant>> {
                    let rows = sqlx::query_as(&oidc::list_grants_of_user())
                        .bind(user.0)
                        .bind(to_ms(now))
                        .fetch_all(self.read_pool())
                        .await
                        .map_err(store_error)?;
                    convert_all(rows, GrantRow::into_grant)
                }

                async fn claim_oidc_logouts(
                    &self,
                    owner: &str,
                    now: OffsetDateTime,
                    lease_until: OffsetDateTime,
                    limit: u32,
                ) -> StoreResult<Vec<OidcLogout>> {
                    let statement = oidc::claim_logouts(Self::CLAIM_LOCK);
                    let rows: Vec<LogoutRow> = write_transaction!(self, |transaction| {
                        Ok(sqlx::query_as(&statement)
                            .bind(owner)
                            .bind(to_ms(now))
                            .bind(to_ms(lease_until))
                            .bind(i64::from(limit))
                            .fetch_all(&mut *transaction)
                            .await?)
                    })?;
                    let mut logouts = convert_all(rows, LogoutRow::into_logout)?;
                    logouts.sort_by_key(|l| l.id);
                    Ok(logouts)
                }

                async fn record_oidc_logout_attempt(
                    &self,
                    id: i64,
                    owner: &str,
                    attempt: &AttemptRecord,
                    journal: &Journal,
                ) -> StoreResult<bool> {
                    let statement = crate::webhooks::record_attempt("oidc_logouts");
                    let updated = write_transaction!(self, |transaction| {
                        let updated = Self::bind_attempt(sqlx::query(&statement), id, owner, attempt)
                            .execute(&mut *transaction)
                            .await?
                            .rows_affected()
                            == 1;
                        if updated {
                            Self::write_journal(&mut transaction, journal).await?;
                        }
                        Ok(updated)
                    })?;
                    Ok(updated)
                }

                async fn list_oidc_logouts(
                    &self,
                    client_id: Option<&str>,
                    status: Option<DeliveryStatus>,
                    limit: u32,
                ) -> StoreResult<Vec<OidcLogout>> {
                    let mut select = QueryBuilder::<Db>::new(format!(
                        "SELECT {} FROM oidc_logouts WHERE 1 = 1",
                        oidc::LOGOUT_COLUMNS
                    ));
                    if let Some(client_id) = client_id {
                        select.push(" AND client_id = ").push_bind(client_id.to_string());
                    }
                    if let Some(status) = status {
                        select.push(" AND status = ").push_bind(status.as_str());
                    }
                    select
                        .push(" ORDER BY id DESC LIMIT ")
                        .push_bind(i64::from(limit));
                    let rows: Vec<LogoutRow> = select
                        .build_query_as()
                        .fetch_all(self.read_pool())
                        .await
                        .map_err(store_error)?;
                    convert_all(rows, LogoutRow::into_logout)
                }
            }
        };
    };
}
pub(crate) use impl_oidc;
