//! The webhook tables (migration 0010): the SQL text and the row codecs, for both backends. The
//! store methods are in `capability/webhooks.rs`; the outbox's rows and SQL in `journal.rs`.
//! No policy: the core decides what is due and when to retry.

use roster_core::store::StoreResult;
use roster_core::webhooks::{Delivery, DeliveryStatus, Subscription};
use roster_core::{StoreError, UserId};
use sqlx::types::Json;

pub(crate) const SUBSCRIPTION_COLUMNS: &str = "id, url, event_types, secret, required_for_deletion, description, \
     created_by, created_at, start_seq, fanned_out_seq";
pub(crate) const INSERT_SUBSCRIPTION: &str = "INSERT INTO webhook_subscriptions (id, url, event_types, secret, \
     required_for_deletion, description, created_by, created_at, start_seq, fanned_out_seq) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9)";
pub(crate) const UPDATE_SUBSCRIPTION: &str = "UPDATE webhook_subscriptions SET url = $2, event_types = $3, \
     secret = $4, required_for_deletion = $5, description = $6 WHERE id = $1";
pub(crate) const DELETE_SUBSCRIPTION: &str = "DELETE FROM webhook_subscriptions WHERE id = $1";
pub(crate) const DELETE_DELIVERIES_OF_SUBSCRIPTION: &str = "DELETE FROM webhook_deliveries WHERE subscription_id = $1";
pub(crate) const ADVANCE_SUBSCRIPTION: &str = "UPDATE webhook_subscriptions SET fanned_out_seq = $2 WHERE id = $1";
pub(crate) const INSERT_DELIVERY: &str = "INSERT INTO webhook_deliveries (subscription_id, event_seq, event_id, \
     event_type, subject_id, status, attempts, next_attempt_at, created_at) \
     VALUES ($1, $2, $3, $4, $5, 'pending', 0, $6, $6) ON CONFLICT (subscription_id, event_seq) DO NOTHING";

/// A delivery log: `webhook_deliveries` (per subscription) or `scim_deliveries` (per SCIM
/// target, migration 0036). Both have the same columns but the one naming the receiver, so one
/// claim, attempt, listing and replay statement serves both.
#[derive(Debug, Clone, Copy)]
pub(crate) struct DeliveryLog {
    pub(crate) table: &'static str,
    /// The column naming the receiver (read as `subscription_id`).
    pub(crate) receiver: &'static str,
    /// The columns whose deliveries go out in order, one at a time, per receiver: each is a
    /// lane (`subject_id`: the user; the SCIM log adds `group_id`, NULL where there is none).
    pub(crate) lanes: &'static [&'static str],
}

pub(crate) const WEBHOOK_LOG: DeliveryLog = DeliveryLog {
    table: "webhook_deliveries",
    receiver: "subscription_id",
    lanes: &["subject_id"],
};
/// A SCIM push about a group's membership touches the user and the group: it waits for the
/// earlier pushes of both (migration 0044), so no two pushes of one group run at once.
pub(crate) const SCIM_LOG: DeliveryLog = DeliveryLog {
    table: "scim_deliveries",
    receiver: "target_id",
    lanes: &["subject_id", "group_id"],
};

impl DeliveryLog {
    /// The columns of a [`DeliveryRow`], from the log aliased `d`.
    pub(crate) fn columns(self) -> String {
        format!(
            "d.id, d.{} AS subscription_id, d.event_seq, d.event_id, d.event_type, d.subject_id, d.status, \
             d.attempts, d.next_attempt_at, d.last_attempt_at, d.last_status_code, d.last_error, d.delivered_at, \
             d.created_at",
            self.receiver
        )
    }

    /// Due, pending, unclaimed deliveries that are first in line in each of their lanes
    /// (receiver and user, and for SCIM receiver and group): no earlier delivery of the lane is
    /// still pending, claimed or not. Leased to `$1` until `$3` (`$2` is now, `$4` the most to
    /// claim). `lock` is PostgreSQL's `FOR UPDATE SKIP LOCKED` (empty on SQLite, whose single
    /// writer serialises claims).
    pub(crate) fn claim(self, lock: &str) -> String {
        let DeliveryLog { table, receiver, lanes } = self;
        let first_in_lanes: String = lanes
            .iter()
            .map(|lane| {
                format!(
                    " AND NOT EXISTS (SELECT 1 FROM {table} e WHERE e.{receiver} = d.{receiver} \
                     AND e.{lane} = d.{lane} AND e.status = 'pending' AND e.event_seq < d.event_seq)"
                )
            })
            .collect();
        format!(
            "UPDATE {table} SET claimed_by = $1, claimed_until = $3 WHERE id IN (\
             SELECT d.id FROM {table} d WHERE d.status = 'pending' AND d.next_attempt_at <= $2 \
             AND (d.claimed_until IS NULL OR d.claimed_until <= $2){first_in_lanes} \
             ORDER BY d.event_seq LIMIT $4{lock}) RETURNING id"
        )
    }

