//! Webhooks: subscriptions, their delivery log, the event envelope and its signature, and
//! what a database must offer for them ([`WebhookStore`]). The rules (validation, back-off,
//! who may see what) are in `service::webhooks`; the delivery worker there sends.

use crate::id::{UserId, id_to_uuid};
use crate::journal::OutboxEvent;
use crate::store::StoreResult;
use async_trait::async_trait;
use ring::hmac;
use serde::Serialize;
use time::OffsetDateTime;

/// The event type of a user's deletion; its delivery to every `required_for_deletion`
/// subscription completes the deletion.
pub const USER_DELETED: &str = crate::journal::event::USER_DELETED;

/// The header carrying the signature: `t=<unix seconds>,v1=<hex HMAC-SHA256>`.
pub const SIGNATURE_HEADER: &str = "Roster-Signature";

/// Where events go.
#[derive(Debug, Clone, PartialEq)]
pub struct Subscription {
    pub id: i64,
    /// An `http://` or `https://` URL.
    pub url: String,
    /// The event types sent; empty: every type.
    pub event_types: Vec<String>,
    /// The HMAC key of the signatures (stored as given: no encryption at rest yet).
    pub secret: String,
    /// Whether a user's deletion is complete only once this receiver acknowledged it.
    pub required_for_deletion: bool,
    pub description: Option<String>,
    pub created_by: Option<UserId>,
    pub created_at: OffsetDateTime,
    /// The outbox position when the subscription was made; later events are delivered.
    pub start_seq: i64,
    /// The outbox position up to which events were queued as deliveries.
    pub fanned_out_seq: i64,
}

impl Subscription {
    /// Whether events of this type go to this subscription.
    pub fn wants(&self, event_type: &str) -> bool {
        self.event_types.is_empty() || self.event_types.iter().any(|t| t == event_type)
    }
}

/// Where a delivery stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryStatus {
    /// Not yet acknowledged; sent (again) when due.
    Pending,
    /// Acknowledged with a 2xx.
    Delivered,
    /// Given up after the last attempt (an administrator may replay it).
    Failed,
}

impl DeliveryStatus {
    /// The stored and shown name.
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryStatus::Pending => "pending",
            DeliveryStatus::Delivered => "delivered",
            DeliveryStatus::Failed => "failed",
        }
    }

    /// Parses the name.
    pub fn parse(s: &str) -> crate::Result<Self> {
        match s {
            "pending" => Ok(DeliveryStatus::Pending),
            "delivered" => Ok(DeliveryStatus::Delivered),
            "failed" => Ok(DeliveryStatus::Failed),
            _ => Err(crate::Error::invalid("status", "must be pending, delivered or failed")),
        }
    }
}

/// One event for one subscription, with its attempts.
#[derive(Debug, Clone, PartialEq)]
pub struct Delivery {
    pub id: i64,
    pub subscription_id: i64,
    /// The event's outbox position.
    pub event_seq: i64,
    pub event_id: i64,
    pub event_type: String,
    pub subject_id: UserId,
    pub status: DeliveryStatus,
    pub attempts: i64,
    pub next_attempt_at: OffsetDateTime,
    pub last_attempt_at: Option<OffsetDateTime>,
    pub last_status_code: Option<i64>,
    pub last_error: Option<String>,
    pub delivered_at: Option<OffsetDateTime>,
    pub created_at: OffsetDateTime,
}

/// A delivery claimed for sending, with what sending needs.
#[derive(Debug, Clone)]
pub struct ClaimedDelivery {
    pub delivery: Delivery,
    pub event: OutboxEvent,
    pub url: String,
    pub secret: String,
}

/// The outcome of one attempt, as recorded.
#[derive(Debug, Clone)]
pub struct AttemptRecord {
    pub status: DeliveryStatus,
    pub attempted_at: OffsetDateTime,
    pub status_code: Option<i64>,
    pub error: Option<String>,
    /// When to try again (pending only).
    pub next_attempt_at: OffsetDateTime,
}

/// What is still owed to webhook receivers (see [`WebhookStore::outbox_backlog`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OutboxBacklog {
    /// Outbox events after the position of the subscription furthest behind: not yet queued
    /// for it.
    pub unqueued_events: i64,
    /// Deliveries pending (queued, not delivered, not given up).
    pub pending_deliveries: i64,
    /// When the oldest event not yet queued or still pending happened (Unix milliseconds).
    pub oldest_undelivered_ms: Option<i64>,
}

/// A page request for the delivery log.
#[derive(Debug, Clone, Default)]
pub struct DeliveryQuery {
    pub subscription_id: Option<i64>,
    pub status: Option<DeliveryStatus>,
    pub subject_id: Option<UserId>,
    /// Deliveries with a larger id than this (the log is listed newest first: smaller ids).
    pub before: Option<i64>,
    pub limit: u32,
}

