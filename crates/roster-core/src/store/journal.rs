//! The audit trail and the outbox: written with each change (see [`crate::journal::Journal`]), read here.

use super::StoreResult;
use crate::journal::{AuditEntry, AuditQuery, Journal, OutboxEvent};
use async_trait::async_trait;
use time::OffsetDateTime;

/// The outbox's backlog behind its slowest reader (the webhook subscription furthest behind).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxLag {
    /// Events not yet copied to that subscription's deliveries (at most the cap asked for).
    pub backlog: i64,
    /// When the oldest of them occurred.
    pub oldest_at: Option<OffsetDateTime>,
}

/// How far one webhook subscription is behind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubscriptionLag {
    pub subscription_id: i64,
    pub url: String,
    /// Outbox events not yet copied to its deliveries (at most the cap asked for).
    pub unfanned: i64,
    /// Deliveries waiting to be sent (at most the cap asked for).
    pub pending: i64,
    /// When the oldest pending delivery was made.
    pub oldest_pending_at: Option<OffsetDateTime>,
}

/// What the admin dashboard shows of the platform's activity, read by indexes only.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ActivityReport {
    /// `(metric, hour since the epoch, count)` from the hourly counters (see
    /// [`crate::journal::activity_metrics`]), hours without a count left out.
    pub counts: Vec<(String, i64, i64)>,
    /// None without a subscription (nothing reads the outbox).
    pub outbox: Option<OutboxLag>,
    pub subscriptions: Vec<SubscriptionLag>,
}

/// What a database must offer for the audit trail and the outbox: written with each change (see
/// [`crate::journal::Journal`]), read here (a part of [`crate::store::Store`]).
#[async_trait]
pub trait JournalStore: Send + Sync {
    /// Writes a journal on its own, for an event that changes nothing else (a failed login).
    async fn append_journal(&self, journal: &Journal) -> StoreResult<()>;
    /// A page of the audit trail, newest first.
    async fn list_audit(&self, query: &AuditQuery) -> StoreResult<Vec<AuditEntry>>;
    /// Outbox events with `seq` above `after_seq`, in commit order, at most `limit`.
    async fn list_outbox(&self, after_seq: i64, limit: u32) -> StoreResult<Vec<OutboxEvent>>;
    /// The hourly activity counters from `since_hour` (hours since the epoch) on, the outbox's
    /// backlog and every subscription's lag; each backlog counted up to `cap`.
    async fn activity_report(&self, since_hour: i64, cap: i64) -> StoreResult<ActivityReport>;
}
