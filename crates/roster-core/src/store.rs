//! The persistence seam: what the core needs from a database, and nothing about policy.
//! Implementations live in `roster-store` (SQLite and PostgreSQL) and must pass its
//! conformance suite.

use crate::id::{ApiKeyId, SessionId, UserId};
use crate::token::SigningKeyRecord;
use crate::user::{Role, User};
use async_trait::async_trait;
use time::OffsetDateTime;

/// The store's errors: kinds, never constraint names or SQL.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// No such row.
    #[error("not found")]
    NotFound,
    /// A unique field is taken; `field` is `email` or `username`.
    #[error("{field} is already taken")]
    Conflict { field: &'static str },
    /// The write would leave no active administrator; nothing was written.
    #[error("no active administrator would remain")]
    LastAdmin,
    /// The row changed since it was read (optimistic concurrency); nothing was written.
    #[error("the record changed concurrently")]
    Stale,
    /// A text value holds a character no backend can store (NUL, U+0000); nothing was
    /// written. `field` names the value (`text` when the database alone noticed).
    #[error("{field} contains the NUL character (U+0000), which the database cannot store")]
    InvalidText { field: &'static str },
    /// The database could not be reached.
    #[error("database unavailable: {0}")]
    Unavailable(anyhow::Error),
    /// Anything else.
    #[error(transparent)]
    Other(anyhow::Error),
}

/// Result with the store's error.
pub type StoreResult<T> = Result<T, StoreError>;

/// The fields users can be sorted by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum UserSort {
    #[default]
    CreatedAt,
    Email,
    Username,
    Name,
    UpdatedAt,
    /// Never-active users sort as if active at the epoch.
    LastActiveAt,
    Role,
}

impl UserSort {
    /// Parses the API name of a sort field.
    pub fn parse(s: &str) -> crate::Result<Self> {
        match s {
            "created_at" => Ok(UserSort::CreatedAt),
            "email" => Ok(UserSort::Email),
            "username" => Ok(UserSort::Username),
            "name" => Ok(UserSort::Name),
            "updated_at" => Ok(UserSort::UpdatedAt),
            "last_active_at" => Ok(UserSort::LastActiveAt),
            "role" => Ok(UserSort::Role),
            _ => Err(crate::Error::invalid(
                "sort",
                "must be one of created_at, email, username, name, updated_at, last_active_at, role",
            )),
        }
    }

    /// The API name.
    pub fn as_str(self) -> &'static str {
        match self {
            UserSort::CreatedAt => "created_at",
            UserSort::Email => "email",
            UserSort::Username => "username",
            UserSort::Name => "name",
            UserSort::UpdatedAt => "updated_at",
            UserSort::LastActiveAt => "last_active_at",
            UserSort::Role => "role",
        }
    }
}

/// A position in a sorted list of users: the sort key of the last row seen and its id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SortKey {
    Int(i64),
    Text(String),
}

/// A page request for users.
#[derive(Debug, Clone, Default)]
pub struct UserQuery {
    /// Case-insensitive substring of email, username or name.
    pub search: Option<String>,
    pub role: Option<Role>,
    pub active: Option<bool>,
    pub sort: UserSort,
    pub descending: bool,
    /// Return rows strictly after this position.
    pub after: Option<(SortKey, UserId)>,
    pub limit: u32,
}

/// A login session.
#[derive(Debug, Clone, PartialEq)]
pub struct Session {
    pub id: SessionId,
    pub user_id: UserId,
    pub created_at: OffsetDateTime,
    pub last_used_at: OffsetDateTime,
    /// When the refresh token chain ends.
    pub expires_at: OffsetDateTime,
    pub user_agent: Option<String>,
    pub ip: Option<String>,
}

/// A stored refresh token.
#[derive(Debug, Clone, PartialEq)]
pub struct RefreshTokenRecord {
    pub session_id: SessionId,
    /// Set once the token has been exchanged for a new one.
    pub used_at: Option<OffsetDateTime>,
}

/// An API key as stored (the secret itself is only a digest).
#[derive(Debug, Clone, PartialEq)]
pub struct ApiKey {
    pub id: ApiKeyId,
    pub user_id: UserId,
    pub name: String,
    /// The first characters of the key, shown in listings.
    pub prefix: String,
    pub scopes: Vec<String>,
    pub created_at: OffsetDateTime,
    pub expires_at: Option<OffsetDateTime>,
    pub last_used_at: Option<OffsetDateTime>,
}

/// What a single-use account token is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccountTokenKind {
    /// Registration for an email address with a role, even when self-registration is off.
    Invitation,
    /// Setting a new password for an existing user.
    PasswordReset,
}

