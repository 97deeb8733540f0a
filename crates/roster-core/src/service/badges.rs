//! Badges: short identifiers (`early_supporter`) an administrator gives a user, shown on the
//! user's profile to everyone.

use super::users::not_found;
use super::{Authority, Core};
use crate::error::{Error, Result};
use crate::id::UserId;

/// The longest badge identifier.
pub const MAX_BADGE_LENGTH: usize = 32;

/// Validates a badge identifier: 1 to 32 lower-case letters, digits, `_` and `-` (given in
/// any case, stored lower-cased).
pub fn validate_badge(raw: &str) -> Result<String> {
    let badge = raw.trim().to_ascii_lowercase();
    if badge.is_empty()
        || badge.len() > MAX_BADGE_LENGTH
        || !badge
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-')
    {
        return Err(Error::invalid(
            "badge",
            "must be 1 to 32 letters, digits, _ and - (such as early_supporter)",
        ));
    }
    Ok(badge)
}

impl Core {
    /// A user's badges, in the order they were given: public, any signed-in caller may read
    /// them. Remembered between requests (see [`super::user_facts`]).
    pub async fn badges_of(&self, user: UserId) -> Result<Vec<String>> {
        let badges = self
            .facts
            .badges
            .get(&self.changes, user, async {
                let badges = self.store.list_user_badges(user).await?;
                Ok::<_, Error>(badges)
            })
            .await?;
        Ok((*badges).clone())
    }

    /// Gives `user` a badge (administrators and the operator); returns the user's badges.
    pub async fn add_badge(&self, by: impl Into<Authority<'_>>, user: UserId, badge: &str) -> Result<Vec<String>> {
        by.into().require_admin()?;
        let badge = validate_badge(badge)?;
        let added = self
            .store
            .add_user_badge(user, &badge, self.clock.now())
            .await
            .map_err(not_found("user"))?;
        if added {
            tracing::info!(user = %user, badge, "badge given");
        }
        self.badges_of(user).await
    }

    /// Takes a badge from `user` (administrators and the operator); returns the user's
    /// badges. NotFound if the user does not have it.
    pub async fn remove_badge(&self, by: impl Into<Authority<'_>>, user: UserId, badge: &str) -> Result<Vec<String>> {
        by.into().require_admin()?;
        let badge = validate_badge(badge)?;
        self.store.get_user(user).await.map_err(not_found("user"))?;
        if !self.store.remove_user_badge(user, &badge).await? {
            return Err(Error::NotFound("badge"));
        }
        tracing::info!(user = %user, badge, "badge taken");
        self.badges_of(user).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn badges_are_checked() {
        assert_eq!(validate_badge(" Early_Supporter ").unwrap(), "early_supporter");
        assert!(validate_badge("").is_err());
        assert!(validate_badge("a b").is_err());
        assert!(validate_badge(&"a".repeat(33)).is_err());
        assert!(validate_badge("{badge}").is_err());
    }
}