    /// Makes delivery `$1` pending again, due at `$2`, unless it is claimed.
    pub(crate) fn replay(self) -> String {
        format!(
            "UPDATE {} SET status = 'pending', attempts = 0, next_attempt_at = $2, claimed_by = NULL, \
             claimed_until = NULL WHERE id = $1 AND (claimed_until IS NULL OR claimed_until <= $2)",
            self.table
        )
    }

    /// Whether delivery `$1` exists.
    pub(crate) fn count(self) -> String {
        format!("SELECT COUNT(*) FROM {} WHERE id = $1", self.table)
    }
}

/// The outbox columns of a claimed delivery (a [`ClaimedEventRow`]), from the outbox aliased `o`.
pub(crate) const CLAIMED_EVENT_COLUMNS: &str = "o.seq AS o_seq, o.id AS o_id, o.event_type AS o_event_type, \
     o.subject_id AS o_subject_id, o.actor_id AS o_actor_id, o.occurred_at AS o_occurred_at, o.payload AS o_payload";

/// Reads claimed webhook deliveries with their events and subscriptions (followed by the ids).
pub(crate) fn claimed_head() -> String {
    format!(
        "SELECT {}, {CLAIMED_EVENT_COLUMNS}, s.url, s.secret FROM webhook_deliveries d \
         JOIN outbox o ON o.seq = d.event_seq JOIN webhook_subscriptions s ON s.id = d.subscription_id \
         WHERE d.id IN ",
        WEBHOOK_LOG.columns()
    )
}

/// Records an attempt on a claimed row of `table` (`webhook_deliveries`, `oidc_logouts`, which
/// share these columns): `$1` id, `$2` the claim's owner, `$3` status, `$4` attempted at, `$5`
/// status code, `$6` error, `$7` next attempt, `$8` delivered at.
pub(crate) fn record_attempt(table: &str) -> String {
    format!(
        "UPDATE {table} SET status = $3, attempts = attempts + 1, last_attempt_at = $4, last_status_code = $5, \
         last_error = $6, next_attempt_at = $7, delivered_at = COALESCE($8, delivered_at), claimed_by = NULL, \
         claimed_until = NULL WHERE id = $1 AND claimed_by = $2"
    )
}
/// `$1` the deletion event type, `$2` the most to return.
pub(crate) const LIST_PENDING_DELETIONS: &str = "SELECT o.seq, o.id, o.event_type, o.subject_id, o.actor_id, \
     o.occurred_at, o.payload FROM outbox o WHERE o.event_type = $1 AND EXISTS (\
     SELECT 1 FROM webhook_subscriptions s WHERE s.required_for_deletion = TRUE AND s.start_seq < o.seq \
     AND NOT EXISTS (SELECT 1 FROM webhook_deliveries d WHERE d.subscription_id = s.id \
     AND d.event_seq = o.seq AND d.status = 'delivered')) ORDER BY o.seq LIMIT $2";

pub(crate) const ACQUIRE_LEASE: &str = "INSERT INTO webhook_leases (name, holder, until) VALUES ($1, $2, $4) \
     ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, until = excluded.until \
     WHERE webhook_leases.holder = excluded.holder OR webhook_leases.until <= $3";
pub(crate) const RELEASE_LEASE: &str = "DELETE FROM webhook_leases WHERE name = $1 AND holder = $2";

/// A `webhook_subscriptions` row.
#[derive(sqlx::FromRow)]
pub(crate) struct SubscriptionRow {
    id: i64,
    url: String,
    event_types: Json<Vec<String>>,
    secret: String,
    required_for_deletion: bool,
    description: Option<String>,
    created_by: Option<i64>,
    created_at: i64,
    start_seq: i64,
    fanned_out_seq: i64,
}

