//! The one implementation of [`roster_core::Store`], written once and expanded for each
//! backend by `impl_store!`. A backend supplies its pools and hooks (`read_pool`,
//! `begin_write`, `lock_admins`, `probe`, `close_pools`); the SQL, binding, decoding and error
//! mapping live here and in `sql.rs` / `codec.rs`. No policy: the core decides, this writes.

/// Runs `$body` (an expression of type `Result<T, TransactionError>` that may use `?` and
/// `return`) inside a write transaction of `$store`, bound to `$transaction`. Commits on
/// `Ok`, rolls back on `Err`, and evaluates to `Result<T, TransactionError>`.
macro_rules! write_transaction {
    ($store:expr, $transaction:ident => $body:expr) => {
        async {
            let mut $transaction = $store.begin_write().await?;
            let outcome: ::std::result::Result<_, $crate::error::TransactionError> = async { $body }.await;
            match outcome {
                Ok(value) => {
                    $transaction.commit().await?;
                    Ok::<_, $crate::error::TransactionError>(value)
                }
                Err(error) => {
                    // The transaction is abandoned either way. A rollback that fails (the
                    // database may have ended the transaction itself) leaves the connection
                    // marked as inside a transaction: the pool closes it (`is_reusable`).
                    let _ = $transaction.rollback().await;
                    Err(error)
                }
            }
        }
        .await
    };
}
pub(crate) use write_transaction;

