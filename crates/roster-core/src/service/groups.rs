//! Groups: named sets of users that grant their members permissions. General to every
//! dialect; administrators manage them, members may read their own.

use super::users::{not_found, validate_preferences};
use super::{Actor, Core};
use crate::error::{Error, Result};
use crate::id::{GroupId, UserId};
use crate::journal::{Journal, audit, event};
use crate::store::Group;
use crate::user::{Role, validate_text};
use serde_json::json;
use std::collections::BTreeSet;

/// The most users one membership change may name.
pub const MAX_MEMBERS_PER_CHANGE: usize = 1000;

/// A group to create.
#[derive(Debug, Clone, Default)]
pub struct NewGroup {
    pub name: String,
    pub description: Option<String>,
    /// A JSON object; None: `{}`.
    pub permissions: Option<serde_json::Value>,
}

/// Changes to a group; None leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct GroupChanges {
    pub name: Option<String>,
    pub description: Option<String>,
    /// Replaces the permissions object.
    pub permissions: Option<serde_json::Value>,
}

fn validate_group_name(raw: &str) -> Result<String> {
    validate_text("name", raw, 128)?.ok_or_else(|| Error::invalid("name", "must not be empty"))
}

fn validate_description(raw: &str) -> Result<String> {
    Ok(validate_text("description", raw, 2000)?.unwrap_or_default())
}

/// Checks a permissions document: a JSON object of at most 64 KiB.
pub fn validate_permissions(value: serde_json::Value) -> Result<serde_json::Value> {
    validate_preferences(value).map_err(|e| match e {
        Error::Invalid { reason, .. } => Error::invalid("permissions", reason),
        other => other,
    })
}

impl Core {
    /// Creates a group (administrators only).
    pub async fn create_group(&self, actor: &Actor, input: NewGroup) -> Result<Group> {
        actor.require_admin()?;
        let now = self.clock.now();
        let group = Group {
            id: GroupId(self.next_id()),
            name: validate_group_name(&input.name)?,
            description: input
                .description
                .as_deref()
                .map(validate_description)
                .transpose()?
                .unwrap_or_default(),
            permissions: validate_permissions(input.permissions.unwrap_or_else(|| serde_json::json!({})))?,
            created_by: Some(actor.user.id),
            created_at: now,
            updated_at: now,
        };
        let journal = self
            .journal(Some(actor.user.id))
            .audit(
                audit::GROUP_CREATE,
                None,
                json!({ "group_id": group.id.to_string(), "name": group.name }),
            )
            .build();
        self.store.insert_group(&group, &journal).await?;
        tracing::info!(group = %group.id, "group created");
        Ok(group)
    }

    /// Every group for an administrator; the caller's own groups for anyone else.
    pub async fn list_groups(&self, actor: &Actor) -> Result<Vec<Group>> {
        if actor.user.role == Role::Admin {
            Ok(self.store.list_groups().await?)
        } else {
            Ok(self.store.list_groups_of_user(actor.user.id).await?)
        }
    }

    /// Reads a group: administrators any, members their own (others: NotFound).
    pub async fn get_group(&self, actor: &Actor, id: GroupId) -> Result<Group> {
        let group = self.store.get_group(id).await.map_err(not_found("group"))?;
        if actor.user.role != Role::Admin && !self.store.list_group_members(id).await?.contains(&actor.user.id) {
            return Err(Error::NotFound("group"));
        }
        Ok(group)
    }

    /// Changes a group's name, description or permissions (administrators only).
    pub async fn update_group(&self, actor: &Actor, id: GroupId, changes: GroupChanges) -> Result<Group> {
        actor.require_admin()?;
        let mut group = self.store.get_group(id).await.map_err(not_found("group"))?;
        if let Some(name) = &changes.name {
            group.name = validate_group_name(name)?;
        }
        if let Some(description) = &changes.description {
            group.description = validate_description(description)?;
        }
        let permissions_changed = changes.permissions.is_some();
        if let Some(permissions) = changes.permissions {
            group.permissions = validate_permissions(permissions)?;
        }
        group.updated_at = self.clock.now();
        let journal = self
            .journal(Some(actor.user.id))
            .audit(
                audit::GROUP_UPDATE,
                None,
                json!({
                    "group_id": id.to_string(),
                    "name": group.name,
                    "permissions_changed": permissions_changed,
                }),
            )
            .build();
        self.store
            .update_group(&group, &journal)
            .await
            .map_err(not_found("group"))?;
        Ok(group)
    }

