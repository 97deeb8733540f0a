//! Permission templates and effective permissions. A template (`default`) says what every
//! user may do; each group may grant more. A user's effective permissions are the template,
//! completed from the caller's built-in defaults, OR-merged with all their groups'
//! permissions: the most permissive value wins. The key set is the dialect's business; the
//! core only merges JSON objects of booleans.

use super::groups::validate_permissions;
use super::{Actor, Core};
use crate::error::Result;
use crate::id::UserId;
use serde_json::Value;

/// The template every user starts from.
pub const DEFAULT_TEMPLATE: &str = "default";

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
    pub async fn permission_template(&self, actor: &Actor, name: &str, defaults: &Value) -> Result<Value> {
        actor.require_admin()?;
        self.permission_template_unchecked(name, defaults).await
    }

    async fn permission_template_unchecked(&self, name: &str, defaults: &Value) -> Result<Value> {
        let mut template = self
            .store
            .get_permission_template(name)
            .await?
            .unwrap_or_else(|| serde_json::json!({}));
        fill_missing(&mut template, defaults);
        Ok(template)
    }

    /// Replaces the template `name` (administrators only); returns what was stored.
    pub async fn set_permission_template(&self, actor: &Actor, name: &str, permissions: Value) -> Result<Value> {
        actor.require_admin()?;
        let permissions = validate_permissions(permissions)?;
        let journal = self
            .journal(Some(actor.user.id))
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
    /// OR-merged with every group of the user.
    pub async fn effective_permissions(&self, user: UserId, defaults: &Value) -> Result<Value> {
        let mut permissions = self.permission_template_unchecked(DEFAULT_TEMPLATE, defaults).await?;
        for group in self.store.list_groups_of_user(user).await? {
            or_merge(&mut permissions, &group.permissions);
        }
        Ok(permissions)
    }

    /// Whether the user's effective permissions set `section.key` to true.
    pub async fn has_permission(&self, user: UserId, path: &[&str], defaults: &Value) -> Result<bool> {
        let permissions = self.effective_permissions(user, defaults).await?;
        let mut at = &permissions;
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