impl SubscriptionRow {
    pub(crate) fn into_subscription(self) -> StoreResult<Subscription> {
        Ok(Subscription {
            id: self.id,
            url: self.url,
            event_types: self.event_types.0,
            secret: self.secret,
            required_for_deletion: self.required_for_deletion,
            description: self.description,
            created_by: self.created_by.map(UserId),
            created_at: crate::codec::from_ms(self.created_at)?,
            start_seq: self.start_seq,
            fanned_out_seq: self.fanned_out_seq,
        })
    }
}

/// A `webhook_deliveries` row.
#[derive(sqlx::FromRow)]
pub(crate) struct DeliveryRow {
    id: i64,
    subscription_id: i64,
    event_seq: i64,
    event_id: i64,
    event_type: String,
    subject_id: i64,
    status: String,
    attempts: i64,
    next_attempt_at: i64,
    last_attempt_at: Option<i64>,
    last_status_code: Option<i64>,
    last_error: Option<String>,
    delivered_at: Option<i64>,
    created_at: i64,
}

impl DeliveryRow {
    pub(crate) fn into_delivery(self) -> StoreResult<Delivery> {
        let status = DeliveryStatus::parse(&self.status)
            .map_err(|_| StoreError::Other(anyhow::anyhow!("unknown delivery status {:?}", self.status)))?;
        let opt = |ms: Option<i64>| ms.map(crate::codec::from_ms).transpose();
        Ok(Delivery {
            id: self.id,
            subscription_id: self.subscription_id,
            event_seq: self.event_seq,
            event_id: self.event_id,
            event_type: self.event_type,
            subject_id: UserId(self.subject_id),
            status,
            attempts: self.attempts,
            next_attempt_at: crate::codec::from_ms(self.next_attempt_at)?,
            last_attempt_at: opt(self.last_attempt_at)?,
            last_status_code: self.last_status_code,
            last_error: self.last_error,
            delivered_at: opt(self.delivered_at)?,
            created_at: crate::codec::from_ms(self.created_at)?,
        })
    }
}

/// The event of a claimed delivery (see [`CLAIMED_EVENT_COLUMNS`]).
#[derive(sqlx::FromRow)]
pub(crate) struct ClaimedEventRow {
    o_seq: i64,
    o_id: i64,
    o_event_type: String,
    o_subject_id: i64,
    o_actor_id: Option<i64>,
    o_occurred_at: i64,
    o_payload: Json<serde_json::Value>,
}

impl ClaimedEventRow {
    pub(crate) fn into_event(self) -> StoreResult<roster_core::journal::OutboxEvent> {
        crate::journal::OutboxRow {
            seq: self.o_seq,
            id: self.o_id,
            event_type: self.o_event_type,
            subject_id: self.o_subject_id,
            actor_id: self.o_actor_id,
            occurred_at: self.o_occurred_at,
            payload: self.o_payload,
        }
        .into_event()
    }
}

/// A claimed delivery joined with its event and subscription.
#[derive(sqlx::FromRow)]
pub(crate) struct ClaimedRow {
    #[sqlx(flatten)]
    delivery: DeliveryRow,
    #[sqlx(flatten)]
    event: ClaimedEventRow,
    url: String,
    secret: String,
}

impl ClaimedRow {
    pub(crate) fn into_claimed(self) -> StoreResult<roster_core::webhooks::ClaimedDelivery> {
        Ok(roster_core::webhooks::ClaimedDelivery {
            delivery: self.delivery.into_delivery()?,
            event: self.event.into_event()?,
            url: self.url,
            secret: self.secret,
        })
    }
}

/// The backlog: events after the furthest-behind subscription's position, pending deliveries,
/// and the time of the oldest event among both (by `seq`, through the primary key).
pub(crate) const OUTBOX_BACKLOG: &str = "SELECT \
     (SELECT COUNT(*) FROM outbox WHERE seq > (SELECT MIN(fanned_out_seq) FROM webhook_subscriptions)), \
     (SELECT COUNT(*) FROM webhook_deliveries WHERE status = 'pending'), \
     (SELECT MIN(occurred_at) FROM outbox WHERE seq IN ( \
         (SELECT MIN(event_seq) FROM webhook_deliveries WHERE status = 'pending'), \
         (SELECT MIN(seq) FROM outbox WHERE seq > (SELECT MIN(fanned_out_seq) FROM webhook_subscriptions))))";
