//! Groups, their members, and permission templates.

use super::StoreResult;
use crate::id::{GroupId, UserId};
use crate::journal::Journal;
use async_trait::async_trait;
use time::OffsetDateTime;

/// A group of users, granting its members permissions.
#[derive(Debug, Clone, PartialEq)]
pub struct Group {
    pub id: GroupId,
    pub name: String,
    pub description: String,
    /// A JSON object of permissions (nested objects of booleans, by convention).
    pub permissions: serde_json::Value,
    /// The administrator who created it.
    pub created_by: Option<UserId>,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
}

/// What a database must offer for groups, their members, and permission templates (a part of
/// [`crate::store::Store`]).
#[async_trait]
pub trait GroupStore: Send + Sync {
    /// Inserts a group.
    async fn insert_group(&self, group: &Group, journal: &Journal) -> StoreResult<()>;
    /// Reads a group.
    async fn get_group(&self, id: GroupId) -> StoreResult<Group>;
    /// All groups, by name then id.
    async fn list_groups(&self) -> StoreResult<Vec<Group>>;
    /// Writes a group's name, description, permissions and `updated_at`; NotFound if absent.
    async fn update_group(&self, group: &Group, journal: &Journal) -> StoreResult<()>;
    /// Deletes a group and its memberships; NotFound if absent.
    async fn delete_group(&self, id: GroupId, journal: &Journal) -> StoreResult<()>;
    /// Adds users to a group (members already in it are left alone), in one transaction.
    /// NotFound, writing nothing, if the group or any user does not exist.
    async fn add_group_members(
        &self,
        group: GroupId,
        users: &[UserId],
        at: OffsetDateTime,
        journal: &Journal,
    ) -> StoreResult<()>;
    /// Removes users from a group (non-members are ignored); returns how many were removed.
    async fn remove_group_members(&self, group: GroupId, users: &[UserId], journal: &Journal) -> StoreResult<u64>;
    /// The ids of a group's members, in id order.
    async fn list_group_members(&self, group: GroupId) -> StoreResult<Vec<UserId>>;
    /// The groups a user belongs to, by name then id.
    async fn list_groups_of_user(&self, user: UserId) -> StoreResult<Vec<Group>>;
    /// The groups each of `users` belongs to, as `(user, group)` pairs in user id order, then
    /// each user's groups by name then id (users in no group, or that do not exist, have no
    /// pairs; a user named twice is listed once).
    async fn list_groups_of_users(&self, users: &[UserId]) -> StoreResult<Vec<(UserId, Group)>>;
    /// The members of each of `groups`, as `(group, user)` pairs in group then user id order
    /// (groups without members, or that do not exist, have no pairs).
    async fn list_members_of_groups(&self, groups: &[GroupId]) -> StoreResult<Vec<(GroupId, UserId)>>;
    /// Writes a group (inserted when `create`; else updated as [`GroupStore::update_group`])
    /// and a change of its members (`add` as [`GroupStore::add_group_members`], at
    /// `group.updated_at`; `remove` as [`GroupStore::remove_group_members`]) with `journal`, in
    /// one transaction. NotFound, writing nothing, if the group (when updated) or any added
    /// user does not exist.
    async fn write_group_with_members(
        &self,
        group: &Group,
        create: bool,
        add: &[UserId],
        remove: &[UserId],
        journal: &Journal,
    ) -> StoreResult<()>;
    /// A permission template by name; None if it was never stored.
    async fn get_permission_template(&self, name: &str) -> StoreResult<Option<serde_json::Value>>;
    /// Stores (inserts or replaces) a permission template.
    async fn put_permission_template(
        &self,
        name: &str,
        permissions: &serde_json::Value,
        at: OffsetDateTime,
        journal: &Journal,
    ) -> StoreResult<()>;
}