impl AccountTokenKind {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            AccountTokenKind::Invitation => "invitation",
            AccountTokenKind::PasswordReset => "password_reset",
        }
    }

    /// Parses the stored name.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "invitation" => Some(AccountTokenKind::Invitation),
            "password_reset" => Some(AccountTokenKind::PasswordReset),
            _ => None,
        }
    }
}

/// A single-use account token as stored (the secret itself is only a digest).
#[derive(Debug, Clone, PartialEq)]
pub struct AccountToken {
    pub kind: AccountTokenKind,
    /// The user a password reset is for.
    pub user_id: Option<UserId>,
    /// The address an invitation is for.
    pub email: Option<String>,
    /// The role an invitation grants.
    pub role: Option<Role>,
    pub created_at: OffsetDateTime,
    pub expires_at: OffsetDateTime,
    pub used_at: Option<OffsetDateTime>,
}

impl AccountToken {
    /// Whether the token may still be used at `now`.
    pub fn usable_at(&self, now: OffsetDateTime) -> bool {
        self.used_at.is_none() && self.expires_at > now
    }
}

/// Counts over all users, as the store computes them (see [`Store::user_counts`]).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct UserCounts {
    pub total: i64,
    /// (role, users), every role present.
    pub by_role: Vec<(String, i64)>,
    /// (provider, users), every provider present.
    pub by_provider: Vec<(String, i64)>,
    pub email_verified: i64,
    pub active: i64,
    /// Users whose ban is in force.
    pub banned: i64,
    /// (day: whole days since the Unix epoch, sign-ups) for days with sign-ups since `since`.
    pub signups_by_day: Vec<(i64, i64)>,
    /// Users active (`last_active_at`) at or after each of the given times, in order.
    pub active_since: Vec<i64>,
}

/// A group of users, granting its members permissions.
#[derive(Debug, Clone, PartialEq)]
pub struct Group {
    pub id: crate::id::GroupId,
    pub name: String,
    pub description: String,
    /// A JSON object of permissions (nested objects of booleans, by convention).
    pub permissions: serde_json::Value,
    /// The administrator who created it.
    pub created_by: Option<UserId>,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
}

/// A pending email verification (the secret itself is only a digest).
#[derive(Debug, Clone, PartialEq)]
pub struct EmailVerification {
    pub user_id: UserId,
    /// The address being verified.
    pub email: String,
    pub created_at: OffsetDateTime,
    pub expires_at: OffsetDateTime,
}

/// One acceptance of a version of the terms of service.
#[derive(Debug, Clone, PartialEq)]
pub struct TermsAcceptance {
    pub user_id: UserId,
    pub version: String,
    pub accepted_at: OffsetDateTime,
}

/// The kinds of credit ledger transactions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BalanceKind {
    /// The start balance, granted once on first use.
    StartGrant,
    /// Credits used.
    Spend,
    /// An automatic refill.
    Refill,
    /// An administrator's change (`add-balance`, `set-balance`).
    Adjustment,
}

impl BalanceKind {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            BalanceKind::StartGrant => "start_grant",
            BalanceKind::Spend => "spend",
            BalanceKind::Refill => "refill",
            BalanceKind::Adjustment => "adjustment",
        }
    }
}

/// A credit ledger transaction; a balance is the sum of a user's.
#[derive(Debug, Clone, PartialEq)]
pub struct BalanceTransaction {
    pub id: i64,
    pub user_id: UserId,
    pub kind: BalanceKind,
    /// Credits added (negative: taken).
    pub amount: i64,
    pub created_at: OffsetDateTime,
}

/// One record of another product's installation as it was imported (see
/// [`Store::list_external_refs`]).
#[derive(Debug, Clone, PartialEq)]
pub struct ExternalRef {
    /// The product: `open-webui`, `langflow` or `librechat`.
    pub source: String,
    /// `user`, `group`, `api_key` or `transaction`.
    pub kind: String,
    /// The id in the source.
    pub external_id: String,
    /// The Roster id it became.
    pub local_id: i64,
    /// For users: a digest of the source's password hash at import.
    pub fingerprint: Option<String>,
}