/// Implements `Store` for `$store`, whose pools hold `$database` connections.
macro_rules! impl_store {
    ($store:ty, $database:ty) => {
        impl $store {
            /// Binds a user's columns as `$1`..`$21` (see `codec::UserParams`).
            fn bind_user<'q, O>(
                query: sqlx::query::QueryAs<'q, $database, O, <$database as sqlx::Database>::Arguments<'q>>,
                p: $crate::codec::UserParams,
            ) -> sqlx::query::QueryAs<'q, $database, O, <$database as sqlx::Database>::Arguments<'q>> {
                query
                    .bind(p.id)
                    .bind(p.email)
                    .bind(p.email_verified)
                    .bind(p.username)
                    .bind(p.username_key)
                    .bind(p.name)
                    .bind(p.password_hash)
                    .bind(p.provider)
                    .bind(p.role)
                    .bind(p.active)
                    .bind(p.avatar)
                    .bind(p.bio)
                    .bind(p.timezone)
                    .bind(p.terms_version)
                    .bind(p.terms_accepted_at)
                    .bind(p.preferences)
                    .bind(p.created_at)
                    .bind(p.updated_at)
                    .bind(p.last_login_at)
                    .bind(p.last_active_at)
                    .bind(p.search_key)
            }

            /// Numbers the outbox rows committed without a `seq` yet (PostgreSQL; nothing on
            /// SQLite), before a read that pages by `seq`.
            pub(crate) async fn sequence_outbox_now(&self) -> roster_core::store::StoreResult<()> {
                if !Self::SEQUENCES_OUTBOX {
                    return Ok(());
                }
                $crate::shared::write_transaction!(self, transaction => {
                    Self::sequence_outbox(&mut transaction).await?;
                    Ok(())
                })
                .map_err(Into::into)
            }

            /// Updates a user at its revision inside `transaction`: None when no row has that
            /// revision. With `keep_an_admin`, the administrators are locked first and the
            /// change fails with LastAdmin if no active administrator is left.
            async fn update_user_row(
                transaction: &mut sqlx::Transaction<'static, $database>,
                user: &roster_core::User,
                keep_an_admin: bool,
            ) -> Result<Option<$crate::codec::UserRow>, $crate::error::TransactionError> {
                if keep_an_admin {
                    Self::lock_admins(transaction).await?;
                }
                let before: Option<(Option<String>, Option<String>, Option<String>)> =
                    sqlx::query_as($crate::sql::USER_IDENTITY)
                        .bind(user.id.0)
                        .fetch_optional(&mut **transaction)
                        .await?;
                let row: Option<$crate::codec::UserRow> =
                    Self::bind_user(sqlx::query_as($crate::sql::UPDATE_USER), $crate::codec::UserParams::checked(user)?)
                        .bind(user.revision)
                        .fetch_optional(&mut **transaction)
                        .await?;
                if let (Some(_), Some((email, username, password_hash))) = (&row, &before) {
                    // The login keys follow the identifiers; a new one must be free. A key the
                    // account had already stays as it is (one two accounts shared before
                    // migration 0014 stays with the older).
                    let old = roster_core::user::login_keys(email.as_deref(), username.as_deref());
                    let new = $crate::codec::login_keys(user);
                    for (key, _) in old.iter().filter(|(k, _)| !new.iter().any(|(n, _)| n == k)) {
                        sqlx::query($crate::sql::RELEASE_LOGIN_KEY)
                            .bind(key.as_str())
                            .bind(user.id.0)
                            .execute(&mut **transaction)
                            .await?;
                    }
                    let added: Vec<(String, &'static str)> =
                        new.into_iter().filter(|(k, _)| !old.iter().any(|(o, _)| o == k)).collect();
                    Self::claim_login_keys(transaction, user.id.0, &added).await?;
                    // A new address or password ends the reset and verification links made
                    // before it: a link mailed to the old address must not outlive the change.
                    let new_hash = user.password_hash.as_ref().map(|h| h.0.as_str());
                    if *email != user.email || password_hash.as_deref() != new_hash {
                        Self::end_mailed_links(transaction, user.id.0).await?;
                    }
                }
                if row.is_some() && keep_an_admin {
                    Self::ensure_an_admin(transaction, time::OffsetDateTime::now_utc()).await?;
                }
                Ok(row)
            }

            /// Claims login keys (from `codec::login_keys`) for `user_id` in `transaction`:
            /// Conflict naming the field whose key another account holds. Under PostgreSQL a
            /// concurrent claim of the same key waits for the other transaction, so of two
            /// accounts racing for one identifier exactly one is written.
            async fn claim_login_keys(
                transaction: &mut sqlx::Transaction<'static, $database>,
                user_id: i64,
                keys: &[(String, &'static str)],
            ) -> Result<(), $crate::error::TransactionError> {
                for (key, field) in keys {
                    let claimed = sqlx::query($crate::sql::CLAIM_LOGIN_KEY)
                        .bind(key.as_str())
                        .bind(user_id)
                        .execute(&mut **transaction)
                        .await?
                        .rows_affected();
                    if claimed == 0 {
                        let holder: Option<i64> = sqlx::query_scalar($crate::sql::LOGIN_KEY_HOLDER)
                            .bind(key.as_str())
                            .fetch_optional(&mut **transaction)
                            .await?;
                        if holder != Some(user_id) {
                            return Err(roster_core::StoreError::Conflict { field }.into());
                        }
                    }
                }
                Ok(())
            }

            /// Inserts a new user's row and claims its login keys, in `transaction`.
            async fn insert_user_row(
                transaction: &mut sqlx::Transaction<'static, $database>,
                user: &roster_core::User,
                params: $crate::codec::UserParams,
            ) -> Result<$crate::codec::UserRow, $crate::error::TransactionError> {
                let row: $crate::codec::UserRow = Self::bind_user(sqlx::query_as($crate::sql::INSERT_USER), params)
                    .bind(user.revision)
                    .fetch_one(&mut **transaction)
                    .await?;
                Self::claim_login_keys(transaction, user.id.0, &$crate::codec::login_keys(user)).await?;
                Ok(row)
            }

            /// Ends the user's unused password-reset and email-verification links.
            async fn end_mailed_links(
                transaction: &mut sqlx::Transaction<'static, $database>,
                user_id: i64,
            ) -> Result<(), $crate::error::TransactionError> {
                for statement in [
                    $crate::sql::DELETE_UNUSED_RESET_LINKS_OF_USER,
                    $crate::sql::DELETE_EMAIL_VERIFICATIONS_OF_USER,
                ] {
                    sqlx::query(statement).bind(user_id).execute(&mut **transaction).await?;
                }
                Ok(())
            }

            /// Fills the login keys of the accounts stored before migration 0014, once (the
            /// first start after it takes a marker in the same transaction). Oldest account
            /// first: of two old accounts sharing an identifier, the older keeps it, and the
            /// younger cannot sign in with it until it changes it. Returns how many
            /// identifiers were left to an older account.
            pub(crate) async fn fill_login_keys(&self) -> roster_core::store::StoreResult<u64> {
                const BATCH: i64 = 1000;
                let shared = $crate::shared::write_transaction!(self, transaction => {
                    let took = sqlx::query($crate::sql::CLAIM_LOGIN_KEYS_FILLED)
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
                            sqlx::query_as($crate::sql::USER_LOGINS_BY_AGE)
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
                        let mut insert = sqlx::QueryBuilder::<$database>::new($crate::sql::CLAIM_LOGIN_KEYS_HEAD);
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
                        "login identifiers shared by accounts stored earlier were left to the oldest account; \
                         the younger accounts sign in with their other identifier until they change this one"
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
                user: &roster_core::User,
                keep_an_admin: bool,
                end_sessions: Option<(i64, &roster_core::journal::Journal)>,
                journal: &roster_core::journal::Journal,
            ) -> roster_core::store::StoreResult<(roster_core::User, u64)> {
                let params = $crate::codec::UserParams::checked(user)?;
                let (email, username_key) = (params.email, params.username_key);
                let result = $crate::shared::write_transaction!(self, transaction => {
                    let Some(row) = Self::update_user_row(&mut transaction, user, keep_an_admin).await? else {
                        let exists: i64 = sqlx::query_scalar($crate::sql::COUNT_USERS_WITH_ID)
                            .bind(user.id.0)
                            .fetch_one(&mut *transaction)
                            .await?;
                        return Err(if exists == 0 {
                            roster_core::StoreError::NotFound.into()
                        } else {
                            roster_core::StoreError::Stale.into()
                        });
                    };
                    let mut ended = 0;
                    if let Some((keep, _)) = end_sessions {
                        sqlx::query($crate::sql::DELETE_REFRESH_TOKENS_OF_OTHER_SESSIONS)
                            .bind(user.id.0)
                            .bind(keep)
                            .execute(&mut *transaction)
                            .await?;
                        ended = sqlx::query($crate::sql::DELETE_OTHER_SESSIONS)
                            .bind(user.id.0)
                            .bind(keep)
                            .execute(&mut *transaction)
                            .await?
                            .rows_affected();
                    }
                    // The journal last: its outbox lock is held only until the commit.
                    Self::write_journal(&mut transaction, journal).await?;
                    if let Some((_, sessions_journal)) = end_sessions.filter(|_| ended > 0) {
                        Self::write_journal(&mut transaction, sessions_journal).await?;
                    }
                    Ok((row, ended))
                });
                match result {
                    Ok((row, ended)) => Ok((row.into_user()?, ended)),
                    Err(error) => {
                        Err(self.user_write_error(error, user.id.0, email.as_deref(), username_key.as_deref()).await)
                    }
                }
            }

            /// Names the field of a failed user write: a unique violation is looked up
            /// (email first, then username), anything else is classified as usual.
            async fn user_write_error(
                &self,
                error: $crate::error::TransactionError,
                id: i64,
                email: Option<&str>,
                username_key: Option<&str>,
            ) -> roster_core::StoreError {
                use $crate::error::{TransactionError, is_unique_violation, store_error};
                let error = match error {
                    TransactionError::Database(e) if is_unique_violation(&e) => e,
                    other => return other.into(),
                };
                let candidates = [
                    ("email", $crate::sql::COUNT_OTHER_USERS_WITH_EMAIL, email),
                    ("username", $crate::sql::COUNT_OTHER_USERS_WITH_USERNAME, username_key),
                ];
                for (field, statement, value) in candidates {
                    let Some(value) = value else { continue };
                    let taken: Result<i64, sqlx::Error> =
                        sqlx::query_scalar(statement).bind(value).bind(id).fetch_one(self.read_pool()).await;
                    match taken {
                        Ok(0) => {}
                        Ok(_) => return roster_core::StoreError::Conflict { field },
                        Err(e) => return store_error(e),
                    }
                }
                // The other row is gone already, or the id itself collided.
                store_error(error)
            }

            /// Fails with `LastAdmin` if the transaction's writes left no active administrator
            /// who is not banned at `now`.
            async fn ensure_an_admin(
                transaction: &mut sqlx::Transaction<'static, $database>,
                now: time::OffsetDateTime,
            ) -> Result<(), $crate::error::TransactionError> {
                let admins: i64 = sqlx::query_scalar($crate::sql::COUNT_ACTIVE_ADMINS)
                    .bind($crate::codec::to_ms(now))
                    .fetch_one(&mut **transaction)
                    .await?;
                if admins == 0 {
                    return Err(roster_core::StoreError::LastAdmin.into());
                }
                Ok(())
            }

            /// Chooses how a listing searches: with a trigram index (SQLite's `users_search`)
            /// when few rows match, else by filtering in sort order, where dense matches are
            /// found at once. PostgreSQL's planner makes this choice itself (pg_trgm index).
            async fn search_plan(
                &self,
                query: &roster_core::store::UserQuery,
            ) -> roster_core::store::StoreResult<$crate::sql::SearchPlan> {
                let Some(pattern) = query.search.as_deref().and_then($crate::sql::full_text_pattern) else {
                    return Ok($crate::sql::SearchPlan::Scan);
                };
                if !Self::FULL_TEXT_SEARCH {
                    return Ok($crate::sql::SearchPlan::Scan);
                }
                let hits: i64 = sqlx::query_scalar($crate::sql::FULL_TEXT_PROBE)
                    .bind(pattern)
                    .fetch_one(self.read_pool())
                    .await
                    .map_err($crate::error::store_error)?;
                Ok(if hits < $crate::sql::FULL_TEXT_PROBE_LIMIT {
                    $crate::sql::SearchPlan::FullText
                } else {
                    $crate::sql::SearchPlan::ScanInSortOrder
                })
            }

            /// Deletes a user and what it owns in one transaction; its credit ledger too unless
            /// `keep_ledger`.
            async fn delete_user_and_data(
                &self,
                id: roster_core::UserId,
                keep_an_admin: bool,
                keep_ledger: bool,
                journal: &roster_core::journal::Journal,
            ) -> roster_core::store::StoreResult<()> {
                $crate::shared::write_transaction!(self, transaction => {
                    if !keep_ledger {
                        sqlx::query($crate::sql::DELETE_BALANCE_TRANSACTIONS_OF_USER)
                            .bind(id.0)
                            .execute(&mut *transaction)
                            .await?;
                    }
                    if keep_an_admin {
                        Self::lock_admins(&mut transaction).await?;
                    }
                    for statement in [
                        $crate::sql::DELETE_REFRESH_TOKENS_OF_USER,
                        $crate::sql::DELETE_SESSIONS_OF_USER,
                        $crate::sql::DELETE_API_KEYS_OF_USER,
                        $crate::sql::DELETE_ACCOUNT_TOKENS_OF_USER,
                    ] {
                        sqlx::query(statement).bind(id.0).execute(&mut *transaction).await?;
                    }
                    let deleted = sqlx::query($crate::sql::DELETE_USER)
                        .bind(id.0)
                        .execute(&mut *transaction)
                        .await?
                        .rows_affected();
                    if deleted == 0 {
                        return Err(roster_core::StoreError::NotFound.into());
                    }
                    if keep_an_admin {
                        Self::ensure_an_admin(&mut transaction, time::OffsetDateTime::now_utc()).await?;
                    }
                    Self::write_journal(&mut transaction, journal).await?;
                    Ok(())
                })?;
                Ok(())
            }

            /// The statement that inserts a group (`create`) or writes its changeable columns.
            fn group_row(
                group: &roster_core::store::Group,
                create: bool,
            ) -> sqlx::query::Query<'_, $database, <$database as sqlx::Database>::Arguments<'_>> {
                use $crate::codec::to_ms;
                let permissions = sqlx::types::Json(group.permissions.clone());
                if create {
                    sqlx::query($crate::sql::INSERT_GROUP)
                        .bind(group.id.0)
                        .bind(&group.name)
                        .bind(&group.description)
                        .bind(permissions)
                        .bind(group.created_by.map(|u| u.0))
                        .bind(to_ms(group.created_at))
                        .bind(to_ms(group.updated_at))
                } else {
                    sqlx::query($crate::sql::UPDATE_GROUP)
                        .bind(group.id.0)
                        .bind(&group.name)
                        .bind(&group.description)
                        .bind(permissions)
                        .bind(to_ms(group.updated_at))
                }
            }

            /// Adds users to a group inside a transaction (members already in it are left
            /// alone); NotFound at the first user that does not exist.
            async fn insert_group_member_rows(
                transaction: &mut sqlx::Transaction<'static, $database>,
                group: roster_core::GroupId,
                users: &[roster_core::UserId],
                at: time::OffsetDateTime,
            ) -> Result<(), $crate::error::TransactionError> {
                for user in users {
                    let found: i64 = sqlx::query_scalar($crate::sql::COUNT_USERS_WITH_ID)
                        .bind(user.0)
                        .fetch_one(&mut **transaction)
                        .await?;
                    if found == 0 {
                        return Err(roster_core::StoreError::NotFound.into());
                    }
                    sqlx::query($crate::sql::INSERT_GROUP_MEMBER)
                        .bind(group.0)
                        .bind(user.0)
                        .bind($crate::codec::to_ms(at))
                        .execute(&mut **transaction)
                        .await?;
                }
                Ok(())
            }

            /// Removes users from a group inside a transaction; how many were members.
            async fn delete_group_member_rows(
                transaction: &mut sqlx::Transaction<'static, $database>,
                group: roster_core::GroupId,
                users: &[roster_core::UserId],
            ) -> Result<u64, $crate::error::TransactionError> {
                let mut removed = 0;
                for user in users {
                    removed += sqlx::query($crate::sql::DELETE_GROUP_MEMBER)
                        .bind(group.0)
                        .bind(user.0)
                        .execute(&mut **transaction)
                        .await?
                        .rows_affected();
                }
                Ok(removed)
            }

            /// Runs a one-statement write and, when it touched a row, writes `journal` with it;
            /// NotFound, writing nothing, when it touched none.
            async fn write_one_row<'q>(
                &self,
                query: sqlx::query::Query<'q, $database, <$database as sqlx::Database>::Arguments<'q>>,
                journal: &roster_core::journal::Journal,
            ) -> roster_core::store::StoreResult<()> {
                $crate::shared::write_transaction!(self, transaction => {
                    if query.execute(&mut *transaction).await?.rows_affected() == 0 {
                        return Err(roster_core::StoreError::NotFound.into());
                    }
                    Self::write_journal(&mut transaction, journal).await?;
                    Ok(())
                })?;
                Ok(())
            }

            /// Writes a change's journal (audit entries, then outbox events) inside the
            /// change's transaction. Every mutating method calls this before it commits.
            async fn write_journal(
                transaction: &mut sqlx::Transaction<'static, $database>,
                journal: &roster_core::journal::Journal,
            ) -> Result<(), $crate::error::TransactionError> {
                use $crate::codec::to_ms;
                use $crate::journal::{INSERT_AUDIT_HEAD, INSERT_OUTBOX_HEAD, JOURNAL_ROWS_PER_STATEMENT};
                for chunk in journal.audit.chunks(JOURNAL_ROWS_PER_STATEMENT) {
                    let mut insert = sqlx::QueryBuilder::<$database>::new(INSERT_AUDIT_HEAD);
                    insert.push_values(chunk, |mut row, entry| {
                        row.push_bind(entry.id)
                            .push_bind(to_ms(entry.at))
                            .push_bind(entry.actor_id.map(|u| u.0))
                            .push_bind(entry.action.clone())
                            .push_bind(entry.target_id.map(|u| u.0))
                            .push_bind(entry.ip.clone())
                            .push_bind(sqlx::types::Json(entry.details.clone()));
                    });
                    insert.build().execute(&mut **transaction).await?;
                }
                if journal.events.is_empty() {
                    return Ok(());
                }
                for chunk in journal.events.chunks(JOURNAL_ROWS_PER_STATEMENT) {
                    let mut insert = sqlx::QueryBuilder::<$database>::new(INSERT_OUTBOX_HEAD);
                    insert.push_values(chunk, |mut row, event| {
                        row.push_bind(event.id)
                            .push_bind(event.event_type.clone())
                            .push_bind(event.subject_id.0)
                            .push_bind(event.actor_id.map(|u| u.0))
                            .push_bind(to_ms(event.occurred_at))
                            .push_bind(sqlx::types::Json(event.payload.clone()));
                    });
                    insert.build().execute(&mut **transaction).await?;
                }
                Ok(())
            }
        }

        #[async_trait::async_trait]
        impl roster_core::Store for $store {
            async fn ping(&self) -> roster_core::store::StoreResult<()> {
                self.probe().await.map_err($crate::error::store_error)
            }

            async fn close(&self) {
                self.close_pools().await;
            }

            async fn insert_user(
                &self,
                user: &roster_core::User,
                claim_first_admin: bool,
                journal: &roster_core::journal::Journal,
            ) -> roster_core::store::StoreResult<roster_core::User> {
                let mut params = $crate::codec::UserParams::checked(user)?;
                let (email, username_key) = (params.email.clone(), params.username_key.clone());
                let result = $crate::shared::write_transaction!(self, transaction => {
                    // Every insert takes the marker if it is free; only a claiming insert
                    // that took it is promoted. A failed insert rolls the marker back.
                    let claimed = sqlx::query($crate::sql::CLAIM_FIRST_ACCOUNT)
                        .execute(&mut *transaction)
                        .await?
                        .rows_affected()
                        == 1;
                    if claimed && claim_first_admin {
                        params.role = roster_core::Role::Admin.as_str();
                    }
                    let row = Self::insert_user_row(&mut transaction, user, params).await?;
                    let stored = row.into_user()?;
                    Self::write_journal(&mut transaction, &journal.for_stored_user(&stored)).await?;
                    Ok(stored)
                });
                match result {
                    Ok(user) => Ok(user),
                    Err(error) => {
                        Err(self.user_write_error(error, user.id.0, email.as_deref(), username_key.as_deref()).await)
                    }
                }
            }

            async fn insert_users_bulk(
                &self,
                users: &[roster_core::User],
                journal: &roster_core::journal::Journal,
            ) -> roster_core::store::StoreResult<u64> {
                self.insert_users_with_tokens(users, &[], journal).await
            }

            async fn refresh_statistics(&self) -> roster_core::store::StoreResult<()> {
                self.analyze().await.map_err($crate::error::store_error)
            }

            async fn get_user(&self, id: roster_core::UserId) -> roster_core::store::StoreResult<roster_core::User> {
                let row: $crate::codec::UserRow = sqlx::query_as($crate::sql::GET_USER)
                    .bind(id.0)
                    .fetch_one(self.read_pool())
                    .await
                    .map_err($crate::error::store_error)?;
                row.into_user()
            }

            async fn find_user_by_login(&self, login: &str) -> roster_core::store::StoreResult<roster_core::User> {
                $crate::codec::check_text("login", login)?;
                let row: $crate::codec::UserRow = sqlx::query_as($crate::sql::FIND_USER_BY_LOGIN)
                    .bind(roster_core::user::login_key(login))
                    .fetch_one(self.read_pool())
                    .await
                    .map_err($crate::error::store_error)?;
                row.into_user()
            }

            async fn list_users(
                &self,
                query: &roster_core::store::UserQuery,
            ) -> roster_core::store::StoreResult<Vec<roster_core::User>> {
                let plan = self.search_plan(query).await?;
                let (statement, params) = $crate::sql::list_users(query, plan)?;
                let mut select = sqlx::query_as::<_, $crate::codec::UserRow>(&statement);
                for param in params {
                    select = match param {
                        $crate::sql::Param::Int(v) => select.bind(v),
                        $crate::sql::Param::Text(v) => select.bind(v),
                        $crate::sql::Param::Bool(v) => select.bind(v),
                    };
                }
                let rows = select.fetch_all(self.read_pool()).await.map_err($crate::error::store_error)?;
                $crate::codec::convert_all(rows, $crate::codec::UserRow::into_user)
            }

            async fn count_matching_users(
                &self,
                query: &roster_core::store::UserQuery,
            ) -> roster_core::store::StoreResult<i64> {
                // Counting visits every match, so the index helps whenever it can be used.
                let plan = if Self::FULL_TEXT_SEARCH {
                    $crate::sql::SearchPlan::FullText
                } else {
                    $crate::sql::SearchPlan::Scan
                };
                let (statement, params) = $crate::sql::count_matching_users(query, plan);
                let mut select = sqlx::query_scalar::<_, i64>(&statement);
                for param in params {
                    select = match param {
                        $crate::sql::Param::Int(v) => select.bind(v),
                        $crate::sql::Param::Text(v) => select.bind(v),
                        $crate::sql::Param::Bool(v) => select.bind(v),
                    };
                }
                select.fetch_one(self.read_pool()).await.map_err($crate::error::store_error)
            }

            async fn count_users(&self) -> roster_core::store::StoreResult<i64> {
                sqlx::query_scalar($crate::sql::COUNT_USERS)
                    .fetch_one(self.read_pool())
                    .await
                    .map_err($crate::error::store_error)
            }

            async fn update_user(
                &self,
                user: &roster_core::User,
                keep_an_admin: bool,
                journal: &roster_core::journal::Journal,
            ) -> roster_core::store::StoreResult<roster_core::User> {
                Ok(self.write_user_update(user, keep_an_admin, None, journal).await?.0)
            }

            async fn update_user_ending_sessions(
                &self,
                user: &roster_core::User,
                keep_an_admin: bool,
                keep: Option<roster_core::SessionId>,
                journal: &roster_core::journal::Journal,
                sessions_journal: &roster_core::journal::Journal,
            ) -> roster_core::store::StoreResult<(roster_core::User, u64)> {
                // Ids are positive, so 0 keeps nothing.
                let keep = keep.map_or(0, |s| s.0);
                self.write_user_update(user, keep_an_admin, Some((keep, sessions_journal)), journal).await
            }

            async fn delete_user(
                &self,
                id: roster_core::UserId,
                keep_an_admin: bool,
                journal: &roster_core::journal::Journal,
            ) -> roster_core::store::StoreResult<()> {
                self.delete_user_and_data(id, keep_an_admin, false, journal).await
            }

            async fn delete_user_keeping_transactions(
                &self,
                id: roster_core::UserId,
                keep_an_admin: bool,
                journal: &roster_core::journal::Journal,
            ) -> roster_core::store::StoreResult<()> {
                self.delete_user_and_data(id, keep_an_admin, true, journal).await
            }

            async fn record_login(
                &self,
                id: roster_core::UserId,
                at: time::OffsetDateTime,
                new_password_hash: Option<&str>,
                journal: &roster_core::journal::Journal,
            ) -> roster_core::store::StoreResult<()> {
                self.write_one_row(
                    sqlx::query($crate::sql::RECORD_LOGIN)
                        .bind(id.0)
                        .bind($crate::codec::to_ms(at))
                        .bind(new_password_hash),
                    journal,
                )
                .await
            }

            async fn insert_session(
                &self,
                session: &roster_core::store::Session,
                refresh_digest: &str,
            ) -> roster_core::store::StoreResult<()> {
                use $crate::codec::to_ms;
                $crate::shared::write_transaction!(self, transaction => {
                    sqlx::query($crate::sql::INSERT_SESSION)
                        .bind(session.id.0)
                        .bind(session.user_id.0)
                        .bind(to_ms(session.created_at))
                        .bind(to_ms(session.last_used_at))
                        .bind(to_ms(session.expires_at))
                        .bind(session.user_agent.as_deref())
                        .bind(session.ip.as_deref())
                        .execute(&mut *transaction)
                        .await?;
                    sqlx::query($crate::sql::INSERT_REFRESH_TOKEN)
                        .bind(refresh_digest)
                        .bind(session.id.0)
                        .bind(to_ms(session.created_at))
                        .execute(&mut *transaction)
                        .await?;
                    Ok(())
                })?;
                Ok(())
            }

            async fn get_session(
                &self,
                id: roster_core::SessionId,
            ) -> roster_core::store::StoreResult<roster_core::store::Session> {
                let row: $crate::codec::SessionRow = sqlx::query_as($crate::sql::GET_SESSION)
                    .bind(id.0)
                    .fetch_one(self.read_pool())
                    .await
                    .map_err($crate::error::store_error)?;
                row.into_session()
            }

            async fn get_refresh_token(
                &self,
                digest: &str,
            ) -> roster_core::store::StoreResult<roster_core::store::RefreshTokenRecord> {
                let row: $crate::codec::RefreshTokenRow = sqlx::query_as($crate::sql::GET_REFRESH_TOKEN)
                    .bind(digest)
                    .fetch_one(self.read_pool())
                    .await
                    .map_err($crate::error::store_error)?;
                row.into_record()
            }

            async fn rotate_refresh_token(
                &self,
                session: roster_core::SessionId,
                old_digest: &str,
                new_digest: &str,
                now: time::OffsetDateTime,
            ) -> roster_core::store::StoreResult<bool> {
                let now = $crate::codec::to_ms(now);
                let rotated = $crate::shared::write_transaction!(self, transaction => {
                    let used = sqlx::query($crate::sql::USE_REFRESH_TOKEN)
                        .bind(old_digest)
                        .bind(session.0)
                        .bind(now)
                        .execute(&mut *transaction)
                        .await?
                        .rows_affected();
                    if used == 0 {
                        return Ok(false);
                    }
                    sqlx::query($crate::sql::INSERT_REFRESH_TOKEN)
                        .bind(new_digest)
                        .bind(session.0)
                        .bind(now)
                        .execute(&mut *transaction)
                        .await?;
                    sqlx::query($crate::sql::TOUCH_SESSION).bind(session.0).bind(now).execute(&mut *transaction).await?;
                    Ok(true)
                })?;
                Ok(rotated)
            }

            async fn touch_user(
                &self,
                id: roster_core::UserId,
                at: time::OffsetDateTime,
            ) -> roster_core::store::StoreResult<()> {
                self.write_one_row(
                    sqlx::query($crate::sql::TOUCH_USER).bind(id.0).bind($crate::codec::to_ms(at)),
                    &roster_core::journal::Journal::default(),
                )
                .await
            }

            async fn touch_session(
                &self,
                id: roster_core::SessionId,
                at: time::OffsetDateTime,
            ) -> roster_core::store::StoreResult<()> {
                self.write_one_row(
                    sqlx::query($crate::sql::TOUCH_SESSION).bind(id.0).bind($crate::codec::to_ms(at)),
                    &roster_core::journal::Journal::default(),
                )
                .await
            }

            async fn list_sessions(
                &self,
                user: roster_core::UserId,
            ) -> roster_core::store::StoreResult<Vec<roster_core::store::Session>> {
                let rows = sqlx::query_as($crate::sql::LIST_SESSIONS)
                    .bind(user.0)
                    .fetch_all(self.read_pool())
                    .await
                    .map_err($crate::error::store_error)?;
                $crate::codec::convert_all(rows, $crate::codec::SessionRow::into_session)
            }

            async fn delete_session(
                &self,
                user: roster_core::UserId,
                id: roster_core::SessionId,
                journal: &roster_core::journal::Journal,
            ) -> roster_core::store::StoreResult<()> {
                $crate::shared::write_transaction!(self, transaction => {
                    sqlx::query($crate::sql::DELETE_REFRESH_TOKENS_OF_SESSION)
                        .bind(id.0)
                        .bind(user.0)
                        .execute(&mut *transaction)
                        .await?;
                    let deleted = sqlx::query($crate::sql::DELETE_SESSION)
                        .bind(id.0)
                        .bind(user.0)
                        .execute(&mut *transaction)
                        .await?
                        .rows_affected();
                    if deleted == 0 {
                        return Err(roster_core::StoreError::NotFound.into());
                    }
                    Self::write_journal(&mut transaction, journal).await?;
                    Ok(())
                })?;
                Ok(())
            }

            async fn delete_sessions_of_user(
                &self,
                user: roster_core::UserId,
                keep: Option<roster_core::SessionId>,
                journal: &roster_core::journal::Journal,
            ) -> roster_core::store::StoreResult<u64> {
                // Ids are positive, so 0 keeps nothing.
                let keep = keep.map_or(0, |s| s.0);
                let deleted = $crate::shared::write_transaction!(self, transaction => {
                    sqlx::query($crate::sql::DELETE_REFRESH_TOKENS_OF_OTHER_SESSIONS)
                        .bind(user.0)
                        .bind(keep)
                        .execute(&mut *transaction)
                        .await?;
                    let deleted = sqlx::query($crate::sql::DELETE_OTHER_SESSIONS)
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

            async fn insert_api_key(
                &self,
                key: &roster_core::store::ApiKey,
                digest: &str,
                journal: &roster_core::journal::Journal,
            ) -> roster_core::store::StoreResult<()> {
                use $crate::codec::to_ms;
                $crate::shared::write_transaction!(self, transaction => {
                    sqlx::query($crate::sql::INSERT_API_KEY)
                        .bind(key.id.0)
                        .bind(key.user_id.0)
                        .bind(key.name.as_str())
                        .bind(key.prefix.as_str())
                        .bind(sqlx::types::Json(key.scopes.clone()))
                        .bind(to_ms(key.created_at))
                        .bind(key.expires_at.map(to_ms))
                        .bind(key.last_used_at.map(to_ms))
                        .bind(digest)
                        .execute(&mut *transaction)
                        .await?;
                    Self::write_journal(&mut transaction, journal).await?;
                    Ok(())
                })?;
                Ok(())
            }

            async fn get_session_with_user(
                &self,
                id: roster_core::SessionId,
            ) -> roster_core::store::StoreResult<(roster_core::store::Session, roster_core::User)> {
                let row: $crate::codec::SessionWithUserRow = sqlx::query_as($crate::sql::GET_SESSION_WITH_USER)
                    .bind(id.0)
                    .fetch_one(self.read_pool())
                    .await
                    .map_err($crate::error::store_error)?;
                row.into_pair()
            }

            async fn get_api_key_with_user(
                &self,
                digest: &str,
            ) -> roster_core::store::StoreResult<(roster_core::store::ApiKey, roster_core::User)> {
                let row: $crate::codec::ApiKeyWithUserRow = sqlx::query_as($crate::sql::GET_API_KEY_WITH_USER)
                    .bind(digest)
                    .fetch_one(self.read_pool())
                    .await
                    .map_err($crate::error::store_error)?;
                row.into_pair()
            }

            async fn get_api_key_by_digest(
                &self,
                digest: &str,
            ) -> roster_core::store::StoreResult<roster_core::store::ApiKey> {
                let row: $crate::codec::ApiKeyRow = sqlx::query_as($crate::sql::GET_API_KEY_BY_DIGEST)
                    .bind(digest)
                    .fetch_one(self.read_pool())
                    .await
                    .map_err($crate::error::store_error)?;
                row.into_api_key()
            }

            async fn list_api_keys(
                &self,
                user: roster_core::UserId,
            ) -> roster_core::store::StoreResult<Vec<roster_core::store::ApiKey>> {
                let rows = sqlx::query_as($crate::sql::LIST_API_KEYS)
                    .bind(user.0)
                    .fetch_all(self.read_pool())
                    .await
                    .map_err($crate::error::store_error)?;
                $crate::codec::convert_all(rows, $crate::codec::ApiKeyRow::into_api_key)
            }

            async fn delete_api_key(
                &self,
                user: roster_core::UserId,
                id: roster_core::ApiKeyId,
                journal: &roster_core::journal::Journal,
            ) -> roster_core::store::StoreResult<()> {
                self.write_one_row(sqlx::query($crate::sql::DELETE_API_KEY).bind(id.0).bind(user.0), journal)
                    .await
            }

            async fn touch_api_key(
                &self,
                id: roster_core::ApiKeyId,
                at: time::OffsetDateTime,
            ) -> roster_core::store::StoreResult<()> {
                self.write_one_row(
                    sqlx::query($crate::sql::TOUCH_API_KEY).bind(id.0).bind($crate::codec::to_ms(at)),
                    &roster_core::journal::Journal::default(),
                )
                .await
            }

            async fn list_signing_keys(
                &self,
            ) -> roster_core::store::StoreResult<Vec<roster_core::token::SigningKeyRecord>> {
                let rows = sqlx::query_as($crate::sql::LIST_SIGNING_KEYS)
                    .fetch_all(self.read_pool())
                    .await
                    .map_err($crate::error::store_error)?;
                $crate::codec::convert_all(rows, $crate::codec::SigningKeyRow::into_record)
            }

            async fn insert_signing_key(
                &self,
                key: &roster_core::token::SigningKeyRecord,
            ) -> roster_core::store::StoreResult<bool> {
                let inserted = $crate::shared::write_transaction!(self, transaction => {
                    let inserted = sqlx::query($crate::sql::INSERT_SIGNING_KEY)
                        .bind(key.kid.as_str())
                        .bind(key.generation)
                        .bind(key.private_pkcs8.as_slice())
                        .bind(key.public_key.as_slice())
                        .bind($crate::codec::to_ms(key.created_at))
                        .execute(&mut *transaction)
                        .await?
                        .rows_affected();
                    Ok(inserted == 1)
                })?;
                Ok(inserted)
            }

            async fn set_user_ban(
                &self,
                id: roster_core::UserId,
                until: Option<time::OffsetDateTime>,
                reason: Option<&str>,
                keep_an_admin: bool,
                now: time::OffsetDateTime,
                journal: &roster_core::journal::Journal,
            ) -> roster_core::store::StoreResult<roster_core::User> {
                let row = $crate::shared::write_transaction!(self, transaction => {
                    if keep_an_admin {
                        Self::lock_admins(&mut transaction).await?;
                    }
                    let row: Option<$crate::codec::UserRow> = sqlx::query_as($crate::sql::SET_USER_BAN)
                        .bind(id.0)
                        .bind(until.map($crate::codec::to_ms))
                        .bind(reason)
                        .fetch_optional(&mut *transaction)
                        .await?;
                    let Some(row) = row else {
                        return Err(roster_core::StoreError::NotFound.into());
                    };
                    if keep_an_admin {
                        Self::ensure_an_admin(&mut transaction, now).await?;
                    }
                    Self::write_journal(&mut transaction, journal).await?;
                    Ok(row)
                })?;
                row.into_user()
            }

            async fn list_banned_users(
                &self,
                now: time::OffsetDateTime,
            ) -> roster_core::store::StoreResult<Vec<roster_core::User>> {
                let rows = sqlx::query_as($crate::sql::LIST_BANNED_USERS)
                    .bind($crate::codec::to_ms(now))
                    .fetch_all(self.read_pool())
                    .await
                    .map_err($crate::error::store_error)?;
                $crate::codec::convert_all(rows, $crate::codec::UserRow::into_user)
            }

            async fn delete_api_keys_of_user(
                &self,
                user: roster_core::UserId,
                journal: &roster_core::journal::Journal,
            ) -> roster_core::store::StoreResult<u64> {
                let deleted = $crate::shared::write_transaction!(self, transaction => {
                    let deleted = sqlx::query($crate::sql::DELETE_API_KEYS_OF_USER)
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

            async fn find_users_by_logins(
                &self,
                logins: &[String],
            ) -> roster_core::store::StoreResult<Vec<roster_core::User>> {
                for login in logins {
                    $crate::codec::check_text("login", login)?;
                }
                if logins.is_empty() {
                    return Ok(Vec::new());
                }
                let mut select = sqlx::QueryBuilder::<$database>::new($crate::sql::FIND_USERS_HEAD);
                select.push("id IN (SELECT user_id FROM login_keys WHERE login_key IN (");
                let mut list = select.separated(", ");
                for login in logins {
                    list.push_bind(roster_core::user::login_key(login));
                }
                list.push_unseparated("))");
                let rows = select
                    .build_query_as::<$crate::codec::UserRow>()
                    .fetch_all(self.read_pool())
                    .await
                    .map_err($crate::error::store_error)?;
                $crate::codec::convert_all(rows, $crate::codec::UserRow::into_user)
            }

            async fn user_counts(
                &self,
                now: time::OffsetDateTime,
                signups_since: time::OffsetDateTime,
                active_since: &[time::OffsetDateTime],
            ) -> roster_core::store::StoreResult<roster_core::store::UserCounts> {
                use $crate::codec::to_ms;
                use $crate::error::store_error;
                let pool = self.read_pool();
                let (total, email_verified, active, banned): (i64, i64, i64, i64) =
                    sqlx::query_as($crate::sql::USER_TOTALS)
                        .bind(to_ms(now))
                        .fetch_one(pool)
                        .await
                        .map_err(store_error)?;
                let by_role: Vec<(String, i64)> =
                    sqlx::query_as($crate::sql::USERS_BY_ROLE).fetch_all(pool).await.map_err(store_error)?;
                let by_provider: Vec<(String, i64)> =
                    sqlx::query_as($crate::sql::USERS_BY_PROVIDER).fetch_all(pool).await.map_err(store_error)?;
                let signups_by_day: Vec<(i64, i64)> = sqlx::query_as($crate::sql::SIGNUPS_BY_DAY)
                    .bind(to_ms(signups_since))
                    .fetch_all(pool)
                    .await
                    .map_err(store_error)?;
                let mut active_counts = Vec::with_capacity(active_since.len());
                for since in active_since {
                    let n: i64 = sqlx::query_scalar($crate::sql::COUNT_ACTIVE_SINCE)
                        .bind(to_ms(*since))
                        .fetch_one(pool)
                        .await
                        .map_err(store_error)?;
                    active_counts.push(n);
                }
                Ok(roster_core::store::UserCounts {
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

            async fn insert_account_token(
                &self,
                token: &roster_core::store::AccountToken,
                digest: &str,
            ) -> roster_core::store::StoreResult<()> {
                use $crate::codec::to_ms;
                $crate::shared::write_transaction!(self, transaction => {
                    sqlx::query($crate::sql::INSERT_ACCOUNT_TOKEN)
                        .bind(digest)
                        .bind(token.kind.as_str())
                        .bind(token.user_id.map(|u| u.0))
                        .bind(token.email.as_deref())
                        .bind(token.role.map(roster_core::Role::as_str))
                        .bind(to_ms(token.created_at))
                        .bind(to_ms(token.expires_at))
                        .bind(token.used_at.map(to_ms))
                        .execute(&mut *transaction)
                        .await?;
                    Ok(())
                })?;
                Ok(())
            }

            async fn get_account_token(
                &self,
                digest: &str,
            ) -> roster_core::store::StoreResult<roster_core::store::AccountToken> {
                let row: $crate::codec::AccountTokenRow = sqlx::query_as($crate::sql::GET_ACCOUNT_TOKEN)
                    .bind(digest)
                    .fetch_one(self.read_pool())
                    .await
                    .map_err($crate::error::store_error)?;
                row.into_token()
            }

            async fn use_account_token(
                &self,
                digest: &str,
                kind: roster_core::store::AccountTokenKind,
                now: time::OffsetDateTime,
            ) -> roster_core::store::StoreResult<roster_core::store::AccountToken> {
                let row = $crate::shared::write_transaction!(self, transaction => {
                    let row: Option<$crate::codec::AccountTokenRow> = sqlx::query_as($crate::sql::USE_ACCOUNT_TOKEN)
                        .bind(digest)
                        .bind(kind.as_str())
                        .bind($crate::codec::to_ms(now))
                        .fetch_optional(&mut *transaction)
                        .await?;
                    row.ok_or_else(|| roster_core::StoreError::NotFound.into())
                })?;
                row.into_token()
            }

            async fn insert_user_with_invitation(
                &self,
                user: &roster_core::User,
                digest: &str,
                now: time::OffsetDateTime,
                journal: &roster_core::journal::Journal,
            ) -> roster_core::store::StoreResult<roster_core::User> {
                let mut params = $crate::codec::UserParams::checked(user)?;
                let (email, username_key) = (params.email.clone(), params.username_key.clone());
                let result = $crate::shared::write_transaction!(self, transaction => {
                    let used = sqlx::query($crate::sql::USE_ACCOUNT_TOKEN)
                        .bind(digest)
                        .bind(roster_core::store::AccountTokenKind::Invitation.as_str())
                        .bind($crate::codec::to_ms(now))
                        .execute(&mut *transaction)
                        .await?
                        .rows_affected();
                    if used == 0 {
                        return Err(roster_core::StoreError::NotFound.into());
                    }
                    let claimed = sqlx::query($crate::sql::CLAIM_FIRST_ACCOUNT)
                        .execute(&mut *transaction)
                        .await?
                        .rows_affected()
                        == 1;
                    if claimed {
                        params.role = roster_core::Role::Admin.as_str();
                    }
                    let row = Self::insert_user_row(&mut transaction, user, params).await?;
                    let stored = row.into_user()?;
                    Self::write_journal(&mut transaction, &journal.for_stored_user(&stored)).await?;
                    Ok(stored)
                });
                match result {
                    Ok(user) => Ok(user),
                    Err(error) => {
                        Err(self.user_write_error(error, user.id.0, email.as_deref(), username_key.as_deref()).await)
                    }
                }
            }

            async fn insert_group(
                &self,
                group: &roster_core::store::Group,
                journal: &roster_core::journal::Journal,
            ) -> roster_core::store::StoreResult<()> {
                $crate::shared::write_transaction!(self, transaction => {
                    Self::group_row(group, true).execute(&mut *transaction).await?;
                    Self::write_journal(&mut transaction, journal).await?;
                    Ok(())
                })
                .map_err(Into::into)
            }

            async fn get_group(
                &self,
                id: roster_core::GroupId,
            ) -> roster_core::store::StoreResult<roster_core::store::Group> {
                let row: $crate::codec::GroupRow = sqlx::query_as($crate::sql::GET_GROUP)
                    .bind(id.0)
                    .fetch_one(self.read_pool())
                    .await
                    .map_err($crate::error::store_error)?;
                row.into_group()
            }

            async fn list_groups(&self) -> roster_core::store::StoreResult<Vec<roster_core::store::Group>> {
                let rows = sqlx::query_as($crate::sql::LIST_GROUPS)
                    .fetch_all(self.read_pool())
                    .await
                    .map_err($crate::error::store_error)?;
                $crate::codec::convert_all(rows, $crate::codec::GroupRow::into_group)
            }

            async fn update_group(
                &self,
                group: &roster_core::store::Group,
                journal: &roster_core::journal::Journal,
            ) -> roster_core::store::StoreResult<()> {
                self.write_one_row(Self::group_row(group, false), journal).await
            }

            async fn delete_group(
                &self,
                id: roster_core::GroupId,
                journal: &roster_core::journal::Journal,
            ) -> roster_core::store::StoreResult<()> {
                self.write_one_row(sqlx::query($crate::sql::DELETE_GROUP).bind(id.0), journal).await
            }

            async fn add_group_members(
                &self,
                group: roster_core::GroupId,
                users: &[roster_core::UserId],
                at: time::OffsetDateTime,
                journal: &roster_core::journal::Journal,
            ) -> roster_core::store::StoreResult<()> {
                $crate::shared::write_transaction!(self, transaction => {
                    let groups: i64 = sqlx::query_scalar($crate::sql::COUNT_GROUPS_WITH_ID)
                        .bind(group.0)
                        .fetch_one(&mut *transaction)
                        .await?;
                    if groups == 0 {
                        return Err(roster_core::StoreError::NotFound.into());
                    }
                    Self::insert_group_member_rows(&mut transaction, group, users, at).await?;
                    Self::write_journal(&mut transaction, journal).await?;
                    Ok(())
                })
                .map_err(Into::into)
            }

            async fn remove_group_members(
                &self,
                group: roster_core::GroupId,
                users: &[roster_core::UserId],
                journal: &roster_core::journal::Journal,
            ) -> roster_core::store::StoreResult<u64> {
                $crate::shared::write_transaction!(self, transaction => {
                    let removed = Self::delete_group_member_rows(&mut transaction, group, users).await?;
                    if removed > 0 {
                        Self::write_journal(&mut transaction, journal).await?;
                    }
                    Ok(removed)
                })
                .map_err(Into::into)
            }

            async fn list_group_members(
                &self,
                group: roster_core::GroupId,
            ) -> roster_core::store::StoreResult<Vec<roster_core::UserId>> {
                let ids: Vec<i64> = sqlx::query_scalar($crate::sql::LIST_GROUP_MEMBERS)
                    .bind(group.0)
                    .fetch_all(self.read_pool())
                    .await
                    .map_err($crate::error::store_error)?;
                Ok(ids.into_iter().map(roster_core::UserId).collect())
            }

            async fn list_groups_of_user(
                &self,
                user: roster_core::UserId,
            ) -> roster_core::store::StoreResult<Vec<roster_core::store::Group>> {
                let rows = sqlx::query_as($crate::sql::LIST_GROUPS_OF_USER)
                    .bind(user.0)
                    .fetch_all(self.read_pool())
                    .await
                    .map_err($crate::error::store_error)?;
                $crate::codec::convert_all(rows, $crate::codec::GroupRow::into_group)
            }

            // -- Groups with their members, at once. -------------------------------------------

            async fn list_members_of_groups(
                &self,
                groups: &[roster_core::GroupId],
            ) -> roster_core::store::StoreResult<Vec<(roster_core::GroupId, roster_core::UserId)>> {
                let mut pairs = Vec::new();
                for chunk in groups.chunks(1000) {
                    let mut query = sqlx::QueryBuilder::<$database>::new(
                        "SELECT group_id, user_id FROM group_members WHERE group_id IN (",
                    );
                    let mut ids = query.separated(", ");
                    for group in chunk {
                        ids.push_bind(group.0);
                    }
                    query.push(") ORDER BY group_id, user_id");
                    let rows: Vec<(i64, i64)> = query
                        .build_query_as()
                        .fetch_all(self.read_pool())
                        .await
                        .map_err($crate::error::store_error)?;
                    pairs.extend(
                        rows.into_iter()
                            .map(|(group, user)| (roster_core::GroupId(group), roster_core::UserId(user))),
                    );
                }
                pairs.sort_unstable();
                Ok(pairs)
            }

            async fn write_group_with_members(
                &self,
                group: &roster_core::store::Group,
                create: bool,
                add: &[roster_core::UserId],
                remove: &[roster_core::UserId],
                journal: &roster_core::journal::Journal,
            ) -> roster_core::store::StoreResult<()> {
                $crate::shared::write_transaction!(self, transaction => {
                    if Self::group_row(group, create).execute(&mut *transaction).await?.rows_affected() == 0 {
                        return Err(roster_core::StoreError::NotFound.into());
                    }
                    Self::insert_group_member_rows(&mut transaction, group.id, add, group.updated_at).await?;
                    Self::delete_group_member_rows(&mut transaction, group.id, remove).await?;
                    Self::write_journal(&mut transaction, journal).await?;
                    Ok(())
                })
                .map_err(Into::into)
            }

            // -- end of groups with their members. -------------------------------------------

            async fn get_permission_template(
                &self,
                name: &str,
            ) -> roster_core::store::StoreResult<Option<serde_json::Value>> {
                let row: Option<sqlx::types::Json<serde_json::Value>> =
                    sqlx::query_scalar($crate::sql::GET_PERMISSION_TEMPLATE)
                        .bind(name)
                        .fetch_optional(self.read_pool())
                        .await
                        .map_err($crate::error::store_error)?;
                Ok(row.map(|json| json.0))
            }

            async fn put_permission_template(
                &self,
                name: &str,
                permissions: &serde_json::Value,
                at: time::OffsetDateTime,
                journal: &roster_core::journal::Journal,
            ) -> roster_core::store::StoreResult<()> {
                $crate::shared::write_transaction!(self, transaction => {
                    sqlx::query($crate::sql::PUT_PERMISSION_TEMPLATE)
                        .bind(name)
                        .bind(sqlx::types::Json(permissions))
                        .bind($crate::codec::to_ms(at))
                        .execute(&mut *transaction)
                        .await?;
                    Self::write_journal(&mut transaction, journal).await?;
                    Ok(())
                })
                .map_err(Into::into)
            }

            async fn insert_email_verification(
                &self,
                record: &roster_core::store::EmailVerification,
                digest: &str,
            ) -> roster_core::store::StoreResult<()> {
                use $crate::codec::to_ms;
                $crate::shared::write_transaction!(self, transaction => {
                    sqlx::query($crate::sql::DELETE_EMAIL_VERIFICATIONS_OF_USER)
                        .bind(record.user_id.0)
                        .execute(&mut *transaction)
                        .await?;
                    sqlx::query($crate::sql::INSERT_EMAIL_VERIFICATION)
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
                user: Option<roster_core::UserId>,
                now: time::OffsetDateTime,
                journal: roster_core::journal::JournalFor<'_>,
            ) -> roster_core::store::StoreResult<roster_core::store::EmailVerification> {
                use $crate::codec::{from_ms, to_ms};
                let (user_id, email, created_at, expires_at) = $crate::shared::write_transaction!(self, transaction => {
                    let row: Option<(i64, String, i64, i64)> = sqlx::query_as($crate::sql::USE_EMAIL_VERIFICATION)
                        .bind(digest)
                        .bind(to_ms(now))
                        .bind(email)
                        .bind(user.map(|u| u.0))
                        .fetch_optional(&mut *transaction)
                        .await?;
                    let Some(row) = row else {
                        return Err(roster_core::StoreError::NotFound.into());
                    };
                    let marked = sqlx::query($crate::sql::MARK_EMAIL_VERIFIED)
                        .bind(row.0)
                        .bind(row.1.as_str())
                        .bind(to_ms(now))
                        .execute(&mut *transaction)
                        .await?
                        .rows_affected();
                    if marked > 0 {
                        Self::write_journal(&mut transaction, &journal(roster_core::UserId(row.0))).await?;
                    }
                    Ok(row)
                })?;
                Ok(roster_core::store::EmailVerification {
                    user_id: roster_core::UserId(user_id),
                    email,
                    created_at: from_ms(created_at)?,
                    expires_at: from_ms(expires_at)?,
                })
            }

            async fn record_terms_acceptance(
                &self,
                id: i64,
                user: roster_core::UserId,
                version: &str,
                at: time::OffsetDateTime,
                journal: &roster_core::journal::Journal,
            ) -> roster_core::store::StoreResult<roster_core::User> {
                use $crate::codec::to_ms;
                let row = $crate::shared::write_transaction!(self, transaction => {
                    let row: Option<$crate::codec::UserRow> = sqlx::query_as($crate::sql::SET_TERMS_ACCEPTED)
                        .bind(user.0)
                        .bind(version)
                        .bind(to_ms(at))
                        .fetch_optional(&mut *transaction)
                        .await?;
                    let Some(row) = row else {
                        return Err(roster_core::StoreError::NotFound.into());
                    };
                    sqlx::query($crate::sql::INSERT_TERMS_ACCEPTANCE)
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

            async fn list_terms_acceptances(
                &self,
                user: roster_core::UserId,
            ) -> roster_core::store::StoreResult<Vec<roster_core::store::TermsAcceptance>> {
                let rows: Vec<(i64, String, i64)> = sqlx::query_as($crate::sql::LIST_TERMS_ACCEPTANCES)
                    .bind(user.0)
                    .fetch_all(self.read_pool())
                    .await
                    .map_err($crate::error::store_error)?;
                rows.into_iter()
                    .map(|(user_id, version, at)| {
                        Ok(roster_core::store::TermsAcceptance {
                            user_id: roster_core::UserId(user_id),
                            version,
                            accepted_at: $crate::codec::from_ms(at)?,
                        })
                    })
                    .collect()
            }

            async fn insert_balance_transaction(
                &self,
                transaction: &roster_core::store::BalanceTransaction,
            ) -> roster_core::store::StoreResult<bool> {
                let inserted = $crate::shared::write_transaction!(self, tx => {
                    Ok(sqlx::query($crate::sql::INSERT_BALANCE_TRANSACTION)
                        .bind(transaction.id)
                        .bind(transaction.user_id.0)
                        .bind(transaction.kind.as_str())
                        .bind(transaction.amount)
                        .bind($crate::codec::to_ms(transaction.created_at))
                        .execute(&mut *tx)
                        .await?
                        .rows_affected())
                })?;
                Ok(inserted == 1)
            }

            async fn set_balance(
                &self,
                transaction: &roster_core::store::BalanceTransaction,
                target: i64,
            ) -> roster_core::store::StoreResult<i64> {
                let amount = $crate::shared::write_transaction!(self, tx => {
                    // Serialise concurrent writers of this user's ledger on its user row.
                    let locked = sqlx::query($crate::sql::LOCK_USER_FOR_LEDGER)
                        .bind(transaction.user_id.0)
                        .execute(&mut *tx)
                        .await?
                        .rows_affected();
                    if locked == 0 {
                        return Err(roster_core::StoreError::NotFound.into());
                    }
                    let (balance, _): (i64, i64) = sqlx::query_as($crate::sql::GET_BALANCE)
                        .bind(transaction.user_id.0)
                        .fetch_one(&mut *tx)
                        .await?;
                    let amount = target.saturating_sub(balance);
                    sqlx::query($crate::sql::INSERT_BALANCE_TRANSACTION)
                        .bind(transaction.id)
                        .bind(transaction.user_id.0)
                        .bind(roster_core::store::BalanceKind::Adjustment.as_str())
                        .bind(amount)
                        .bind($crate::codec::to_ms(transaction.created_at))
                        .execute(&mut *tx)
                        .await?;
                    Ok(amount)
                })?;
                Ok(amount)
            }

            async fn get_balance(&self, user: roster_core::UserId) -> roster_core::store::StoreResult<(i64, bool)> {
                let (balance, grants): (i64, i64) = sqlx::query_as($crate::sql::GET_BALANCE)
                    .bind(user.0)
                    .fetch_one(self.read_pool())
                    .await
                    .map_err($crate::error::store_error)?;
                Ok((balance, grants > 0))
            }

            // The chat products' social records (migration 0007).

            async fn find_user_by_username(&self, username_key: &str) -> roster_core::store::StoreResult<roster_core::User> {
                $crate::codec::check_text("username", username_key)?;
                let row: Option<$crate::codec::UserRow> = sqlx::query_as($crate::sql::FIND_USER_BY_USERNAME)
                    .bind(username_key)
                    .fetch_optional(self.read_pool())
                    .await
                    .map_err($crate::error::store_error)?;
                row.ok_or(roster_core::StoreError::NotFound)?.into_user()
            }

            async fn get_messaging_settings(
                &self,
                user: roster_core::UserId,
            ) -> roster_core::store::StoreResult<Option<roster_core::chat::MessagingSettings>> {
                let row: Option<$crate::codec::MessagingSettingsRow> =
                    sqlx::query_as($crate::sql::GET_MESSAGING_SETTINGS)
                        .bind(user.0)
                        .fetch_optional(self.read_pool())
                        .await
                        .map_err($crate::error::store_error)?;
                row.map($crate::codec::MessagingSettingsRow::into_settings).transpose()
            }

            async fn update_messaging_settings(
                &self,
                user: roster_core::UserId,
                change: &roster_core::chat::MessagingSettingsChange,
                at: time::OffsetDateTime,
            ) -> roster_core::store::StoreResult<roster_core::chat::MessagingSettings> {
                let row = $crate::shared::write_transaction!(self, transaction => {
                    let locked = sqlx::query($crate::sql::LOCK_USER_FOR_SETTINGS)
                        .bind(user.0)
                        .execute(&mut *transaction)
                        .await?
                        .rows_affected();
                    if locked == 0 {
                        return Err(roster_core::StoreError::NotFound.into());
                    }
                    let stored: Option<$crate::codec::MessagingSettingsRow> =
                        sqlx::query_as($crate::sql::GET_MESSAGING_SETTINGS)
                            .bind(user.0)
                            .fetch_optional(&mut *transaction)
                            .await?;
                    let mut settings = match stored {
                        Some(row) => row.into_settings()?,
                        None => roster_core::chat::MessagingSettings::defaults(user),
                    };
                    change.apply(&mut settings);
                    settings.updated_at = Some(at);
                    sqlx::query($crate::sql::PUT_MESSAGING_SETTINGS)
                        .bind(user.0)
                        .bind(settings.read_receipts_enabled)
                        .bind(settings.typing_indicators_enabled)
                        .bind(settings.compact_messages_enabled)
                        .bind(settings.allow_dms_from.as_str())
                        .bind(settings.auto_create_dms)
                        .bind(settings.max_message_length)
                        .bind(settings.max_attachment_size)
                        .bind(settings.max_attachments_per_message)
                        .bind($crate::codec::to_ms(at))
                        .execute(&mut *transaction)
                        .await?;
                    let row: $crate::codec::MessagingSettingsRow = sqlx::query_as($crate::sql::GET_MESSAGING_SETTINGS)
                        .bind(user.0)
                        .fetch_one(&mut *transaction)
                        .await?;
                    Ok(row)
                })?;
                row.into_settings()
            }

            async fn add_user_badge(
                &self,
                user: roster_core::UserId,
                badge: &str,
                at: time::OffsetDateTime,
            ) -> roster_core::store::StoreResult<bool> {
                let added = $crate::shared::write_transaction!(self, transaction => {
                    Ok(sqlx::query($crate::sql::INSERT_USER_BADGE)
                        .bind(user.0)
                        .bind(badge)
                        .bind($crate::codec::to_ms(at))
                        .execute(&mut *transaction)
                        .await?
                        .rows_affected())
                })?;
                Ok(added == 1)
            }

            async fn remove_user_badge(&self, user: roster_core::UserId, badge: &str) -> roster_core::store::StoreResult<bool> {
                let removed = $crate::shared::write_transaction!(self, transaction => {
                    Ok(sqlx::query($crate::sql::DELETE_USER_BADGE)
                        .bind(user.0)
                        .bind(badge)
                        .execute(&mut *transaction)
                        .await?
                        .rows_affected())
                })?;
                Ok(removed == 1)
            }

            async fn list_user_badges(&self, user: roster_core::UserId) -> roster_core::store::StoreResult<Vec<String>> {
                sqlx::query_scalar($crate::sql::LIST_USER_BADGES)
                    .bind(user.0)
                    .fetch_all(self.read_pool())
                    .await
                    .map_err($crate::error::store_error)
            }

            async fn get_or_insert_channel(
                &self,
                channel: &roster_core::chat::Channel,
            ) -> roster_core::store::StoreResult<roster_core::chat::Channel> {
                let row: $crate::codec::ChannelRow = $crate::shared::write_transaction!(self, transaction => {
                    sqlx::query($crate::sql::INSERT_CHANNEL)
                        .bind(channel.id.0)
                        .bind(channel.kind.as_str())
                        .bind(channel.user_low.0)
                        .bind(channel.user_high.0)
                        .bind(channel.name.as_deref())
                        .bind(channel.last_message_id)
                        .bind(channel.last_message_at.map($crate::codec::to_ms))
                        .bind($crate::codec::to_ms(channel.created_at))
                        .execute(&mut *transaction)
                        .await?;
                    Ok(sqlx::query_as($crate::sql::GET_CHANNEL_OF_MEMBERS)
                        .bind(channel.kind.as_str())
                        .bind(channel.user_low.0)
                        .bind(channel.user_high.0)
                        .fetch_one(&mut *transaction)
                        .await?)
                })?;
                row.into_channel()
            }

            async fn get_channel(
                &self,
                id: roster_core::id::ChannelId,
            ) -> roster_core::store::StoreResult<roster_core::chat::Channel> {
                let row: Option<$crate::codec::ChannelRow> = sqlx::query_as($crate::sql::GET_CHANNEL)
                    .bind(id.0)
                    .fetch_optional(self.read_pool())
                    .await
                    .map_err($crate::error::store_error)?;
                row.ok_or(roster_core::StoreError::NotFound)?.into_channel()
            }

            async fn list_dm_channels(
                &self,
                user: roster_core::UserId,
            ) -> roster_core::store::StoreResult<Vec<roster_core::chat::Channel>> {
                let rows = sqlx::query_as($crate::sql::LIST_DM_CHANNELS)
                    .bind(user.0)
                    .fetch_all(self.read_pool())
                    .await
                    .map_err($crate::error::store_error)?;
                $crate::codec::convert_all(rows, $crate::codec::ChannelRow::into_channel)
            }

            async fn set_channel_last_message(
                &self,
                id: roster_core::id::ChannelId,
                message_id: i64,
                at: time::OffsetDateTime,
            ) -> roster_core::store::StoreResult<roster_core::chat::Channel> {
                let row: Option<$crate::codec::ChannelRow> = $crate::shared::write_transaction!(self, transaction => {
                    sqlx::query($crate::sql::SET_CHANNEL_LAST_MESSAGE)
                        .bind(id.0)
                        .bind(message_id)
                        .bind($crate::codec::to_ms(at))
                        .execute(&mut *transaction)
                        .await?;
                    Ok(sqlx::query_as($crate::sql::GET_CHANNEL)
                        .bind(id.0)
                        .fetch_optional(&mut *transaction)
                        .await?)
                })?;
                row.ok_or(roster_core::StoreError::NotFound)?.into_channel()
            }

            async fn insert_block(
                &self,
                blocker: roster_core::UserId,
                blocked: roster_core::UserId,
                at: time::OffsetDateTime,
            ) -> roster_core::store::StoreResult<bool> {
                let (low, high) = roster_core::chat::Friendship::pair(blocker, blocked);
                let inserted = $crate::shared::write_transaction!(self, transaction => {
                    let inserted = sqlx::query($crate::sql::INSERT_BLOCK)
                        .bind(blocker.0)
                        .bind(blocked.0)
                        .bind($crate::codec::to_ms(at))
                        .execute(&mut *transaction)
                        .await?
                        .rows_affected();
                    sqlx::query($crate::sql::DELETE_FRIENDSHIP)
                        .bind(low.0)
                        .bind(high.0)
                        .execute(&mut *transaction)
                        .await?;
                    Ok(inserted)
                })?;
                Ok(inserted == 1)
            }

            async fn delete_block(
                &self,
                blocker: roster_core::UserId,
                blocked: roster_core::UserId,
            ) -> roster_core::store::StoreResult<bool> {
                let deleted = $crate::shared::write_transaction!(self, transaction => {
                    Ok(sqlx::query($crate::sql::DELETE_BLOCK)
                        .bind(blocker.0)
                        .bind(blocked.0)
                        .execute(&mut *transaction)
                        .await?
                        .rows_affected())
                })?;
                Ok(deleted == 1)
            }

            async fn is_blocked(
                &self,
                blocker: roster_core::UserId,
                blocked: roster_core::UserId,
            ) -> roster_core::store::StoreResult<bool> {
                let count: i64 = sqlx::query_scalar($crate::sql::COUNT_BLOCKS)
                    .bind(blocker.0)
                    .bind(blocked.0)
                    .fetch_one(self.read_pool())
                    .await
                    .map_err($crate::error::store_error)?;
                Ok(count > 0)
            }

            async fn list_blocks(
                &self,
                blocker: roster_core::UserId,
            ) -> roster_core::store::StoreResult<Vec<roster_core::chat::Block>> {
                let rows: Vec<(i64, i64, i64)> = sqlx::query_as($crate::sql::LIST_BLOCKS)
                    .bind(blocker.0)
                    .fetch_all(self.read_pool())
                    .await
                    .map_err($crate::error::store_error)?;
                rows.into_iter()
                    .map(|(blocker, blocked, at)| {
                        Ok(roster_core::chat::Block {
                            blocker: roster_core::UserId(blocker),
                            blocked: roster_core::UserId(blocked),
                            created_at: $crate::codec::from_ms(at)?,
                        })
                    })
                    .collect()
            }

            async fn get_friendship(
                &self,
                a: roster_core::UserId,
                b: roster_core::UserId,
            ) -> roster_core::store::StoreResult<Option<roster_core::chat::Friendship>> {
                let (low, high) = roster_core::chat::Friendship::pair(a, b);
                let row: Option<$crate::codec::FriendshipRow> = sqlx::query_as($crate::sql::GET_FRIENDSHIP)
                    .bind(low.0)
                    .bind(high.0)
                    .fetch_optional(self.read_pool())
                    .await
                    .map_err($crate::error::store_error)?;
                row.map($crate::codec::FriendshipRow::into_friendship).transpose()
            }

            async fn insert_friend_request(
                &self,
                request: &roster_core::chat::Friendship,
            ) -> roster_core::store::StoreResult<bool> {
                let inserted = $crate::shared::write_transaction!(self, transaction => {
                    Ok(sqlx::query($crate::sql::INSERT_FRIEND_REQUEST)
                        .bind(request.user_low.0)
                        .bind(request.user_high.0)
                        .bind(request.requester.0)
                        .bind($crate::codec::to_ms(request.created_at))
                        .bind(request.accepted_at.map($crate::codec::to_ms))
                        .execute(&mut *transaction)
                        .await?
                        .rows_affected())
                })?;
                Ok(inserted == 1)
            }

            async fn accept_friend_request(
                &self,
                a: roster_core::UserId,
                b: roster_core::UserId,
                acceptor: roster_core::UserId,
                at: time::OffsetDateTime,
            ) -> roster_core::store::StoreResult<bool> {
                let (low, high) = roster_core::chat::Friendship::pair(a, b);
                let accepted = $crate::shared::write_transaction!(self, transaction => {
                    Ok(sqlx::query($crate::sql::ACCEPT_FRIEND_REQUEST)
                        .bind(low.0)
                        .bind(high.0)
                        .bind(acceptor.0)
                        .bind($crate::codec::to_ms(at))
                        .execute(&mut *transaction)
                        .await?
                        .rows_affected())
                })?;
                Ok(accepted == 1)
            }

            async fn delete_friendship(
                &self,
                a: roster_core::UserId,
                b: roster_core::UserId,
            ) -> roster_core::store::StoreResult<bool> {
                let (low, high) = roster_core::chat::Friendship::pair(a, b);
                let deleted = $crate::shared::write_transaction!(self, transaction => {
                    Ok(sqlx::query($crate::sql::DELETE_FRIENDSHIP)
                        .bind(low.0)
                        .bind(high.0)
                        .execute(&mut *transaction)
                        .await?
                        .rows_affected())
                })?;
                Ok(deleted == 1)
            }

            async fn list_friendships(
                &self,
                user: roster_core::UserId,
            ) -> roster_core::store::StoreResult<Vec<roster_core::chat::Friendship>> {
                let rows = sqlx::query_as($crate::sql::LIST_FRIENDSHIPS)
                    .bind(user.0)
                    .fetch_all(self.read_pool())
                    .await
                    .map_err($crate::error::store_error)?;
                $crate::codec::convert_all(rows, $crate::codec::FriendshipRow::into_friendship)
            }

            async fn append_journal(
                &self,
                journal: &roster_core::journal::Journal,
            ) -> roster_core::store::StoreResult<()> {
                if journal.is_empty() {
                    return Ok(());
                }
                $crate::shared::write_transaction!(self, transaction => {
                    Self::write_journal(&mut transaction, journal).await?;
                    Ok(())
                })?;
                Ok(())
            }

            async fn list_audit(
                &self,
                query: &roster_core::journal::AuditQuery,
            ) -> roster_core::store::StoreResult<Vec<roster_core::journal::AuditEntry>> {
                let mut select = sqlx::QueryBuilder::<$database>::new($crate::journal::AUDIT_COLUMNS);
                select.push(" WHERE 1 = 1");
                if let Some(actor) = query.actor {
                    select.push(" AND actor_id = ").push_bind(actor.0);
                }
                if let Some(target) = query.target {
                    select.push(" AND target_id = ").push_bind(target.0);
                }
                if let Some(action) = &query.action {
                    select.push(" AND action = ").push_bind(action.clone());
                }
                if let Some(since) = query.since {
                    select.push(" AND at >= ").push_bind($crate::codec::to_ms(since));
                }
                if let Some(until) = query.until {
                    select.push(" AND at < ").push_bind($crate::codec::to_ms(until));
                }
                if let Some(before) = query.before_id {
                    select.push(" AND id < ").push_bind(before);
                }
                select.push(" ORDER BY id DESC LIMIT ").push_bind(i64::from(query.limit));
                let rows = select
                    .build_query_as::<$crate::journal::AuditRow>()
                    .fetch_all(self.read_pool())
                    .await
                    .map_err($crate::error::store_error)?;
                $crate::codec::convert_all(rows, $crate::journal::AuditRow::into_entry)
            }

            async fn list_outbox(
                &self,
                after_seq: i64,
                limit: u32,
            ) -> roster_core::store::StoreResult<Vec<roster_core::journal::OutboxEvent>> {
                self.sequence_outbox_now().await?;
                let rows = sqlx::query_as($crate::journal::LIST_OUTBOX)
                    .bind(after_seq)
                    .bind(i64::from(limit))
                    .fetch_all(self.read_pool())
                    .await
                    .map_err($crate::error::store_error)?;
                $crate::codec::convert_all(rows, $crate::journal::OutboxRow::into_event)
            }

            // Two-factor authentication, instance settings, sealed secrets: see two_factor.rs.

            async fn get_instance_setting(&self, name: &str) -> roster_core::store::StoreResult<Option<String>> {
                self.tf_get_instance_setting(name).await
            }

            async fn init_instance_setting(
                &self,
                name: &str,
                value: &str,
                at: time::OffsetDateTime,
            ) -> roster_core::store::StoreResult<String> {
                self.tf_init_instance_setting(name, value, at).await
            }

            async fn update_signing_key_private(&self, kid: &str, private_key: &[u8]) -> roster_core::store::StoreResult<()> {
                self.tf_update_signing_key_private(kid, private_key).await
            }

            async fn get_two_factor(
                &self,
                user: roster_core::UserId,
            ) -> roster_core::store::StoreResult<Option<roster_core::two_factor::TwoFactorRecord>> {
                self.tf_get_two_factor(user).await
            }

            async fn begin_two_factor(
                &self,
                record: &roster_core::two_factor::TwoFactorRecord,
                backup_code_digests: &[String],
            ) -> roster_core::store::StoreResult<bool> {
                self.tf_begin_two_factor(record, backup_code_digests).await
            }

            async fn enable_two_factor(
                &self,
                user: roster_core::UserId,
                step: i64,
                at: time::OffsetDateTime,
                journal: &roster_core::journal::Journal,
            ) -> roster_core::store::StoreResult<bool> {
                self.tf_enable_two_factor(user, step, at, journal).await
            }

            async fn use_two_factor_step(&self, user: roster_core::UserId, step: i64) -> roster_core::store::StoreResult<bool> {
                self.tf_use_two_factor_step(user, step).await
            }

            async fn use_backup_code(
                &self,
                user: roster_core::UserId,
                digest: &str,
                at: time::OffsetDateTime,
            ) -> roster_core::store::StoreResult<bool> {
                self.tf_use_backup_code(user, digest, at).await
            }

            async fn list_backup_codes(
                &self,
                user: roster_core::UserId,
            ) -> roster_core::store::StoreResult<Vec<roster_core::two_factor::BackupCodeRecord>> {
                self.tf_list_backup_codes(user).await
            }

            async fn replace_backup_codes(
                &self,
                user: roster_core::UserId,
                digests: &[String],
                journal: &roster_core::journal::Journal,
            ) -> roster_core::store::StoreResult<bool> {
                self.tf_replace_backup_codes(user, digests, journal).await
            }

            async fn delete_two_factor(
                &self,
                user: roster_core::UserId,
                journal: &roster_core::journal::Journal,
            ) -> roster_core::store::StoreResult<bool> {
                self.tf_delete_two_factor(user, journal).await
            }

            async fn insert_two_factor_challenge(
                &self,
                challenge: &roster_core::two_factor::TwoFactorChallengeRecord,
                digest: &str,
            ) -> roster_core::store::StoreResult<()> {
                self.tf_insert_two_factor_challenge(challenge, digest).await
            }

            async fn attempt_two_factor_challenge(
                &self,
                digest: &str,
                now: time::OffsetDateTime,
                max_attempts: i32,
            ) -> roster_core::store::StoreResult<roster_core::two_factor::TwoFactorChallengeRecord> {
                self.tf_attempt_two_factor_challenge(digest, now, max_attempts).await
            }

            async fn delete_two_factor_challenge(&self, digest: &str) -> roster_core::store::StoreResult<bool> {
                self.tf_delete_two_factor_challenge(digest).await
            }

            async fn get_user_secret(
                &self,
                user: roster_core::UserId,
                name: &str,
            ) -> roster_core::store::StoreResult<Option<String>> {
                self.tf_get_user_secret(user, name).await
            }

            async fn list_user_secrets(
                &self,
                users: &[roster_core::UserId],
                name: &str,
            ) -> roster_core::store::StoreResult<Vec<(roster_core::UserId, String)>> {
                self.tf_list_user_secrets(users, name).await
            }

            async fn put_user_secret(
                &self,
                user: roster_core::UserId,
                name: &str,
                value: Option<&str>,
                at: time::OffsetDateTime,
            ) -> roster_core::store::StoreResult<()> {
                self.tf_put_user_secret(user, name, value, at).await
            }

            fn webhooks(&self) -> &dyn roster_core::webhooks::WebhookStore {
                self
            }

            async fn list_external_refs(
                &self,
                source: &str,
                kind: &str,
            ) -> roster_core::store::StoreResult<Vec<roster_core::store::ExternalRef>> {
                let rows: Vec<(String, String, String, i64, Option<String>)> =
                    sqlx::query_as($crate::sql::LIST_EXTERNAL_REFS)
                        .bind(source)
                        .bind(kind)
                        .fetch_all(self.read_pool())
                        .await
                        .map_err($crate::error::store_error)?;
                Ok(rows
                    .into_iter()
                    .map(|(source, kind, external_id, local_id, fingerprint)| roster_core::store::ExternalRef {
                        source,
                        kind,
                        external_id,
                        local_id,
                        fingerprint,
                    })
                    .collect())
            }

            async fn write_migrated_user(
                &self,
                migrated: &roster_core::store::MigratedUser,
            ) -> roster_core::store::StoreResult<roster_core::User> {
                use $crate::codec::to_ms;
                let user = &migrated.user;
                let params = $crate::codec::UserParams::checked(user)?;
                let (email, username_key) = (params.email.clone(), params.username_key.clone());
                let now = to_ms(time::OffsetDateTime::now_utc());
                let result = $crate::shared::write_transaction!(self, transaction => {
                    let row: $crate::codec::UserRow = if migrated.is_new {
                        sqlx::query($crate::sql::CLAIM_FIRST_ACCOUNT).execute(&mut *transaction).await?;
                        Self::insert_user_row(&mut transaction, user, params).await?
                    } else {
                        let Some(row) = Self::update_user_row(&mut transaction, user, migrated.keep_an_admin).await? else {
                            return Err(roster_core::StoreError::Stale.into());
                        };
                        row
                    };
                    sqlx::query($crate::sql::PUT_EXTERNAL_REF)
                        .bind(&migrated.source)
                        .bind("user")
                        .bind(&migrated.external_id)
                        .bind(user.id.0)
                        .bind(migrated.fingerprint.as_deref())
                        .bind(now)
                        .execute(&mut *transaction)
                        .await?;
                    for (external_id, key, digest) in &migrated.api_keys {
                        let seen: i64 = sqlx::query_scalar($crate::sql::COUNT_EXTERNAL_REF)
                            .bind(&migrated.source)
                            .bind("api_key")
                            .bind(external_id)
                            .fetch_one(&mut *transaction)
                            .await?;
                        if seen > 0 {
                            continue;
                        }
                        sqlx::query($crate::sql::PUT_EXTERNAL_REF)
                            .bind(&migrated.source)
                            .bind("api_key")
                            .bind(external_id)
                            .bind(key.id.0)
                            .bind(None::<String>)
                            .bind(now)
                            .execute(&mut *transaction)
                            .await?;
                        sqlx::query($crate::sql::INSERT_API_KEY_IF_NEW)
                            .bind(key.id.0)
                            .bind(user.id.0)
                            .bind(key.name.as_str())
                            .bind(key.prefix.as_str())
                            .bind(sqlx::types::Json(key.scopes.clone()))
                            .bind(to_ms(key.created_at))
                            .bind(key.expires_at.map(to_ms))
                            .bind(key.last_used_at.map(to_ms))
                            .bind(digest.as_str())
                            .execute(&mut *transaction)
                            .await?;
                    }
                    for (external_id, entry) in &migrated.transactions {
                        let seen: i64 = sqlx::query_scalar($crate::sql::COUNT_EXTERNAL_REF)
                            .bind(&migrated.source)
                            .bind("transaction")
                            .bind(external_id)
                            .fetch_one(&mut *transaction)
                            .await?;
                        if seen > 0 {
                            continue;
                        }
                        sqlx::query($crate::sql::INSERT_BALANCE_TRANSACTION)
                            .bind(entry.id)
                            .bind(user.id.0)
                            .bind(entry.kind.as_str())
                            .bind(entry.amount)
                            .bind(to_ms(entry.created_at))
                            .execute(&mut *transaction)
                            .await?;
                        sqlx::query($crate::sql::PUT_EXTERNAL_REF)
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
                        sqlx::query($crate::sql::INSERT_BALANCE_TRANSACTION)
                            .bind(balance.grant_id)
                            .bind(user.id.0)
                            .bind(roster_core::store::BalanceKind::StartGrant.as_str())
                            .bind(0_i64)
                            .bind(to_ms(balance.at))
                            .execute(&mut *transaction)
                            .await?;
                        let (current, _): (i64, i64) = sqlx::query_as($crate::sql::GET_BALANCE)
                            .bind(user.id.0)
                            .fetch_one(&mut *transaction)
                            .await?;
                        let amount = balance.target.saturating_sub(current);
                        if amount != 0 {
                            sqlx::query($crate::sql::INSERT_BALANCE_TRANSACTION)
                                .bind(balance.adjustment_id)
                                .bind(user.id.0)
                                .bind(roster_core::store::BalanceKind::Adjustment.as_str())
                                .bind(amount)
                                .bind(to_ms(balance.at))
                                .execute(&mut *transaction)
                                .await?;
                        }
                    }
                    if let Some(two_factor) = &migrated.two_factor {
                        if let Some(enrolment) = &two_factor.enrolment {
                            let written = sqlx::query($crate::two_factor::MIGRATE_TWO_FACTOR)
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
                                return Err(roster_core::StoreError::Stale.into());
                            }
                            // A pending enrolment's codes go with it.
                            sqlx::query($crate::two_factor::DELETE_BACKUP_CODES)
                                .bind(user.id.0)
                                .execute(&mut *transaction)
                                .await?;
                        }
                        for code in &two_factor.backup_codes {
                            sqlx::query($crate::two_factor::MIGRATE_BACKUP_CODE)
                                .bind(user.id.0)
                                .bind(code.digest.as_str())
                                .bind(code.used_at.map(to_ms))
                                .execute(&mut *transaction)
                                .await?;
                            if let Some(at) = code.used_at {
                                sqlx::query($crate::two_factor::MARK_BACKUP_CODE_USED)
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
                    Err(error) => {
                        Err(self.user_write_error(error, user.id.0, email.as_deref(), username_key.as_deref()).await)
                    }
                }
            }

            async fn write_migrated_group(
                &self,
                source: &str,
                external_id: &str,
                group: &roster_core::store::Group,
                is_new: bool,
                members: &[roster_core::UserId],
            ) -> roster_core::store::StoreResult<()> {
                use $crate::codec::to_ms;
                $crate::shared::write_transaction!(self, transaction => {
                    if is_new {
                        sqlx::query($crate::sql::INSERT_GROUP)
                            .bind(group.id.0)
                            .bind(&group.name)
                            .bind(&group.description)
                            .bind(sqlx::types::Json(&group.permissions))
                            .bind(group.created_by.map(|u| u.0))
                            .bind(to_ms(group.created_at))
                            .bind(to_ms(group.updated_at))
                            .execute(&mut *transaction)
                            .await?;
                    } else {
                        let updated = sqlx::query($crate::sql::UPDATE_GROUP)
                            .bind(group.id.0)
                            .bind(&group.name)
                            .bind(&group.description)
                            .bind(sqlx::types::Json(&group.permissions))
                            .bind(to_ms(group.updated_at))
                            .execute(&mut *transaction)
                            .await?
                            .rows_affected();
                        if updated == 0 {
                            return Err(roster_core::StoreError::NotFound.into());
                        }
                    }
                    for member in members {
                        sqlx::query($crate::sql::INSERT_GROUP_MEMBER)
                            .bind(group.id.0)
                            .bind(member.0)
                            .bind(to_ms(group.updated_at))
                            .execute(&mut *transaction)
                            .await?;
                    }
                    sqlx::query($crate::sql::PUT_EXTERNAL_REF)
                        .bind(source)
                        .bind("group")
                        .bind(external_id)
                        .bind(group.id.0)
                        .bind(None::<String>)
                        .bind(to_ms(time::OffsetDateTime::now_utc()))
                        .execute(&mut *transaction)
                        .await?;
                    Ok(())
                })
                .map_err(Into::into)
            }

            async fn insert_users_with_tokens(
                &self,
                users: &[roster_core::User],
                tokens: &[(roster_core::store::AccountToken, String)],
                journal: &roster_core::journal::Journal,
            ) -> roster_core::store::StoreResult<u64> {
                use $crate::codec::to_ms;
                for user in users {
                    $crate::codec::check_user_text(user)?;
                }
                let inserted = $crate::shared::write_transaction!(self, transaction => {
                    sqlx::query($crate::sql::CLAIM_FIRST_ACCOUNT).execute(&mut *transaction).await?;
                    let mut inserted = 0;
                    for chunk in users.chunks($crate::sql::BULK_ROWS_PER_STATEMENT) {
                        let mut insert = sqlx::QueryBuilder::<$database>::new($crate::sql::INSERT_USERS_HEAD);
                        insert.push_values(chunk, |mut row, user| {
                            let p = $crate::codec::UserParams::new(user);
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
                        inserted += insert.build().execute(&mut *transaction).await?.rows_affected();
                        let keys: Vec<(String, i64)> = chunk
                            .iter()
                            .flat_map(|user| {
                                $crate::codec::login_keys(user).into_iter().map(move |(key, _)| (key, user.id.0))
                            })
                            .collect();
                        if !keys.is_empty() {
                            let mut claim = sqlx::QueryBuilder::<$database>::new($crate::sql::CLAIM_LOGIN_KEYS_HEAD);
                            claim.push_values(&keys, |mut row, (key, id)| {
                                row.push_bind(key.as_str()).push_bind(*id);
                            });
                            claim.push(" ON CONFLICT (login_key) DO NOTHING");
                            if claim.build().execute(&mut *transaction).await?.rows_affected() < keys.len() as u64 {
                                // An identifier another account (or another of these) holds.
                                return Err(roster_core::StoreError::Conflict { field: "email" }.into());
                            }
                        }
                    }
                    for (token, digest) in tokens {
                        sqlx::query($crate::sql::INSERT_ACCOUNT_TOKEN)
                            .bind(digest.as_str())
                            .bind(token.kind.as_str())
                            .bind(token.user_id.map(|u| u.0))
                            .bind(token.email.as_deref())
                            .bind(token.role.map(roster_core::Role::as_str))
                            .bind(to_ms(token.created_at))
                            .bind(to_ms(token.expires_at))
                            .bind(token.used_at.map(to_ms))
                            .execute(&mut *transaction)
                            .await?;
                    }
                    Self::write_journal(&mut transaction, journal).await?;
                    Ok(inserted)
                });
                inserted.map_err(|e| match e {
                    $crate::error::TransactionError::Database(e) if $crate::error::is_unique_violation(&e) => {
                        roster_core::StoreError::Conflict { field: "email" }
                    }
                    other => other.into(),
                })
            }

            async fn set_password_hash(
                &self,
                user: roster_core::UserId,
                hash: &roster_core::user::PasswordHash,
                reset_link: Option<&str>,
                revoke_api_keys: bool,
                now: time::OffsetDateTime,
                journal: &roster_core::journal::Journal,
            ) -> roster_core::store::StoreResult<(u64, u64)> {
                let revoked = $crate::shared::write_transaction!(self, transaction => {
                    if let Some(digest) = reset_link {
                        let row: Option<$crate::codec::AccountTokenRow> = sqlx::query_as($crate::sql::USE_ACCOUNT_TOKEN)
                            .bind(digest)
                            .bind(roster_core::store::AccountTokenKind::PasswordReset.as_str())
                            .bind($crate::codec::to_ms(now))
                            .fetch_optional(&mut *transaction)
                            .await?;
                        let Some(row) = row else {
                            return Err(roster_core::StoreError::NotFound.into());
                        };
                        if row.into_token()?.user_id != Some(user) {
                            return Err(roster_core::StoreError::NotFound.into());
                        }
                    }
                    let updated = sqlx::query($crate::sql::SET_PASSWORD_HASH)
                        .bind(user.0)
                        .bind(hash.0.as_str())
                        .bind($crate::codec::to_ms(now))
                        .execute(&mut *transaction)
                        .await?
                        .rows_affected();
                    if updated == 0 {
                        return Err(roster_core::StoreError::NotFound.into());
                    }
                    Self::end_mailed_links(&mut transaction, user.0).await?;
                    let sessions = sqlx::query($crate::sql::DELETE_SESSIONS_OF_USER)
                        .bind(user.0)
                        .execute(&mut *transaction)
                        .await?
                        .rows_affected();
                    let keys = if revoke_api_keys {
                        sqlx::query($crate::sql::DELETE_API_KEYS_OF_USER)
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
        }
    };
}
pub(crate) use impl_store;
