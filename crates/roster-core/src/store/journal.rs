//! The audit trail and the outbox: written with each change (see [`crate::journal::Journal`]), read here.

use super::StoreResult;
use crate::journal::{AuditEntry, AuditQuery, Journal, OutboxEvent};
use async_trait::async_trait;

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
}