    /// Deletes a group and its memberships (administrators only).
    pub async fn delete_group(&self, actor: &Actor, id: GroupId) -> Result<()> {
        actor.require_admin()?;
        let group = self.store.get_group(id).await.map_err(not_found("group"))?;
        let mut journal = self.journal(Some(actor.user.id)).audit(
            audit::GROUP_DELETE,
            None,
            json!({ "group_id": id.to_string(), "name": group.name }),
        );
        for member in self.store.list_group_members(id).await? {
            journal = journal.event(
                event::GROUP_MEMBER_REMOVED,
                member,
                json!({ "group_id": id.to_string(), "reason": "group_deleted" }),
            );
        }
        self.store
            .delete_group(id, &journal.build())
            .await
            .map_err(not_found("group"))?;
        tracing::info!(group = %id, "group deleted");
        Ok(())
    }

    /// The ids of a group's members (administrators only).
    pub async fn group_members(&self, actor: &Actor, id: GroupId) -> Result<Vec<UserId>> {
        actor.require_admin()?;
        self.store.get_group(id).await.map_err(not_found("group"))?;
        Ok(self.store.list_group_members(id).await?)
    }

    /// Adds users to a group (administrators only); all or nothing: an unknown group or user
    /// is NotFound and nothing is added. Returns the members afterwards.
    pub async fn add_group_members(&self, actor: &Actor, id: GroupId, users: &[UserId]) -> Result<Vec<UserId>> {
        actor.require_admin()?;
        if users.len() > MAX_MEMBERS_PER_CHANGE {
            return Err(Error::invalid(
                "user_ids",
                format!("must name at most {MAX_MEMBERS_PER_CHANGE} users"),
            ));
        }
        self.store.get_group(id).await.map_err(not_found("group"))?;
        let before = self.store.list_group_members(id).await?;
        let added = users
            .iter()
            .filter(|u| !before.contains(u))
            .copied()
            .collect::<BTreeSet<_>>();
        let journal = self.membership_journal(actor, id, &added, true);
        self.store
            .add_group_members(id, users, self.clock.now(), &journal)
            .await
            .map_err(not_found("user"))?;
        self.touch_group(id).await?;
        Ok(self.store.list_group_members(id).await?)
    }

    /// Removes users from a group (administrators only; non-members are ignored). Returns
    /// the members afterwards.
    pub async fn remove_group_members(&self, actor: &Actor, id: GroupId, users: &[UserId]) -> Result<Vec<UserId>> {
        actor.require_admin()?;
        if users.len() > MAX_MEMBERS_PER_CHANGE {
            return Err(Error::invalid(
                "user_ids",
                format!("must name at most {MAX_MEMBERS_PER_CHANGE} users"),
            ));
        }
        self.store.get_group(id).await.map_err(not_found("group"))?;
        let before = self.store.list_group_members(id).await?;
        let removed = users
            .iter()
            .filter(|u| before.contains(u))
            .copied()
            .collect::<BTreeSet<_>>();
        let journal = self.membership_journal(actor, id, &removed, false);
        self.store.remove_group_members(id, users, &journal).await?;
        self.touch_group(id).await?;
        Ok(self.store.list_group_members(id).await?)
    }

    async fn touch_group(&self, id: GroupId) -> Result<()> {
        let mut group = self.store.get_group(id).await.map_err(not_found("group"))?;
        group.updated_at = self.clock.now();
        self.store
            .update_group(&group, &Journal::default())
            .await
            .map_err(not_found("group"))?;
        Ok(())
    }

    /// `group.member_added` (or `_removed`) and its audit entry for each user.
    fn membership_journal(&self, actor: &Actor, id: GroupId, users: &BTreeSet<UserId>, added: bool) -> Journal {
        let (kind, action) = if added {
            (event::GROUP_MEMBER_ADDED, audit::GROUP_MEMBER_ADD)
        } else {
            (event::GROUP_MEMBER_REMOVED, audit::GROUP_MEMBER_REMOVE)
        };
        let mut journal = self.journal(Some(actor.user.id));
        for user in users {
            let payload = json!({ "group_id": id.to_string() });
            journal = journal
                .event(kind, *user, payload.clone())
                .audit(action, Some(*user), payload);
        }
        journal.build()
    }

    /// The groups a user belongs to: one's own, or anyone's for an administrator.
    pub async fn groups_of_user(&self, actor: &Actor, user: UserId) -> Result<Vec<Group>> {
        if actor.user.id != user {
            actor.require_admin()?;
            self.store.get_user(user).await.map_err(not_found("user"))?;
        }
        Ok(self.store.list_groups_of_user(user).await?)
    }
}