/// What a database must offer for webhooks (a part of [`crate::Store`]).
#[async_trait]
pub trait WebhookStore: Send + Sync {
    /// Appends events to the outbox in one transaction, assigning `seq` in commit order.
    /// For events not written with a change of the store's own (and for tests).
    async fn append_outbox_events(&self, events: &[OutboxEvent]) -> StoreResult<()>;
    /// The event at `seq`.
    async fn get_outbox_event(&self, seq: i64) -> StoreResult<OutboxEvent>;
    /// Events of one type, newest first, with `seq` below `before` (None: from the newest).
    async fn list_outbox_events_of_type(
        &self,
        event_type: &str,
        before: Option<i64>,
        limit: u32,
    ) -> StoreResult<Vec<OutboxEvent>>;

    /// Stores a subscription; its `start_seq` and `fanned_out_seq` become the outbox's last
    /// position, read in the same transaction. Returns it as stored.
    async fn insert_subscription(&self, subscription: &Subscription) -> StoreResult<Subscription>;
    async fn get_subscription(&self, id: i64) -> StoreResult<Subscription>;
    /// All subscriptions, oldest first.
    async fn list_subscriptions(&self) -> StoreResult<Vec<Subscription>>;
    /// Changes a subscription's URL, event types, secret, `required_for_deletion` and
    /// description (its positions and delivery log stay); NotFound if absent.
    async fn update_subscription(&self, subscription: &Subscription) -> StoreResult<()>;
    /// Deletes a subscription and its delivery log; NotFound if absent.
    async fn delete_subscription(&self, id: i64) -> StoreResult<()>;

    /// Queues, for every subscription (one not being queued by another instance), the events
    /// after its `fanned_out_seq` that it wants, at most `batch` events each, as pending
    /// deliveries due at `now`; advances `fanned_out_seq`. Returns how many were queued.
    async fn fan_out(&self, now: OffsetDateTime, batch: u32) -> StoreResult<u64>;
    /// Claims up to `limit` deliveries that are pending, due at `now`, not claimed by a live
    /// lease, and the earliest pending one of their (subscription, user): leased to `owner`
    /// until `lease_until`. Rows being claimed by another instance are skipped, never waited for.
    async fn claim_deliveries(
        &self,
        owner: &str,
        now: OffsetDateTime,
        lease_until: OffsetDateTime,
        limit: u32,
    ) -> StoreResult<Vec<ClaimedDelivery>>;
    /// Records an attempt of a delivery claimed by `owner` and ends the claim; false, writing
    /// nothing, if the claim is no longer `owner`'s.
    async fn record_attempt(&self, id: i64, owner: &str, attempt: &AttemptRecord) -> StoreResult<bool>;
    /// The delivery log, newest first.
    async fn list_deliveries(&self, query: &DeliveryQuery) -> StoreResult<Vec<Delivery>>;
    async fn get_delivery(&self, id: i64) -> StoreResult<Delivery>;
    /// The deliveries of one event (by outbox position), to every subscription.
    async fn list_deliveries_of_event(&self, event_seq: i64) -> StoreResult<Vec<Delivery>>;
    /// Makes a delivery pending again, due at `now`, with no attempts and no claim.
    async fn replay_delivery(&self, id: i64, now: OffsetDateTime) -> StoreResult<Delivery>;
    /// `user.deleted` events that some `required_for_deletion` subscription made before the
    /// event has not acknowledged (no delivered delivery), oldest first.
    async fn list_pending_deletions(&self, limit: u32) -> StoreResult<Vec<OutboxEvent>>;
    /// Takes or renews the named lease for `holder` until `until` if it is free, expired at
    /// `now`, or already `holder`'s; false if another holder has it. On PostgreSQL, where
    /// instances share the work row by row, always true.
    async fn acquire_lease(
        &self,
        name: &str,
        holder: &str,
        now: OffsetDateTime,
        until: OffsetDateTime,
    ) -> StoreResult<bool>;
    /// Gives a lease up if `holder` has it.
    async fn release_lease(&self, name: &str, holder: &str) -> StoreResult<()>;
    /// What is still owed to receivers (for the metrics).
    async fn outbox_backlog(&self) -> StoreResult<OutboxBacklog>;
}

/// A user id in every dialect's form.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct IdForms {
    /// Roster's (and Plexichat's) decimal string.
    pub id: String,
    /// Open WebUI's and Langflow's UUID form.
    pub uuid: String,
    /// LibreChat's 24-hex ObjectId form.
    pub object_id: String,
}

impl IdForms {
    pub fn of(id: UserId) -> Self {
        Self {
            id: id.to_string(),
            uuid: id_to_uuid(id.0),
            object_id: id.to_object_id(),
        }
    }
}

