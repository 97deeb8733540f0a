//! The SCIM push tables (migration 0036): SQL text and row codecs, for both backends. The
//! store methods are in `capability/scim_push.rs`; the delivery log shares its statements with
//! the webhooks' (`webhooks::DeliveryLog`).

use crate::webhooks::{CLAIMED_EVENT_COLUMNS, ClaimedEventRow, DeliveryRow, SCIM_LOG};
use roster_core::UserId;
use roster_core::store::{ClaimedScimDelivery, ScimTarget, StoreResult};

pub(crate) const TARGET_COLUMNS: &str = "t.id AS t_id, t.name AS t_name, t.url AS t_url, t.token AS t_token, \
     t.push_groups AS t_push_groups, t.deactivate_on_delete AS t_deactivate_on_delete, \
     t.created_by AS t_created_by, t.created_at AS t_created_at, t.start_seq AS t_start_seq, \
     t.fanned_out_seq AS t_fanned_out_seq";
pub(crate) const INSERT_TARGET: &str = "INSERT INTO scim_targets (id, name, url, token, push_groups, \
     deactivate_on_delete, created_by, created_at, start_seq, fanned_out_seq) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9)";
pub(crate) const DELETE_DELIVERIES_OF_TARGET: &str = "DELETE FROM scim_deliveries WHERE target_id = $1";
pub(crate) const DELETE_TARGET: &str = "DELETE FROM scim_targets WHERE id = $1";
pub(crate) const UPDATE_TARGET: &str =
    "UPDATE scim_targets SET url = $2, token = $3, push_groups = $4, deactivate_on_delete = $5 WHERE id = $1";
/// The target's id of a group pushed there (`$1` target, `$2` group).
pub(crate) const GET_TARGET_GROUP: &str =
    "SELECT remote_id FROM scim_target_groups WHERE target_id = $1 AND group_id = $2";
/// Remembers `$3`, the target's id of group `$2` on target `$1`, while delivery `$4` is still
/// claimed by `$5` (the claim under which the group was created or found).
pub(crate) const PUT_TARGET_GROUP: &str = "INSERT INTO scim_target_groups (target_id, group_id, remote_id) \
     SELECT $1, $2, $3 WHERE EXISTS (SELECT 1 FROM scim_deliveries WHERE id = $4 AND claimed_by = $5) \
     ON CONFLICT (target_id, group_id) DO UPDATE SET remote_id = excluded.remote_id";
pub(crate) const DELETE_TARGET_GROUP: &str = "DELETE FROM scim_target_groups WHERE target_id = $1 AND group_id = $2";
pub(crate) const DELETE_GROUPS_OF_TARGET: &str = "DELETE FROM scim_target_groups WHERE target_id = $1";
pub(crate) const ADVANCE_TARGETS: &str = "UPDATE scim_targets SET fanned_out_seq = $1 WHERE fanned_out_seq < $1";

/// Queues the events after each target's position up to `$2` (the last sequenced one) whose
/// type is in `user_events`, or in `group_events` for targets that push groups, due at `$1`,
/// each in the lane of its group when its payload names one (`group_id`, migration 0044).
/// The lists are the core's constants (never user input), spelled out as SQL literals.
pub(crate) fn fan_out(user_events: &[&str], group_events: &[&str]) -> String {
    let list = |types: &[&str]| {
        let quoted: Vec<String> = types.iter().map(|t| format!("'{}'", t.replace('\'', "''"))).collect();
        if quoted.is_empty() {
            "NULL".to_string()
        } else {
            quoted.join(", ")
        }
    };
    format!(
        "INSERT INTO scim_deliveries (target_id, event_seq, event_id, event_type, subject_id, group_id, status, \
         attempts, next_attempt_at, created_at) SELECT t.id, o.seq, o.id, o.event_type, o.subject_id, \
         CAST(o.payload ->> 'group_id' AS BIGINT), 'pending', 0, $1, $1 \
         FROM scim_targets t JOIN outbox o ON o.seq > t.fanned_out_seq AND o.seq <= $2 \
         WHERE o.event_type IN ({}) OR (t.push_groups = TRUE AND o.event_type IN ({})) \
         ON CONFLICT (target_id, event_seq) DO NOTHING",
        list(user_events),
        list(group_events)
    )
}

/// Reads claimed SCIM deliveries with their events and targets (followed by the ids).
pub(crate) fn claimed_head() -> String {
    format!(
        "SELECT {}, {CLAIMED_EVENT_COLUMNS}, {TARGET_COLUMNS} FROM scim_deliveries d \
         JOIN outbox o ON o.seq = d.event_seq JOIN scim_targets t ON t.id = d.target_id WHERE d.id IN ",
        SCIM_LOG.columns()
    )
}

/// A `scim_targets` row (see [`TARGET_COLUMNS`]).
#[derive(sqlx::FromRow)]
pub(crate) struct TargetRow {
    t_id: i64,
    t_name: String,
    t_url: String,
    t_token: String,
    t_push_groups: bool,
    t_deactivate_on_delete: bool,
    t_created_by: Option<i64>,
    t_created_at: i64,
    t_start_seq: i64,
    t_fanned_out_seq: i64,
}

impl TargetRow {
    pub(crate) fn into_target(self) -> StoreResult<ScimTarget> {
        Ok(ScimTarget {
            id: self.t_id,
            name: self.t_name,
            url: self.t_url,
            token: self.t_token,
            push_groups: self.t_push_groups,
            deactivate_on_delete: self.t_deactivate_on_delete,
            created_by: self.t_created_by.map(UserId),
            created_at: crate::codec::from_ms(self.t_created_at)?,
            start_seq: self.t_start_seq,
            fanned_out_seq: self.t_fanned_out_seq,
        })
    }
}

/// A claimed SCIM delivery joined with its event and target.
#[derive(sqlx::FromRow)]
pub(crate) struct ClaimedScimRow {
    #[sqlx(flatten)]
    delivery: DeliveryRow,
    #[sqlx(flatten)]
    event: ClaimedEventRow,
    #[sqlx(flatten)]
    target: TargetRow,
}

impl ClaimedScimRow {
    pub(crate) fn into_claimed(self) -> StoreResult<ClaimedScimDelivery> {
        Ok(ClaimedScimDelivery {
            delivery: self.delivery.into_delivery()?,
            event: self.event.into_event()?,
            target: self.target.into_target()?,
        })
    }
}
