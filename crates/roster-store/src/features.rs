//! The SQL text and rows of users' synced settings and of tiers (migration 0018), shared by
//! both backends.

use crate::codec::from_ms;
use roster_core::UserId;
use roster_core::store::StoreResult;
use roster_core::tier::{Tier, TierAssignment, TierLimits, UserSetting};
use sqlx::types::Json;

pub(crate) const LIST_USER_SETTINGS: &str =
    "SELECT name, value, created_at, updated_at FROM user_settings WHERE user_id = $1 ORDER BY name";
pub(crate) const GET_USER_SETTING: &str =
    "SELECT name, value, created_at, updated_at FROM user_settings WHERE user_id = $1 AND name = $2";
pub(crate) const USER_SETTING_NAMES: &str = "SELECT name FROM user_settings WHERE user_id = $1";
/// `$1` user, `$2` name, `$3` value, `$4` at (ms).
pub(crate) const PUT_USER_SETTING: &str = "INSERT INTO user_settings (user_id, name, value, created_at, updated_at) \
     VALUES ($1, $2, $3, $4, $4) ON CONFLICT (user_id, name) DO UPDATE SET value = excluded.value, \
     updated_at = excluded.updated_at RETURNING name, value, created_at, updated_at";
pub(crate) const DELETE_USER_SETTING: &str = "DELETE FROM user_settings WHERE user_id = $1 AND name = $2";

pub(crate) const LIST_TIERS: &str = "SELECT name, limits, is_default, created_at, updated_at FROM tiers ORDER BY name";
pub(crate) const GET_TIER: &str = "SELECT name, limits, is_default, created_at, updated_at FROM tiers WHERE name = $1";
pub(crate) const DEFAULT_TIER: &str =
    "SELECT name, limits, is_default, created_at, updated_at FROM tiers WHERE is_default";
/// `$1` name, `$2` limits, `$3` at (ms): a new tier is not the default.
pub(crate) const UPSERT_TIER: &str = "INSERT INTO tiers (name, limits, is_default, created_at, updated_at) \
     VALUES ($1, $2, FALSE, $3, $3) ON CONFLICT (name) DO UPDATE SET limits = excluded.limits, \
     updated_at = excluded.updated_at";
pub(crate) const TOUCH_TIER: &str = "UPDATE tiers SET updated_at = $2 WHERE name = $1";
pub(crate) const CLEAR_OTHER_DEFAULT: &str = "UPDATE tiers SET is_default = FALSE WHERE is_default AND name <> $1";
pub(crate) const MAKE_DEFAULT: &str = "UPDATE tiers SET is_default = TRUE WHERE name = $1";
pub(crate) const DELETE_TIER: &str = "DELETE FROM tiers WHERE name = $1 AND NOT is_default";
pub(crate) const COUNT_TIER: &str = "SELECT COUNT(*) FROM tiers WHERE name = $1";

pub(crate) const GET_ASSIGNMENT: &str =
    "SELECT user_id, tier, expires_at, granted_by, granted_at, notes FROM user_tiers WHERE user_id = $1";
/// `$1` user, `$2` tier, `$3` expires_at, `$4` granted_by, `$5` granted_at, `$6` notes.
pub(crate) const PUT_ASSIGNMENT: &str = "INSERT INTO user_tiers (user_id, tier, expires_at, granted_by, granted_at, notes) \
     VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (user_id) DO UPDATE SET tier = excluded.tier, \
     expires_at = excluded.expires_at, granted_by = excluded.granted_by, granted_at = excluded.granted_at, \
     notes = excluded.notes";
pub(crate) const DELETE_ASSIGNMENT: &str = "DELETE FROM user_tiers WHERE user_id = $1";

/// A `user_settings` row.
#[derive(sqlx::FromRow)]
pub(crate) struct UserSettingRow {
    name: String,
    value: String,
    created_at: i64,
    updated_at: i64,
}

impl UserSettingRow {
    pub(crate) fn into_setting(self) -> StoreResult<UserSetting> {
        Ok(UserSetting {
            key: self.name,
            value: self.value,
            created_at: from_ms(self.created_at)?,
            updated_at: from_ms(self.updated_at)?,
        })
    }
}

/// A `tiers` row.
#[derive(sqlx::FromRow)]
pub(crate) struct TierRow {
    name: String,
    limits: Json<TierLimits>,
    is_default: bool,
    created_at: i64,
    updated_at: i64,
}

impl TierRow {
    pub(crate) fn into_tier(self) -> StoreResult<Tier> {
        Ok(Tier {
            name: self.name,
            limits: self.limits.0,
            is_default: self.is_default,
            created_at: from_ms(self.created_at)?,
            updated_at: from_ms(self.updated_at)?,
        })
    }
}

/// A `user_tiers` row.
#[derive(sqlx::FromRow)]
pub(crate) struct AssignmentRow {
    user_id: i64,
    tier: String,
    expires_at: Option<i64>,
    granted_by: Option<i64>,
    granted_at: i64,
    notes: Option<String>,
}

impl AssignmentRow {
    pub(crate) fn into_assignment(self) -> StoreResult<TierAssignment> {
        Ok(TierAssignment {
            user_id: UserId(self.user_id),
            tier: self.tier,
            expires_at: self.expires_at.map(from_ms).transpose()?,
            granted_by: self.granted_by.map(UserId),
            granted_at: from_ms(self.granted_at)?,
            notes: self.notes,
        })
    }
}
