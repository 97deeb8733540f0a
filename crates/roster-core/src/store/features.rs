//! Tiers and users' synced settings (migration 0018; see `crate::tier`).

use super::StoreResult;
use crate::id::UserId;
use crate::journal::Journal;
use crate::tier::{Tier, TierAssignment, TierLimits, UserSetting};
use async_trait::async_trait;
use time::OffsetDateTime;

/// What a database must offer for users' synced settings (a part of [`crate::store::Store`]).
#[async_trait]
pub trait UserSettingStore: Send + Sync {
    /// A user's settings, by key.
    async fn list_user_settings(&self, user: UserId) -> StoreResult<Vec<UserSetting>>;
    /// One setting of a user.
    async fn get_user_setting(&self, user: UserId, key: &str) -> StoreResult<Option<UserSetting>>;
    /// Sets each of `settings` (key, value) of `user` at `at` (a new key is created at `at`,
    /// an existing one keeps its `created_at`), writing `journal`, in one transaction
    /// serialised per user. Writes nothing and answers `Ok(None)` when the user would then
    /// have more than `max_keys` settings. NotFound if the user does not exist. Returns the
    /// stored settings, in the order given.
    async fn put_user_settings(
        &self,
        user: UserId,
        settings: &[(String, String)],
        max_keys: usize,
        at: OffsetDateTime,
        journal: &Journal,
    ) -> StoreResult<Option<Vec<UserSetting>>>;
    /// Deletes a setting, writing `journal` with it; false (writing nothing) if there was none.
    async fn delete_user_setting(&self, user: UserId, key: &str, journal: &Journal) -> StoreResult<bool>;
}

/// What a database must offer for tiers and users' tier assignments (a part of
/// [`crate::store::Store`]).
#[async_trait]
pub trait TierStore: Send + Sync {
    /// Every tier, by name.
    async fn list_tiers(&self) -> StoreResult<Vec<Tier>>;
    /// A tier by name.
    async fn get_tier(&self, name: &str) -> StoreResult<Option<Tier>>;
    /// The default tier (None only in a database without tiers).
    async fn default_tier(&self) -> StoreResult<Option<Tier>>;
    /// Creates or updates a tier at `at`: `limits` None keeps the stored limits (NotFound for
    /// a new tier); `make_default` makes it the default (the former default is no longer).
    /// Writes `journal` with it, in one transaction. Returns the stored tier.
    async fn put_tier(
        &self,
        name: &str,
        limits: Option<&TierLimits>,
        make_default: bool,
        at: OffsetDateTime,
        journal: &Journal,
    ) -> StoreResult<Tier>;
    /// Deletes a tier that is not the default, and the assignments to it, writing `journal`:
    /// false if there is no such tier; `Conflict { field: "default" }`, writing nothing, if it
    /// is the default.
    async fn delete_tier(&self, name: &str, journal: &Journal) -> StoreResult<bool>;
    /// A user's stored tier assignment (also an expired one).
    async fn get_tier_assignment(&self, user: UserId) -> StoreResult<Option<TierAssignment>>;
    /// Stores a user's tier assignment (replacing any), writing `journal`: false, writing
    /// nothing, if the tier does not exist; NotFound if the user does not exist.
    async fn put_tier_assignment(&self, assignment: &TierAssignment, journal: &Journal) -> StoreResult<bool>;
    /// Removes a user's tier assignment, writing `journal`; false (writing nothing) if there
    /// was none.
    async fn delete_tier_assignment(&self, user: UserId, journal: &Journal) -> StoreResult<bool>;
}