/// A migrated user and what comes with it, written in one transaction by
/// [`Store::write_migrated_user`].
#[derive(Debug, Clone)]
pub struct MigratedUser {
    pub source: String,
    pub external_id: String,
    /// The user as it is to be stored.
    pub user: User,
    /// Insert (true) or update at `user.revision` (false).
    pub is_new: bool,
    /// Written into the user's external reference.
    pub fingerprint: Option<String>,
    /// Refuse (with [`StoreError::LastAdmin`]) an update that leaves no active administrator.
    pub keep_an_admin: bool,
    /// API keys with their source ids and the digests of their secrets; one imported before
    /// (or a digest already stored) is skipped.
    pub api_keys: Vec<(String, ApiKey, String)>,
    /// Ledger transactions with their source ids; one imported before is skipped.
    pub transactions: Vec<(String, BalanceTransaction)>,
    /// The balance to end with.
    pub balance: Option<MigratedBalance>,
    /// Two-factor authentication carried over, if any.
    pub two_factor: Option<MigratedTwoFactor>,
    /// The change's events and audit entry, written in its transaction.
    pub journal: crate::journal::Journal,
}

/// A migrated user's two-factor authentication.
#[derive(Debug, Clone, PartialEq)]
pub struct MigratedTwoFactor {
    /// An enabled enrolment to write in place of none or of a pending one (whose backup codes
    /// go with it); [`StoreError::Stale`] when the user has an enabled one by then. None: the
    /// enabled enrolment stored stays, only `backup_codes` are written.
    pub enrolment: Option<crate::two_factor::TwoFactorRecord>,
    /// Backup codes: one already stored is kept (a `used_at` given marks an unused one used;
    /// a used one is never made unused again).
    pub backup_codes: Vec<crate::two_factor::BackupCodeRecord>,
}

/// The balance a migrated user ends with: an adjustment (id `adjustment_id`) makes up the
/// difference to the ledger, and the user's start grant is marked taken (a zero grant with
/// id `grant_id`), since the imported balance replaces it.
#[derive(Debug, Clone, PartialEq)]
pub struct MigratedBalance {
    pub target: i64,
    pub adjustment_id: i64,
    pub grant_id: i64,
    pub at: OffsetDateTime,
}

