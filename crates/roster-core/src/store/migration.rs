//! `roster migrate` and imports: external references and whole migrated records, each written in one transaction.

use super::{AccountToken, ApiKey, BalanceTransaction, Group, StoreResult};
use crate::id::UserId;
use crate::journal::Journal;
use crate::two_factor::{BackupCodeRecord, TwoFactorRecord};
use crate::user::User;
use async_trait::async_trait;
use time::OffsetDateTime;

/// One record of another product's installation as it was imported (see
/// [`MigrationStore::list_external_refs`]).
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
/// [`MigrationStore::write_migrated_user`].
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
    pub journal: Journal,
}

/// A migrated user's two-factor authentication.
#[derive(Debug, Clone, PartialEq)]
pub struct MigratedTwoFactor {
    /// An enabled enrolment to write in place of none or of a pending one (whose backup codes
    /// go with it); [`StoreError::Stale`] when the user has an enabled one by then. None: the
    /// enabled enrolment stored stays, only `backup_codes` are written.
    pub enrolment: Option<TwoFactorRecord>,
    /// Backup codes: one already stored is kept (a `used_at` given marks an unused one used;
    /// a used one is never made unused again).
    pub backup_codes: Vec<BackupCodeRecord>,
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

/// What a database must offer for `roster migrate` and imports: external references and whole
/// migrated records, each written in one transaction (a part of [`crate::store::Store`]).
#[async_trait]
pub trait MigrationStore: Send + Sync {
    /// The external references of `source` of one `kind`.
    async fn list_external_refs(&self, source: &str, kind: &str) -> StoreResult<Vec<ExternalRef>>;
    /// Inserts or updates a migrated user with its external reference, API keys and ledger,
    /// in one transaction (conflicts as [`crate::store::UserStore::insert_user`] /
    /// [`crate::store::UserStore::update_user`]).
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
    /// Inserts users as [`crate::store::UserStore::insert_users_bulk`] does and, in the same transaction,
    /// account tokens (each with its digest; the set-password links of imported accounts), so
    /// that an import killed midway leaves no account without its link.
    async fn insert_users_with_tokens(
        &self,
        users: &[User],
        tokens: &[(AccountToken, String)],
        journal: &Journal,
    ) -> StoreResult<u64>;
}