/// The JSON body of a webhook request and of each item of `GET /v1/events`.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Envelope {
    /// The event's id (decimal string); receivers deduplicate by it.
    pub id: String,
    #[serde(rename = "type")]
    pub event_type: String,
    /// RFC 3339.
    pub occurred_at: String,
    /// Who caused it; null for the system.
    pub actor: Option<IdForms>,
    /// The user it is about.
    pub subject: IdForms,
    /// The outbox payload.
    pub data: serde_json::Value,
    /// The event's position in the stream (the cursor of `GET /v1/events`).
    pub sequence: i64,
}

impl Envelope {
    pub fn of(event: &OutboxEvent) -> Self {
        Self {
            id: event.id.to_string(),
            event_type: event.event_type.clone(),
            occurred_at: crate::user::rfc3339(event.occurred_at),
            actor: event.actor_id.map(IdForms::of),
            subject: IdForms::of(event.subject_id),
            data: event.payload.clone(),
            sequence: event.seq,
        }
    }

    /// The exact bytes sent (and signed).
    pub fn to_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }
}

/// The hex HMAC-SHA256 of `timestamp + "." + body` under `secret`.
pub fn signature(secret: &str, timestamp: i64, body: &[u8]) -> String {
    let key = hmac::Key::new(hmac::HMAC_SHA256, secret.as_bytes());
    let mut context = hmac::Context::with_key(&key);
    context.update(timestamp.to_string().as_bytes());
    context.update(b".");
    context.update(body);
    hex::encode(context.sign().as_ref())
}

/// The value of the [`SIGNATURE_HEADER`]: `t=<timestamp>,v1=<signature>`.
pub fn signature_header(secret: &str, timestamp: i64, body: &[u8]) -> String {
    format!("t={timestamp},v1={}", signature(secret, timestamp, body))
}

/// Checks a [`SIGNATURE_HEADER`] value against a body, as a receiver does: the signature
/// must match (compared in constant time) and the timestamp be within `tolerance_seconds`
/// of `now_unix`.
pub fn verify_signature(secret: &str, header: &str, body: &[u8], now_unix: i64, tolerance_seconds: i64) -> bool {
    let mut timestamp = None;
    let mut signatures = Vec::new();
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", t)) => timestamp = t.parse::<i64>().ok(),
            Some(("v1", s)) => signatures.push(s.to_string()),
            _ => {}
        }
    }
    let Some(timestamp) = timestamp else { return false };
    if (now_unix - timestamp).abs() > tolerance_seconds {
        return false;
    }
    let expected = signature(secret, timestamp, body);
    signatures
        .iter()
        .any(|s| subtle::ConstantTimeEq::ct_eq(s.as_bytes(), expected.as_bytes()).into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_match_the_documented_recipe() {
        // printf '1700000000.{}' | openssl dgst -sha256 -hmac whsec_test
        let header = signature_header("whsec_test", 1_700_000_000, b"{}");
        assert_eq!(
            header,
            "t=1700000000,v1=35495024f4ef3f94e5a93e22221544c4b75e9a42300cd965ab81cb85cd994e91"
        );
        assert!(verify_signature("whsec_test", &header, b"{}", 1_700_000_100, 300));
        assert!(!verify_signature("whsec_test", &header, b"{} ", 1_700_000_100, 300));
        assert!(!verify_signature("whsec_other", &header, b"{}", 1_700_000_100, 300));
        assert!(!verify_signature("whsec_test", &header, b"{}", 1_700_001_000, 300));
        assert!(!verify_signature("whsec_test", "v1=00", b"{}", 1_700_000_000, 300));
    }

    #[test]
    fn envelopes_carry_every_id_form() {
        let event = OutboxEvent {
            seq: 7,
            id: 99,
            event_type: "user.updated".into(),
            subject_id: UserId(123_456_789),
            actor_id: None,
            occurred_at: OffsetDateTime::UNIX_EPOCH,
            payload: serde_json::json!({"fields": ["name"]}),
        };
        let value: serde_json::Value = serde_json::from_slice(&Envelope::of(&event).to_bytes()).unwrap_or_default();
        assert_eq!(value["id"], "99");
        assert_eq!(value["type"], "user.updated");
        assert_eq!(value["occurred_at"], "1970-01-01T00:00:00Z");
        assert_eq!(value["actor"], serde_json::Value::Null);
        assert_eq!(value["subject"]["id"], "123456789");
        assert_eq!(value["subject"]["uuid"], id_to_uuid(123_456_789));
        assert_eq!(value["subject"]["object_id"], UserId(123_456_789).to_object_id());
        assert_eq!(value["data"]["fields"][0], "name");
        assert_eq!(value["sequence"], 7);
    }
}
