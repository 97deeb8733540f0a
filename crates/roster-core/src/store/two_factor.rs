//! Two-factor authentication: TOTP enrolments, backup codes and login challenges (see `crate::two_factor`).

use super::StoreResult;
use crate::id::UserId;
use crate::journal::Journal;
use crate::two_factor::{BackupCodeRecord, TwoFactorChallengeRecord, TwoFactorRecord};
use async_trait::async_trait;
use time::OffsetDateTime;

/// What a database must offer for two-factor authentication: TOTP enrolments, backup codes and
/// login challenges (see `crate::two_factor`) (a part of [`crate::store::Store`]).
#[async_trait]
pub trait TwoFactorStore: Send + Sync {
    /// A user's TOTP enrolment, pending or enabled.
    async fn get_two_factor(&self, user: UserId) -> StoreResult<Option<TwoFactorRecord>>;
    /// Starts (or restarts) an enrolment: stores the sealed secret, not enabled, and replaces
    /// the backup codes (as digests), in one transaction. Returns false, writing nothing, if
    /// two-factor authentication is enabled already.
    async fn begin_two_factor(&self, record: &TwoFactorRecord, backup_code_digests: &[String]) -> StoreResult<bool>;
    /// Enables a pending enrolment, recording `step` as the last used step. Returns false,
    /// writing nothing, if there is no pending enrolment.
    async fn enable_two_factor(
        &self,
        user: UserId,
        step: i64,
        at: OffsetDateTime,
        journal: &Journal,
    ) -> StoreResult<bool>;
    /// Records `step` as used if it is later than the last used step; false (a replay or an
    /// older code) writes nothing. Atomic: of two uses of one step, one wins.
    async fn use_two_factor_step(&self, user: UserId, step: i64) -> StoreResult<bool>;
    /// Marks an unused backup code used; false if there is no such unused code.
    async fn use_backup_code(&self, user: UserId, digest: &str, at: OffsetDateTime) -> StoreResult<bool>;
    /// A user's backup codes (digests), used or not.
    async fn list_backup_codes(&self, user: UserId) -> StoreResult<Vec<BackupCodeRecord>>;
    /// Replaces the backup codes of an enabled two-factor authentication, in one
    /// transaction. Returns false, writing nothing, if it is not enabled.
    async fn replace_backup_codes(&self, user: UserId, digests: &[String], journal: &Journal) -> StoreResult<bool>;
    /// Removes a user's two-factor authentication (secret, backup codes and pending login
    /// challenges) in one transaction; false if there was none.
    async fn delete_two_factor(&self, user: UserId, journal: &Journal) -> StoreResult<bool>;
    /// Stores a login challenge (the token as a digest), removing the user's expired ones.
    async fn insert_two_factor_challenge(&self, challenge: &TwoFactorChallengeRecord, digest: &str) -> StoreResult<()>;
    /// Counts an attempt on a challenge that is unexpired at `now` and has had fewer than
    /// `max_attempts`, and returns it (with the attempt counted); NotFound otherwise.
    async fn attempt_two_factor_challenge(
        &self,
        digest: &str,
        now: OffsetDateTime,
        max_attempts: i32,
    ) -> StoreResult<TwoFactorChallengeRecord>;
    /// Deletes a challenge; false if it was gone already (used by a racing request).
    async fn delete_two_factor_challenge(&self, digest: &str) -> StoreResult<bool>;
}
