//! The audit trail and the outbox: SQL text and row codecs (the outbox's, for its readers
//! too: the event stream and the webhooks). Written by every mutating store method through
//! `write_journal` (see `capability/common.rs`), in the change's own transaction.

use roster_core::UserId;
use roster_core::journal::{AuditEntry, OutboxEvent};
use roster_core::store::StoreResult;
use sqlx::types::Json;

/// The transaction-level advisory lock PostgreSQL's outbox sequencer takes (see migration
/// 0013 and `PgStore::sequence_outbox`).
pub(crate) const OUTBOX_LOCK: i64 = 7_420_001;

/// Numbers the committed outbox rows without a `seq` (PostgreSQL) after the highest number
/// given so far, in the order they were written (`written_at`, then `id`; see migration 0013).
/// Run under [`OUTBOX_LOCK`].
pub(crate) const SEQUENCE_OUTBOX: &str = "UPDATE outbox SET seq = base.max_seq + pending.n \
     FROM (SELECT id, ROW_NUMBER() OVER (ORDER BY written_at, id) AS n FROM outbox WHERE seq IS NULL) AS pending, \
     (SELECT COALESCE(MAX(seq), 0) AS max_seq FROM outbox) AS base \
     WHERE outbox.id = pending.id";

/// Rows per multi-row insert (7 parameters each: well under both backends' limits).
pub(crate) const JOURNAL_ROWS_PER_STATEMENT: usize = 500;

pub(crate) const INSERT_AUDIT_HEAD: &str = "INSERT INTO audit_log (id, at, actor_id, action, target_id, ip, details) ";
pub(crate) const INSERT_OUTBOX_HEAD: &str =
    "INSERT INTO outbox (id, event_type, subject_id, actor_id, occurred_at, payload) ";

pub(crate) const AUDIT_COLUMNS: &str = "SELECT id, at, actor_id, action, target_id, ip, details FROM audit_log";

/// Events after `$1`, in `seq` order, at most `$2`.
pub(crate) const LIST_OUTBOX: &str = "SELECT seq, id, event_type, subject_id, actor_id, occurred_at, payload \
     FROM outbox WHERE seq > $1 ORDER BY seq LIMIT $2";
pub(crate) const GET_OUTBOX_EVENT: &str =
    "SELECT seq, id, event_type, subject_id, actor_id, occurred_at, payload FROM outbox WHERE seq = $1";
pub(crate) const LIST_OUTBOX_EVENTS_OF_TYPE: &str = "SELECT seq, id, event_type, subject_id, actor_id, occurred_at, \
     payload FROM outbox WHERE event_type = $1 AND seq < $2 ORDER BY seq DESC LIMIT $3";
/// The head of a multi-row insert of hourly activity counts (metric, hour since the epoch,
/// how many more); [`ADD_ACTIVITY_ON_CONFLICT`] follows the values.
pub(crate) const INSERT_ACTIVITY_HEAD: &str = "INSERT INTO activity_counts (metric, hour, n) ";
pub(crate) const ADD_ACTIVITY_ON_CONFLICT: &str =
    " ON CONFLICT (metric, hour) DO UPDATE SET n = activity_counts.n + excluded.n";

/// The activity counts a change's audit entries raise, one per (metric, hour since the
/// epoch) with how many more, in the order first raised: one multi-row upsert may name a row
/// only once.
pub(crate) fn activity_counts(audit: &[AuditEntry]) -> Vec<(&'static str, i64, i64)> {
    let mut counts: Vec<(&'static str, i64, i64)> = Vec::new();
    for entry in audit {
        let hour = crate::codec::to_ms(entry.at).div_euclid(3_600_000);
        for metric in roster_core::journal::activity_metrics(entry) {
            match counts.iter_mut().find(|(m, h, _)| *m == metric && *h == hour) {
                Some((_, _, n)) => *n += 1,
                None => counts.push((metric, hour, 1)),
            }
        }
    }
    counts
}
/// `$1` first hour.
pub(crate) const LIST_ACTIVITY: &str = "SELECT metric, hour, n FROM activity_counts WHERE hour >= $1";
pub(crate) const SUBSCRIPTION_POSITIONS: &str = "SELECT id, url, fanned_out_seq FROM webhook_subscriptions ORDER BY id";
/// `$1` after seq, `$2` cap: the events after a position, counted up to the cap.
pub(crate) const COUNT_OUTBOX_AFTER: &str =
    "SELECT COUNT(*) FROM (SELECT 1 FROM outbox WHERE seq > $1 ORDER BY seq LIMIT $2) AS backlog";
/// `$1` cap: the events not numbered yet (PostgreSQL's sequencer; none on SQLite).
pub(crate) const COUNT_OUTBOX_UNSEQUENCED: &str =
    "SELECT COUNT(*) FROM (SELECT 1 FROM outbox WHERE seq IS NULL LIMIT $1) AS unsequenced";
/// `$1` after seq: when the first event after a position occurred.
pub(crate) const FIRST_OUTBOX_AFTER: &str = "SELECT occurred_at FROM outbox WHERE seq > $1 ORDER BY seq LIMIT 1";
pub(crate) const OLDEST_OUTBOX_UNSEQUENCED: &str = "SELECT MIN(occurred_at) FROM outbox WHERE seq IS NULL";
/// `$1` subscription, `$2` cap: its pending deliveries counted up to the cap.
pub(crate) const COUNT_PENDING_DELIVERIES: &str = "SELECT COUNT(*) FROM (SELECT 1 FROM webhook_deliveries \
     WHERE subscription_id = $1 AND status = 'pending' LIMIT $2) AS pending";
/// `$1` subscription: when its oldest pending delivery was made.
pub(crate) const OLDEST_PENDING_DELIVERY: &str =
    "SELECT MIN(created_at) FROM webhook_deliveries WHERE subscription_id = $1 AND status = 'pending'";
pub(crate) const LAST_OUTBOX_SEQ: &str = "SELECT COALESCE(MAX(seq), 0) FROM outbox";

/// One row of `audit_log`.
#[derive(sqlx::FromRow)]
pub(crate) struct AuditRow {
    id: i64,
    at: i64,
    actor_id: Option<i64>,
    action: String,
    target_id: Option<i64>,
    ip: Option<String>,
    details: Json<serde_json::Value>,
}

impl AuditRow {
    pub(crate) fn into_entry(self) -> StoreResult<AuditEntry> {
        Ok(AuditEntry {
            id: self.id,
            at: crate::codec::from_ms(self.at)?,
            actor_id: self.actor_id.map(UserId),
            action: self.action,
            target_id: self.target_id.map(UserId),
            ip: self.ip,
            details: self.details.0,
        })
    }
}

/// One row of `outbox`.
#[derive(sqlx::FromRow)]
pub(crate) struct OutboxRow {
    pub(crate) seq: i64,
    pub(crate) id: i64,
    pub(crate) event_type: String,
    pub(crate) subject_id: i64,
    pub(crate) actor_id: Option<i64>,
    pub(crate) occurred_at: i64,
    pub(crate) payload: Json<serde_json::Value>,
}

impl OutboxRow {
    pub(crate) fn into_event(self) -> StoreResult<OutboxEvent> {
        Ok(OutboxEvent {
            seq: self.seq,
            id: self.id,
            event_type: self.event_type,
            subject_id: UserId(self.subject_id),
            actor_id: self.actor_id.map(UserId),
            occurred_at: crate::codec::from_ms(self.occurred_at)?,
            payload: self.payload.0,
        })
    }
}
