//! What the capabilities share: the write transaction, binding a user's columns, writing a
//! user at its revision with its login keys, the last-administrator guard, and writing a
//! change's journal (audit entries and outbox events) and sequencing the outbox.

/// Runs `$body` (a block of type `Result<T, TransactionError>` that may use `?` and `return`)
/// inside a write transaction of `$store`, bound to `$transaction`. Commits on `Ok`, rolls
/// back on `Err`, and evaluates to `Result<T, TransactionError>`.
macro_rules! write_transaction {
    // A write that changes no session, API key or account (a last-use touch, the webhook
    // worker's bookkeeping): the credential cache need not hear of it.
    (quiet $store:expr, |$transaction:ident| $body:block) => {
        $crate::capability::common::write_transaction!(@run $store, false, |$transaction| $body)
    };
    ($store:expr, |$transaction:ident| $body:block) => {
        $crate::capability::common::write_transaction!(@run $store, true, |$transaction| $body)
    };
    (@run $store:expr, $announce:expr, |$transaction:ident| $body:block) => {
        async {
            let mut $transaction = $store.begin_write().await?;
            let outcome: ::std::result::Result<_, $crate::error::TransactionError> = async { $body }.await;
            match outcome {
                Ok(value) => {
                    $transaction.commit().await?;
                    if $announce {
                        // Before the caller answers: this instance sees its own change at once.
                        $store.changes.changed_everything();
                    }
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

/// The helpers of `$store` (pools of `$database`) that the capabilities share.
macro_rules! impl_common {
    ($store:ty, $database:ty) => {
        const _: () = {
            use crate::capability::common::write_transaction;
            use crate::codec::{UserParams, UserRow, to_ms};
            use crate::error::{TransactionError, is_unique_violation, store_error};
            use crate::journal::{INSERT_AUDIT_HEAD, INSERT_OUTBOX_HEAD, JOURNAL_ROWS_PER_STATEMENT};
            use crate::{codec, sql};
            use roster_core::User;
            use roster_core::journal::{Journal, OutboxEvent};
            use roster_core::store::{StoreError, StoreResult};
            use sqlx::query::{Query, QueryAs};
            use sqlx::types::Json;
            use sqlx::{Database, QueryBuilder, Transaction};
            use time::OffsetDateTime;

            type Db = $database;

            impl $store {
                /// Binds a user's columns as `$1`..`$21` (see `codec::UserParams`).
                fn bind_user<'q, O>(
                    query: QueryAs<'q, Db, O, <Db as Database>::Arguments<'q>>,
                    p: UserParams,
                ) -> QueryAs<'q, Db, O, <Db as Database>::Arguments<'q>> {
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
                pub(crate) async fn sequence_outbox_now(&self) -> StoreResult<()> {
                    if !Self::SEQUENCES_OUTBOX {
                        return Ok(());
                    }
                    write_transaction!(quiet self, |transaction| {
                        Self::sequence_outbox(&mut transaction).await?;
                        Ok(())
                    })
                    .map_err(Into::into)
                }

                /// Updates a user at its revision inside `transaction`: None when no row has that
                /// revision. With `keep_an_admin`, the administrators are locked first and the
                /// change fails with LastAdmin if no active administrator is left.
                async fn update_user_row(
                    transaction: &mut Transaction<'static, Db>,
                    user: &User,
                    keep_an_admin: bool,
                ) -> Result<Option<UserRow>, TransactionError> {
                    if keep_an_admin {
                        Self::lock_admins(transaction).await?;
                    }
                    let before: Option<(Option<String>, Option<String>, Option<String>)> =
                        sqlx::query_as(sql::USER_IDENTITY)
                            .bind(user.id.0)
                            .fetch_optional(&mut **transaction)
                            .await?;
                    let row: Option<UserRow> =
                        Self::bind_user(sqlx::query_as(sql::UPDATE_USER), UserParams::checked(user)?)
                            .bind(user.revision)
                            .fetch_optional(&mut **transaction)
                            .await?;
                    if let (Some(_), Some((email, username, password_hash))) = (&row, &before) {
                        // The login keys follow the identifiers; a new one must be free. A key the
                        // account had already stays as it is (one two accounts shared before
                        // migration 0014 stays with the older).
                        let old = roster_core::user::login_keys(email.as_deref(), username.as_deref());
                        let new = codec::login_keys(user);
                        for (key, _) in old.iter().filter(|(k, _)| !new.iter().any(|(n, _)| n == k)) {
                            sqlx::query(sql::RELEASE_LOGIN_KEY)
                                .bind(key.as_str())
                                .bind(user.id.0)
                                .execute(&mut **transaction)
                                .await?;
                        }
                        let added: Vec<(String, &'static str)> = new
                            .into_iter()
                            .filter(|(k, _)| !old.iter().any(|(o, _)| o == k))
                            .collect();
                        Self::claim_login_keys(transaction, user.id.0, &added).await?;
                        // A new address or password ends the reset and verification links made
                        // before it: a link mailed to the old address must not outlive the change.
                        let new_hash = user.password_hash.as_ref().map(|h| h.0.as_str());
                        if *email != user.email || password_hash.as_deref() != new_hash {
                            Self::end_mailed_links(transaction, user.id.0).await?;
                        }
                    }
                    if row.is_some() && keep_an_admin {
                        Self::ensure_an_admin(transaction, OffsetDateTime::now_utc()).await?;
                    }
                    Ok(row)
                }

                /// Claims login keys (from `codec::login_keys`) for `user_id` in `transaction`:
                /// Conflict naming the field whose key another account holds. Under PostgreSQL a
                /// concurrent claim of the same key waits for the other transaction, so of two
                /// accounts racing for one identifier exactly one is written.
                async fn claim_login_keys(
                    transaction: &mut Transaction<'static, Db>,
                    user_id: i64,
                    keys: &[(String, &'static str)],
                ) -> Result<(), TransactionError> {
                    for (key, field) in keys {
                        let claimed = sqlx::query(sql::CLAIM_LOGIN_KEY)
                            .bind(key.as_str())
                            .bind(user_id)
                            .execute(&mut **transaction)
                            .await?
                            .rows_affected();
                        if claimed == 0 {
                            let holder: Option<i64> = sqlx::query_scalar(sql::LOGIN_KEY_HOLDER)
                                .bind(key.as_str())
                                .fetch_optional(&mut **transaction)
                                .await?;
                            if holder != Some(user_id) {
                                return Err(StoreError::Conflict { field }.into());
                            }
                        }
                    }
                    Ok(())
                }

                /// Inserts a new user's row and claims its login keys, in `transaction`.
                async fn insert_user_row(
                    transaction: &mut Transaction<'static, Db>,
                    user: &User,
                    params: UserParams,
                ) -> Result<UserRow, TransactionError> {
                    let row: UserRow = Self::bind_user(sqlx::query_as(sql::INSERT_USER), params)
                        .bind(user.revision)
                        .fetch_one(&mut **transaction)
                        .await?;
                    Self::claim_login_keys(transaction, user.id.0, &codec::login_keys(user)).await?;
                    Ok(row)
                }

                /// Ends the user's unused password-reset and email-verification links.
                async fn end_mailed_links(
                    transaction: &mut Transaction<'static, Db>,
                    user_id: i64,
                ) -> Result<(), TransactionError> {
                    for statement in [
                        sql::DELETE_UNUSED_RESET_LINKS_OF_USER,
                        sql::DELETE_EMAIL_VERIFICATIONS_OF_USER,
                    ] {
                        sqlx::query(statement)
                            .bind(user_id)
                            .execute(&mut **transaction)
                            .await?;
                    }
                    Ok(())
                }

                /// Names the field of a failed write of `user`: a unique violation is looked up
                /// (email first, then username), anything else is classified as usual.
                async fn user_write_error(&self, error: TransactionError, user: &User) -> StoreError {
                    let error = match error {
                        TransactionError::Database(e) if is_unique_violation(&e) => e,
                        other => return other.into(),
                    };
                    let candidates = [
                        ("email", sql::COUNT_OTHER_USERS_WITH_EMAIL, user.email.clone()),
                        (
                            "username",
                            sql::COUNT_OTHER_USERS_WITH_USERNAME,
                            user.username.as_deref().map(codec::username_key),
                        ),
                    ];
                    for (field, statement, value) in candidates {
                        let Some(value) = value else { continue };
                        let taken: Result<i64, sqlx::Error> = sqlx::query_scalar(statement)
                            .bind(value)
                            .bind(user.id.0)
                            .fetch_one(self.read_pool())
                            .await;
                        match taken {
                            Ok(0) => {}
                            Ok(_) => return StoreError::Conflict { field },
                            Err(e) => return store_error(e),
                        }
                    }
                    // The other row is gone already, or the id itself collided.
                    store_error(error)
                }

                /// Fails with `LastAdmin` if the transaction's writes left no active administrator
                /// who is not banned at `now`.
                async fn ensure_an_admin(
                    transaction: &mut Transaction<'static, Db>,
                    now: OffsetDateTime,
                ) -> Result<(), TransactionError> {
                    let admins: i64 = sqlx::query_scalar(sql::COUNT_ACTIVE_ADMINS)
                        .bind(to_ms(now))
                        .fetch_one(&mut **transaction)
                        .await?;
                    if admins == 0 {
                        return Err(StoreError::LastAdmin.into());
                    }
                    Ok(())
                }

                /// Binds an attempt on a claimed row (see `webhooks::record_attempt`).
                fn bind_attempt<'q>(
                    query: Query<'q, Db, <Db as Database>::Arguments<'q>>,
                    id: i64,
                    owner: &'q str,
                    attempt: &'q roster_core::webhooks::AttemptRecord,
                ) -> Query<'q, Db, <Db as Database>::Arguments<'q>> {
                    let delivered = attempt.status == roster_core::webhooks::DeliveryStatus::Delivered;
                    query
                        .bind(id)
                        .bind(owner)
                        .bind(attempt.status.as_str())
                        .bind(codec::to_ms(attempt.attempted_at))
                        .bind(attempt.status_code)
                        .bind(attempt.error.as_deref())
                        .bind(codec::to_ms(attempt.next_attempt_at))
                        .bind(delivered.then(|| codec::to_ms(attempt.attempted_at)))
                }

                /// Runs a one-statement write and, when it touched a row, writes `journal` with it;
                /// NotFound, writing nothing, when it touched none.
                async fn write_one_row<'q>(
                    &self,
                    query: Query<'q, Db, <Db as Database>::Arguments<'q>>,
                    journal: &Journal,
                ) -> StoreResult<()> {
                    write_transaction!(self, |transaction| {
                        if query.execute(&mut *transaction).await?.rows_affected() == 0 {
                            return Err(StoreError::NotFound.into());
                        }
                        Self::write_journal(&mut transaction, journal).await?;
                        Ok(())
                    })?;
                    Ok(())
                }

                /// Runs a one-statement write of a last-use time (no journal): NotFound when it
                /// touched no row. Quiet: a touch changes nothing the credential cache holds.
                async fn touch_one_row<'q>(
                    &self,
                    query: Query<'q, Db, <Db as Database>::Arguments<'q>>,
                ) -> StoreResult<()> {
                    write_transaction!(quiet self, |transaction| {
                        if query.execute(&mut *transaction).await?.rows_affected() == 0 {
                            return Err(StoreError::NotFound.into());
                        }
                        Ok(())
                    })?;
                    Ok(())
                }

                /// Runs a one-statement write and writes `journal` with it when it touched a row;
                /// returns how many rows it touched (none: nothing is written).
                async fn write_rows_journaled<'q>(
                    &self,
                    query: Query<'q, Db, <Db as Database>::Arguments<'q>>,
                    journal: &Journal,
                ) -> StoreResult<u64> {
                    let touched = write_transaction!(self, |transaction| {
                        let touched = query.execute(&mut *transaction).await?.rows_affected();
                        if touched > 0 {
                            Self::write_journal(&mut transaction, journal).await?;
                        }
                        Ok(touched)
                    })?;
                    Ok(touched)
                }

                /// Writes a change's journal (audit entries, the SCIM records it carries, then
                /// outbox events) inside the change's transaction. Every mutating method calls
                /// this before it commits.
                async fn write_journal(
                    transaction: &mut Transaction<'static, Db>,
                    journal: &Journal,
                ) -> Result<(), TransactionError> {
                    for chunk in journal.audit.chunks(JOURNAL_ROWS_PER_STATEMENT) {
                        let mut insert = QueryBuilder::<Db>::new(INSERT_AUDIT_HEAD);
                        insert.push_values(chunk, |mut row, entry| {
                            row.push_bind(entry.id)
                                .push_bind(to_ms(entry.at))
                                .push_bind(entry.actor_id.map(|u| u.0))
                                .push_bind(entry.action.clone())
                                .push_bind(entry.target_id.map(|u| u.0))
                                .push_bind(entry.ip.clone())
                                .push_bind(Json(entry.details.clone()));
                        });
                        insert.build().execute(&mut **transaction).await?;
                    }
                    for entry in &journal.audit {
                        for metric in roster_core::journal::activity_metrics(entry) {
                            sqlx::query(crate::journal::COUNT_ACTIVITY)
                                .bind(metric)
                                .bind(to_ms(entry.at).div_euclid(3_600_000))
                                .execute(&mut **transaction)
                                .await?;
                        }
                    }
                    for (kind, record) in &journal.scim_records {
                        Self::write_scim_record(transaction, *kind, record).await?;
                    }
                    // The outbox last: its lock is held only until the commit.
                    Self::write_outbox_events(transaction, &journal.events).await
                }

                /// Writes a SCIM record inside `transaction`; NotFound when its user or group
                /// does not exist (the caller's transaction then rolls back).
                pub(crate) async fn write_scim_record(
                    transaction: &mut Transaction<'static, Db>,
                    kind: roster_core::store::ScimKind,
                    record: &roster_core::store::ScimRecord,
                ) -> Result<(), TransactionError> {
                    let written = sqlx::query(&crate::capability::scim_records::upsert_record(kind))
                        .bind(record.local_id)
                        .bind(record.external_id.as_deref())
                        .bind(record.attributes.to_string())
                        .bind(to_ms(record.updated_at))
                        .execute(&mut **transaction)
                        .await?
                        .rows_affected();
                    if written == 0 {
                        return Err(StoreError::NotFound.into());
                    }
                    Ok(())
                }

                /// Appends outbox events inside `transaction` (their `seq` comes at insert on
                /// SQLite, from the sequencer on PostgreSQL).
                async fn write_outbox_events(
                    transaction: &mut Transaction<'static, Db>,
                    events: &[OutboxEvent],
                ) -> Result<(), TransactionError> {
                    for chunk in events.chunks(JOURNAL_ROWS_PER_STATEMENT) {
                        let mut insert = QueryBuilder::<Db>::new(INSERT_OUTBOX_HEAD);
                        insert.push_values(chunk, |mut row, event| {
                            row.push_bind(event.id)
                                .push_bind(event.event_type.clone())
                                .push_bind(event.subject_id.0)
                                .push_bind(event.actor_id.map(|u| u.0))
                                .push_bind(to_ms(event.occurred_at))
                                .push_bind(Json(event.payload.clone()));
                        });
                        insert.build().execute(&mut **transaction).await?;
                    }
                    Ok(())
                }
            }
        };
    };
}
pub(crate) use impl_common;
