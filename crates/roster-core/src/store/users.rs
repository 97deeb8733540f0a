//! Users: their rows, look-ups, listing and counts, credentials, bans and terms acceptances.

use super::StoreResult;
use crate::id::{SessionId, UserId};
use crate::journal::{Journal, JournalFor};
use crate::user::{PasswordHash, Role, User};
use async_trait::async_trait;
use time::OffsetDateTime;

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
    /// The filters of the admin console (see [`UserFilters`]).
    pub filters: UserFilters,
}

/// Further filters of a listing of users, each None for "any".
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UserFilters {
    pub email_verified: Option<bool>,
    /// Whether a ban is in force at the given instant.
    pub banned: Option<(bool, time::OffsetDateTime)>,
    /// Whether two-factor authentication is on (confirmed).
    pub two_factor: Option<bool>,
    /// Members of this group.
    pub group: Option<crate::id::GroupId>,
    /// Users of this sign-in provider (`password`, `oidc`, ...).
    pub provider: Option<String>,
}

/// Counts over all users, as the store computes them (see [`UserStore::user_counts`]).
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

/// One acceptance of a version of the terms of service.
#[derive(Debug, Clone, PartialEq)]
pub struct TermsAcceptance {
    pub user_id: UserId,
    pub version: String,
    pub accepted_at: OffsetDateTime,
}

