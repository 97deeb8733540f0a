//! Permission templates and effective permissions. A template (`default`) says what every
//! user may do; each group may grant more. A user's effective permissions are the template,
//! completed from built-in defaults, OR-merged with all their groups' permissions: the most
//! permissive value wins. The key set is Open WebUI's ([`builtin_permissions`]); most keys
//! only matter to that product's frontend, but a few gate what the core does and are checked
//! here, on every route that does it (the gates):
//!
//! - `features.api_keys`: creating and using API keys ([`Core::ensure_api_keys_permitted`]);
//!   on Open WebUI's routes always, on the others when [`ApiKeyGate::Everywhere`] is set.
//! - the preference fields of [`GATED_PREFERENCES`] (a webhook URL for notifications, a
//!   system prompt, tool servers): on every route that writes preferences.
//!
//! Administrators pass every gate.

use super::groups::validate_permissions;
use super::user_facts::Permissions;
use super::{Authority, Core};
use crate::error::{Error, Refusal, Result};
use crate::id::UserId;
use crate::{Role, User};
use serde_json::{Value, json};
use std::sync::Arc;

/// The template every user starts from.
pub const DEFAULT_TEMPLATE: &str = "default";

/// Open WebUI's built-in `DEFAULT_USER_PERMISSIONS` (no `USER_PERMISSIONS_*` overrides): what
/// a stored template lacks is taken from here.
pub fn builtin_permissions() -> Value {
    BUILTIN_PERMISSIONS.clone()
}

/// [`builtin_permissions`], borrowed: built once, for the rules that only read it.
pub fn builtin_permissions_ref() -> &'static Value {
    &BUILTIN_PERMISSIONS
}

static BUILTIN_PERMISSIONS: std::sync::LazyLock<Value> = std::sync::LazyLock::new(|| {
    json!({
        "workspace": {
            "models": false, "knowledge": false, "prompts": false, "tools": false, "skills": false,
            "models_import": false, "models_export": false, "models_hidden": false,
            "prompts_import": false, "prompts_export": false, "tools_import": false, "tools_export": false,
            "skills_import": false, "skills_export": false
        },
        "sharing": {
            "models": false, "public_models": false, "knowledge": false, "public_knowledge": false,
            "prompts": false, "public_prompts": false, "tools": false, "public_tools": false,
            "skills": false, "public_skills": false, "notes": false, "public_notes": false,
            "folders": false, "public_chats": false, "open_chats": false, "public_calendars": false
        },
        "access_grants": {"allow_users": true, "allow_groups": true},
        "chat": {
            "controls": true, "valves": true, "system_prompt": true, "params": true, "file_upload": true,
            "web_upload": true, "delete": true, "delete_message": true, "continue_response": true,
            "regenerate_response": true, "rate_response": true, "edit": true, "share": true, "export": true,
            "import": true, "stt": true, "tts": true, "call": true, "multiple_models": true, "temporary": true,
            "temporary_enforced": false
        },
        "features": {
            "api_keys": false, "encrypted_channels": false, "direct_tool_servers": false, "automations": false,
            "webhooks": false, "notes": true, "folders": true, "channels": true, "web_search": true,
            "image_generation": true, "code_interpreter": true, "memories": true, "calendar": true
        },
        "settings": {"interface": true}
    })
});

/// The permission that allows API keys.
pub const API_KEYS_PERMISSION: &[&str] = &["features", "api_keys"];

/// The core's answer when a user without [`API_KEYS_PERMISSION`] creates or uses an API key
/// where the gate holds (dialects may show their product's words for it).
pub const API_KEYS_NOT_PERMITTED: Refusal = Refusal::ApiKeysNotPermitted;