/// What a database must offer the core.
///
/// Every method that changes users, sessions, keys, groups or permissions takes the change's
/// [`crate::journal::Journal`] and writes it in the same transaction as the change: nothing
/// is written when the change fails, and a committed change always has its records.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Checks that the database can serve: that it answers, and that it can take writes (a
    /// database that reads but cannot commit, on a full disk or a read-only server, is not
    /// ready). Backs `/readyz`; cheap enough to call often.
    async fn ping(&self) -> StoreResult<()>;
    /// Closes the connection pools, waiting for connections in use to be returned.
    async fn close(&self);

    /// Inserts a user. With `claim_first_admin`, the user becomes `admin` if and only if no
    /// account was ever created before (decided atomically, safe under concurrency).
    ///
    /// Login identifiers: every write of a user (insert, bulk insert, update, migration)
    /// claims the [`crate::user::login_keys`] of its email and username in the same
    /// transaction, and fails with [`StoreError::Conflict`] naming the field when another
    /// account holds one: an email may not equal another account's username (in any case or
    /// compatible spelling), nor a username another's email, so a login names one account.
    async fn insert_user(
        &self,
        user: &User,
        claim_first_admin: bool,
        journal: &crate::journal::Journal,
    ) -> StoreResult<User>;
    /// Inserts many users in one transaction, as given (no first-admin promotion; the
    /// first-account marker is taken). All or nothing; returns how many were inserted. For
    /// imports and the benchmark.
    async fn insert_users_bulk(&self, users: &[User], journal: &crate::journal::Journal) -> StoreResult<u64>;
    /// Refreshes the planner's statistics after a bulk change (PostgreSQL plans searches
    /// badly on a freshly filled table until it is analysed).
    async fn refresh_statistics(&self) -> StoreResult<()>;
    /// Reads a user by id.
    async fn get_user(&self, id: UserId) -> StoreResult<User>;
    /// Reads the one user holding the login identifier `login` (an email or a username, in
    /// any case or compatible spelling: compared by [`crate::user::login_key`]).
    async fn find_user_by_login(&self, login: &str) -> StoreResult<User>;
    /// A page of users.
    async fn list_users(&self, query: &UserQuery) -> StoreResult<Vec<User>>;
    /// How many users match a query's search and filters (its position and limit ignored).
    async fn count_matching_users(&self, query: &UserQuery) -> StoreResult<i64>;
    /// How many users exist.
    async fn count_users(&self) -> StoreResult<i64>;
    /// Writes every field of `user` if its stored revision still equals `user.revision`
    /// (else [`StoreError::Stale`]). With `keep_an_admin`, fails with [`StoreError::LastAdmin`]
    /// if afterwards no active admin would remain. Returns the stored user. A new email or
    /// username must be a free login identifier (see [`Store::insert_user`]); a change of email
    /// or password hash ends the user's unused password-reset and email-verification links in
    /// the same transaction (also in [`Store::update_user_ending_sessions`]).
    async fn update_user(
        &self,
        user: &User,
        keep_an_admin: bool,
        journal: &crate::journal::Journal,
    ) -> StoreResult<User>;
    /// As [`Store::update_user`], and in the same transaction ends every session of the user
    /// but `keep` with its refresh tokens (a new password, a lost right to sign in): no crash
    /// leaves the change made and the old sessions alive. `sessions_journal` is written only
    /// if a session ended. Returns the stored user and the number of sessions ended.
    async fn update_user_ending_sessions(
        &self,
        user: &User,
        keep_an_admin: bool,
        keep: Option<SessionId>,
        journal: &crate::journal::Journal,
        sessions_journal: &crate::journal::Journal,
    ) -> StoreResult<(User, u64)>;
    /// Deletes a user and everything it owns in one transaction, with the same
    /// `keep_an_admin` guard as [`Store::update_user`].
    async fn delete_user(&self, id: UserId, keep_an_admin: bool, journal: &crate::journal::Journal) -> StoreResult<()>;
    /// Records a login: sets `last_login_at` and, when given, replaces the password hash.
    async fn record_login(
        &self,
        id: UserId,
        at: OffsetDateTime,
        new_password_hash: Option<&str>,
        journal: &crate::journal::Journal,
    ) -> StoreResult<()>;

    /// Sets a user's `last_active_at` (without counting as a change: the revision stays).
    async fn touch_user(&self, id: UserId, at: OffsetDateTime) -> StoreResult<()>;

    /// Creates a session with its first refresh token (stored as a digest).
    async fn insert_session(&self, session: &Session, refresh_digest: &str) -> StoreResult<()>;
    /// Reads a session.
    async fn get_session(&self, id: SessionId) -> StoreResult<Session>;
    /// Reads a session and its user in one round trip (the per-request check).
    async fn get_session_with_user(&self, id: SessionId) -> StoreResult<(Session, User)>;
    /// Reads a refresh token by digest.
    async fn get_refresh_token(&self, digest: &str) -> StoreResult<RefreshTokenRecord>;
    /// Marks `old_digest` used and adds `new_digest` to the session, atomically. Returns
    /// false, writing nothing, if `old_digest` was already used.
    async fn rotate_refresh_token(
        &self,
        session: SessionId,
        old_digest: &str,
        new_digest: &str,
        now: OffsetDateTime,
    ) -> StoreResult<bool>;
    /// Updates a session's last use.
    async fn touch_session(&self, id: SessionId, at: OffsetDateTime) -> StoreResult<()>;
    /// A user's sessions, newest first.
    async fn list_sessions(&self, user: UserId) -> StoreResult<Vec<Session>>;
    /// Deletes one session of a user; NotFound if the user has no such session.
    async fn delete_session(&self, user: UserId, id: SessionId, journal: &crate::journal::Journal) -> StoreResult<()>;
    /// Deletes all sessions of a user except `keep`; returns how many. The journal is written
    /// only when a session was deleted.
    async fn delete_sessions_of_user(
        &self,
        user: UserId,
        keep: Option<SessionId>,
        journal: &crate::journal::Journal,
    ) -> StoreResult<u64>;

    /// Stores an API key (the secret as a digest).
    async fn insert_api_key(&self, key: &ApiKey, digest: &str, journal: &crate::journal::Journal) -> StoreResult<()>;
    /// Finds an API key by the digest of its secret.
    async fn get_api_key_by_digest(&self, digest: &str) -> StoreResult<ApiKey>;
    /// Finds an API key by the digest of its secret, with its user, in one round trip.
    async fn get_api_key_with_user(&self, digest: &str) -> StoreResult<(ApiKey, User)>;
    /// A user's API keys, newest first.
    async fn list_api_keys(&self, user: UserId) -> StoreResult<Vec<ApiKey>>;
    /// Deletes one API key of a user; NotFound if the user has no such key.
    async fn delete_api_key(&self, user: UserId, id: ApiKeyId, journal: &crate::journal::Journal) -> StoreResult<()>;
    /// Updates a key's last use.
    async fn touch_api_key(&self, id: ApiKeyId, at: OffsetDateTime) -> StoreResult<()>;

    /// All token signing keys.
    async fn list_signing_keys(&self) -> StoreResult<Vec<SigningKeyRecord>>;
    /// Adds a signing key; false if its generation already exists (another instance won).
    async fn insert_signing_key(&self, key: &SigningKeyRecord) -> StoreResult<bool>;

    /// Sets (`until` given) or lifts (None) a user's ban and returns the stored user. With
    /// `keep_an_admin`, fails with [`StoreError::LastAdmin`] if afterwards no active admin
    /// who is not banned at `now` would remain.
    async fn set_user_ban(
        &self,
        id: UserId,
        until: Option<OffsetDateTime>,
        reason: Option<&str>,
        keep_an_admin: bool,
        now: OffsetDateTime,
        journal: &crate::journal::Journal,
    ) -> StoreResult<User>;
    /// Users whose ban is in force at `now`, the soonest to end first.
    async fn list_banned_users(&self, now: OffsetDateTime) -> StoreResult<Vec<User>>;
    /// Deletes every API key of a user; returns how many. The journal is written only when a
    /// key was deleted.
    async fn delete_api_keys_of_user(&self, user: UserId, journal: &crate::journal::Journal) -> StoreResult<u64>;
    /// The users holding any of these login identifiers (emails or usernames, compared by
    /// [`crate::user::login_key`]).
    async fn find_users_by_logins(&self, logins: &[String]) -> StoreResult<Vec<User>>;
    /// Counts for statistics: sign-ups by day from `signups_since`, activity since each of
    /// `active_since`, bans in force at `now`.
    async fn user_counts(
        &self,
        now: OffsetDateTime,
        signups_since: OffsetDateTime,
        active_since: &[OffsetDateTime],
    ) -> StoreResult<UserCounts>;

    /// Stores a single-use account token (the secret as a digest).
    async fn insert_account_token(&self, token: &AccountToken, digest: &str) -> StoreResult<()>;
    /// Reads an account token by digest.
    async fn get_account_token(&self, digest: &str) -> StoreResult<AccountToken>;
    /// Marks a token of `kind` used if it is unused and unexpired at `now`, and returns it;
    /// NotFound, writing nothing, otherwise (so of two racing uses, one wins).
    async fn use_account_token(
        &self,
        digest: &str,
        kind: AccountTokenKind,
        now: OffsetDateTime,
    ) -> StoreResult<AccountToken>;
    /// Uses an invitation (as [`Store::use_account_token`]) and inserts the user (as
    /// [`Store::insert_user`] with `claim_first_admin`) in one transaction: both or neither.
    async fn insert_user_with_invitation(
        &self,
        user: &User,
        digest: &str,
        now: OffsetDateTime,
        journal: &crate::journal::Journal,
    ) -> StoreResult<User>;

    /// Stores an email-verification token (as a digest) for a user's address, deleting the
    /// user's earlier ones.
    async fn insert_email_verification(&self, record: &EmailVerification, digest: &str) -> StoreResult<()>;
    /// Uses a verification token that is unused and unexpired at `now` (and, when given, for
    /// `email` and `user`) and marks its user's email verified (if the address is still the
    /// one verified), in one transaction with the journal made for the token's user (written
    /// only when the address was marked verified); returns the token. NotFound, writing
    /// nothing, otherwise.
    async fn use_email_verification(
        &self,
        digest: &str,
        email: Option<&str>,
        user: Option<UserId>,
        now: OffsetDateTime,
        journal: crate::journal::JournalFor<'_>,
    ) -> StoreResult<EmailVerification>;
    /// Records that a user accepted terms `version` at `at`: sets the user's terms fields and
    /// keeps the acceptance (with id `id`), in one transaction. Returns the stored user.
    async fn record_terms_acceptance(
        &self,
        id: i64,
        user: UserId,
        version: &str,
        at: OffsetDateTime,
        journal: &crate::journal::Journal,
    ) -> StoreResult<User>;
    /// A user's terms acceptances, newest first.
    async fn list_terms_acceptances(&self, user: UserId) -> StoreResult<Vec<TermsAcceptance>>;
    /// As [`Store::delete_user`], but the user's credit ledger is kept (its rows then name a
    /// user id that no longer exists).
    async fn delete_user_keeping_transactions(
        &self,
        id: UserId,
        keep_an_admin: bool,
        journal: &crate::journal::Journal,
    ) -> StoreResult<()>;
    /// Appends a transaction to a user's credit ledger. A `StartGrant` is kept at most once
    /// per user: returns false, writing nothing, if the user already has one.
    async fn insert_balance_transaction(&self, transaction: &BalanceTransaction) -> StoreResult<bool>;
    /// Appends an `Adjustment` that brings the user's balance to `target` (computed and
    /// written in one transaction); returns the amount of the adjustment.
    async fn set_balance(&self, transaction: &BalanceTransaction, target: i64) -> StoreResult<i64>;
    /// A user's balance (the sum of its ledger) and whether it holds a start grant.
    async fn get_balance(&self, user: UserId) -> StoreResult<(i64, bool)>;

    /// Inserts a group.
    async fn insert_group(&self, group: &Group, journal: &crate::journal::Journal) -> StoreResult<()>;
    /// Reads a group.
    async fn get_group(&self, id: crate::id::GroupId) -> StoreResult<Group>;
    /// All groups, by name then id.
    async fn list_groups(&self) -> StoreResult<Vec<Group>>;
    /// Writes a group's name, description, permissions and `updated_at`; NotFound if absent.
    async fn update_group(&self, group: &Group, journal: &crate::journal::Journal) -> StoreResult<()>;
    /// Deletes a group and its memberships; NotFound if absent.
    async fn delete_group(&self, id: crate::id::GroupId, journal: &crate::journal::Journal) -> StoreResult<()>;
    /// Adds users to a group (members already in it are left alone), in one transaction.
    /// NotFound, writing nothing, if the group or any user does not exist.
    async fn add_group_members(
        &self,
        group: crate::id::GroupId,
        users: &[UserId],
        at: OffsetDateTime,
        journal: &crate::journal::Journal,
    ) -> StoreResult<()>;
    /// Removes users from a group (non-members are ignored); returns how many were removed.
    async fn remove_group_members(
        &self,
        group: crate::id::GroupId,
        users: &[UserId],
        journal: &crate::journal::Journal,
    ) -> StoreResult<u64>;
    /// The ids of a group's members, in id order.
    async fn list_group_members(&self, group: crate::id::GroupId) -> StoreResult<Vec<UserId>>;
    /// The groups a user belongs to, by name then id.
    async fn list_groups_of_user(&self, user: UserId) -> StoreResult<Vec<Group>>;

    // -- Groups with their members, at once (the Open WebUI dialect's group routes). --------
    /// The members of each of `groups`, as `(group, user)` pairs in group then user id order
    /// (groups without members, or that do not exist, have no pairs).
    async fn list_members_of_groups(
        &self,
        groups: &[crate::id::GroupId],
    ) -> StoreResult<Vec<(crate::id::GroupId, UserId)>>;
    /// Writes a group (inserted when `create`; else updated as [`Store::update_group`]) and a
    /// change of its members (`add` as [`Store::add_group_members`], at `group.updated_at`;
    /// `remove` as [`Store::remove_group_members`]) with `journal`, in one transaction.
    /// NotFound, writing nothing, if the group (when updated) or any added user does not exist.
    async fn write_group_with_members(
        &self,
        group: &Group,
        create: bool,
        add: &[UserId],
        remove: &[UserId],
        journal: &crate::journal::Journal,
    ) -> StoreResult<()>;
    // -- end of groups with their members. ----------------------------------------------------

    /// A permission template by name; None if it was never stored.
    async fn get_permission_template(&self, name: &str) -> StoreResult<Option<serde_json::Value>>;
    /// Stores (inserts or replaces) a permission template.
    async fn put_permission_template(
        &self,
        name: &str,
        permissions: &serde_json::Value,
        at: OffsetDateTime,
        journal: &crate::journal::Journal,
    ) -> StoreResult<()>;

    // The chat products' social records (migration 0007; see `crate::chat`).

    /// Reads a user by username, ignoring case (`username_key` is the lower-cased username);
    /// never by email.
    async fn find_user_by_username(&self, username_key: &str) -> StoreResult<User>;
    /// A user's messaging settings; None while the user never changed the defaults.
    async fn get_messaging_settings(&self, user: UserId) -> StoreResult<Option<crate::chat::MessagingSettings>>;
    /// Applies `change` to the user's settings (to the defaults if none are stored) and
    /// stores them with `updated_at = at`, in one transaction serialised per user. NotFound if
    /// the user does not exist. Returns the stored settings.
    async fn update_messaging_settings(
        &self,
        user: UserId,
        change: &crate::chat::MessagingSettingsChange,
        at: OffsetDateTime,
    ) -> StoreResult<crate::chat::MessagingSettings>;
    /// Gives a user a badge; false if it had it already. NotFound if the user does not exist.
    async fn add_user_badge(&self, user: UserId, badge: &str, at: OffsetDateTime) -> StoreResult<bool>;
    /// Takes a badge from a user; false if it did not have it.
    async fn remove_user_badge(&self, user: UserId, badge: &str) -> StoreResult<bool>;
    /// A user's badges, in the order they were given.
    async fn list_user_badges(&self, user: UserId) -> StoreResult<Vec<String>>;
    /// Inserts `channel` unless a channel of its kind and members exists, and returns the
    /// stored one (of two racing inserts, both get the same channel). NotFound if a member
    /// does not exist.
    async fn get_or_insert_channel(&self, channel: &crate::chat::Channel) -> StoreResult<crate::chat::Channel>;
    /// Reads a channel.
    async fn get_channel(&self, id: crate::id::ChannelId) -> StoreResult<crate::chat::Channel>;
    /// The direct-message channels `user` is a member of, the most recently active first.
    async fn list_dm_channels(&self, user: UserId) -> StoreResult<Vec<crate::chat::Channel>>;
    /// Records a channel's last message, unless a later message (a higher id) is recorded
    /// already; returns the stored channel. NotFound if the channel does not exist.
    async fn set_channel_last_message(
        &self,
        id: crate::id::ChannelId,
        message_id: i64,
        at: OffsetDateTime,
    ) -> StoreResult<crate::chat::Channel>;
    /// Records that `blocker` blocks `blocked` and ends any friendship or friend request
    /// between them, in one transaction; false if the block existed. NotFound if a user does
    /// not exist.
    async fn insert_block(&self, blocker: UserId, blocked: UserId, at: OffsetDateTime) -> StoreResult<bool>;
    /// Lifts a block; false if there was none.
    async fn delete_block(&self, blocker: UserId, blocked: UserId) -> StoreResult<bool>;
    /// Whether `blocker` blocks `blocked`.
    async fn is_blocked(&self, blocker: UserId, blocked: UserId) -> StoreResult<bool>;
    /// The users `blocker` blocks, the latest first.
    async fn list_blocks(&self, blocker: UserId) -> StoreResult<Vec<crate::chat::Block>>;
    /// The friendship or friend request between two users, if any.
    async fn get_friendship(&self, a: UserId, b: UserId) -> StoreResult<Option<crate::chat::Friendship>>;
    /// Stores a friend request; false, writing nothing, if the pair already has a request or
    /// friendship or if either user blocks the other. NotFound if a user does not exist.
    async fn insert_friend_request(&self, request: &crate::chat::Friendship) -> StoreResult<bool>;
    /// Accepts the pending request of the pair `(a, b)` made by the other of `acceptor`;
    /// false, writing nothing, if there is no such pending request.
    async fn accept_friend_request(
        &self,
        a: UserId,
        b: UserId,
        acceptor: UserId,
        at: OffsetDateTime,
    ) -> StoreResult<bool>;
    /// Deletes the friendship or friend request of a pair; false if there was none.
    async fn delete_friendship(&self, a: UserId, b: UserId) -> StoreResult<bool>;
    /// A user's friendships and friend requests (both directions), the latest first.
    async fn list_friendships(&self, user: UserId) -> StoreResult<Vec<crate::chat::Friendship>>;
    /// Writes a journal on its own, for an event that changes nothing else (a failed login).
    async fn append_journal(&self, journal: &crate::journal::Journal) -> StoreResult<()>;
    /// A page of the audit trail, newest first.
    async fn list_audit(&self, query: &crate::journal::AuditQuery) -> StoreResult<Vec<crate::journal::AuditEntry>>;
    /// Outbox events with `seq` above `after_seq`, in commit order, at most `limit`.
    async fn list_outbox(&self, after_seq: i64, limit: u32) -> StoreResult<Vec<crate::journal::OutboxEvent>>;
    /// A value shared by every instance (such as the secret key's check value), if set.
    async fn get_instance_setting(&self, name: &str) -> StoreResult<Option<String>>;
    /// Stores a shared value unless one is set already; returns the value in force (this one,
    /// or the one another instance stored first).
    async fn init_instance_setting(&self, name: &str, value: &str, at: OffsetDateTime) -> StoreResult<String>;
    /// Replaces the private key of a signing key (when it is sealed at rest).
    async fn update_signing_key_private(&self, kid: &str, private_key: &[u8]) -> StoreResult<()>;

    /// A user's TOTP enrolment, pending or enabled.
    async fn get_two_factor(&self, user: UserId) -> StoreResult<Option<crate::two_factor::TwoFactorRecord>>;
    /// Starts (or restarts) an enrolment: stores the sealed secret, not enabled, and replaces
    /// the backup codes (as digests), in one transaction. Returns false, writing nothing, if
    /// two-factor authentication is enabled already.
    async fn begin_two_factor(
        &self,
        record: &crate::two_factor::TwoFactorRecord,
        backup_code_digests: &[String],
    ) -> StoreResult<bool>;
    /// Enables a pending enrolment, recording `step` as the last used step. Returns false,
    /// writing nothing, if there is no pending enrolment.
    async fn enable_two_factor(
        &self,
        user: UserId,
        step: i64,
        at: OffsetDateTime,
        journal: &crate::journal::Journal,
    ) -> StoreResult<bool>;
    /// Records `step` as used if it is later than the last used step; false (a replay or an
    /// older code) writes nothing. Atomic: of two uses of one step, one wins.
    async fn use_two_factor_step(&self, user: UserId, step: i64) -> StoreResult<bool>;
    /// Marks an unused backup code used; false if there is no such unused code.
    async fn use_backup_code(&self, user: UserId, digest: &str, at: OffsetDateTime) -> StoreResult<bool>;
    /// A user's backup codes (digests), used or not.
    async fn list_backup_codes(&self, user: UserId) -> StoreResult<Vec<crate::two_factor::BackupCodeRecord>>;
    /// Replaces the backup codes of an enabled two-factor authentication, in one
    /// transaction. Returns false, writing nothing, if it is not enabled.
    async fn replace_backup_codes(
        &self,
        user: UserId,
        digests: &[String],
        journal: &crate::journal::Journal,
    ) -> StoreResult<bool>;
    /// Removes a user's two-factor authentication (secret, backup codes and pending login
    /// challenges) in one transaction; false if there was none.
    async fn delete_two_factor(&self, user: UserId, journal: &crate::journal::Journal) -> StoreResult<bool>;
    /// Stores a login challenge (the token as a digest), removing the user's expired ones.
    async fn insert_two_factor_challenge(
        &self,
        challenge: &crate::two_factor::TwoFactorChallengeRecord,
        digest: &str,
    ) -> StoreResult<()>;
    /// Counts an attempt on a challenge that is unexpired at `now` and has had fewer than
    /// `max_attempts`, and returns it (with the attempt counted); NotFound otherwise.
    async fn attempt_two_factor_challenge(
        &self,
        digest: &str,
        now: OffsetDateTime,
        max_attempts: i32,
    ) -> StoreResult<crate::two_factor::TwoFactorChallengeRecord>;
    /// Deletes a challenge; false if it was gone already (used by a racing request).
    async fn delete_two_factor_challenge(&self, digest: &str) -> StoreResult<bool>;

    /// A secret a user keeps with Roster (sealed), by name (`langflow_store_api_key`).
    async fn get_user_secret(&self, user: UserId, name: &str) -> StoreResult<Option<String>>;
    /// The named secret of each of `users` that has one.
    async fn list_user_secrets(&self, users: &[UserId], name: &str) -> StoreResult<Vec<(UserId, String)>>;
    /// Sets (Some) or removes (None) a user's named secret; NotFound if the user does not exist.
    async fn put_user_secret(
        &self,
        user: UserId,
        name: &str,
        value: Option<&str>,
        at: OffsetDateTime,
    ) -> StoreResult<()>;
    /// The webhook tables (subscriptions, deliveries, leases) and outbox reads.
    fn webhooks(&self) -> &dyn crate::webhooks::WebhookStore;
    /// The external references of `source` of one `kind`.
    async fn list_external_refs(&self, source: &str, kind: &str) -> StoreResult<Vec<ExternalRef>>;
    /// Inserts or updates a migrated user with its external reference, API keys and ledger,
    /// in one transaction (conflicts as [`Store::insert_user`] / [`Store::update_user`]).
    async fn write_migrated_user(&self, user: &MigratedUser) -> StoreResult<User>;
    /// Inserts (`is_new`) or updates a migrated group, adds `members` (kept members stay)
    /// and records its external reference, in one transaction.
    async fn write_migrated_group(
        &self,
        source: &str,
        external_id: &str,
        group: &Group,
        is_new: bool,
        members: &[UserId],
    ) -> StoreResult<()>;
    /// Inserts users as [`Store::insert_users_bulk`] does and, in the same transaction,
    /// account tokens (each with its digest; the set-password links of imported accounts), so
    /// that an import killed midway leaves no account without its link.
    async fn insert_users_with_tokens(
        &self,
        users: &[User],
        tokens: &[(AccountToken, String)],
        journal: &crate::journal::Journal,
    ) -> StoreResult<u64>;
    /// Sets a user's password hash and, in the same transaction, ends every session of the
    /// user (with `revoke_api_keys`, every API key too) and, when `reset_link` (a digest) is
    /// given, uses up that password-reset link, which must be this user's, unused and
    /// unexpired at `now`. NotFound, writing nothing, for an unknown user or an unusable
    /// link. Every other unused reset and verification link of the user ends with it.
    /// Returns the sessions and keys revoked.
    async fn set_password_hash(
        &self,
        user: UserId,
        hash: &crate::user::PasswordHash,
        reset_link: Option<&str>,
        revoke_api_keys: bool,
        now: OffsetDateTime,
        journal: &crate::journal::Journal,
    ) -> StoreResult<(u64, u64)>;
}
