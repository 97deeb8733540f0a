//! Groups: named sets of users that grant their members permissions. General to every
//! dialect; administrators manage them, members may read their own.

use super::users::{not_found, validate_preferences};
use super::{Actor, Authority, Core};
use crate::error::{Error, Result};
use crate::id::{GroupId, UserId};
use crate::journal::{Journal, JournalBuilder, JournalExtra, audit, event};
use crate::store::Group;
use crate::user::{Role, validate_text};
use serde_json::json;
use std::collections::{BTreeMap, BTreeSet};

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

/// Checks a group as [`Core::create_group`] would (its name, description and permissions),
/// changing nothing; returns its permissions as they would be stored.
pub fn check_group(input: &NewGroup) -> Result<serde_json::Value> {
    validate_group_name(&input.name)?;
    if let Some(description) = &input.description {
        validate_description(description)?;
    }
    validate_permissions(input.permissions.clone().unwrap_or_else(|| json!({})))
}

impl Core {
    /// Creates a group (administrators only).
    pub async fn create_group(&self, by: impl Into<Authority<'_>>, input: NewGroup) -> Result<Group> {
        let by = by.into().require_admin()?;
        let (group, journal) = self.new_group(by, input)?;
        self.store.insert_group(&group, &journal.build()).await?;
        tracing::info!(group = %group.id, "group created");
        Ok(group)
    }

    /// A new group from `input`, and the journal of its creation.
    fn new_group(&self, by: Option<UserId>, input: NewGroup) -> Result<(Group, JournalBuilder<'_>)> {
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
            created_by: by,
            created_at: now,
            updated_at: now,
        };
        let record = json!({ "group_id": group.id.to_string(), "name": group.name });
        let journal = self.journal(by).audit(audit::GROUP_CREATE, None, record.clone()).event(
            event::GROUP_CREATED,
            group_subject(group.id),
            record,
        );
        Ok((group, journal))
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
    pub async fn update_group(
        &self,
        by: impl Into<Authority<'_>>,
        id: GroupId,
        changes: GroupChanges,
    ) -> Result<Group> {
        let by = by.into().require_admin()?;
        let (group, journal) = self.changed_group(by, id, changes).await?;
        let journal = journal.build();
        self.store
            .update_group(&group, &journal)
            .await
            .map_err(not_found("group"))?;
        Ok(group)
    }

    /// The group `id` after `changes` (stamped now), and the journal of the change.
    async fn changed_group(
        &self,
        by: Option<UserId>,
        id: GroupId,
        changes: GroupChanges,
    ) -> Result<(Group, JournalBuilder<'_>)> {
        let mut group = self.store.get_group(id).await.map_err(not_found("group"))?;
        let previous_name = group.name.clone();
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
        let journal = self.journal(by).audit(
            audit::GROUP_UPDATE,
            None,
            json!({
                "group_id": id.to_string(),
                "name": group.name,
                "permissions_changed": permissions_changed,
            }),
        );
        let journal = if group.name == previous_name {
            journal
        } else {
            journal.event(
                event::GROUP_RENAMED,
                group_subject(id),
                json!({ "group_id": id.to_string(), "name": group.name, "previous_name": previous_name }),
            )
        };
        Ok((group, journal))
    }