/// Where the `features.api_keys` permission gates API keys: a per-deployment choice.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ApiKeyGate {
    /// On Open WebUI's routes only: a key is created there only with the permission, and no
    /// key (wherever it was created) works there without it, as in Open WebUI. Other
    /// dialects' products (Langflow, LibreChat) and the native API have no such permission
    /// and give every user keys; so do they here.
    #[default]
    OpenWebUi,
    /// On every route: creating a key anywhere, and using one anywhere, needs the permission.
    Everywhere,
}

impl ApiKeyGate {
    /// Parses the setting's value: `openwebui` or `everywhere`.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "openwebui" => Some(ApiKeyGate::OpenWebUi),
            "everywhere" => Some(ApiKeyGate::Everywhere),
            _ => None,
        }
    }
}

/// Which product's routes a request came in through, for [`ApiKeyGate`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Surface {
    /// Open WebUI's routes.
    OpenWebUi,
    /// Any other (native, LibreChat, Langflow, Plexichat).
    #[default]
    Other,
}

/// A preference field only users holding every one of `needs` may set (Open WebUI's
/// `update_user_settings_by_session_user` rules); `path` is inside the user's preferences.
#[derive(Debug)]
pub struct GatedPreference {
    pub path: &'static [&'static str],
    pub needs: &'static [&'static [&'static str]],
    /// The core's answer when it is set without them.
    pub refusal: Refusal,
}

/// The gated preference fields. Open WebUI's settings live under `settings`.
pub const GATED_PREFERENCES: &[GatedPreference] = &[
    GatedPreference {
        path: &["settings", "notifications"],
        needs: &[&["features", "webhooks"]],
        refusal: Refusal::NotificationsNeedWebhooks,
    },
    GatedPreference {
        path: &["settings", "ui", "notifications", "webhook_url"],
        needs: &[&["features", "webhooks"]],
        refusal: Refusal::WebhookUrlNeedsWebhooks,
    },
    GatedPreference {
        path: &["settings", "ui", "system"],
        needs: &[&["chat", "controls"], &["chat", "system_prompt"]],
        refusal: Refusal::SystemPromptNeedsChatControls,
    },
    GatedPreference {
        path: &["settings", "ui", "toolServers"],
        needs: &[&["features", "direct_tool_servers"]],
        refusal: Refusal::ToolServersNeedDirectToolServers,
    },
];

/// The value at `path` inside `value`, if any.
pub fn value_at<'a>(value: &'a Value, path: &[&str]) -> Option<&'a Value> {
    path.iter().try_fold(value, |at, key| at.get(key))
}

/// Removes the value at `path` inside `value`, if any.
pub fn remove_at(value: &mut Value, path: &[&str]) {
    let Some((last, parents)) = path.split_last() else {
        return;
    };
    let mut at = value;
    for key in parents {
        match at.get_mut(key) {
            Some(next) => at = next,
            None => return,
        }
    }
    if let Some(map) = at.as_object_mut() {
        map.remove(*last);
    }
}

fn allowed(permissions: &Value, path: &[&str]) -> bool {
    value_at(permissions, path).and_then(Value::as_bool).unwrap_or(false)
}

/// The gated preference fields that `permissions` (a user's effective permissions) do not
/// allow.
pub fn forbidden_by(permissions: &Value) -> Vec<&'static GatedPreference> {
    GATED_PREFERENCES
        .iter()
        .filter(|gate| !gate.needs.iter().all(|need| allowed(permissions, need)))
        .collect()
}

/// Fails with the first gate in `forbidden` whose field `after` sets to a value that
/// `before` did not hold (clearing a field, or keeping what was there, is allowed).
pub fn check_preference_gates(forbidden: &[&GatedPreference], before: &Value, after: &Value) -> Result<()> {
    for gate in forbidden {
        match value_at(after, gate.path) {
            None | Some(Value::Null) => {}
            Some(new) if value_at(before, gate.path) == Some(new) => {}
            Some(_) => return Err(Error::Forbidden(gate.refusal)),
        }
    }
    Ok(())
}

