//! What a SCIM directory sent for a user or a group beyond Roster's own fields (migration 0035).

use super::StoreResult;
use crate::journal::Journal;
use async_trait::async_trait;
use time::OffsetDateTime;

/// Which kind of resource a SCIM record belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScimKind {
    /// A user (`scim_users`, by user id).
    User,
    /// A group (`scim_groups`, by group id).
    Group,
}

/// A SCIM directory's record of one user or group.
#[derive(Debug, Clone, PartialEq)]
pub struct ScimRecord {
    /// The user's or group's id.
    pub local_id: i64,
    /// The directory's id for it (`externalId`).
    pub external_id: Option<String>,
    /// The other attributes it sent, a JSON object.
    pub attributes: serde_json::Value,
    /// When it was last written (set by [`ScimRecordStore::put_scim_record`] from its `at`).
    pub updated_at: OffsetDateTime,
}

/// What a database must offer for SCIM records (a part of [`crate::store::Store`]).
#[async_trait]
pub trait ScimRecordStore: Send + Sync {
    /// The records of these users or groups (those that have one), in id order.
    async fn get_scim_records(&self, kind: ScimKind, ids: &[i64]) -> StoreResult<Vec<ScimRecord>>;
    /// The ids of the users or groups whose `externalId` is exactly `external_id`, in id order.
    async fn find_scim_external_id(&self, kind: ScimKind, external_id: &str) -> StoreResult<Vec<i64>>;
    /// Writes (inserts or replaces) a record with `journal`, in one transaction; NotFound,
    /// writing nothing, when its user or group does not exist.
    async fn put_scim_record(
        &self,
        kind: ScimKind,
        record: &ScimRecord,
        at: OffsetDateTime,
        journal: &Journal,
    ) -> StoreResult<()>;
}
