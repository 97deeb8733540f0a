//! Users' synced settings: a small string-to-string store each user's clients keep their
//! preferences in (Plexichat's `/users/@me/settings`). The limits are Plexichat's.

use super::{Actor, Core};
use crate::error::{Error, Result};
use crate::journal::audit;
use crate::tier::UserSetting;

/// The most settings a user may keep.
pub const MAX_USER_SETTINGS: usize = 100;
/// The longest key, in characters.
pub const MAX_SETTING_KEY: usize = 100;
/// The longest value, in characters.
pub const MAX_SETTING_VALUE: usize = 10_000;
/// Keys may not start with this.
pub const RESERVED_SETTING_PREFIX: &str = "__internal";
/// The refusal when a new key would pass [`MAX_USER_SETTINGS`].
pub const TOO_MANY_SETTINGS: &str = "User has reached maximum of 100 settings";
/// The refusal of a value over [`MAX_SETTING_VALUE`].
pub const SETTING_VALUE_TOO_LONG: &str = "Value exceeds maximum length of 10000 characters";

/// Checks one setting: the key 1 to 100 characters, not starting with `__internal`; the value
/// at most 10,000 characters; neither holding NUL. Errors name `key` or `value`, with
/// Plexichat's messages.
pub fn check_setting(key: &str, value: &str) -> Result<()> {
    if key.is_empty() {
        return Err(Error::invalid("key", "Key must not be empty"));
    }
    if key.chars().count() > MAX_SETTING_KEY {
        return Err(Error::invalid("key", "Key exceeds maximum length of 100 characters"));
    }
    if key.starts_with(RESERVED_SETTING_PREFIX) {
        return Err(Error::invalid(
            "key",
            format!("Key '{key}' uses reserved prefix '{RESERVED_SETTING_PREFIX}'"),
        ));
    }
    if value.chars().count() > MAX_SETTING_VALUE {
        return Err(Error::invalid("value", SETTING_VALUE_TOO_LONG));
    }
    for (field, text) in [("key", key), ("value", value)] {
        if text.contains('\0') {
            return Err(Error::invalid(field, crate::user::NUL_REASON));
        }
    }
    Ok(())
}

impl Core {
    /// The caller's settings, by key.
    pub async fn user_settings(&self, actor: &Actor) -> Result<Vec<UserSetting>> {
        Ok(self.store.list_user_settings(actor.user.id).await?)
    }

    /// One of the caller's settings; NotFound("setting").
    pub async fn user_setting(&self, actor: &Actor, key: &str) -> Result<UserSetting> {
        self.store
            .get_user_setting(actor.user.id, key)
            .await?
            .ok_or(Error::NotFound("setting"))
    }

    /// Sets one of the caller's settings (created or replaced). Errors as
    /// [`check_setting`], and `settings` ([`TOO_MANY_SETTINGS`]) for a new key past the limit.
    pub async fn put_user_setting(&self, actor: &Actor, key: &str, value: &str) -> Result<UserSetting> {
        check_setting(key, value)?;
        let mut stored = self
            .store_settings(actor, vec![(key.to_string(), value.to_string())])
            .await?;
        stored
            .pop()
            .ok_or_else(|| Error::Internal(anyhow::anyhow!("the setting was not stored")))
    }

    /// Sets several of the caller's settings at once: all or none. An invalid one is refused
    /// (field `settings`, the reason naming its key), as is a change that would pass the
    /// limit; nothing is written then.
    pub async fn put_user_settings(&self, actor: &Actor, settings: Vec<(String, String)>) -> Result<Vec<UserSetting>> {
        for (key, value) in &settings {
            check_setting(key, value).map_err(|e| match e {
                Error::Invalid { reason, .. } => Error::invalid("settings", format!("Setting '{key}': {reason}")),
                other => other,
            })?;
        }
        if settings.is_empty() {
            return Ok(Vec::new());
        }
        self.store_settings(actor, settings).await
    }

    async fn store_settings(&self, actor: &Actor, settings: Vec<(String, String)>) -> Result<Vec<UserSetting>> {
        let user = actor.user.id;
        let keys: Vec<&str> = settings.iter().map(|(k, _)| k.as_str()).collect();
        let journal = self
            .journal(Some(user))
            .audit(audit::USER_SETTING_PUT, Some(user), serde_json::json!({ "keys": keys }))
            .build();
        self.store
            .put_user_settings(user, &settings, MAX_USER_SETTINGS, self.clock.now(), &journal)
            .await?
            .ok_or_else(|| Error::invalid("settings", TOO_MANY_SETTINGS))
    }

    /// Deletes one of the caller's settings; NotFound("setting") if there is none.
    pub async fn delete_user_setting(&self, actor: &Actor, key: &str) -> Result<()> {
        let user = actor.user.id;
        let journal = self
            .journal(Some(user))
            .audit(
                audit::USER_SETTING_DELETE,
                Some(user),
                serde_json::json!({ "key": key }),
            )
            .build();
        if !self.store.delete_user_setting(user, key, &journal).await? {
            return Err(Error::NotFound("setting"));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_are_checked() {
        assert!(check_setting("theme", "dark").is_ok());
        assert!(check_setting(&"k".repeat(100), &"v".repeat(10_000)).is_ok());
        // Characters, not bytes.
        assert!(check_setting(&"é".repeat(100), &"é".repeat(10_000)).is_ok());
        let reason = |r: Result<()>| r.unwrap_err().reason().map(str::to_string);
        assert_eq!(
            reason(check_setting(&"k".repeat(101), "")).as_deref(),
            Some("Key exceeds maximum length of 100 characters")
        );
        assert_eq!(
            reason(check_setting("__internal_x", "")).as_deref(),
            Some("Key '__internal_x' uses reserved prefix '__internal'")
        );
        assert!(check_setting("_internal", "").is_ok());
        assert_eq!(
            reason(check_setting("k", &"v".repeat(10_001))).as_deref(),
            Some(SETTING_VALUE_TOO_LONG)
        );
        assert_eq!(check_setting("k", "a\0b").unwrap_err().field(), Some("value"));
        assert_eq!(check_setting("", "x").unwrap_err().field(), Some("key"));
    }
}
