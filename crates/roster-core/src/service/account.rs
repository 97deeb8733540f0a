//! A user's own account: product settings kept in the preferences object (plugins,
//! personalization, favorites, pinned order, skill states) and deleting one's account.

use super::users::validate_preferences;
use super::{Actor, Core};
use crate::error::{Error, Result};
use crate::user::User;

/// The values of `personalization.statefulCodeEnvironment`.
pub const CODE_ENVIRONMENTS: &[&str] = &["user", "agent-user", "conversation"];

/// The kinds of marketplace items a user may star.
pub const TOOL_FAVORITE_TYPES: &[&str] = &["builtin", "tool", "mcp", "skill"];

/// The most plugins (or starred items) a user may have.
const MAX_PLUGINS: usize = 256;

/// A change to the user's enabled plugins (`preferences.plugins`).
#[derive(Debug, Clone, PartialEq)]
pub enum PluginChange {
    /// Replace the list.
    Set(Vec<String>),
    /// Add one (kept once).
    Install(String),
    /// Remove one.
    Uninstall(String),
}

fn validate_plugin_key(key: &str) -> Result<String> {
    let key = key.trim();
    if key.is_empty() || key.chars().count() > 128 || key.chars().any(char::is_control) {
        return Err(Error::invalid("pluginKey", "must be 1 to 128 printable characters"));
    }
    Ok(key.to_string())
}

/// Checks the product settings this core knows the meaning of.
fn validate_known_keys(preferences: &serde_json::Value) -> Result<()> {
    if let Some(p) = preferences.get("personalization") {
        if !p.is_object() {
            return Err(Error::invalid("personalization", "must be an object"));
        }
        if let Some(env) = p.get("statefulCodeEnvironment")
            && !env.as_str().is_some_and(|e| CODE_ENVIRONMENTS.contains(&e))
        {
            return Err(Error::invalid(
                "statefulCodeEnvironment",
                "must be one of user, agent-user, conversation",
            ));
        }
    }
    if let Some(p) = preferences.get("plugins")
        && !p.as_array().is_some_and(|a| a.iter().all(serde_json::Value::is_string))
    {
        return Err(Error::invalid("plugins", "must be an array of strings"));
    }
    for key in ["favorites", "pinnedOrder"] {
        if let Some(v) = preferences.get(key)
            && !v.is_array()
        {
            return Err(Error::invalid(key, "must be an array"));
        }
    }
    if let Some(v) = preferences.get("skillStates")
        && !v
            .as_object()
            .is_some_and(|o| o.values().all(serde_json::Value::is_boolean))
    {
        return Err(Error::invalid("skillStates", "must be an object of booleans"));
    }
    Ok(())
}

impl Core {
    /// Sets top-level keys of the caller's preferences (a JSON object); other keys are kept.
    pub async fn set_preference_keys(
        &self,
        actor: &Actor,
        changes: serde_json::Map<String, serde_json::Value>,
    ) -> Result<User> {
        let forbidden = self.forbidden_preferences(&actor.user).await?;
        let (_, user) = self
            .modify_user(actor.user.id, Some(actor.user.id), None, |u| {
                let mut preferences = match &u.preferences {
                    serde_json::Value::Object(o) => o.clone(),
                    _ => serde_json::Map::new(),
                };
                for (k, v) in &changes {
                    preferences.insert(k.clone(), v.clone());
                }
                let preferences = validate_preferences(serde_json::Value::Object(preferences))?;
                validate_known_keys(&preferences)?;
                super::check_preference_gates(&forbidden, &u.preferences, &preferences)?;
                u.preferences = preferences;
                Ok(())
            })
            .await?;
        Ok(user)
    }

    /// Merges keys into the caller's `personalization` preferences object.
    pub async fn update_personalization(
        &self,
        actor: &Actor,
        changes: serde_json::Map<String, serde_json::Value>,
    ) -> Result<User> {
        let (_, user) = self
            .modify_user(actor.user.id, Some(actor.user.id), None, |u| {
                let mut preferences = match &u.preferences {
                    serde_json::Value::Object(o) => o.clone(),
                    _ => serde_json::Map::new(),
                };
                let mut personalization = preferences
                    .get("personalization")
                    .and_then(|p| p.as_object())
                    .cloned()
                    .unwrap_or_default();
                for (k, v) in &changes {
                    personalization.insert(k.clone(), v.clone());
                }
                preferences.insert("personalization".into(), serde_json::Value::Object(personalization));
                let preferences = validate_preferences(serde_json::Value::Object(preferences))?;
                validate_known_keys(&preferences)?;
                u.preferences = preferences;
                Ok(())
            })
            .await?;
        Ok(user)
    }