/// What a database must offer for users: their rows, look-ups, listing and counts, credentials,
/// bans and terms acceptances (a part of [`crate::store::Store`]).
#[async_trait]
pub trait UserStore: Send + Sync {
    /// Inserts a user. With `claim_first_admin`, the user becomes `admin` if and only if no
    /// account was ever created before (decided atomically, safe under concurrency).
    ///
    /// Login identifiers: every write of a user (insert, bulk insert, update, migration)
    /// claims the [`crate::user::login_keys`] of its email and username in the same
    /// transaction, and fails with [`StoreError::Conflict`] naming the field when another
    /// account holds one: an email may not equal another account's username (in any case or
    /// compatible spelling), nor a username another's email, so a login names one account.
    async fn insert_user(&self, user: &User, claim_first_admin: bool, journal: &Journal) -> StoreResult<User>;
    /// Inserts many users in one transaction, as given (no first-admin promotion; the
    /// first-account marker is taken). All or nothing; returns how many were inserted. For
    /// imports and the benchmark.
    async fn insert_users_bulk(&self, users: &[User], journal: &Journal) -> StoreResult<u64>;
    /// Refreshes the planner's statistics after a bulk change (PostgreSQL plans searches
    /// badly on a freshly filled table until it is analysed).
    async fn refresh_statistics(&self) -> StoreResult<()>;
    /// Reads a user by id.
    async fn get_user(&self, id: UserId) -> StoreResult<User>;
    /// Reads the one user holding the login identifier `login` (an email or a username, in
    /// any case or compatible spelling: compared by [`crate::user::login_key`]).
    async fn find_user_by_login(&self, login: &str) -> StoreResult<User>;
    /// Reads a user by username, ignoring case (`username_key` is the lower-cased username);
    /// never by email.
    async fn find_user_by_username(&self, username_key: &str) -> StoreResult<User>;
    /// The users holding any of these login identifiers (emails or usernames, compared by
    /// [`crate::user::login_key`]).
    async fn find_users_by_logins(&self, logins: &[String]) -> StoreResult<Vec<User>>;
    /// A page of users.
    async fn list_users(&self, query: &UserQuery) -> StoreResult<Vec<User>>;
    /// The position (sort key, id) of the match at `offset` (from 0) of `query`'s search and
    /// filters in its order, counted after its `after` when it has one (its `limit` ignored),
    /// or None past the last match:
    /// offset paging seeks there, then reads its page after it by keyset, so a deep page costs
    /// a walk of the sort index, not the decoding of every user before it.
    async fn user_position(&self, query: &UserQuery, offset: u64) -> StoreResult<Option<(SortKey, UserId)>>;
    /// How many users match a query's search and filters (its position and limit ignored).
    async fn count_matching_users(&self, query: &UserQuery) -> StoreResult<i64>;
    /// How many users exist.
    async fn count_users(&self) -> StoreResult<i64>;
    /// Users per (role, status), status being `banned` (a ban in force at `now`), `active` or
    /// `inactive`; only the pairs that have users. One pass over the table (for the metrics,
    /// refreshed on an interval).
    async fn users_by_role_and_status(&self, now: OffsetDateTime) -> StoreResult<Vec<(String, String, i64)>>;
    /// Counts for statistics: sign-ups by day from `signups_since`, activity since each of
    /// `active_since`, bans in force at `now`.
    async fn user_counts(
        &self,
        now: OffsetDateTime,
        signups_since: OffsetDateTime,
        active_since: &[OffsetDateTime],
    ) -> StoreResult<UserCounts>;
    /// Writes every field of `user` if its stored revision still equals `user.revision`
    /// (else [`StoreError::Stale`]). With `keep_an_admin`, fails with [`StoreError::LastAdmin`]
    /// if afterwards no active admin would remain. Returns the stored user. A new email or
    /// username must be a free login identifier (see [`UserStore::insert_user`]); a change of email
    /// or password hash ends the user's unused password-reset and email-verification links in
    /// the same transaction (also in [`UserStore::update_user_ending_sessions`]).
    async fn update_user(&self, user: &User, keep_an_admin: bool, journal: &Journal) -> StoreResult<User>;
    /// As [`UserStore::update_user`], and in the same transaction ends every session of the user
    /// but `keep` with its refresh tokens (a new password, a lost right to sign in): no crash
    /// leaves the change made and the old sessions alive. `sessions_journal` is written only
    /// if a session ended. Returns the stored user and the number of sessions ended.
    async fn update_user_ending_sessions(
        &self,
        user: &User,
        keep_an_admin: bool,
        keep: Option<SessionId>,
        journal: &Journal,
        sessions_journal: &Journal,
    ) -> StoreResult<(User, u64)>;
    /// Deletes a user and everything it owns in one transaction, with the same
    /// `keep_an_admin` guard as [`UserStore::update_user`].
    async fn delete_user(&self, id: UserId, keep_an_admin: bool, journal: &Journal) -> StoreResult<()>;
    /// As [`UserStore::delete_user`], but the user's credit ledger is kept (its rows then name a
    /// user id that no longer exists).
    async fn delete_user_keeping_transactions(
        &self,
        id: UserId,
        keep_an_admin: bool,
        journal: &Journal,
    ) -> StoreResult<()>;
    /// Records a login: sets `last_login_at` and, when given, replaces the password hash.
    async fn record_login(
        &self,
        id: UserId,
        at: OffsetDateTime,
        new_password_hash: Option<&str>,
        journal: &Journal,
    ) -> StoreResult<()>;
    /// Sets a user's `last_active_at` (without counting as a change: the revision stays).
    async fn touch_user(&self, id: UserId, at: OffsetDateTime) -> StoreResult<()>;
    /// Sets a user's password hash and, in the same transaction, ends every session of the
    /// user (with `revoke_api_keys`, every API key too) and, when `reset_link` (a digest) is
    /// given, uses up that password-reset link, which must be this user's, unused and
    /// unexpired at `now`. NotFound, writing nothing, for an unknown user or an unusable
    /// link. Every other unused reset and verification link of the user ends with it.
    /// Returns the sessions and keys revoked.
    async fn set_password_hash(
        &self,
        user: UserId,
        hash: &PasswordHash,
        reset_link: Option<&str>,
        revoke_api_keys: bool,
        now: OffsetDateTime,
        journal: &Journal,
    ) -> StoreResult<(u64, u64)>;
    /// Sets (`until` given) or lifts (None) a user's ban and returns the stored user. Setting
    /// one ends the user's OpenID Connect grants in the same transaction (each queues its
    /// back-channel logout); sessions stay, refused while it lasts. With
    /// `keep_an_admin`, fails with [`StoreError::LastAdmin`] if afterwards no active admin
    /// who is not banned at `now` would remain.
    async fn set_user_ban(
        &self,
        id: UserId,
        until: Option<OffsetDateTime>,
        reason: Option<&str>,
        keep_an_admin: bool,
        now: OffsetDateTime,
        journal: &Journal,
    ) -> StoreResult<User>;
    /// Users whose ban is in force at `now`, the soonest to end first.
    async fn list_banned_users(&self, now: OffsetDateTime) -> StoreResult<Vec<User>>;
    /// Clears the bans whose end is at or before `now` (at most `limit`, the earliest ended
    /// first) and writes `journal(user)` for each, in one transaction; returns those users.
    /// Each ended ban is cleared, and journaled, once, however many callers run at once.
    async fn end_expired_bans(
        &self,
        now: OffsetDateTime,
        limit: u32,
        journal: JournalFor<'_>,
    ) -> StoreResult<Vec<UserId>>;
    /// Records that a user accepted terms `version` at `at`: sets the user's terms fields and
    /// keeps the acceptance (with id `id`), in one transaction. Returns the stored user.
    async fn record_terms_acceptance(
        &self,
        id: i64,
        user: UserId,
        version: &str,
        at: OffsetDateTime,
        journal: &Journal,
    ) -> StoreResult<User>;
    /// A user's terms acceptances, newest first.
    async fn list_terms_acceptances(&self, user: UserId) -> StoreResult<Vec<TermsAcceptance>>;
}
