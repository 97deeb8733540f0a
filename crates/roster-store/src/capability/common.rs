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
                    // With Redis, the changes the triggers collected go out as pending first.
                    let announced = $store.announce_pending(&mut $transaction).await?;
                    let committed = $transaction.commit().await;
                    if $announce && committed.is_ok() {
                        // Before the caller answers: this instance sees its own change at once.
                        $store.changes.committed_here();
                    }
                    $store.announce_done(announced).await;
                    committed?;
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
            use crate::journal::{
                ADD_ACTIVITY_ON_CONFLICT, INSERT_ACTIVITY_HEAD, INSERT_AUDIT_HEAD, INSERT_OUTBOX_HEAD,
                JOURNAL_ROWS_PER_STATEMENT,
            };
            use crate::{codec, sql};
            use roster_core::User;
            use roster_core::journal::{AuditEntry, Journal, OutboxEvent};
            use roster_core::store::{StoreError, StoreResult};
            use sqlx::query::{Query, QueryAs};
            use sqlx::types::Json;
            use sqlx::{Arguments as _, Database, Encode, FromRow, QueryBuilder, Row as _, Transaction, Type};
            use time::OffsetDateTime;

            type Db = $database;

            /// A statement built by hand: SQL text whose placeholders are numbered (`$N`, which
            /// both backends read) and its arguments. Several statements sent together (SQLite)
            /// or the parts of one statement (PostgreSQL) share one numbering this way.
            struct Numbered {
                sql: String,
                args: <Db as Database>::Arguments<'static>,
            }

            impl Numbered {
                fn new(sql: &str) -> Self {
                    Self {
                        sql: sql.to_string(),
                        args: Default::default(),
                    }
                }

                /// Adds an argument whose placeholder the text already holds.
                fn add<T>(&mut self, value: T) -> Result<(), sqlx::Error>
                where
                    T: 'static + Encode<'static, Db> + Type<Db> + Send,
                {
                    self.args.add(value).map_err(sqlx::Error::Encode)
                }

                /// Adds an argument and returns its placeholder.
                fn bind<T>(&mut self, value: T) -> Result<String, sqlx::Error>
                where
                    T: 'static + Encode<'static, Db> + Type<Db> + Send,
                {
                    self.add(value)?;
                    Ok(format!("${}", self.args.len()))
                }

                /// Adds a user's columns as `$1`..`$21` (see `codec::UserParams`) and its
                /// revision as `$22`: the first arguments of a user update.
                fn add_user(&mut self, p: UserParams, revision: i64) -> Result<(), sqlx::Error> {
                    self.add(p.id)?;
                    self.add(p.email)?;
                    self.add(p.email_verified)?;
                    self.add(p.username)?;
                    self.add(p.username_key)?;
                    self.add(p.name)?;
                    self.add(p.password_hash)?;
                    self.add(p.provider)?;
                    self.add(p.role)?;
                    self.add(p.active)?;
                    self.add(p.avatar)?;
                    self.add(p.bio)?;
                    self.add(p.timezone)?;
                    self.add(p.terms_version)?;
                    self.add(p.terms_accepted_at)?;
                    self.add(p.preferences)?;
                    self.add(p.created_at)?;
                    self.add(p.updated_at)?;
                    self.add(p.last_login_at)?;
                    self.add(p.last_active_at)?;
                    self.add(p.search_key)?;
                    self.add(revision)
                }

                /// Appends `parts` (inserts) after the text: as data-modifying `WITH` parts
                /// (`, jN AS (...)`) when `cte` (the text is a `WITH` list, or empty), else as
                /// statements (`; ...`).
                fn append_parts(&mut self, parts: &[String], cte: bool) {
                    for (n, part) in parts.iter().enumerate() {
                        if cte {
                            self.sql
                                .push_str(if self.sql.is_empty() { "WITH " } else { ", " });
                            self.sql.push_str(&format!("j{n} AS ({part})"));
                        } else {
                            if !self.sql.is_empty() {
                                self.sql.push_str("; ");
                            }
                            self.sql.push_str(part);
                        }
                    }
                }

                /// The inserts of one chunk of a journal (at most [`JOURNAL_ROWS_PER_STATEMENT`]
                /// rows of each kind), their values added: the audit entries, the hourly
                /// activity counts they raise (one upsert), the outbox events.
                fn journal_parts(
                    &mut self,
                    audit: &[AuditEntry],
                    counts: &[(&'static str, i64, i64)],
                    events: &[OutboxEvent],
                ) -> Result<Vec<String>, sqlx::Error> {
                    let mut parts = Vec::new();
                    if !audit.is_empty() {
                        let mut rows = Vec::with_capacity(audit.len());
                        for entry in audit {
                            rows.push(format!(
                                "({}, {}, {}, {}, {}, {}, {})",
                                self.bind(entry.id)?,
                                self.bind(to_ms(entry.at))?,
                                self.bind(entry.actor_id.map(|u| u.0))?,
                                self.bind(entry.action.clone())?,
                                self.bind(entry.target_id.map(|u| u.0))?,
                                self.bind(entry.ip.clone())?,
                                self.bind(Json(entry.details.clone()))?,
                            ));
                        }
                        parts.push(format!("{INSERT_AUDIT_HEAD}VALUES {}", rows.join(", ")));
                    }
                    if !counts.is_empty() {
                        let mut rows = Vec::with_capacity(counts.len());
                        for (metric, hour, n) in counts {
                            rows.push(format!(
                                "({}, {}, {})",
                                self.bind(*metric)?,
                                self.bind(*hour)?,
                                self.bind(*n)?
                            ));
                        }
                        parts.push(format!(
                            "{INSERT_ACTIVITY_HEAD}VALUES {}{ADD_ACTIVITY_ON_CONFLICT}",
                            rows.join(", ")
                        ));
                    }
                    if !events.is_empty() {
                        let mut rows = Vec::with_capacity(events.len());
                        for event in events {
                            rows.push(format!(
                                "({}, {}, {}, {}, {}, {})",
                                self.bind(event.id)?,
                                self.bind(event.event_type.clone())?,
                                self.bind(event.subject_id.0)?,
                                self.bind(event.actor_id.map(|u| u.0))?,
                                self.bind(to_ms(event.occurred_at))?,
                                self.bind(Json(event.payload.clone()))?,
                            ));
                        }
                        parts.push(format!("{INSERT_OUTBOX_HEAD}VALUES {}", rows.join(", ")));
                    }
                    Ok(parts)
                }
            }

            /// Whether a journal fits in one statement (one chunk of each kind).
            fn fits_one_statement(journal: &Journal, counts: &[(&'static str, i64, i64)]) -> bool {
                journal.audit.len() <= JOURNAL_ROWS_PER_STATEMENT
                    && journal.events.len() <= JOURNAL_ROWS_PER_STATEMENT
                    && counts.len() <= JOURNAL_ROWS_PER_STATEMENT
            }

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

                /// Updates a user at its revision inside `transaction`, with `journal` (the
                /// change's, written in the same round trip when it fits one statement): None when
                /// no row has that revision, and the caller must then fail the transaction (the
                /// journal may have been written). With `keep_an_admin`, the administrators are
                /// locked first and the change fails with LastAdmin if no active administrator is
                /// left.
                async fn update_user_row(
                    transaction: &mut Transaction<'static, Db>,
                    user: &User,
                    keep_an_admin: bool,
                    journal: Option<&Journal>,
                ) -> Result<Option<UserRow>, TransactionError> {
                    if keep_an_admin {
                        Self::lock_admins(transaction).await?;
                    }
                    // One round trip for the update, the identifiers the row had before it and
                    // (when it fits) the change's journal: one statement with `WITH` parts on
                    // PostgreSQL, statements sent together on SQLite (a row of the identifiers,
                    // then the updated row). A journal written for an update that finds no row
                    // at its revision is rolled back with the rest by the caller's error.
                    let counts = journal
                        .map(|j| crate::journal::activity_counts(&j.audit))
                        .unwrap_or_default();
                    // A journal carrying SCIM records is written after the update instead (each
                    // record is its own statement, which must find the row).
                    let folded = journal.filter(|j| j.scim_records.is_empty() && fits_one_statement(j, &counts));
                    let mut statement = Numbered::new(if Self::DATA_MODIFYING_CTE {
                        sql::UPDATE_USER_RETURNING_OLD_IDENTITY_CTE
                    } else {
                        sql::SELECT_OLD_IDENTITY_THEN_UPDATE_USER
                    });
                    statement.add_user(UserParams::checked(user)?, user.revision)?;
                    if let Some(journal) = folded {
                        let parts = statement.journal_parts(&journal.audit, &counts, &journal.events)?;
                        if Self::DATA_MODIFYING_CTE {
                            for (n, part) in parts.iter().enumerate() {
                                statement.sql.push_str(&format!(", j{n} AS ({part})"));
                            }
                        } else {
                            statement.append_parts(&parts, false);
                        }
                    }
                    if Self::DATA_MODIFYING_CTE {
                        statement.sql.push_str(sql::SELECT_UPDATED_USER);
                    }
                    let rows = sqlx::query_with(&statement.sql, statement.args)
                        .fetch_all(&mut **transaction)
                        .await?;
                    let mut before: Option<(Option<String>, Option<String>, Option<String>)> = None;
                    let mut row: Option<UserRow> = None;
                    for r in &rows {
                        if r.try_column("old_email").is_ok() {
                            before = Some((
                                r.try_get("old_email")?,
                                r.try_get("old_username")?,
                                r.try_get("old_password_hash")?,
                            ));
                        }
                        if r.try_column("id").is_ok() {
                            row = Some(UserRow::from_row(r)?);
                        }
                    }
                    if let (Some(journal), None) = (journal, folded)
                        && row.is_some()
                    {
                        Self::write_journal(transaction, journal).await?;
                    }
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

                /// Writes a change's journal inside the change's transaction, in one statement
                /// (one round trip) for a journal of up to [`JOURNAL_ROWS_PER_STATEMENT`] audit
                /// entries and as many events: the audit entries, the hourly activity counts they
                /// raise and the outbox events, as data-modifying `WITH` parts of one statement on
                /// PostgreSQL and as statements sent together on SQLite. A larger journal takes one
                /// such statement per chunk. Every mutating method calls this before it commits
                /// (or has `update_user_row` carry it). The SCIM records a journal carries are
                /// written first, each its own statement.
                async fn write_journal(
                    transaction: &mut Transaction<'static, Db>,
                    journal: &Journal,
                ) -> Result<(), TransactionError> {
                    for (kind, record) in &journal.scim_records {
                        Self::write_scim_record(transaction, *kind, record).await?;
                    }
                    let counts = crate::journal::activity_counts(&journal.audit);
                    let mut audit = journal.audit.chunks(JOURNAL_ROWS_PER_STATEMENT);
                    let mut counted = counts.chunks(JOURNAL_ROWS_PER_STATEMENT);
                    let mut events = journal.events.chunks(JOURNAL_ROWS_PER_STATEMENT);
                    loop {
                        let mut statement = Numbered::new("");
                        let parts = statement.journal_parts(
                            audit.next().unwrap_or_default(),
                            counted.next().unwrap_or_default(),
                            events.next().unwrap_or_default(),
                        )?;
                        let Some((last, with)) = parts.split_last() else {
                            return Ok(());
                        };
                        if Self::DATA_MODIFYING_CTE {
                            // `WITH j0 AS (INSERT ...), j1 AS (INSERT ...) INSERT ...`
                            statement.append_parts(with, true);
                            if !statement.sql.is_empty() {
                                statement.sql.push(' ');
                            }
                            statement.sql.push_str(last);
                        } else {
                            // `INSERT ...; INSERT ...; INSERT ...`
                            statement.append_parts(&parts, false);
                        }
                        sqlx::query_with(&statement.sql, statement.args)
                            .execute(&mut **transaction)
                            .await?;
                    }
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
