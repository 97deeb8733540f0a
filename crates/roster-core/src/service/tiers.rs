//! Tiers: named sets of limits, one of them the default, and users' tier assignments
//! (optionally until a time). Administrators and the operator manage them; a user reads
//! their own tier.

use super::users::not_found;
use super::{Authority, Core};
use crate::error::{Error, Result};
use crate::id::UserId;
use crate::journal::audit;
use crate::tier::{Tier, TierAssignment, TierLimits, UserTier};
use time::OffsetDateTime;

/// The longest tier name.
pub const MAX_TIER_NAME: usize = 50;
/// The most limits a tier may have.
pub const MAX_TIER_LIMITS: usize = 64;
/// The longest limit name.
pub const MAX_LIMIT_NAME: usize = 64;
/// The longest note on an assignment.
pub const MAX_TIER_NOTES: usize = 1000;

fn is_name_char(c: char) -> bool {
    c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-'
}

/// Validates a tier name: 1 to 50 lower-case letters, digits, `_` and `-` (given in any case,
/// stored lower-cased).
pub fn validate_tier_name(raw: &str) -> Result<String> {
    let name = raw.trim().to_ascii_lowercase();
    if name.is_empty() || name.len() > MAX_TIER_NAME || !name.chars().all(is_name_char) {
        return Err(Error::invalid(
            "tier",
            "must be 1 to 50 letters, digits, _ and - (such as premium)",
        ));
    }
    Ok(name)
}

/// Validates a tier's limits: at most 64, each named by 1 to 64 lower-case letters, digits
/// and `_`, each a number.
pub fn validate_limits(limits: &TierLimits) -> Result<()> {
    if limits.len() > MAX_TIER_LIMITS {
        return Err(Error::invalid("limits", "a tier has at most 64 limits"));
    }
    for name in limits.keys() {
        if name.is_empty()
            || name.len() > MAX_LIMIT_NAME
            || !name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        {
            return Err(Error::invalid(
                "limits",
                format!("limit names are 1 to 64 lower-case letters, digits and _ (not {name:?})"),
            ));
        }
    }
    Ok(())
}

/// A change of a user's tier assignment: None leaves a part as it is (from a current
/// assignment; an expired one counts as none).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TierChange {
    /// The tier (None: the current one, or the default).
    pub tier: Option<String>,
    /// The end (Some(None): no end); must be in the future.
    pub expires_at: Option<Option<OffsetDateTime>>,
    /// The administrator's note (Some(None): none).
    pub notes: Option<Option<String>>,
}

impl Core {
    /// Every tier, by name (administrators and the operator).
    pub async fn list_tiers(&self, by: impl Into<Authority<'_>>) -> Result<Vec<Tier>> {
        by.into().require_admin()?;
        Ok(self.store.list_tiers().await?)
    }

    /// A tier by name (administrators and the operator); NotFound("tier").
    pub async fn tier(&self, by: impl Into<Authority<'_>>, name: &str) -> Result<Tier> {
        by.into().require_admin()?;
        let name = validate_tier_name(name).map_err(|_| Error::NotFound("tier"))?;
        self.store.get_tier(&name).await?.ok_or(Error::NotFound("tier"))
    }

    /// The default tier.
    async fn default_tier(&self) -> Result<Tier> {
        self.store
            .default_tier()
            .await?
            .ok_or_else(|| Error::Internal(anyhow::anyhow!("no default tier is stored")))
    }

    /// Creates or changes a tier (administrators and the operator): `limits` None keeps the
    /// stored ones (NotFound("tier") for a new tier), `make_default` makes it the default.
    pub async fn put_tier(
        &self,
        by: impl Into<Authority<'_>>,
        name: &str,
        limits: Option<TierLimits>,
        make_default: bool,
    ) -> Result<Tier> {
        let by = by.into().require_admin()?;
        let name = validate_tier_name(name)?;
        if let Some(limits) = &limits {
            validate_limits(limits)?;
        }
        let details = serde_json::json!({
            "name": name,
            "limits": limits,
            "default": make_default,
        });
        let journal = self.journal(by).audit(audit::TIER_PUT, None, details).build();
        let tier = self
            .store
            .put_tier(&name, limits.as_ref(), make_default, self.clock.now(), &journal)
            .await
            .map_err(not_found("tier"))?;
        tracing::info!(tier = %tier.name, default = tier.is_default, "tier stored");
        Ok(tier)
    }

    /// Deletes a tier (administrators and the operator); its users are back on the default.
    /// The default tier cannot be deleted (make another the default first).
    pub async fn delete_tier(&self, by: impl Into<Authority<'_>>, name: &str) -> Result<()> {
        let by = by.into().require_admin()?;
        let name = validate_tier_name(name).map_err(|_| Error::NotFound("tier"))?;
        let journal = self
            .journal(by)
            .audit(audit::TIER_DELETE, None, serde_json::json!({ "name": name }))
            .build();
        match self.store.delete_tier(&name, &journal).await {
            Ok(true) => Ok(()),
            Ok(false) => Err(Error::NotFound("tier")),
            Err(crate::StoreError::Conflict { .. }) => Err(Error::invalid(
                "tier",
                "the default tier cannot be deleted; make another tier the default first",
            )),
            Err(e) => Err(e.into()),
        }
    }