/// Adds to `value` every key of `defaults` it lacks, recursively into objects.
pub fn fill_missing(value: &mut Value, defaults: &Value) {
    let (Value::Object(target), Value::Object(defaults)) = (value, defaults) else {
        return;
    };
    for (key, default) in defaults {
        match target.get_mut(key) {
            Some(existing) => fill_missing(existing, default),
            None => {
                target.insert(key.clone(), default.clone());
            }
        }
    }
}

/// Merges `grant` into `base`: booleans are OR-ed, objects merged recursively, keys only in
/// `grant` are added; other values of `base` are kept.
pub fn or_merge(base: &mut Value, grant: &Value) {
    match (base, grant) {
        (Value::Object(base), Value::Object(grant)) => {
            for (key, value) in grant {
                match base.get_mut(key) {
                    Some(existing) => or_merge(existing, value),
                    None => {
                        base.insert(key.clone(), value.clone());
                    }
                }
            }
        }
        (Value::Bool(base), Value::Bool(grant)) => *base = *base || *grant,
        _ => {}
    }
}

impl Core {
    /// The stored template `name`, completed from `defaults` (administrators only).
    pub async fn permission_template(
        &self,
        by: impl Into<Authority<'_>>,
        name: &str,
        defaults: &Value,
    ) -> Result<Value> {
        by.into().require_admin()?;
        self.template_with_defaults(name, defaults).await
    }

    /// The stored template `name`, completed from `defaults`, for the rules that read it.
    async fn template_with_defaults(&self, name: &str, defaults: &Value) -> Result<Value> {
        let mut template = match self.store.get_permission_template(name).await? {
            // Nothing stored: the defaults themselves (a copy, not rebuilt key by key).
            None if defaults.is_object() => return Ok(defaults.clone()),
            None => serde_json::json!({}),
            Some(template) => template,
        };
        fill_missing(&mut template, defaults);
        Ok(template)
    }

    /// Replaces the template `name` (administrators only); returns what was stored.
    pub async fn set_permission_template(
        &self,
        by: impl Into<Authority<'_>>,
        name: &str,
        permissions: Value,
    ) -> Result<Value> {
        let by = by.into().require_admin()?;
        let permissions = validate_permissions(permissions)?;
        let journal = self
            .journal(by)
            .audit(
                crate::journal::audit::PERMISSION_TEMPLATE_UPDATE,
                None,
                serde_json::json!({ "template": name, "permissions": permissions }),
            )
            .build();
        self.store
            .put_permission_template(name, &permissions, self.clock.now(), &journal)
            .await?;
        tracing::info!(template = name, "permission template changed");
        Ok(permissions)
    }

    /// A user's effective permissions: the default template completed from `defaults`,
    /// OR-merged with every group of the user. Over the built-in defaults
    /// ([`builtin_permissions_ref`]) they are remembered (see [`Core::builtin_effective_permissions`]).
    pub async fn effective_permissions(&self, user: UserId, defaults: &Value) -> Result<Value> {
        if std::ptr::eq(defaults, builtin_permissions_ref()) {
            return Ok(self.builtin_effective_permissions(user).await?.value().clone());
        }
        self.read_effective_permissions(user, defaults).await
    }

    /// A user's effective permissions over the built-in defaults ([`builtin_permissions_ref`]),
    /// remembered between requests and forgotten on every change of the template, of the
    /// user's groups or their permissions (see [`super::user_facts`]).
    pub async fn builtin_effective_permissions(&self, user: UserId) -> Result<Arc<Permissions>> {
        self.facts
            .permissions
            .get(&self.changes, user, async {
                Permissions::new(self.read_effective_permissions(user, builtin_permissions_ref()).await?)
            })
            .await
    }

    async fn read_effective_permissions(&self, user: UserId, defaults: &Value) -> Result<Value> {
        let mut permissions = self.template_with_defaults(DEFAULT_TEMPLATE, defaults).await?;
        for group in self.store.list_groups_of_user(user).await? {
            or_merge(&mut permissions, &group.permissions);
        }
        Ok(permissions)
    }

