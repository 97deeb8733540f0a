//! Users: rows, look-ups, listing and counts, credentials, bans and terms acceptances.

/// Implements [`roster_core::store::UserStore`] for `$store`, whose pools hold `$database` connections.
macro_rules! impl_users {
    ($store:ty, $database:ty) => {
        const _: () = {
            use crate::capability::common::write_transaction;
            use crate::codec::{
                AccountTokenRow, UserParams, UserRow, check_text, check_user_text, convert_all, from_ms, to_ms,
            };
            use crate::error::{TransactionError, store_error};
            use crate::sql;
            use async_trait::async_trait;
            use roster_core::journal::{Journal, JournalFor};
            use roster_core::store::{
                AccountTokenKind, MigrationStore, SortKey, StoreError, StoreResult, TermsAcceptance, UserCounts,
                UserQuery, UserStore,
            };
            use roster_core::user::{PasswordHash, login_key};
            use roster_core::{Role, SessionId, User, UserId};
            use sqlx::{QueryBuilder, Transaction};
            use time::OffsetDateTime;

            type Db = $database;

            impl $store {
                /// Inserts a new user inside `transaction`, with its login keys and its journal
                /// (made for the user as stored). Every insert takes the first-account marker if
                /// it is free; with `claim_first_admin`, one that took it makes the user an
                /// administrator. A failed insert rolls the marker back.
                async fn insert_new_user(
                    transaction: &mut Transaction<'static, Db>,
                    user: &User,
                    mut params: UserParams,
                    claim_first_admin: bool,
                    journal: &Journal,
                ) -> Result<User, TransactionError> {
                    let claimed = sqlx::query(sql::CLAIM_FIRST_ACCOUNT)
                        .execute(&mut **transaction)
                        .await?
                        .rows_affected()
                        == 1;
                    if claimed && claim_first_admin {
                        params.role = Role::Admin.as_str();
                    }
                    let stored = Self::insert_user_row(transaction, user, params)
                        .await?
                        .into_user()?;
                    Self::write_journal(transaction, &journal.for_stored_user(&stored)).await?;
                    Ok(stored)
                }

                /// Fills the login keys of the accounts stored before migration 0014, once (the
                /// first start after it takes a marker in the same transaction). Oldest account
                /// first: of two old accounts sharing an identifier, the older keeps it, and the
                /// younger cannot sign in with it until it changes it. Returns how many
                /// identifiers were left to an older account.
                pub(crate) async fn fill_login_keys(&self) -> StoreResult<u64> {
                    const BATCH: i64 = 1000;
                    let shared = write_transaction!(self, |transaction| {
                        let took = sqlx::query(sql::CLAIM_LOGIN_KEYS_FILLED)
                            .execute(&mut *transaction)
                            .await?
                            .rows_affected();
                        if took == 0 {
                            return Ok(0);
                        }
                        let mut shared = 0;
                        // (created_at, id) of the last account filled.
                        let mut after = (i64::MIN, i64::MIN);
                        loop {
                            let users: Vec<(i64, i64, Option<String>, Option<String>)> =
                                sqlx::query_as(sql::USER_LOGINS_BY_AGE)
                                    .bind(after.0)
                                    .bind(after.1)
                                    .bind(BATCH)
                                    .fetch_all(&mut *transaction)
                                    .await?;
                            let Some(last) = users.last() else { break };
                            after = (last.1, last.0);
                            let keys: Vec<(String, i64)> = users
                                .iter()
                                .flat_map(|(id, _, email, username)| {
                                    roster_core::user::login_keys(email.as_deref(), username.as_deref())
                                        .into_iter()
                                        .map(move |(key, _)| (key, *id))
                                })
                                .collect();
                            let mut insert = QueryBuilder::<Db>::new(sql::CLAIM_LOGIN_KEYS_HEAD);
                            insert.push_values(&keys, |mut row, (key, id)| {
                                row.push_bind(key.as_str()).push_bind(*id);
                            });
                            insert.push(" ON CONFLICT (login_key) DO NOTHING");
                            let claimed = insert.build().execute(&mut *transaction).await?.rows_affected();
                            shared += keys.len() as u64 - claimed;
                        }
                        Ok(shared)
                    })?;
                    if shared > 0 {
                        tracing::warn!(
                            shared,
                            concat!(
                                "login identifiers shared by accounts stored earlier were left to the oldest account; ",
                                "the younger accounts sign in with their other identifier until they change this one"
                            )
                        );
                    }
                    Ok(shared)
                }

                /// Writes a changed user at its revision (Stale if another writer got there first;
                /// with `keep_an_admin`, LastAdmin if no active administrator would be left) and,
                /// with `end_sessions` (a session id to keep, 0 for none, and its journal, written
                /// only if a session ended), ends the user's other sessions in the same
                /// transaction. Returns the stored user and the sessions ended.
                async fn write_user_update(
                    &self,
                    user: &User,
                    keep_an_admin: bool,
                    end_sessions: Option<(i64, &Journal)>,
                    journal: &Journal,
                ) -> StoreResult<(User, u64)> {
                    check_user_text(user)?;
                    let result = write_transaction!(self, |transaction| {
                        // The change's journal rides on the update (one round trip).
                        let Some(row) =
                            Self::update_user_row(&mut transaction, user, keep_an_admin, Some(journal)).await?
                        else {
                            let exists: i64 = sqlx::query_scalar(sql::COUNT_USERS_WITH_ID)
                                .bind(user.id.0)
                                .fetch_one(&mut *transaction)
                                .await?;
                            return Err(if exists == 0 {
                                StoreError::NotFound.into()
                            } else {
                                StoreError::Stale.into()
                            });
                        };
                        let mut ended = 0;
                        if let Some((keep, _)) = end_sessions {
                            sqlx::query(sql::DELETE_REFRESH_TOKENS_OF_OTHER_SESSIONS)
                                .bind(user.id.0)
                                .bind(keep)
                                .execute(&mut *transaction)
                                .await?;
                            ended = sqlx::query(sql::DELETE_OTHER_SESSIONS)
                                .bind(user.id.0)
                                .bind(keep)
                                .execute(&mut *transaction)
                                .await?
                                .rows_affected();
                        }
                        if let Some((_, sessions_journal)) = end_sessions.filter(|_| ended > 0) {
                            Self::write_journal(&mut transaction, sessions_journal).await?;
                        }
                        Ok((row, ended))
                    });
                    match result {
                        Ok((row, ended)) => Ok((row.into_user()?, ended)),
                        Err(error) => Err(self.user_write_error(error, user).await),
                    }
                }

                /// Whether a listing's statement may be kept prepared, with its plan, between
                /// runs: not a search where the backend would then plan it once for every
                /// pattern (`PLANS_EACH_SEARCH`); such a search is planned for its own pattern
                /// each time (about 0.2 ms on PostgreSQL).
                fn listing_keeps_plan(query: &UserQuery) -> bool {
                    !(Self::PLANS_EACH_SEARCH && query.search.is_some())
                }

                /// Chooses how a listing searches: with a trigram index (SQLite's `users_search`)
                /// when few rows match, else by filtering in sort order, where dense matches are
                /// found at once. PostgreSQL's planner makes this choice itself (pg_trgm index).
                async fn search_plan(&self, query: &UserQuery) -> StoreResult<sql::SearchPlan> {
                    let Some(pattern) = query.search.as_deref().and_then(sql::full_text_pattern) else {
                        return Ok(sql::SearchPlan::Scan);
                    };
                    if !Self::FULL_TEXT_SEARCH {
                        return Ok(sql::SearchPlan::Scan);
                    }
                    let hits: i64 = sqlx::query_scalar(sql::FULL_TEXT_PROBE)
                        .bind(pattern)
                        .fetch_one(self.read_pool())
                        .await
                        .map_err(store_error)?;
                    Ok(if hits < sql::FULL_TEXT_PROBE_LIMIT {
                        sql::SearchPlan::FullText
                    } else {
                        sql::SearchPlan::ScanInSortOrder
                    })
                }

                /// Deletes a user and what it owns in one transaction; its credit ledger too unless
                /// `keep_ledger`.
                async fn delete_user_and_data(
                    &self,
                    id: UserId,
                    keep_an_admin: bool,
                    keep_ledger: bool,
                    journal: &Journal,
                ) -> StoreResult<()> {
                    write_transaction!(self, |transaction| {
                        if !keep_ledger {
                            sqlx::query(sql::DELETE_BALANCE_TRANSACTIONS_OF_USER)
                                .bind(id.0)
                                .execute(&mut *transaction)
                                .await?;
                        }
                        if keep_an_admin {
                            Self::lock_admins(&mut transaction).await?;
                        }
                        for statement in [
                            sql::DELETE_REFRESH_TOKENS_OF_USER,
                            sql::DELETE_SESSIONS_OF_USER,
                            sql::DELETE_API_KEYS_OF_USER,
                            sql::DELETE_ACCOUNT_TOKENS_OF_USER,
                        ] {
                            sqlx::query(statement)
                                .bind(id.0)
                                .execute(&mut *transaction)
                                .await?;
                        }
                        let deleted = sqlx::query(sql::DELETE_USER)
                            .bind(id.0)
                            .execute(&mut *transaction)
                            .await?
                            .rows_affected();
                        if deleted == 0 {
                            return Err(StoreError::NotFound.into());
                        }
                        if keep_an_admin {
                            Self::ensure_an_admin(&mut transaction, OffsetDateTime::now_utc()).await?;
                        }
                        Self::write_journal(&mut transaction, journal).await?;
                        Ok(())
                    })?;
                    Ok(())
                }
            }

            #[async_trait]
            impl UserStore for $store {
                async fn insert_user(
                    &self,
                    user: &User,
                    claim_first_admin: bool,
                    journal: &Journal,
                ) -> StoreResult<User> {
                    let params = UserParams::checked(user)?;
                    let result = write_transaction!(self, |transaction| {
                        Self::insert_new_user(&mut transaction, user, params, claim_first_admin, journal).await
                    });
                    match result {
                        Ok(user) => Ok(user),
                        Err(error) => Err(self.user_write_error(error, user).await),
                    }
                }

                async fn insert_users_bulk(&self, users: &[User], journal: &Journal) -> StoreResult<u64> {
                    self.insert_users_with_tokens(users, &[], journal).await
                }

                async fn refresh_statistics(&self) -> StoreResult<()> {
                    self.analyze().await.map_err(store_error)
                }

                async fn get_user(&self, id: UserId) -> StoreResult<User> {
                    let row: UserRow = sqlx::query_as(sql::GET_USER)
                        .bind(id.0)
                        .fetch_one(self.read_pool())
                        .await
                        .map_err(store_error)?;
                    row.into_user()
                }

                async fn find_user_by_login(&self, login: &str) -> StoreResult<User> {
                    check_text("login", login)?;
                    let row: UserRow = sqlx::query_as(sql::FIND_USER_BY_LOGIN)
                        .bind(login_key(login))
                        .fetch_one(self.read_pool())
                        .await
                        .map_err(store_error)?;
                    row.into_user()
                }

                async fn find_user_by_username(&self, username_key: &str) -> StoreResult<User> {
                    check_text("username", username_key)?;
                    let row: Option<UserRow> = sqlx::query_as(sql::FIND_USER_BY_USERNAME)
                        .bind(username_key)
                        .fetch_optional(self.read_pool())
                        .await
                        .map_err(store_error)?;
                    row.ok_or(StoreError::NotFound)?.into_user()
                }

                async fn find_users_by_logins(&self, logins: &[String]) -> StoreResult<Vec<User>> {
                    for login in logins {
                        check_text("login", login)?;
                    }
                    if logins.is_empty() {
                        return Ok(Vec::new());
                    }
                    let mut select = QueryBuilder::<Db>::new(sql::FIND_USERS_HEAD);
                    select.push("id IN (SELECT user_id FROM login_keys WHERE login_key IN (");
                    let mut list = select.separated(", ");
                    for login in logins {
                        list.push_bind(login_key(login));
                    }
                    list.push_unseparated("))");
                    let rows = select
                        .build_query_as::<UserRow>()
                        .fetch_all(self.read_pool())
                        .await
                        .map_err(store_error)?;
                    convert_all(rows, UserRow::into_user)
                }

                async fn list_users(&self, query: &UserQuery) -> StoreResult<Vec<User>> {
                    let plan = self.search_plan(query).await?;
                    let (statement, params) = sql::list_users(query, plan)?;
                    let mut select =
                        sqlx::query_as::<_, UserRow>(&statement).persistent(Self::listing_keeps_plan(query));
                    for param in params {
                        select = match param {
                            sql::Param::Int(v) => select.bind(v),
                            sql::Param::Text(v) => select.bind(v),
                            sql::Param::Bool(v) => select.bind(v),
                        };
                    }
                    let rows = select.fetch_all(self.read_pool()).await.map_err(store_error)?;
                    convert_all(rows, UserRow::into_user)
                }

                async fn user_position(
                    &self,
                    query: &UserQuery,
                    offset: u64,
                ) -> StoreResult<Option<(SortKey, UserId)>> {
                    use sqlx::Row as _;
                    let plan = self.search_plan(query).await?;
                    let (statement, params) = sql::user_position(query, plan, offset)?;
                    let mut select = sqlx::query(&statement).persistent(Self::listing_keeps_plan(query));
                    for param in params {
                        select = match param {
                            sql::Param::Int(v) => select.bind(v),
                            sql::Param::Text(v) => select.bind(v),
                            sql::Param::Bool(v) => select.bind(v),
                        };
                    }
                    let Some(row) = select
                        .fetch_optional(self.read_pool())
                        .await
                        .map_err(store_error)?
                    else {
                        return Ok(None);
                    };
                    let key = if sql::sorts_by_number(query.sort) {
                        SortKey::Int(row.try_get::<i64, _>(0).map_err(store_error)?)
                    } else {
                        SortKey::Text(row.try_get::<String, _>(0).map_err(store_error)?)
                    };
                    Ok(Some((
                        key,
                        UserId(row.try_get::<i64, _>(1).map_err(store_error)?),
                    )))
                }

                async fn count_matching_users(&self, query: &UserQuery) -> StoreResult<i64> {
                    // Counting visits every match, so the index helps whenever it can be used.
                    let plan = if Self::FULL_TEXT_SEARCH {
                        sql::SearchPlan::FullText
                    } else {
                        sql::SearchPlan::Scan
                    };
                    let (statement, params) = sql::count_matching_users(query, plan);
                    let mut select =
                        sqlx::query_scalar::<_, i64>(&statement).persistent(Self::listing_keeps_plan(query));
                    for param in params {
                        select = match param {
                            sql::Param::Int(v) => select.bind(v),
                            sql::Param::Text(v) => select.bind(v),
                            sql::Param::Bool(v) => select.bind(v),
                        };
                    }
                    select.fetch_one(self.read_pool()).await.map_err(store_error)
                }

                async fn count_users(&self) -> StoreResult<i64> {
                    sqlx::query_scalar(sql::COUNT_USERS)
                        .fetch_one(self.read_pool())
                        .await
                        .map_err(store_error)
                }

                async fn users_by_role_and_status(
                    &self,
                    now: OffsetDateTime,
                ) -> StoreResult<Vec<(String, String, i64)>> {
                    sqlx::query_as(sql::USERS_BY_ROLE_AND_STATUS)
                        .bind(to_ms(now))
                        .fetch_all(self.read_pool())
                        .await
                        .map_err(store_error)
                }

                async fn user_counts(
                    &self,
                    now: OffsetDateTime,
                    signups_since: OffsetDateTime,
                    active_since: &[OffsetDateTime],
                ) -> StoreResult<UserCounts> {
                    let pool = self.read_pool();
                    let (total, email_verified, active, banned): (i64, i64, i64, i64) =
                        sqlx::query_as(sql::USER_TOTALS)
                            .bind(to_ms(now))
                            .fetch_one(pool)
                            .await
                            .map_err(store_error)?;
                    let by_role: Vec<(String, i64)> = sqlx::query_as(sql::USERS_BY_ROLE)
                        .fetch_all(pool)
                        .await
                        .map_err(store_error)?;
                    let by_provider: Vec<(String, i64)> = sqlx::query_as(sql::USERS_BY_PROVIDER)
                        .fetch_all(pool)
                        .await
                        .map_err(store_error)?;
                    let signups_by_day: Vec<(i64, i64)> = sqlx::query_as(sql::SIGNUPS_BY_DAY)
                        .bind(to_ms(signups_since))
                        .fetch_all(pool)
                        .await
                        .map_err(store_error)?;
                    let mut active_counts = Vec::with_capacity(active_since.len());
                    for since in active_since {
                        let n: i64 = sqlx::query_scalar(sql::COUNT_ACTIVE_SINCE)
                            .bind(to_ms(*since))
                            .fetch_one(pool)
                            .await
                            .map_err(store_error)?;
                        active_counts.push(n);
                    }
                    Ok(UserCounts {
                        total,
                        by_role,
                        by_provider,
                        email_verified,
                        active,
                        banned,
                        signups_by_day,
                        active_since: active_counts,
                    })
                }

                async fn update_user(&self, user: &User, keep_an_admin: bool, journal: &Journal) -> StoreResult<User> {
                    Ok(self
                        .write_user_update(user, keep_an_admin, None, journal)
                        .await?
                        .0)
                }

                async fn update_user_ending_sessions(
                    &self,
                    user: &User,
                    keep_an_admin: bool,
                    keep: Option<SessionId>,
                    journal: &Journal,
                    sessions_journal: &Journal,
                ) -> StoreResult<(User, u64)> {
                    // Ids are positive, so 0 keeps nothing.
                    let keep = keep.map_or(0, |s| s.0);
                    self.write_user_update(user, keep_an_admin, Some((keep, sessions_journal)), journal)
                        .await
                }

                async fn delete_user(&self, id: UserId, keep_an_admin: bool, journal: &Journal) -> StoreResult<()> {
                    self.delete_user_and_data(id, keep_an_admin, false, journal).await
                }

                async fn delete_user_keeping_transactions(
                    &self,
                    id: UserId,
                    keep_an_admin: bool,
                    journal: &Journal,
                ) -> StoreResult<()> {
                    self.delete_user_and_data(id, keep_an_admin, true, journal).await
                }

                async fn record_login(
                    &self,
                    id: UserId,
                    at: OffsetDateTime,
                    new_password_hash: Option<&str>,
                    journal: &Journal,
                ) -> StoreResult<()> {
                    self.write_one_row(
                        sqlx::query(sql::RECORD_LOGIN)
                            .bind(id.0)
                            .bind(to_ms(at))
                            .bind(new_password_hash),
                        journal,
                    )
                    .await
                }

                async fn touch_user(&self, id: UserId, at: OffsetDateTime) -> StoreResult<()> {
                    self.touch_one_row(sqlx::query(sql::TOUCH_USER).bind(id.0).bind(to_ms(at)))
                        .await
                }

                async fn set_password_hash(
                    &self,
                    user: UserId,
                    hash: &PasswordHash,
                    reset_link: Option<&str>,
                    revoke_api_keys: bool,
                    now: OffsetDateTime,
                    journal: &Journal,
                ) -> StoreResult<(u64, u64)> {
                    let revoked = write_transaction!(self, |transaction| {
                        if let Some(digest) = reset_link {
                            let row: Option<AccountTokenRow> = sqlx::query_as(sql::USE_ACCOUNT_TOKEN)
                                .bind(digest)
                                .bind(AccountTokenKind::PasswordReset.as_str())
                                .bind(to_ms(now))
                                .fetch_optional(&mut *transaction)
                                .await?;
                            let Some(row) = row else {
                                return Err(StoreError::NotFound.into());
                            };
                            if row.into_token()?.user_id != Some(user) {
                                return Err(StoreError::NotFound.into());
                            }
                        }
                        let updated = sqlx::query(sql::SET_PASSWORD_HASH)
                            .bind(user.0)
                            .bind(hash.0.as_str())
                            .bind(to_ms(now))
                            .execute(&mut *transaction)
                            .await?
                            .rows_affected();
                        if updated == 0 {
                            return Err(StoreError::NotFound.into());
                        }
                        Self::end_mailed_links(&mut transaction, user.0).await?;
                        let sessions = sqlx::query(sql::DELETE_SESSIONS_OF_USER)
                            .bind(user.0)
                            .execute(&mut *transaction)
                            .await?
                            .rows_affected();
                        let keys = if revoke_api_keys {
                            sqlx::query(sql::DELETE_API_KEYS_OF_USER)
                                .bind(user.0)
                                .execute(&mut *transaction)
                                .await?
                                .rows_affected()
                        } else {
                            0
                        };
                        Self::write_journal(&mut transaction, journal).await?;
                        Ok((sessions, keys))
                    })?;
                    Ok(revoked)
                }

                async fn set_user_ban(
                    &self,
                    id: UserId,
                    until: Option<OffsetDateTime>,
                    reason: Option<&str>,
                    keep_an_admin: bool,
                    now: OffsetDateTime,
                    journal: &Journal,
                ) -> StoreResult<User> {
                    let row = write_transaction!(self, |transaction| {
                        if keep_an_admin {
                            Self::lock_admins(&mut transaction).await?;
                        }
                        let row: Option<UserRow> = sqlx::query_as(sql::SET_USER_BAN)
                            .bind(id.0)
                            .bind(until.map(to_ms))
                            .bind(reason)
                            .fetch_optional(&mut *transaction)
                            .await?;
                        let Some(row) = row else {
                            return Err(StoreError::NotFound.into());
                        };
                        if keep_an_admin {
                            Self::ensure_an_admin(&mut transaction, now).await?;
                        }
                        if until.is_some() {
                            // A ban ends the user's OpenID Connect grants (each queues its
                            // back-channel logout); the sessions stay, refused until it ends.
                            sqlx::query(crate::oidc::DELETE_GRANTS_OF_USER)
                                .bind(id.0)
                                .execute(&mut *transaction)
                                .await?;
                        }
                        Self::write_journal(&mut transaction, journal).await?;
                        Ok(row)
                    })?;
                    row.into_user()
                }

                async fn end_expired_bans(
                    &self,
                    now: OffsetDateTime,
                    limit: u32,
                    journal: JournalFor<'_>,
                ) -> StoreResult<Vec<UserId>> {
                    // Quiet: a ban that has run out already lets its user in; the caches
                    // hear of the cleared rows below, and not of every round that finds none.
                    let ended: Vec<i64> = write_transaction!(quiet self, |transaction| {
                        let ended: Vec<i64> = sqlx::query_scalar(sql::END_EXPIRED_BANS)
                            .bind(to_ms(now))
                            .bind(i64::from(limit))
                            .fetch_all(&mut *transaction)
                            .await?;
                        for id in &ended {
                            Self::write_journal(&mut transaction, &journal(UserId(*id))).await?;
                        }
                        Ok(ended)
                    })?;
                    if !ended.is_empty() {
                        self.changes.committed_here();
                    }
                    Ok(ended.into_iter().map(UserId).collect())
                }

                async fn list_banned_users(&self, now: OffsetDateTime) -> StoreResult<Vec<User>> {
                    let rows = sqlx::query_as(sql::LIST_BANNED_USERS)
                        .bind(to_ms(now))
                        .fetch_all(self.read_pool())
                        .await
                        .map_err(store_error)?;
                    convert_all(rows, UserRow::into_user)
                }

                async fn record_terms_acceptance(
                    &self,
                    id: i64,
                    user: UserId,
                    version: &str,
                    at: OffsetDateTime,
                    journal: &Journal,
                ) -> StoreResult<User> {
                    let row = write_transaction!(self, |transaction| {
                        let row: Option<UserRow> = sqlx::query_as(sql::SET_TERMS_ACCEPTED)
                            .bind(user.0)
                            .bind(version)
                            .bind(to_ms(at))
                            .fetch_optional(&mut *transaction)
                            .await?;
                        let Some(row) = row else {
                            return Err(StoreError::NotFound.into());
                        };
                        sqlx::query(sql::INSERT_TERMS_ACCEPTANCE)
                            .bind(id)
                            .bind(user.0)
                            .bind(version)
                            .bind(to_ms(at))
                            .execute(&mut *transaction)
                            .await?;
                        Self::write_journal(&mut transaction, journal).await?;
                        Ok(row)
                    })?;
                    row.into_user()
                }

                async fn list_terms_acceptances(&self, user: UserId) -> StoreResult<Vec<TermsAcceptance>> {
                    let rows: Vec<(i64, String, i64)> = sqlx::query_as(sql::LIST_TERMS_ACCEPTANCES)
                        .bind(user.0)
                        .fetch_all(self.read_pool())
                        .await
                        .map_err(store_error)?;
                    rows.into_iter()
                        .map(|(user_id, version, at)| {
                            Ok(TermsAcceptance {
                                user_id: UserId(user_id),
                                version,
                                accepted_at: from_ms(at)?,
                            })
                        })
                        .collect()
                }
            }
        };
    };
}
pub(crate) use impl_users;
