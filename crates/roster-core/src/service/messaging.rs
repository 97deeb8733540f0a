//! Messaging settings: a user's own preferences (read receipts, typing indicators, compact
//! messages, whose direct messages to accept, automatic conversations) and the limits only
//! an administrator sets (message length, attachment size and count).

use super::users::not_found;
use super::{Actor, Core};
use crate::chat::{MessagingSettings, MessagingSettingsChange};
use crate::error::{Error, Refusal, Result};
use crate::id::UserId;

/// Refusal: a user changing their own messaging limits.
pub const LIMITS_ADMIN_ONLY: Refusal = Refusal::LimitsAdminOnly;

/// The largest value of a messaging limit.
const MAX_LIMIT: i64 = 1 << 40;

fn validate_limit(field: &'static str, value: Option<Option<i64>>) -> Result<()> {
    match value {
        Some(Some(v)) if !(0..=MAX_LIMIT).contains(&v) => Err(Error::invalid(
            field,
            format!("must be between 0 and {MAX_LIMIT}, or null"),
        )),
        _ => Ok(()),
    }
}

impl Core {
    /// The messaging settings of `user` (the defaults until changed), for the user or an
    /// administrator.
    pub async fn messaging_settings(&self, actor: &Actor, user: UserId) -> Result<MessagingSettings> {
        if actor.user.id != user {
            actor.require_admin()?;
            self.store.get_user(user).await.map_err(not_found("user"))?;
        }
        self.messaging_settings_of(user).await
    }

    /// The messaging settings of `user`, without a permission check (for rules that depend
    /// on them).
    pub(super) async fn messaging_settings_of(&self, user: UserId) -> Result<MessagingSettings> {
        Ok(self
            .store
            .get_messaging_settings(user)
            .await?
            .unwrap_or_else(|| MessagingSettings::defaults(user)))
    }

    /// Changes the messaging settings of `user`: the user's own preferences by the user or
    /// an administrator, the limits by administrators only. Returns the stored settings.
    pub async fn update_messaging_settings(
        &self,
        actor: &Actor,
        user: UserId,
        change: MessagingSettingsChange,
    ) -> Result<MessagingSettings> {
        let is_admin = actor.require_admin().is_ok();
        if actor.user.id != user && !is_admin {
            return Err(Error::Forbidden(Refusal::AdminRequired));
        }
        if change.changes_limits() && !is_admin {
            return Err(Error::Forbidden(LIMITS_ADMIN_ONLY));
        }
        validate_limit("max_message_length", change.max_message_length)?;
        validate_limit("max_attachment_size", change.max_attachment_size)?;
        validate_limit("max_attachments_per_message", change.max_attachments_per_message)?;
        self.store
            .update_messaging_settings(user, &change, self.clock.now())
            .await
            .map_err(not_found("user"))
    }
}
