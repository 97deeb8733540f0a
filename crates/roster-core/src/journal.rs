//! What a change leaves behind besides itself: an audit entry (who did what to whom, when,
//! from where) and events for the rest of the platform (the outbox). The store writes a
//! change's [`Journal`] in the same transaction as the change (tables `audit_log` and
//! `outbox`, migration 0009), so nothing is recorded for a change that rolled back and
//! nothing is missing for one that committed.

use crate::id::UserId;
use time::OffsetDateTime;

/// One line of the audit trail.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditEntry {
    /// A snowflake: entries order by it.
    pub id: i64,
    pub at: OffsetDateTime,
    /// Who acted; None for the system or an anonymous client (a failed login).
    pub actor_id: Option<UserId>,
    /// What happened, dotted: `user.update`, `login.failure`, `api_key.create`, ...
    pub action: String,
    /// Whom it concerned.
    pub target_id: Option<UserId>,
    /// The client's address, when the change came over HTTP.
    pub ip: Option<String>,
    /// A small JSON object of what changed; never a secret.
    pub details: serde_json::Value,
}

/// One event of the outbox.
#[derive(Debug, Clone, PartialEq)]
pub struct OutboxEvent {
    /// Commit order, assigned by the store (0 before it is written).
    pub seq: i64,
    /// A snowflake, unique; receivers deduplicate by it.
    pub id: i64,
    /// `user.created`, `user.updated`, `user.deleted`, `user.banned`, ...
    pub event_type: String,
    /// The user the event is about.
    pub subject_id: UserId,
    pub actor_id: Option<UserId>,
    pub occurred_at: OffsetDateTime,
    /// A minimal JSON object without secrets.
    pub payload: serde_json::Value,
}

/// The records of one change, written with it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Journal {
    pub audit: Vec<AuditEntry>,
    pub events: Vec<OutboxEvent>,
}

impl Journal {
    /// Whether there is nothing to write.
    pub fn is_empty(&self) -> bool {
        self.audit.is_empty() && self.events.is_empty()
    }
}
