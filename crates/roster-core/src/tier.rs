//! Tiers and users' synced settings (migration 0018).
//!
//! A **tier** is a named set of limits (limit name → number, `-1` for no limit by convention),
//! managed by administrators; exactly one tier is the default, the tier of every user who has
//! no current assignment. An administrator assigns a user a tier, optionally until a time:
//! after it the user is back on the default. The limits are data for the platform (Plexichat's
//! `tier_limits`, a rate-limit multiplier, ...): Roster stores and serves them.
//!
//! A user's **settings** are a small string-to-string store the user's clients keep in sync
//! (Plexichat's `/users/@me/settings`): theme, locale, ...; Roster does not interpret them.

use crate::id::UserId;
use std::collections::BTreeMap;
use time::OffsetDateTime;

/// A tier's limits: limit name → number.
pub type TierLimits = BTreeMap<String, serde_json::Number>;

/// A tier.
#[derive(Debug, Clone, PartialEq)]
pub struct Tier {
    pub name: String,
    pub limits: TierLimits,
    /// Whether this is the default tier (exactly one is).
    pub is_default: bool,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
}

/// A user's assigned tier (as stored: it may have expired).
#[derive(Debug, Clone, PartialEq)]
pub struct TierAssignment {
    pub user_id: UserId,
    pub tier: String,
    /// The end of the assignment; None: no end.
    pub expires_at: Option<OffsetDateTime>,
    /// The administrator who gave it (None: the command line).
    pub granted_by: Option<UserId>,
    pub granted_at: OffsetDateTime,
    /// An administrator's note.
    pub notes: Option<String>,
}

impl TierAssignment {
    /// Whether the assignment holds at `now`.
    pub fn is_current(&self, now: OffsetDateTime) -> bool {
        self.expires_at.is_none_or(|end| end > now)
    }
}

/// A user's tier as it applies now: the assigned tier while the assignment holds, else the
/// default tier.
#[derive(Debug, Clone, PartialEq)]
pub struct UserTier {
    pub user_id: UserId,
    /// The tier that applies.
    pub tier: Tier,
    /// The stored assignment, if any (also an expired one).
    pub assignment: Option<TierAssignment>,
    /// Whether `tier` comes from a current assignment (false: the default applies).
    pub assigned: bool,
}

/// One of a user's settings.
#[derive(Debug, Clone, PartialEq)]
pub struct UserSetting {
    pub key: String,
    pub value: String,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
}