    /// Deletes a group and its memberships (administrators only).
    pub async fn delete_group(&self, by: impl Into<Authority<'_>>, id: GroupId) -> Result<()> {
        let by = by.into().require_admin()?;
        let group = self.store.get_group(id).await.map_err(not_found("group"))?;
        let mut journal = self.journal(by).audit(
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
        let journal = journal.event(
            event::GROUP_DELETED,
            group_subject(id),
            json!({ "group_id": id.to_string(), "name": group.name }),
        );
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
        check_member_count(users)?;
        self.store.get_group(id).await.map_err(not_found("group"))?;
        let before = self.store.list_group_members(id).await?;
        let added = users
            .iter()
            .filter(|u| !before.contains(u))
            .copied()
            .collect::<BTreeSet<_>>();
        let journal = membership_rows(self.journal(Some(actor.user.id)), id, &added, true).build();
        self.store
            .add_group_members(id, users, self.clock.now(), &journal)
            .await
            .map_err(not_found("user"))?;
        self.touch_group(id).await?;
        Ok(self.store.list_group_members(id).await?)
    }

    /// Puts a newly registered account in the deployment's default group (a sign-up policy,
    /// see [`super::SignupPolicy`]), journaled as the system's change. A failure (the group
    /// is gone) is logged and leaves the account as it is, as Open WebUI does.
    pub(super) async fn join_default_group(&self, user: UserId, group: GroupId) {
        let joined = async {
            self.store.get_group(group).await.map_err(not_found("group"))?;
            let added = BTreeSet::from([user]);
            let journal = membership_rows(self.journal(None), group, &added, true).build();
            self.store
                .add_group_members(group, &[user], self.clock.now(), &journal)
                .await
                .map_err(not_found("user"))?;
            self.touch_group(group).await
        };
        if let Err(error) = joined.await {
            tracing::warn!(%user, %group, %error, "could not add the new account to the default group");
        }
    }

    /// Removes users from a group (administrators only; non-members are ignored). Returns
    /// the members afterwards.
    pub async fn remove_group_members(&self, actor: &Actor, id: GroupId, users: &[UserId]) -> Result<Vec<UserId>> {
        actor.require_admin()?;
        check_member_count(users)?;
        self.store.get_group(id).await.map_err(not_found("group"))?;
        let before = self.store.list_group_members(id).await?;
        let removed = users
            .iter()
            .filter(|u| before.contains(u))
            .copied()
            .collect::<BTreeSet<_>>();
        let journal = membership_rows(self.journal(Some(actor.user.id)), id, &removed, false).build();
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

    /// The groups a user belongs to: one's own, or anyone's for an administrator.
    pub async fn groups_of_user(&self, actor: &Actor, user: UserId) -> Result<Vec<Group>> {
        if actor.user.id != user {
            actor.require_admin()?;
            self.store.get_user(user).await.map_err(not_found("user"))?;
        }
        Ok(self.store.list_groups_of_user(user).await?)
    }

    /// The groups of each of `users` (aligned with `users`, each by name then id), in one query:
    /// the check of [`Core::groups_of_user`] (anyone may ask for their own groups, only an
    /// administrator for others'), except that a user who does not exist is not NotFound but
    /// in no group (callers pass the ids of users they have just read).
    pub async fn groups_of_users(&self, actor: &Actor, users: &[UserId]) -> Result<Vec<Vec<Group>>> {
        if users.iter().any(|&user| user != actor.user.id) {
            actor.require_admin()?;
        }
        let mut by_user: BTreeMap<UserId, Vec<Group>> = BTreeMap::new();
        for (user, group) in self.store.list_groups_of_users(users).await? {
            by_user.entry(user).or_default().push(group);
        }
        Ok(users
            .iter()
            .map(|user| by_user.get(user).cloned().unwrap_or_default())
            .collect())
    }
}

/// The subject of a `group.*` event: the group's id (ids are unique across users and groups).
pub fn group_subject(id: GroupId) -> UserId {
    UserId(id.0)
}

fn check_member_count(users: &[UserId]) -> Result<()> {
    if users.len() > MAX_MEMBERS_PER_CHANGE {
        return Err(Error::invalid(
            "user_ids",
            format!("must name at most {MAX_MEMBERS_PER_CHANGE} users"),
        ));
    }
    Ok(())
}

/// Adds `group.member_added` (or `_removed`) and its audit entry for each user.
fn membership_rows<'a>(
    mut journal: JournalBuilder<'a>,
    id: GroupId,
    users: &BTreeSet<UserId>,
    added: bool,
) -> JournalBuilder<'a> {
    let (kind, action) = if added {
        (event::GROUP_MEMBER_ADDED, audit::GROUP_MEMBER_ADD)
    } else {
        (event::GROUP_MEMBER_REMOVED, audit::GROUP_MEMBER_REMOVE)
    };
    for user in users {
        let payload = json!({ "group_id": id.to_string() });
        journal = journal
            .event(kind, *user, payload.clone())
            .audit(action, Some(*user), payload);
    }
    journal
}

/// A group with its members' ids; None where the caller may not see them (not an
/// administrator).
#[derive(Debug, Clone, PartialEq)]
pub struct GroupWithMembers {
    pub group: Group,
    pub members: Option<Vec<UserId>>,
}

/// Groups read and written with their members at once.
impl Core {
    /// [`Core::list_groups`], each group with its members for an administrator (one query
    /// for all the members).
    pub async fn list_groups_with_members(&self, by: impl Into<Authority<'_>>) -> Result<Vec<GroupWithMembers>> {
        let groups = match by.into() {
            Authority::Actor(actor) if actor.user.role != Role::Admin => {
                return Ok(self
                    .list_groups(actor)
                    .await?
                    .into_iter()
                    .map(|group| GroupWithMembers { group, members: None })
                    .collect());
            }
            _ => self.store.list_groups().await?,
        };
        let ids: Vec<GroupId> = groups.iter().map(|g| g.id).collect();
        let mut members: BTreeMap<GroupId, Vec<UserId>> = BTreeMap::new();
        for (group, user) in self.store.list_members_of_groups(&ids).await? {
            members.entry(group).or_default().push(user);
        }
        Ok(groups
            .into_iter()
            .map(|group| GroupWithMembers {
                members: Some(members.remove(&group.id).unwrap_or_default()),
                group,
            })
            .collect())
    }