    /// The one rule for API keys: whether `user` may create or use one on `surface`. Fails
    /// with `Forbidden(`[`API_KEYS_NOT_PERMITTED`]`)` when the gate holds there (see
    /// [`ApiKeyGate`]), the user is not an administrator and lacks `features.api_keys`.
    pub async fn ensure_api_keys_permitted(&self, user: &User, surface: Surface) -> Result<()> {
        let gated = surface == Surface::OpenWebUi || self.config.api_key_gate == ApiKeyGate::Everywhere;
        if !gated || user.role == Role::Admin {
            return Ok(());
        }
        if self
            .has_permission(user.id, API_KEYS_PERMISSION, builtin_permissions_ref())
            .await?
        {
            Ok(())
        } else {
            Err(Error::Forbidden(API_KEYS_NOT_PERMITTED))
        }
    }

    /// The gated preference fields `user` may not set (none for administrators).
    pub async fn forbidden_preferences(&self, user: &User) -> Result<Vec<&'static GatedPreference>> {
        if user.role == Role::Admin {
            return Ok(Vec::new());
        }
        let permissions = self.builtin_effective_permissions(user.id).await?;
        Ok(forbidden_by(permissions.value()))
    }

    /// Whether the user's effective permissions set `section.key` to true.
    pub async fn has_permission(&self, user: UserId, path: &[&str], defaults: &Value) -> Result<bool> {
        let (remembered, read);
        let permissions = if std::ptr::eq(defaults, builtin_permissions_ref()) {
            remembered = self.builtin_effective_permissions(user).await?;
            remembered.value()
        } else {
            read = self.read_effective_permissions(user, defaults).await?;
            &read
        };
        let mut at = permissions;
        for key in path {
            match at.get(key) {
                Some(next) => at = next,
                None => return Ok(false),
            }
        }
        Ok(at.as_bool().unwrap_or(false))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn preference_gates() {
        let forbidden: Vec<&GatedPreference> = GATED_PREFERENCES.iter().collect();
        let before = json!({"settings": {"ui": {"notifications": {"webhook_url": "https://a"}}}});
        // Keeping what was there, clearing it, and other fields pass.
        assert!(check_preference_gates(&forbidden, &before, &before).is_ok());
        assert!(check_preference_gates(&forbidden, &before, &json!({"settings": {"ui": {"x": 1}}})).is_ok());
        let changed = json!({"settings": {"ui": {"notifications": {"webhook_url": "https://b"}}}});
        let e = check_preference_gates(&forbidden, &before, &changed).unwrap_err();
        assert!(e.to_string().contains("webhook_url"), "{e}");
        assert!(check_preference_gates(&[], &before, &changed).is_ok());
        let mut v = changed.clone();
        remove_at(&mut v, GATED_PREFERENCES[1].path);
        assert_eq!(v, json!({"settings": {"ui": {"notifications": {}}}}));
        assert_eq!(ApiKeyGate::parse("everywhere"), Some(ApiKeyGate::Everywhere));
        assert_eq!(ApiKeyGate::parse("all"), None);
    }

    #[test]
    fn merging() {
        let mut template = json!({"chat": {"delete": false}});
        fill_missing(
            &mut template,
            &json!({"chat": {"delete": true, "edit": true}, "features": {"x": false}}),
        );
        assert_eq!(
            template,
            json!({"chat": {"delete": false, "edit": true}, "features": {"x": false}})
        );
        or_merge(
            &mut template,
            &json!({"chat": {"delete": true}, "features": {"x": false, "y": true}}),
        );
        assert_eq!(
            template,
            json!({"chat": {"delete": true, "edit": true}, "features": {"x": false, "y": true}})
        );
        or_merge(&mut template, &json!({"chat": {"edit": false}}));
        assert_eq!(template["chat"]["edit"], true);
    }
}