    /// Changes the caller's enabled plugins (`preferences.plugins`).
    pub async fn update_plugins(&self, actor: &Actor, change: PluginChange) -> Result<User> {
        let change = match change {
            PluginChange::Set(list) => PluginChange::Set(
                list.iter()
                    .map(|k| validate_plugin_key(k))
                    .collect::<Result<Vec<_>>>()?,
            ),
            PluginChange::Install(k) => PluginChange::Install(validate_plugin_key(&k)?),
            PluginChange::Uninstall(k) => PluginChange::Uninstall(validate_plugin_key(&k)?),
        };
        let (_, user) = self
            .modify_user(actor.user.id, Some(actor.user.id), None, |u| {
                let mut plugins: Vec<String> = u
                    .preferences
                    .get("plugins")
                    .and_then(|p| p.as_array())
                    .map(|a| a.iter().filter_map(|v| v.as_str().map(str::to_string)).collect())
                    .unwrap_or_default();
                match &change {
                    PluginChange::Set(list) => {
                        plugins.clear();
                        for k in list {
                            if !plugins.contains(k) {
                                plugins.push(k.clone());
                            }
                        }
                    }
                    PluginChange::Install(k) => {
                        if !plugins.contains(k) {
                            plugins.push(k.clone());
                        }
                    }
                    PluginChange::Uninstall(k) => plugins.retain(|p| p != k),
                }
                if plugins.len() > MAX_PLUGINS {
                    return Err(Error::invalid("plugins", "at most 256 plugins"));
                }
                let mut preferences = match &u.preferences {
                    serde_json::Value::Object(o) => o.clone(),
                    _ => serde_json::Map::new(),
                };
                preferences.insert("plugins".into(), serde_json::json!(plugins));
                u.preferences = validate_preferences(serde_json::Value::Object(preferences))?;
                Ok(())
            })
            .await?;
        Ok(user)
    }

    /// Stars (`add`) or unstars a marketplace item in `preferences.toolFavorites`, a list of
    /// `{itemType, itemId}`; returns the list.
    pub async fn update_tool_favorites(
        &self,
        actor: &Actor,
        item_type: &str,
        item_id: &str,
        add: bool,
    ) -> Result<Vec<serde_json::Value>> {
        if !TOOL_FAVORITE_TYPES.contains(&item_type) {
            return Err(Error::invalid("itemType", "must be one of builtin, tool, mcp, skill"));
        }
        let item_id = item_id.trim();
        if item_id.is_empty() || item_id.chars().count() > 256 {
            return Err(Error::invalid("itemId", "must be 1 to 256 characters"));
        }
        let entry = serde_json::json!({ "itemType": item_type, "itemId": item_id });
        let (_, user) = self
            .modify_user(actor.user.id, Some(actor.user.id), None, |u| {
                let mut preferences = match &u.preferences {
                    serde_json::Value::Object(o) => o.clone(),
                    _ => serde_json::Map::new(),
                };
                let mut list: Vec<serde_json::Value> = preferences
                    .get("toolFavorites")
                    .and_then(|v| v.as_array())
                    .cloned()
                    .unwrap_or_default();
                list.retain(|v| v != &entry);
                if add {
                    list.push(entry.clone());
                }
                if list.len() > MAX_PLUGINS {
                    return Err(Error::invalid("toolFavorites", "at most 256 favorites"));
                }
                preferences.insert("toolFavorites".into(), serde_json::Value::Array(list));
                u.preferences = validate_preferences(serde_json::Value::Object(preferences))?;
                Ok(())
            })
            .await?;
        Ok(user
            .preferences
            .get("toolFavorites")
            .and_then(|v| v.as_array())
            .cloned()
            .unwrap_or_default())
    }

    /// Deletes the caller's own account with everything it owns, in one transaction. Needs a
    /// session, not an API key. Refused to administrators (no administrator deletes themself,
    /// see [`Core::delete_user_by`]) and when account deletion is switched off.
    pub async fn delete_own_account(&self, actor: &Actor) -> Result<()> {
        self.delete_own_account_with_factor(actor, None).await
    }

    /// As [`Core::delete_own_account`]; an account with two-factor authentication must give a
    /// code or backup code (without one, it is refused).
    pub async fn delete_own_account_with_factor(
        &self,
        actor: &Actor,
        factor: Option<&super::SecondFactor>,
    ) -> Result<()> {
        actor.require_session()?;
        let own = super::users::Deletion::Own(factor);
        self.delete_user_by(Some(actor.user.id), actor.user.id, own).await
    }
}