    /// [`Core::get_group`], with its members for an administrator.
    pub async fn get_group_with_members(&self, actor: &Actor, id: GroupId) -> Result<GroupWithMembers> {
        let group = self.get_group(actor, id).await?;
        self.with_members(actor.user.role == Role::Admin, group).await
    }

    /// `group` with its members if `admin` (the caller may see them).
    async fn with_members(&self, admin: bool, group: Group) -> Result<GroupWithMembers> {
        let members = if admin {
            Some(self.store.list_group_members(group.id).await?)
        } else {
            None
        };
        Ok(GroupWithMembers { group, members })
    }

    /// Creates a group (administrators only) with `members`, in one transaction with its
    /// journal (the creation, then each member added, as [`Core::create_group`] and
    /// [`Core::add_group_members`] journal them).
    pub async fn create_group_with_members(
        &self,
        by: impl Into<Authority<'_>>,
        input: NewGroup,
        members: &[UserId],
    ) -> Result<GroupWithMembers> {
        self.create_group_with_members_and(by, input, members, None).await
    }

    /// As [`Core::create_group_with_members`], `extra` adding to the change's journal (given
    /// the new group's id) what must be written in the same transaction.
    pub(crate) async fn create_group_with_members_and(
        &self,
        by: impl Into<Authority<'_>>,
        input: NewGroup,
        members: &[UserId],
        extra: Option<JournalExtra<'_>>,
    ) -> Result<GroupWithMembers> {
        let by = by.into().require_admin()?;
        check_member_count(members)?;
        let (group, journal) = self.new_group(by, input)?;
        let added: BTreeSet<UserId> = members.iter().copied().collect();
        let mut journal = membership_rows(journal, group.id, &added, true);
        if let Some(extra) = extra {
            journal = extra(journal, group.id.0);
        }
        let journal = journal.build();
        self.store
            .write_group_with_members(&group, true, members, &[], &journal)
            .await
            .map_err(not_found("user"))?;
        tracing::info!(group = %group.id, "group created");
        self.with_members(true, group).await
    }

    /// Changes a group (administrators only) and makes `members` its members (None: leaves
    /// them), in one transaction with its journal (the change, then each member added, then
    /// each removed, as [`Core::update_group`], [`Core::add_group_members`] and
    /// [`Core::remove_group_members`] journal them).
    pub async fn update_group_with_members(
        &self,
        by: impl Into<Authority<'_>>,
        id: GroupId,
        changes: GroupChanges,
        members: Option<&[UserId]>,
    ) -> Result<GroupWithMembers> {
        let by = by.into();
        let Some(members) = members else {
            let group = self.update_group(by, id, changes).await?;
            return self.with_members(true, group).await;
        };
        self.update_group_with_members_and(by, id, changes, members, None).await
    }

    /// As [`Core::update_group_with_members`] with `members`, `extra` adding to the change's
    /// journal what must be written in the same transaction.
    pub(crate) async fn update_group_with_members_and(
        &self,
        by: Authority<'_>,
        id: GroupId,
        changes: GroupChanges,
        members: &[UserId],
        extra: Option<JournalExtra<'_>>,
    ) -> Result<GroupWithMembers> {
        let by = by.require_admin()?;
        check_member_count(members)?;
        let (group, journal) = self.changed_group(by, id, changes).await?;
        let before = self.store.list_group_members(id).await?;
        let added: BTreeSet<UserId> = members.iter().filter(|u| !before.contains(u)).copied().collect();
        let gone: BTreeSet<UserId> = before.iter().filter(|u| !members.contains(u)).copied().collect();
        let removed: Vec<UserId> = gone.iter().copied().collect();
        check_member_count(&removed)?;
        let journal = membership_rows(journal, id, &added, true);
        let mut journal = membership_rows(journal, id, &gone, false);
        if let Some(extra) = extra {
            journal = extra(journal, id.0);
        }
        let journal = journal.build();
        self.store
            .write_group_with_members(&group, false, members, &removed, &journal)
            .await
            .map_err(not_found("user"))?;
        self.with_members(true, group).await
    }
}
