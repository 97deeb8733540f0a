//! SCIM push targets and their delivery log (migration 0036): what a database must offer for
//! Roster's SCIM client (`service::scim_push`). A delivery is the webhooks' [`Delivery`] (its
//! `subscription_id` is the target's id), claimed, recorded and replayed as they are.

use crate::id::{GroupId, UserId};
use crate::journal::{Journal, OutboxEvent};
use crate::store::StoreResult;
use crate::webhooks::{AttemptRecord, Delivery, DeliveryQuery};
use async_trait::async_trait;
use time::OffsetDateTime;

/// A SCIM service provider Roster provisions users (and groups) into.
#[derive(Debug, Clone, PartialEq)]
pub struct ScimTarget {
    pub id: i64,
    /// The operator's name for it (unique).
    pub name: String,
    /// The SCIM base URL (`.../scim/v2`), without a trailing slash.
    pub url: String,
    /// The bearer token, sealed (see [`crate::secret::SecretBox`]).
    pub token: String,
    /// Whether groups and memberships are pushed too.
    pub push_groups: bool,
    /// Whether a user deleted in Roster is deactivated on the target instead of deleted.
    pub deactivate_on_delete: bool,
    pub created_by: Option<UserId>,
    pub created_at: OffsetDateTime,
    /// The outbox position when it was added; later events are pushed.
    pub start_seq: i64,
    /// The outbox position up to which events were queued.
    pub fanned_out_seq: i64,
}

/// A SCIM delivery claimed for sending, with its event and target.
#[derive(Debug, Clone)]
pub struct ClaimedScimDelivery {
    pub delivery: Delivery,
    pub event: OutboxEvent,
    pub target: ScimTarget,
}

/// What a database must offer for SCIM push (a part of [`crate::Store`]).
#[async_trait]
pub trait ScimPushStore: Send + Sync {
    /// Stores a target (its positions become the outbox's last, read in the same transaction)
    /// and writes `journal`; Conflict { field: "name" } if the name is taken.
    async fn insert_scim_target(&self, target: &ScimTarget, journal: &Journal) -> StoreResult<ScimTarget>;
    /// All targets, by name.
    async fn list_scim_targets(&self) -> StoreResult<Vec<ScimTarget>>;
    async fn get_scim_target(&self, name: &str) -> StoreResult<ScimTarget>;
    /// Deletes a target and its delivery log, and writes `journal`; NotFound if absent.
    async fn delete_scim_target(&self, id: i64, journal: &Journal) -> StoreResult<()>;
    /// Writes a target's url, sealed token and flags (NotFound when it is gone), with the
    /// change's journal; its delivery log and outbox position stay.
    async fn update_scim_target(&self, target: &ScimTarget, journal: &Journal) -> StoreResult<()>;
    /// Queues, for every target, the outbox events after its `fanned_out_seq` whose type is
    /// in `user_events` (or, for targets that push groups, in `group_events`) as pending
    /// deliveries due at `now`; advances `fanned_out_seq`. Returns how many were queued.
    async fn fan_out_scim(&self, now: OffsetDateTime, user_events: &[&str], group_events: &[&str]) -> StoreResult<u64>;
    /// As [`crate::webhooks::WebhookStore::claim_deliveries`], in order per (target, subject)
    /// and per (target, group): a delivery about a group's membership waits for the earlier
    /// pending deliveries of its user and of its group.
    async fn claim_scim_deliveries(
        &self,
        owner: &str,
        now: OffsetDateTime,
        lease_until: OffsetDateTime,
        limit: u32,
    ) -> StoreResult<Vec<ClaimedScimDelivery>>;
    /// Records an attempt of a delivery claimed by `owner` and ends the claim; false, writing
    /// nothing, if the claim is no longer `owner`'s.
    async fn record_scim_attempt(&self, id: i64, owner: &str, attempt: &AttemptRecord) -> StoreResult<bool>;
    /// The delivery log, newest first (`subscription_id` of the query: the target).
    async fn list_scim_deliveries(&self, query: &DeliveryQuery) -> StoreResult<Vec<Delivery>>;
    /// Makes a delivery of `target` pending again, due at `now`, with no attempts and no
    /// claim; NotFound if it is not `target`'s, Stale while it is being sent.
    async fn replay_scim_delivery(&self, target: i64, id: i64, now: OffsetDateTime) -> StoreResult<Delivery>;
    /// The target's id of `group`, remembered when it was pushed there (None: not yet).
    async fn get_scim_target_group(&self, target: i64, group: GroupId) -> StoreResult<Option<String>>;
    /// Remembers `remote_id` as the target's id of `group` while delivery `delivery` is still
    /// claimed by `owner` (the push that created or found it); false, writing nothing, if the
    /// claim is no longer `owner`'s.
    async fn put_scim_target_group(
        &self,
        target: i64,
        group: GroupId,
        remote_id: &str,
        delivery: i64,
        owner: &str,
    ) -> StoreResult<bool>;
    /// Forgets the target's id of `group` (deleted there, or gone behind Roster's back).
    async fn forget_scim_target_group(&self, target: i64, group: GroupId) -> StoreResult<()>;
}