    /// A user's tier as it applies now: themself, administrators and the operator;
    /// NotFound("user").
    pub async fn user_tier(&self, by: impl Into<Authority<'_>>, user: UserId) -> Result<UserTier> {
        if let Authority::Actor(actor) = by.into()
            && actor.user.id != user
        {
            actor.require_admin()?;
        }
        self.store.get_user(user).await.map_err(not_found("user"))?;
        self.tier_of(user).await
    }

    /// The tier that applies to `user` now (no permission check: for the core's own use).
    async fn tier_of(&self, user: UserId) -> Result<UserTier> {
        let assignment = self.store.get_tier_assignment(user).await?;
        if let Some(current) = assignment.as_ref().filter(|a| a.is_current(self.clock.now()))
            && let Some(tier) = self.store.get_tier(&current.tier).await?
        {
            return Ok(UserTier {
                user_id: user,
                tier,
                assignment,
                assigned: true,
            });
        }
        Ok(UserTier {
            user_id: user,
            tier: self.default_tier().await?,
            assignment,
            assigned: false,
        })
    }

    /// Gives `user` a tier, or changes the end or note of their assignment (administrators
    /// and the operator). An unknown tier is refused (field `tier`), as is an end that is
    /// not in the future (`expires_at`).
    pub async fn assign_tier(
        &self,
        by: impl Into<Authority<'_>>,
        user: UserId,
        change: TierChange,
    ) -> Result<UserTier> {
        let by = by.into().require_admin()?;
        self.store.get_user(user).await.map_err(not_found("user"))?;
        let now = self.clock.now();
        let current = self
            .store
            .get_tier_assignment(user)
            .await?
            .filter(|a| a.is_current(now));
        let tier = match change.tier {
            Some(raw) => validate_tier_name(&raw).map_err(|_| unknown_tier(&raw))?,
            None => match &current {
                Some(a) => a.tier.clone(),
                None => self.default_tier().await?.name,
            },
        };
        let expires_at = match change.expires_at {
            Some(Some(end)) if end <= now => return Err(Error::invalid("expires_at", "must be in the future")),
            Some(end) => end,
            None => current.as_ref().and_then(|a| a.expires_at),
        };
        let notes = match change.notes {
            Some(Some(notes)) if notes.chars().count() > MAX_TIER_NOTES => {
                return Err(Error::invalid("notes", "must be at most 1000 characters"));
            }
            Some(notes) => notes,
            None => current.as_ref().and_then(|a| a.notes.clone()),
        };
        let assignment = TierAssignment {
            user_id: user,
            tier: tier.clone(),
            expires_at,
            granted_by: by,
            granted_at: now,
            notes,
        };
        let details = serde_json::json!({
            "tier": tier,
            "expires_at": expires_at.map(crate::user::rfc3339),
        });
        let journal = self
            .journal(by)
            .audit(audit::USER_TIER_SET, Some(user), details)
            .build();
        if !self
            .store
            .put_tier_assignment(&assignment, &journal)
            .await
            .map_err(not_found("user"))?
        {
            return Err(unknown_tier(&tier));
        }
        tracing::info!(user = %user, tier, "tier assigned");
        self.tier_of(user).await
    }

    /// Ends `user`'s tier assignment: the default applies (administrators and the operator).
    pub async fn clear_user_tier(&self, by: impl Into<Authority<'_>>, user: UserId) -> Result<UserTier> {
        let by = by.into().require_admin()?;
        self.store.get_user(user).await.map_err(not_found("user"))?;
        let journal = self
            .journal(by)
            .audit(audit::USER_TIER_CLEAR, Some(user), serde_json::json!({}))
            .build();
        self.store.delete_tier_assignment(user, &journal).await?;
        self.tier_of(user).await
    }
}

fn unknown_tier(name: &str) -> Error {
    Error::invalid("tier", format!("no tier is named {name:?}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tier_names_and_limits_are_checked() {
        assert_eq!(validate_tier_name(" Premium ").unwrap(), "premium");
        assert!(validate_tier_name("").is_err());
        assert!(validate_tier_name("a b").is_err());
        assert!(validate_tier_name(&"a".repeat(51)).is_err());
        let mut limits = TierLimits::new();
        limits.insert("max_servers".into(), 100.into());
        assert!(validate_limits(&limits).is_ok());
        limits.insert("Bad Name".into(), 1.into());
        assert_eq!(validate_limits(&limits).unwrap_err().field(), Some("limits"));
        let many: TierLimits = (0..65).map(|i| (format!("l{i}"), i.into())).collect();
        assert!(validate_limits(&many).is_err());
    }
}
